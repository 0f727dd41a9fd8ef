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
from sqlmodel import Session, col, select

from printfleet import db
from printfleet.models import Job, JobEvent, JobStatus, Printer, PrinterEvent, PrinterEventKind, utcnow
from printfleet.queue.dispatch import announce_jobs_changed
from printfleet.queue.history import last_request
from printfleet.queue.jobs import JobChanged, transition
from printfleet.queue.leases import printer_lease_name
from printfleet.queue.lifecycle import ON_PRINTER
from printfleet.state import PrinterState, PrinterStatus
from printfleet.texts import CodedText, said
from printfleet.texts import EventCode as E

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
    reason: str  # English (logs); the job event holds its code


def _runs_our_file(job: Job, state: PrinterState) -> bool:
    return state.job is not None and job.remote_file_name is not None and state.job.file_name == job.remote_file_name


def _just_started(job: Job, state: PrinterState) -> bool:
    """Whether ``state`` may predate the job's start (observed before it, or within the grace period)."""
    if job.started_at is None:
        return False
    return state.observed_at < job.started_at + dt.timedelta(seconds=START_GRACE_S)


def _request(session: Session, job: Job, kind: PrinterEventKind, *, since_last_change: bool) -> PrinterEvent | None:
    """The person's command about ``job`` that the printer now carries out (``None``: the printer acted alone)."""
    request = last_request(session, job, [kind], after=job.updated_at if since_last_change else None)
    if request is None and kind is PrinterEventKind.CANCEL_REQUESTED:  # rows written before printer events
        old = session.exec(select(JobEvent).where(JobEvent.job_id == job.id, JobEvent.kind == "cancel_requested")
                           .order_by(col(JobEvent.id).desc())).first()  # fmt: skip
        if old is not None:
            return PrinterEvent(printer_id=job.printer_id or "", actor=old.actor, kind=kind, job_id=job.id, reason="")
    return request


def _move(session: Session, job: Job, path: list[JobStatus], reason: CodedText, *, actor: str = ACTOR,
          **fields: object) -> Job:
    for step in path:
        job = transition(session, job.id, step, actor=actor, reason=reason, expected=[job.status], **fields)  # type: ignore[arg-type]
        fields = {}
    return job


def _bed_not_clear(session: Session, printer_id: str) -> None:
    printer = session.get(Printer, printer_id)
    if printer is not None and printer.bed_clear:
        printer.bed_clear = False
        printer.updated_at = utcnow()
        session.add(printer)


def _failure(state: PrinterState) -> CodedText:
    if state.status is PrinterStatus.ERROR:
        return said(E.PRINTER_ERROR, error=state.error) if state.error else said(E.PRINTER_ERROR_UNKNOWN)
    if state.status in (PrinterStatus.PRINTING, PrinterStatus.PAUSED):
        return said(E.PRINTER_PRINTS_OTHER_FILE)
    return said(E.PRINT_STOPPED)


def follow_job(
    session: Session, job: Job, state: PrinterState | None, *, lease_held: bool, requeue: str = RequeuePolicy.APPROVAL
) -> Outcome | None:
    """Bring one job on a printer in line with what the printer reports; ``None`` if nothing changed.

    A pause, resume or cancel that a person asked for (a ``*_requested`` printer event) is recorded as that
    person's; one the printer did by itself (e.g. a filament runout pause) as the monitor's.

    Args:
        lease_held: a dispatch is still working on the printer (its in-flight jobs are left alone).
        requeue: what to do after a failed print (see :class:`RequeuePolicy`).
    """
    before = job.status
    if state is None or state.status is PrinterStatus.OFFLINE or state.status is PrinterStatus.BUSY:
        return None  # we cannot know; wait for the printer
    ours = _runs_our_file(job, state)
    reason: CodedText | None = None
    if before in (JobStatus.ASSIGNED, JobStatus.SLICING, JobStatus.UPLOADING):
        if lease_held:
            return None
        if ours and state.status in (PrinterStatus.PRINTING, PrinterStatus.PAUSED, PrinterStatus.FINISHED):
            path = [JobStatus.UPLOADING] if before is not JobStatus.UPLOADING else []
            reason = said(E.RECONCILED_PRINTING)
            job = _move(session, job, [*path, JobStatus.PRINTING], reason)
            _bed_not_clear(session, job.printer_id)  # type: ignore[arg-type]
            before = job.status
        else:
            reason = said(E.DISPATCH_INTERRUPTED)
            job = _move(session, job, [JobStatus.QUEUED], reason, printer_id=None)
            return Outcome(job.id, before, job.status, reason.english())  # type: ignore[arg-type]
    if before in (JobStatus.PRINTING, JobStatus.PAUSED):
        if not ours and state.status is not PrinterStatus.ERROR and _just_started(job, state):
            return None  # the printer has not reported the new print yet
        if ours and state.status is PrinterStatus.PRINTING and before is JobStatus.PAUSED:
            request = _request(session, job, PrinterEventKind.RESUME_REQUESTED, since_last_change=True)
            reason = said(E.RESUMED_ON_REQUEST if request else E.PRINTER_RESUMED)
            job = _move(session, job, [JobStatus.PRINTING], reason, actor=request.actor if request else ACTOR)
        elif ours and state.status is PrinterStatus.PAUSED and before is JobStatus.PRINTING:
            request = _request(session, job, PrinterEventKind.PAUSE_REQUESTED, since_last_change=True)
            reason = said(E.PAUSED_ON_REQUEST if request else E.PRINTER_PAUSED)
            job = _move(session, job, [JobStatus.PAUSED], reason, actor=request.actor if request else ACTOR)
        elif ours and state.status is PrinterStatus.FINISHED:
            reason = said(E.PRINTER_DONE)
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
            request = _request(session, job, PrinterEventKind.CANCEL_REQUESTED, since_last_change=False)
            if request is not None:
                reason = (said(E.CANCELLED_ON_REQUEST_BECAUSE, note=request.reason) if request.reason
                          else said(E.CANCELLED_ON_REQUEST))  # fmt: skip
                job = _move(session, job, [JobStatus.CANCELLED], reason, actor=request.actor)
            else:
                reason = _failure(state)
                job = _move(session, job, [JobStatus.FAILED], reason, failure_reason=reason.english()[:500])
                if requeue == RequeuePolicy.APPROVAL:
                    job = transition(session, job.id, JobStatus.AWAITING_APPROVAL, actor=ACTOR,  # type: ignore[arg-type]
                                     reason=said(E.REQUEUED_AFTER_FAILURE_APPROVAL), printer_id=None)
                elif requeue == RequeuePolicy.QUEUE:
                    job = transition(session, job.id, JobStatus.QUEUED, actor=ACTOR,  # type: ignore[arg-type]
                                     reason=said(E.REQUEUED_AFTER_FAILURE), printer_id=None)
    if job.status is before and reason is None:
        return None
    return Outcome(job.id, before, job.status, reason.english() if reason is not None else "")  # type: ignore[arg-type]


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
