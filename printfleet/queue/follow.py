"""Following printers: jobs end when their printer says so, and interrupted dispatches are reconciled.

Both run in the monitor, on every state change and periodically over the whole fleet, so a missed
announcement or a restart of any part only delays, never loses, a transition. The database is the source
of truth for jobs; the printer's own report decides what happened to a dispatch whose outcome is unknown.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import redis
from sqlalchemy import Engine
from sqlmodel import Session, select

from printfleet import db
from printfleet.models import Job, JobEvent, JobStatus, Printer, utcnow
from printfleet.queue.dispatch import announce_jobs_changed
from printfleet.queue.jobs import JobChanged, transition
from printfleet.queue.leases import printer_lease_name
from printfleet.queue.lifecycle import ON_PRINTER
from printfleet.state import PrinterState, PrinterStatus

logger = logging.getLogger(__name__)

ACTOR = "system:monitor"
#: how long after a start a printer may still report its previous state before we believe it
START_GRACE_S = 15.0


class RequeuePolicy:
    """What happens to a job whose print failed (not one a person cancelled)."""

    APPROVAL = "approval"  # back to the front of the queue, once staff approve (default)
    QUEUE = "queue"  # straight back to the front of the queue
    NEVER = "never"  # stays failed until someone requeues it


@dataclass(frozen=True)
class Outcome:
    """What following one job did."""

    job_id: int
    before: JobStatus
    after: JobStatus
    reason: str


def _runs_our_file(job: Job, state: PrinterState) -> bool:
    return state.job is not None and job.remote_file_name is not None and state.job.file_name == job.remote_file_name


def _just_started(job: Job, state: PrinterState) -> bool:
    """Whether ``state`` may predate the job's start (observed before it, or within the grace period)."""
    if job.started_at is None:
        return False
    return state.observed_at < job.started_at + dt.timedelta(seconds=START_GRACE_S)


def _cancel_requested(session: Session, job_id: int) -> bool:
    return (
        session.exec(select(JobEvent.id).where(JobEvent.job_id == job_id, JobEvent.kind == "cancel_requested")).first()
        is not None
    )


def _move(session: Session, job: Job, path: list[JobStatus], reason: str, **fields: object) -> Job:
    for step in path:
        job = transition(session, job.id, step, actor=ACTOR, reason=reason, expected=[job.status], **fields)  # type: ignore[arg-type]
        fields = {}
    return job


def _bed_not_clear(session: Session, printer_id: str) -> None:
    printer = session.get(Printer, printer_id)
    if printer is not None and printer.bed_clear:
        printer.bed_clear = False
        printer.updated_at = utcnow()
        session.add(printer)


