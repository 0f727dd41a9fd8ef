"""The dispatcher and the follower against real Redis and SQLite, with printer states put in the store."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue
from sqlmodel import Session, select

from printfleet import db
from printfleet.config import FleetConfig, load_fleet
from printfleet.models import FileKind, Job, JobStatus, Printer, User
from printfleet.monitor import sync_printers
from printfleet.queue.dispatch import DISPATCH_QUEUE, Dispatcher
from printfleet.queue.follow import RequeuePolicy, follow_printers
from printfleet.queue.jobs import create_job, events_of, transition
from printfleet.queue.leases import Lease, printer_lease_name
from printfleet.settings import Settings
from printfleet.state import JobProgress, PrinterState, PrinterStatus, StateSource, utcnow
from printfleet.store import StateStore

PROFILE = Path(__file__).resolve().parents[2] / "configs/profiles/mk3s-0.20mm-pla.ini"


@pytest.fixture()
def fleet(tmp_path: Path) -> FleetConfig:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "site: {timezone: UTC}\nprinters:\n"
        + "".join(
            f"  - {{id: {pid}, name: {pid}, driver: simulated, build_volume_mm: [250, 210, 210], material: PLA,"
            f" colour: black, profile: {PROFILE}}}\n"
            for pid in ("p1", "p2")
        )
    )
    return load_fleet(path)


@pytest.fixture()
def env(settings: Settings, fleet: FleetConfig, redis_url: str) -> Iterator[tuple]:
    settings = settings.model_copy(update={"redis_url": redis_url, "dispatch_lease_s": 30.0})
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    with db.session_scope(engine) as session:
        sync_printers(session, fleet)
        session.add(User(name="ada"))
        session.add(User(name="bo"))
    client = redis.Redis.from_url(redis_url)
    yield settings, engine, client, StateStore(client)
    client.close()
    engine.dispose()


def put_state(store: StateStore, printer_id: str, status: PrinterStatus, file_name: str | None = None) -> None:
    job = JobProgress(file_name=file_name, fraction=0.5, elapsed_s=60.0, remaining_s=60.0) if file_name else None
    store.put(PrinterState(printer_id=printer_id, status=status, observed_at=utcnow(), source=StateSource.REST, job=job))


def new_job(engine, user: str = "ada", **fields) -> int:
    with db.session_scope(engine) as session:
        owner = session.exec(select(User).where(User.name == user)).one()
        fields.setdefault("material", "PLA")
        fields.setdefault("est_print_time_s", 600.0)
        fields.setdefault("bbox_mm", [20.0, 20.0, 20.0])
        job = create_job(session, owner=owner, file_name="cube.stl", file_sha256="c" * 64, file_kind=FileKind.STL,
                         file_size=684, **fields)  # fmt: skip
        return job.id


def status_of(engine, job_id: int) -> Job:
    with Session(engine) as session:
        return session.get(Job, job_id)


def test_queued_job_goes_to_an_idle_clear_printer_with_a_lease_and_a_task(env, fleet) -> None:
    settings, engine, client, store = env
    put_state(store, "p1", PrinterStatus.IDLE)
    put_state(store, "p2", PrinterStatus.OFFLINE)
    job_id = new_job(engine)
    dispatched = Dispatcher(settings=settings, fleet=fleet, engine=engine, client=client, store=store).run_once()
    assert dispatched == [job_id]
    job = status_of(engine, job_id)
    assert job.status is JobStatus.ASSIGNED and job.printer_id == "p1"
    assert client.exists(printer_lease_name("p1"))
    tasks = Queue(DISPATCH_QUEUE, connection=client).jobs
    assert [t.args[:3] for t in tasks] == [(job_id, "p1", job.version)]
    assert Lease(client, printer_lease_name("p1"), 30, token=tasks[0].args[3]).is_held()
    assert client.get("printfleet:plan") is not None


def test_a_finished_printer_waits_for_the_bed_and_maintenance_keeps_it_out(env, fleet) -> None:
    settings, engine, client, store = env
    put_state(store, "p1", PrinterStatus.FINISHED, "old.gcode")
    put_state(store, "p2", PrinterStatus.IDLE)
    with db.session_scope(engine) as session:
        for pid, bed_clear, maintenance in (("p1", False, False), ("p2", True, True)):
            row = session.get(Printer, pid)
            row.bed_clear, row.maintenance = bed_clear, maintenance
            session.add(row)
    job_id = new_job(engine)
    dispatcher = Dispatcher(settings=settings, fleet=fleet, engine=engine, client=client, store=store)
    assert dispatcher.run_once() == []
    with db.session_scope(engine) as session:
        row = session.get(Printer, "p1")
        row.bed_clear = True
        session.add(row)
    assert dispatcher.run_once() == [job_id]
    assert status_of(engine, job_id).printer_id == "p1"


def test_racing_dispatchers_never_double_book(env, fleet) -> None:
    settings, engine, client, store = env
    put_state(store, "p1", PrinterStatus.IDLE)
    put_state(store, "p2", PrinterStatus.IDLE)
    job_ids = [new_job(engine, user) for user in ("ada", "bo", "ada", "bo")]
    dispatched: list[int] = []
    barrier = threading.Barrier(4)

    def monitor() -> None:
        own_engine = db.make_engine(settings.effective_database_url)
        own_client = redis.Redis.from_url(settings.effective_redis_url)
        d = Dispatcher(settings=settings, fleet=fleet, engine=own_engine, client=own_client, store=StateStore(own_client))
        barrier.wait()
        for _ in range(5):
            dispatched.extend(d.run_once())
        own_engine.dispose()

    threads = [threading.Thread(target=monitor) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(dispatched) == 2 and len(set(dispatched)) == 2
    with Session(engine) as session:
        assigned = session.exec(select(Job).where(Job.status == JobStatus.ASSIGNED)).all()
        assert sorted(j.printer_id for j in assigned) == ["p1", "p2"]
        assert {j.id for j in assigned} <= set(job_ids)
        for job in assigned:  # exactly one assignment event each
            assert [e.to_status for e in events_of(session, job.id)].count(JobStatus.ASSIGNED) == 1
    assert len(Queue(DISPATCH_QUEUE, connection=client).jobs) == 2


def _on_printer(engine, job_id: int, status: JobStatus, printer_id: str = "p1", started_s_ago: float = 60) -> None:
    path = {
        JobStatus.ASSIGNED: [JobStatus.ASSIGNED],
        JobStatus.UPLOADING: [JobStatus.ASSIGNED, JobStatus.UPLOADING],
        JobStatus.PRINTING: [JobStatus.ASSIGNED, JobStatus.UPLOADING, JobStatus.PRINTING],
    }[status]
    with db.session_scope(engine) as session:
        for step in path:
            fields: dict = {}
            if step is JobStatus.ASSIGNED:
                fields = {"printer_id": printer_id, "remote_file_name": f"pf-x-{job_id}.gcode"}
            elif step is JobStatus.PRINTING:
                fields = {"started_at": utcnow() - dt.timedelta(seconds=started_s_ago)}
            transition(session, job_id, step, actor="test", **fields)


@pytest.mark.parametrize(
    ("printer_status", "same_file", "expected", "reason_part"),
    [
        (PrinterStatus.FINISHED, True, JobStatus.DONE, "done"),
        (PrinterStatus.PAUSED, True, JobStatus.PAUSED, "paused"),
        (PrinterStatus.IDLE, False, JobStatus.AWAITING_APPROVAL, "stopped on the printer"),
        (PrinterStatus.ERROR, False, JobStatus.AWAITING_APPROVAL, "printer error"),
        (PrinterStatus.PRINTING, False, JobStatus.AWAITING_APPROVAL, "another file"),
        (PrinterStatus.OFFLINE, False, JobStatus.PRINTING, None),
        (PrinterStatus.PRINTING, True, JobStatus.PRINTING, None),
    ],
)
def test_a_printing_job_follows_its_printer(env, printer_status, same_file, expected, reason_part) -> None:
    _settings, engine, client, store = env
    job_id = new_job(engine)
    _on_printer(engine, job_id, JobStatus.PRINTING)
    put_state(store, "p1", printer_status, f"pf-x-{job_id}.gcode" if same_file else "other.gcode")
    outcomes = follow_printers(engine, client, store.all())
    job = status_of(engine, job_id)
    assert job.status is expected
    if reason_part is None:
        assert outcomes == []
    else:
        assert reason_part in " ".join(o.reason for o in outcomes) + (job.failure_reason or "")
    with Session(engine) as session:
        bed_clear = session.get(Printer, "p1").bed_clear
    assert bed_clear is (expected in (JobStatus.PRINTING, JobStatus.PAUSED))


def test_a_state_from_before_the_start_does_not_end_the_new_job(env) -> None:
    _settings, engine, client, store = env
    put_state(store, "p1", PrinterStatus.FINISHED, "previous.gcode")  # the last print, still in the store
    job_id = new_job(engine)
    _on_printer(engine, job_id, JobStatus.PRINTING, started_s_ago=0)
    assert follow_printers(engine, client, store.all()) == []
    assert status_of(engine, job_id).status is JobStatus.PRINTING
    put_state(store, "p1", PrinterStatus.ERROR)  # but an error is believed at once
    follow_printers(engine, client, store.all(), requeue=RequeuePolicy.NEVER)
    assert status_of(engine, job_id).status is JobStatus.FAILED


def test_an_interrupted_dispatch_is_reconciled_against_the_printer(env) -> None:
    _settings, engine, client, store = env
    started = new_job(engine)
    _on_printer(engine, started, JobStatus.UPLOADING, "p1")
    not_started = new_job(engine)
    _on_printer(engine, not_started, JobStatus.ASSIGNED, "p2")
    put_state(store, "p1", PrinterStatus.PRINTING, f"pf-x-{started}.gcode")
    put_state(store, "p2", PrinterStatus.IDLE)
    lease = Lease(client, printer_lease_name("p2"), ttl_s=30)
    assert lease.acquire()
    follow_printers(engine, client, store.all())
    assert status_of(engine, started).status is JobStatus.PRINTING  # the printer says it started: never restart
    assert status_of(engine, not_started).status is JobStatus.ASSIGNED  # a dispatch still holds p2
    lease.release()
    follow_printers(engine, client, store.all())
    job = status_of(engine, not_started)
    assert job.status is JobStatus.QUEUED and job.printer_id is None


def test_cancel_requested_ends_as_cancelled_and_requeue_policy_queue(env) -> None:
    _settings, engine, client, store = env
    cancelled, failed = new_job(engine), new_job(engine)
    _on_printer(engine, cancelled, JobStatus.PRINTING, "p1")
    _on_printer(engine, failed, JobStatus.PRINTING, "p2")
    with db.session_scope(engine) as session:
        from printfleet.queue.jobs import record_event

        record_event(session, session.get(Job, cancelled), actor="staff", kind="cancel_requested")
    put_state(store, "p1", PrinterStatus.IDLE)
    put_state(store, "p2", PrinterStatus.IDLE)
    follow_printers(engine, client, store.all(), requeue=RequeuePolicy.QUEUE)
    assert status_of(engine, cancelled).status is JobStatus.CANCELLED
    job = status_of(engine, failed)
    assert job.status is JobStatus.QUEUED and job.failure_reason


def test_dispatches_wait_in_the_queue_only_a_couple_at_a_time(env, tmp_path: Path) -> None:
    """Without a bound a big backlog makes leases expire before their task starts (found by the soak)."""
    settings, engine, client, store = env
    path = tmp_path / "three.yaml"
    path.write_text("site: {timezone: UTC}\nprinters:\n" + "".join(
        f"  - {{id: q{i}, name: q{i}, driver: simulated, build_volume_mm: [250, 210, 210], profile: {PROFILE}}}\n"
        for i in range(3)
    ))  # fmt: skip
    fleet = load_fleet(path)
    with db.session_scope(engine) as session:
        sync_printers(session, fleet)
    for i in range(3):
        put_state(store, f"q{i}", PrinterStatus.IDLE)
    jobs = [new_job(engine) for _ in range(3)]
    dispatcher = Dispatcher(settings=settings, fleet=fleet, engine=engine, client=client, store=store)
    assert len(dispatcher.run_once()) == 2  # no worker alive: at most MIN_BACKLOG waiting
    assert dispatcher.run_once() == []
    Queue(DISPATCH_QUEUE, connection=client).empty()
    assert len(dispatcher.run_once()) == 1
    assert {status_of(engine, j).status for j in jobs} == {JobStatus.ASSIGNED}
