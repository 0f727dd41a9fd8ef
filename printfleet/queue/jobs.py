"""Jobs in the database: creation and compare-and-set transitions with their event trail.

Every change of a job's status goes through :func:`transition`, which updates the row only if it still
has the version and status the caller read (so two monitors or workers racing cannot both win) and appends
a :class:`~printfleet.models.JobEvent` in the same transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from printfleet.errors import Conflict, NotFound
from printfleet.models import FileKind, Job, JobEvent, JobStatus, User, utcnow
from printfleet.queue.lifecycle import check_transition
from printfleet.texts import N_, CodedText, EventCode, said

logger = logging.getLogger(__name__)

#: job codes avoid characters that are easily confused on a wall screen (0/O, 1/I/L)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 5


class JobNotFound(NotFound):
    """No job with that id."""

    code = "job_not_found"


class JobChanged(Conflict):
    """The job changed since it was read (another part acted first); nothing was written."""

    code = "job_changed"


def job_not_found(job_id: int) -> JobNotFound:
    """The error for a job that does not exist (or is not the asker's to see)."""
    return JobNotFound(N_("job %(job_id)s does not exist"), job_id=job_id)


def job_changed(job_id: int) -> JobChanged:
    """The error for a job that changed since the caller read it."""
    return JobChanged(N_("job %(job_id)s changed meanwhile; reload and try again"), job_id=job_id)


def new_code() -> str:
    """A random short public job code, e.g. ``K7QXH``."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def record_event(
    session: Session,
    job: Job,
    *,
    actor: str,
    kind: str,
    reason: str | CodedText = "",
    from_status: JobStatus | None = None,
    to_status: JobStatus | None = None,
    data: dict[str, Any] | None = None,
) -> JobEvent:
    """Append an event to a job's trail (in the caller's transaction).

    Args:
        reason: what a person typed (``str``), or what printfleet says (:class:`CodedText`, e.g.
            ``said(EventCode.STARTED, printer="mk3s-1")``), rendered in the reader's language when shown.
    """
    coded = reason if isinstance(reason, CodedText) else None
    event = JobEvent(
        job_id=job.id,  # type: ignore[arg-type]
        actor=actor,
        kind=kind,
        reason="" if coded is not None else str(reason)[:500],
        reason_code=coded.code if coded is not None else None,
        reason_params=(coded.params or None) if coded is not None else None,
        from_status=from_status,
        to_status=to_status,
        printer_id=job.printer_id,
        data=data,
    )
    session.add(event)
    return event


def create_job(
    session: Session,
    *,
    owner: User,
    file_name: str,
    file_sha256: str,
    file_kind: FileKind,
    file_size: int,
    needs_approval: str | CodedText | None = None,
    **fields: Any,
) -> Job:
    """Create a job for a stored file and put it in the queue (or the approval inbox).

    Args:
        needs_approval: why staff must approve it first (the scheduler's reason as
            ``printfleet.texts.plan_said(reason)``, or a person's words), or ``None``.
        fields: further :class:`Job` columns (material, colour, copies, note, priority, estimate, ...).
    """
    for _ in range(10):
        job = Job(
            code=new_code(),
            owner_id=owner.id,  # type: ignore[arg-type]
            file_name=file_name,
            file_sha256=file_sha256,
            file_kind=file_kind,
            file_size=file_size,
            **fields,
        )
        try:
            with session.begin_nested():
                session.add(job)
                session.flush()
            break
        except IntegrityError:  # code already taken; draw again
            continue
    else:  # pragma: no cover - 31^5 codes
        raise RuntimeError("could not draw a free job code")
    record_event(session, job, actor=owner.name, kind="created", to_status=JobStatus.UPLOADED,
                 reason=said(EventCode.UPLOADED, file_name=file_name))
    target = JobStatus.AWAITING_APPROVAL if needs_approval else JobStatus.QUEUED
    return transition(session, job.id, target, actor="system:intake", reason=needs_approval or "")  # type: ignore[arg-type]


def transition(
    session: Session,
    job_id: int,
    target: JobStatus,
    *,
    actor: str,
    reason: str | CodedText = "",
    expected: Collection[JobStatus] | None = None,
    expected_version: int | None = None,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> Job:
    """Move a job to ``target`` if the state machine allows it and nobody changed it meanwhile.

    Args:
        reason: what a person typed, or what printfleet says (see :func:`record_event`).
        expected: refuse unless the job is in one of these states now.
        expected_version: refuse unless the job still has this version.
        fields: columns to set together with the status (e.g. ``printer_id``).

    Raises:
        JobNotFound: no such job.
        IllegalTransition: the state machine forbids it.
        JobChanged: the job is not in an expected state or version, or changed under us.
    """
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise job_not_found(job_id)
    current = job.status
    if expected is not None and current not in expected:
        raise JobChanged(N_("job %(job_id)s is %(status)s now; nothing was changed"), job_id=job_id,
                         status=current.value)
    if expected_version is not None and job.version != expected_version:
        raise job_changed(job_id)
    check_transition(job_id, current, target)
    now = utcnow()
    values: dict[str, Any] = {"status": target, "version": job.version + 1, "updated_at": now, **fields}
    if target is JobStatus.QUEUED:
        values.setdefault("queued_at", job.queued_at or now)
    elif target is JobStatus.PRINTING and job.started_at is None:
        values.setdefault("started_at", now)
    elif target in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.REJECTED):
        values.setdefault("finished_at", now)
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.version == job.version, Job.status == current)  # type: ignore[arg-type]
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise job_changed(job_id)
    estimate_before = (job.est_print_time_s, job.est_filament_g, job.est_source)
    session.refresh(job)
    record_event(session, job, actor=actor, kind="transition", reason=reason, from_status=current, to_status=target, data=data)
    if (job.est_print_time_s, job.est_filament_g, job.est_source) != estimate_before:
        record_event(session, job, actor=actor, kind="estimate",
                     reason=said(EventCode.ESTIMATE_UPDATED, source=job.est_source,
                                 print_time_s=job.est_print_time_s, filament_g=job.est_filament_g),
                     data={"before": {"print_time_s": estimate_before[0], "filament_g": estimate_before[1],
                                      "source": estimate_before[2]},
                           "after": {"print_time_s": job.est_print_time_s, "filament_g": job.est_filament_g,
                                     "source": job.est_source}})  # fmt: skip
    logger.info("job %s: %s -> %s by %s%s", job_id, current.value, target.value, actor, f" ({reason})" if reason else "")
    return job


def events_of(session: Session, job_id: int) -> list[JobEvent]:
    """A job's trail, oldest first."""
    return list(session.exec(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)))
