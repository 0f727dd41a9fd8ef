"""The history: job and printer events merged newest first, who did what (a person's pause is theirs, a
printer's own pause the monitor's), bed clears and maintenance recorded with the job on the bed."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from sqlalchemy import Engine
from sqlmodel import Session, select

from printfleet import db
from printfleet.models import (
    FileKind,
    Job,
    JobEvent,
    JobStatus,
    Printer,
    PrinterEvent,
    PrinterEventKind,
    User,
)
from printfleet.queue import actions
from printfleet.queue.follow import follow_job
from printfleet.queue.history import history, record_printer_event
from printfleet.queue.jobs import create_job, events_of, transition
from printfleet.state import JobProgress, PrinterState, PrinterStatus, StateSource
from printfleet.texts import EventCode


@pytest.fixture()
def engine(migrated_engine: Engine) -> Engine:
    """A migrated database of each kind with one maker, one staff member and two printers."""
    with db.session_scope(migrated_engine) as session:
        session.add(User(name="ada"))
        session.add(User(name="staff-bo", role="staff"))
        session.add(Printer(id="mk3s-1", name="MK3S"))
        session.add(Printer(id="mini-1", name="MINI"))
    return migrated_engine


@pytest.fixture()
def client(redis_url: str):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _printing_job(engine: Engine, printer_id: str = "mk3s-1") -> int:
    with db.session_scope(engine) as session:
        owner = session.exec(select(User).where(User.name == "ada")).one()
        job = create_job(session, owner=owner, file_name="cube.stl", file_sha256="c" * 64, file_kind=FileKind.STL,
                         file_size=684)  # fmt: skip
        transition(session, job.id, JobStatus.ASSIGNED, actor="system:dispatcher", printer_id=printer_id)
        transition(session, job.id, JobStatus.UPLOADING, actor="system:worker", remote_file_name="pf-x.gcode")
        transition(session, job.id, JobStatus.PRINTING, actor="system:worker")
        return job.id  # type: ignore[return-value]


def _state(printer_id: str, status: PrinterStatus, *, after: dt.datetime) -> PrinterState:
    return PrinterState(printer_id=printer_id, status=status, observed_at=after + dt.timedelta(seconds=60),
                        source=StateSource.REST, job=JobProgress(file_name="pf-x.gcode", fraction=0.5))


def _follow(engine: Engine, job_id: int, status: PrinterStatus) -> None:
    with db.session_scope(engine) as session:
        job = session.get(Job, job_id)
        assert follow_job(session, job, _state(job.printer_id, status, after=job.started_at), lease_held=False)


def test_a_staff_pause_resume_and_cancel_are_recorded_as_the_staff_member(engine: Engine, client) -> None:
    job_id = _printing_job(engine)
    with db.session_scope(engine) as session:
        actions.command_printer(session, client, "mk3s-1", "pause", actor="staff-bo")
    _follow(engine, job_id, PrinterStatus.PAUSED)
    with db.session_scope(engine) as session:
        actions.command_printer(session, client, "mk3s-1", "resume", actor="staff-bo")
    _follow(engine, job_id, PrinterStatus.PRINTING)
    with db.session_scope(engine) as session:
        actions.cancel_job(session, client, job_id, actor="staff-bo", reason="warped corner")
    _follow(engine, job_id, PrinterStatus.IDLE)
    with Session(engine) as session:
        moves = [(e.to_status, e.actor, e.reason_code, e.reason_params) for e in events_of(session, job_id)[-3:]]
    assert moves == [
        (JobStatus.PAUSED, "staff-bo", EventCode.PAUSED_ON_REQUEST, None),
        (JobStatus.PRINTING, "staff-bo", EventCode.RESUMED_ON_REQUEST, None),
        (JobStatus.CANCELLED, "staff-bo", EventCode.CANCELLED_ON_REQUEST_BECAUSE, {"note": "warped corner"}),
    ]


def test_a_pause_the_printer_does_by_itself_stays_the_monitors(engine: Engine, client) -> None:
    job_id = _printing_job(engine)
    with db.session_scope(engine) as session:  # an old request, before the print, does not count
        session.add(PrinterEvent(printer_id="mk3s-1", actor="staff-bo", kind=PrinterEventKind.PAUSE_REQUESTED,
                                 job_id=job_id, at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))  # fmt: skip
    _follow(engine, job_id, PrinterStatus.PAUSED)  # e.g. a filament runout
    _follow(engine, job_id, PrinterStatus.PRINTING)
    with Session(engine) as session:
        moves = [(e.to_status, e.actor, e.reason_code) for e in events_of(session, job_id)[-2:]]
    assert moves == [
        (JobStatus.PAUSED, "system:monitor", EventCode.PRINTER_PAUSED),
        (JobStatus.PRINTING, "system:monitor", EventCode.PRINTER_RESUMED),
    ]


def test_a_printer_cancelled_at_the_printer_page_ends_its_job_as_the_staff_members(engine: Engine, client) -> None:
    job_id = _printing_job(engine)
    with db.session_scope(engine) as session:
        actions.command_printer(session, client, "mk3s-1", "cancel", actor="staff-bo")
    _follow(engine, job_id, PrinterStatus.IDLE)
    with Session(engine) as session:
        last = events_of(session, job_id)[-1]
        assert (last.to_status, last.actor, last.reason_code) == (
            JobStatus.CANCELLED, "staff-bo", EventCode.CANCELLED_ON_REQUEST)


def test_bed_clears_and_maintenance_are_in_the_history_with_the_job_taken_off(engine: Engine, client) -> None:
    job_id = _printing_job(engine)
    _follow(engine, job_id, PrinterStatus.FINISHED)
    with db.session_scope(engine) as session:
        assert not session.get(Printer, "mk3s-1").bed_clear
        actions.clear_bed(session, client, "mk3s-1", actor="ada")
        actions.set_maintenance(session, client, "mk3s-1", True, actor="staff-bo", reason="nozzle clog")
        actions.set_maintenance(session, client, "mk3s-1", False, actor="staff-bo")
    with Session(engine) as session:
        code = session.get(Job, job_id).code
        entries = history(session, printer_id="mk3s-1")
        printer_events = [(e.event.kind, e.actor, e.job_code, e.event.reason, e.event.reason_params)
                          for e in entries if e.is_printer_event]  # fmt: skip
        job_entries = history(session, job_id=job_id)
    assert printer_events == [
        (PrinterEventKind.MAINTENANCE_OFF, "staff-bo", None, "", {"printer": "mk3s-1"}),
        (PrinterEventKind.MAINTENANCE_ON, "staff-bo", None, "nozzle clog", {"printer": "mk3s-1"}),
        (PrinterEventKind.BED_CLEARED, "ada", code, "", {"printer": "mk3s-1", "job_code": code}),
    ]
    # the job's own history includes the bed clear that took it off, newest first
    assert job_entries[0].is_printer_event and job_entries[0].event.kind is PrinterEventKind.BED_CLEARED
    assert job_entries[1].event.to_status is JobStatus.DONE
    assert [e.at for e in job_entries] == sorted((e.at for e in job_entries), reverse=True)


def test_history_merges_newest_first_filters_and_limits(engine: Engine) -> None:
    first, second = _printing_job(engine, "mk3s-1"), _printing_job(engine, "mini-1")
    base = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    with db.session_scope(engine) as session:
        for event in session.exec(select(JobEvent)):
            event.at = base + dt.timedelta(minutes=event.id)  # type: ignore[operator]
            session.add(event)
        job = session.get(Job, first)
        late = record_printer_event(session, "mk3s-1", PrinterEventKind.MAINTENANCE_ON, actor="staff-bo", job=job)
        late.at = base + dt.timedelta(hours=5)
        early = record_printer_event(session, "mini-1", PrinterEventKind.MAINTENANCE_OFF, actor="staff-bo")
        early.at = base - dt.timedelta(hours=5)
    with Session(engine) as session:
        everything = history(session, limit=100)
        assert [e.at for e in everything] == sorted((e.at for e in everything), reverse=True)
        assert everything[0].event.kind is PrinterEventKind.MAINTENANCE_ON and everything[0].job_id == first
        assert everything[-1].event.kind is PrinterEventKind.MAINTENANCE_OFF and everything[-1].job_code is None
        assert len(everything) == 2 + 2 * 5  # created, queued, assigned, uploading, printing per job
        assert len(history(session, limit=3)) == 3
        assert {e.job_id for e in history(session, job_id=second)} == {second}
        on_mk3s = history(session, printer_id="mk3s-1")
        assert {e.printer_id for e in on_mk3s} == {"mk3s-1"} and {e.job_id for e in on_mk3s} == {first}
        since = history(session, since=base + dt.timedelta(hours=1))
        assert [e.event.kind for e in since] == [PrinterEventKind.MAINTENANCE_ON]
