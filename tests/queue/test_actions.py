"""People's actions on jobs and printers, with real Redis and SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from rq import Queue
from sqlmodel import Session, select

from printfleet import db
from printfleet.config import load_fleet
from printfleet.errors import UserError
from printfleet.models import FileKind, Job, JobStatus, Printer, PrinterEvent, PrinterEventKind, User
from printfleet.monitor import sync_printers
from printfleet.queue import actions
from printfleet.queue.dispatch import DISPATCH_QUEUE
from printfleet.queue.jobs import create_job, events_of, transition
from printfleet.settings import Settings


@pytest.fixture()
def env(settings: Settings, redis_url: str) -> Iterator[tuple]:
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    with db.session_scope(engine) as session:
        sync_printers(session, load_fleet(settings.config))
        session.add(User(name="ada"))
    client = redis.Redis.from_url(redis_url)
    yield engine, client
    client.close()
    engine.dispose()


def _job(engine, approval: str | None = None) -> int:
    with db.session_scope(engine) as session:
        owner = session.exec(select(User)).one()
        return create_job(session, owner=owner, file_name="a.stl", file_sha256="d" * 64, file_kind=FileKind.STL,
                          file_size=1, needs_approval=approval).id  # fmt: skip


def test_approve_reject_and_their_preconditions(env) -> None:
    engine, client = env
    a, b = _job(engine, "over 8 h"), _job(engine, "over 8 h")
    with db.session_scope(engine) as session:
        actions.approve_job(session, client, a, actor="staff")
    with pytest.raises(UserError, match="needs a reason"), db.session_scope(engine) as session:
        actions.reject_job(session, client, b, actor="staff", reason=" ")
    with db.session_scope(engine) as session:
        actions.reject_job(session, client, b, actor="staff", reason="too big for our printers; split it")
    with pytest.raises(UserError), db.session_scope(engine) as session:
        actions.approve_job(session, client, a, actor="staff")  # already queued
    with Session(engine) as session:
        assert session.get(Job, a).status is JobStatus.QUEUED
        assert session.get(Job, b).status is JobStatus.REJECTED
        assert events_of(session, b)[-1].reason == "too big for our printers; split it"


def test_cancel_a_printing_job_asks_the_printer_and_records_the_request(env) -> None:
    engine, client = env
    job_id = _job(engine)
    with db.session_scope(engine) as session:
        for step in (JobStatus.ASSIGNED, JobStatus.UPLOADING, JobStatus.PRINTING):
            transition(session, job_id, step, actor="t", **({"printer_id": "mk3s-1"} if step is JobStatus.ASSIGNED else {}))
    with db.session_scope(engine) as session:
        job = actions.cancel_job(session, client, job_id, actor="ada")
        assert job.status is JobStatus.PRINTING  # ends as cancelled once the printer stops
    with Session(engine) as session:
        [request] = session.exec(select(PrinterEvent)).all()
        assert (request.kind, request.actor, request.job_id) == (PrinterEventKind.CANCEL_REQUESTED, "ada", job_id)
    [task] = Queue(DISPATCH_QUEUE, connection=client).jobs
    assert task.func_name == "printfleet.queue.tasks.printer_command" and task.args == ("mk3s-1", "cancel", "ada")


def test_cancel_a_queued_job_ends_it_at_once_and_requeue_restores_it(env) -> None:
    engine, client = env
    job_id = _job(engine)
    with db.session_scope(engine) as session:
        assert actions.cancel_job(session, client, job_id, actor="ada").status is JobStatus.CANCELLED
    with db.session_scope(engine) as session:
        assert actions.requeue_job(session, client, job_id, actor="staff").status is JobStatus.QUEUED
    with pytest.raises(UserError, match="job .* is queued now") as refused, db.session_scope(engine) as session:
        actions.collect_job(session, client, job_id, actor="ada")
    assert refused.value.code == "job_changed" and refused.value.params["status"] == "queued"


def test_bed_clear_and_maintenance(env) -> None:
    engine, client = env
    job_id = _job(engine)
    with db.session_scope(engine) as session:
        transition(session, job_id, JobStatus.ASSIGNED, actor="t", printer_id="mini-1")
        row = session.get(Printer, "mini-1")
        row.bed_clear = False
    with pytest.raises(actions.PrinterActionRefused, match="still has job"), db.session_scope(engine) as session:
        actions.clear_bed(session, client, "mini-1", actor="staff")
    with db.session_scope(engine) as session:
        transition(session, job_id, JobStatus.QUEUED, actor="t", printer_id=None)
        printer = actions.clear_bed(session, client, "mini-1", actor="staff")
        assert printer.bed_clear and printer.bed_cleared_by == "staff"
        actions.set_maintenance(session, client, "mini-2", True, actor="staff", reason="nozzle clog")
    with Session(engine) as session:
        assert session.get(Printer, "mini-2").maintenance_reason == "nozzle clog"
    with pytest.raises(actions.PrinterNotFound), db.session_scope(engine) as session:
        actions.set_maintenance(session, client, "nope", True, actor="staff")
    with pytest.raises(UserError, match="unknown printer command"), db.session_scope(engine) as session:
        actions.command_printer(session, client, "mini-1", "explode", actor="staff")