def follow_job(
    session: Session, job: Job, state: PrinterState | None, *, lease_held: bool, requeue: str = RequeuePolicy.APPROVAL
) -> Outcome | None:
    """Bring one job on a printer in line with what the printer reports; ``None`` if nothing changed.

    Args:
        lease_held: a dispatch is still working on the printer (its in-flight jobs are left alone).
        requeue: what to do after a failed print (see :class:`RequeuePolicy`).
    """
    before = job.status
    if state is None or state.status is PrinterStatus.OFFLINE or state.status is PrinterStatus.BUSY:
        return None  # we cannot know; wait for the printer
    ours = _runs_our_file(job, state)
    reason = ""
    if before in (JobStatus.ASSIGNED, JobStatus.SLICING, JobStatus.UPLOADING):
        if lease_held:
            return None
        if ours and state.status in (PrinterStatus.PRINTING, PrinterStatus.PAUSED, PrinterStatus.FINISHED):
            path = [JobStatus.UPLOADING] if before is not JobStatus.UPLOADING else []
            reason = "reconciled: the printer reports printing it"
            job = _move(session, job, [*path, JobStatus.PRINTING], reason)
            _bed_not_clear(session, job.printer_id)  # type: ignore[arg-type]
            before = job.status
        else:
            reason = "the dispatch was interrupted before the printer started it; back in the queue"
            job = _move(session, job, [JobStatus.QUEUED], reason, printer_id=None)
            return Outcome(job.id, before, job.status, reason)  # type: ignore[arg-type]
    if before in (JobStatus.PRINTING, JobStatus.PAUSED):
        if not ours and state.status is not PrinterStatus.ERROR and _just_started(job, state):
            return None  # the printer has not reported the new print yet
        if ours and state.status is PrinterStatus.PRINTING and before is JobStatus.PAUSED:
            reason = "resumed"
            job = _move(session, job, [JobStatus.PRINTING], reason)
        elif ours and state.status is PrinterStatus.PAUSED and before is JobStatus.PRINTING:
            reason = "paused"
            job = _move(session, job, [JobStatus.PAUSED], reason)
        elif ours and state.status is PrinterStatus.FINISHED:
            reason = "the printer reports the print done"
            elapsed = state.job.elapsed_s if state.job is not None else None
            if elapsed is None and job.started_at is not None:
                elapsed = (utcnow() - job.started_at).total_seconds()
            path = [JobStatus.PRINTING] if before is JobStatus.PAUSED else []
            filament = job.est_filament_mm if job.est_source in ("slicer", "gcode") else None
            job = _move(session, job, [*path, JobStatus.DONE], reason, actual_print_time_s=elapsed,
                        actual_filament_mm=filament)  # fmt: skip
            _bed_not_clear(session, job.printer_id)  # type: ignore[arg-type]
        elif state.status in (PrinterStatus.PRINTING, PrinterStatus.PAUSED) and ours:
            return None  # still printing
        else:
            _bed_not_clear(session, job.printer_id)  # type: ignore[arg-type]
            if _cancel_requested(session, job.id):  # type: ignore[arg-type]
                reason = "cancelled on request"
                job = _move(session, job, [JobStatus.CANCELLED], reason)
            else:
                if state.status is PrinterStatus.ERROR:
                    reason = f"printer error: {state.error or 'unknown'}"
                elif state.status in (PrinterStatus.PRINTING, PrinterStatus.PAUSED):
                    reason = "the printer is printing another file (started at the printer?)"
                else:
                    reason = "the print stopped on the printer before it was done"
                job = _move(session, job, [JobStatus.FAILED], reason, failure_reason=reason)
                if requeue == RequeuePolicy.APPROVAL:
                    job = transition(session, job.id, JobStatus.AWAITING_APPROVAL, actor=ACTOR,  # type: ignore[arg-type]
                                     reason="requeued after a failed print; staff approval needed", printer_id=None)
                elif requeue == RequeuePolicy.QUEUE:
                    job = transition(session, job.id, JobStatus.QUEUED, actor=ACTOR,  # type: ignore[arg-type]
                                     reason="requeued after a failed print", printer_id=None)
    if job.status is before and not reason:
        return None
    return Outcome(job.id, before, job.status, reason)  # type: ignore[arg-type]


def follow_printers(
    engine: Engine,
    client: redis.Redis,
    states: Mapping[str, PrinterState],
    *,
    printer_ids: list[str] | None = None,
    requeue: str = RequeuePolicy.APPROVAL,
) -> list[Outcome]:
    """Follow every job on a printer (or on ``printer_ids``); each job in its own transaction."""
    with Session(engine) as session:
        query = select(Job.id, Job.printer_id).where(Job.status.in_(ON_PRINTER))  # type: ignore[union-attr]
        if printer_ids is not None:
            query = query.where(Job.printer_id.in_(printer_ids))  # type: ignore[union-attr]
        targets = list(session.exec(query))
    outcomes: list[Outcome] = []
    for job_id, printer_id in targets:
        if printer_id is None:
            continue
        lease_held = bool(client.exists(printer_lease_name(printer_id)))
        try:
            with db.session_scope(engine) as session:
                job = session.get(Job, job_id)
                if job is None or job.status not in ON_PRINTER:
                    continue
                outcome = follow_job(session, job, states.get(printer_id), lease_held=lease_held, requeue=requeue)
        except JobChanged as exc:
            logger.info("job %s moved on meanwhile: %s", job_id, exc)
            continue
        if outcome is not None:
            logger.info("job %s: %s -> %s (%s)", job_id, outcome.before.value, outcome.after.value, outcome.reason)
            outcomes.append(outcome)
            announce_jobs_changed(client, job_id, outcome.after.value)
    return outcomes
