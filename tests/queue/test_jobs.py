"""Jobs in the database: creation, transitions with events, compare-and-set under real races."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from printfleet import db
from printfleet.models import FileKind, Job, JobStatus, Printer, User
from printfleet.queue.jobs import JobChanged, JobNotFound, create_job, events_of, transition
from printfleet.queue.lifecycle import IllegalTransition


@pytest.fixture()
def engine(migrated_engine: Engine) -> Engine:
    """A migrated database of each kind with one user and one printer."""
    with db.session_scope(migrated_engine) as session:
        session.add(User(name="ada"))
        session.add(Printer(id="mk3s-1", name="MK3S"))
    return migrated_engine


def _new_job(engine: Engine, needs_approval: str | None = None) -> int:
    with db.session_scope(engine) as session:
        owner = session.exec(select(User)).one()
        job = create_job(
            session, owner=owner, file_name="cube.stl", file_sha256="b" * 64, file_kind=FileKind.STL, file_size=684,
            needs_approval=needs_approval, material="PLA", est_print_time_s=1200.0,
        )  # fmt: skip
        return job.id  # type: ignore[return-value]


def test_create_queues_and_records_the_trail(engine: Engine) -> None:
    job_id = _new_job(engine)
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert job.status is JobStatus.QUEUED and job.version == 1 and job.queued_at is not None
        assert len(job.code) == 5 and job.code.isalnum()
        trail = [(e.kind, e.from_status, e.to_status, e.actor) for e in events_of(session, job_id)]
    assert trail == [
        ("created", None, JobStatus.UPLOADED, "ada"),
        ("transition", JobStatus.UPLOADED, JobStatus.QUEUED, "system:intake"),
    ]


def test_approval_path_and_reason(engine: Engine) -> None:
    job_id = _new_job(engine, needs_approval="longer than 8 h")
    with db.session_scope(engine) as session:
        assert session.get(Job, job_id).status is JobStatus.AWAITING_APPROVAL
        transition(session, job_id, JobStatus.QUEUED, actor="staff-bo", reason="ok for the weekend")
    with Session(engine) as session:
        last = events_of(session, job_id)[-1]
        assert (last.actor, last.reason, last.to_status) == ("staff-bo", "ok for the weekend", JobStatus.QUEUED)


def test_illegal_and_stale_transitions_write_nothing(engine: Engine) -> None:
    job_id = _new_job(engine)
    with pytest.raises(IllegalTransition), db.session_scope(engine) as session:
        transition(session, job_id, JobStatus.DONE, actor="x")
    with pytest.raises(JobChanged), db.session_scope(engine) as session:
        transition(session, job_id, JobStatus.ASSIGNED, actor="x", expected_version=0, printer_id="mk3s-1")
    with pytest.raises(JobNotFound), db.session_scope(engine) as session:
        transition(session, 9999, JobStatus.ASSIGNED, actor="x")
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert (job.status, job.version, job.printer_id) == (JobStatus.QUEUED, 1, None)
        assert len(events_of(session, job_id)) == 2


def test_two_racers_on_one_job_only_one_wins(engine: Engine) -> None:
    """Many threads, each with its own connection, try to assign the same queued job at once."""
    job_id = _new_job(engine)
    barrier = threading.Barrier(6)
    wins: list[str] = []
    losses: list[str] = []

    def racer(name: str) -> None:
        barrier.wait()
        try:
            with db.session_scope(engine) as session:
                transition(
                    session, job_id, JobStatus.ASSIGNED, actor=name, expected=[JobStatus.QUEUED],
                    expected_version=1, printer_id="mk3s-1",
                )  # fmt: skip
            wins.append(name)
        except JobChanged:
            losses.append(name)
        except Exception as exc:  # a database-level conflict counts as a loss, never as a second win
            if "lock" in str(exc).lower() or "serializ" in str(exc).lower():
                losses.append(name)
            else:
                raise

    threads = [threading.Thread(target=racer, args=(f"monitor-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1, (wins, losses)
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert job.status is JobStatus.ASSIGNED and job.version == 2
        assigned = [e for e in events_of(session, job_id) if e.to_status is JobStatus.ASSIGNED]
        assert [e.actor for e in assigned] == wins
