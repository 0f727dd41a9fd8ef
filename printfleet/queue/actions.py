"""What people do to jobs and printers: the service functions behind the API, the pages and the CLI.

Each checks the state machine, writes the job event with the actor and reason, and announces the change so
monitors plan again at once. Printer commands (pause, resume, cancel) are carried out by a worker, which holds
the printers' API keys; the web process never needs them.
"""

from __future__ import annotations

import logging

import redis
from rq import Queue
from sqlmodel import Session, select

from printfleet.errors import UserError
from printfleet.models import Job, JobStatus, Printer, utcnow
from printfleet.queue.dispatch import DISPATCH_QUEUE, announce_jobs_changed
from printfleet.queue.jobs import JobNotFound, record_event, transition
from printfleet.queue.lifecycle import ON_PRINTER, IllegalTransition

logger = logging.getLogger(__name__)

PRINTER_COMMANDS = ("pause", "resume", "cancel")


class PrinterNotFound(UserError):
    """No printer with that id."""


class PrinterActionRefused(UserError):
    """The printer's state does not allow the action (e.g. clearing the bed of a printer that prints)."""


def _job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound(f"job {job_id} does not exist")
    return job


def _printer(session: Session, printer_id: str) -> Printer:
    printer = session.get(Printer, printer_id)
    if printer is None or not printer.in_config:
        raise PrinterNotFound(f"printer {printer_id!r} does not exist")
    return printer


def approve_job(session: Session, client: redis.Redis, job_id: int, *, actor: str, reason: str = "") -> Job:
    """Staff approve a job: it joins the queue (at its original place)."""
    job = transition(session, job_id, JobStatus.QUEUED, actor=actor, reason=reason or "approved",
                     expected=[JobStatus.AWAITING_APPROVAL])  # fmt: skip
    announce_jobs_changed(client, job_id, job.status.value)
    return job


def reject_job(session: Session, client: redis.Redis, job_id: int, *, actor: str, reason: str) -> Job:
    """Staff reject a job waiting for approval; the reason is shown to the maker."""
    if not reason.strip():
        raise UserError("a rejection needs a reason the maker can act on")
    job = transition(session, job_id, JobStatus.REJECTED, actor=actor, reason=reason,
                     expected=[JobStatus.AWAITING_APPROVAL])  # fmt: skip
    announce_jobs_changed(client, job_id, job.status.value)
    return job


def requeue_job(
    session: Session, client: redis.Redis, job_id: int, *, actor: str, reason: str = "", needs_approval: bool = False
) -> Job:
    """Put a failed or cancelled job back at its original place: in the queue, or (``needs_approval``, e.g. when
    a maker asks) in the approval inbox first."""
    target = JobStatus.AWAITING_APPROVAL if needs_approval else JobStatus.QUEUED
    job = transition(session, job_id, target, actor=actor, reason=reason or "requeued",
                     expected=[JobStatus.FAILED, JobStatus.CANCELLED], printer_id=None)  # fmt: skip
    announce_jobs_changed(client, job_id, job.status.value)
    return job


def collect_job(session: Session, client: redis.Redis, job_id: int, *, actor: str) -> Job:
    """The maker picked the print up."""
    job = transition(session, job_id, JobStatus.COLLECTED, actor=actor, reason="picked up", expected=[JobStatus.DONE])
    announce_jobs_changed(client, job_id, job.status.value)
    return job


def cancel_job(session: Session, client: redis.Redis, job_id: int, *, actor: str, reason: str = "") -> Job:
    """Cancel a job. A job that is printing is stopped on its printer first; it ends as cancelled when the
    printer reports the print stopped. Any other job ends at once.
    """
    job = _job(session, job_id)
    reason = reason or "cancelled"
    if job.status in (JobStatus.PRINTING, JobStatus.PAUSED) and job.printer_id:
        record_event(session, job, actor=actor, kind="cancel_requested", reason=reason)
        session.flush()
        Queue(DISPATCH_QUEUE, connection=client).enqueue(
            "printfleet.queue.tasks.printer_command", job.printer_id, "cancel", actor,
            job_timeout=120, result_ttl=600, description=f"cancel job {job_id} on {job.printer_id}",
        )  # fmt: skip
        return job
    job = transition(session, job_id, JobStatus.CANCELLED, actor=actor, reason=reason, expected=[job.status])
    announce_jobs_changed(client, job_id, job.status.value)
    return job


def command_printer(session: Session, client: redis.Redis, printer_id: str, command: str, *, actor: str) -> None:
    """Enqueue ``pause``, ``resume`` or ``cancel`` for a printer (carried out by a worker).

    Raises:
        PrinterNotFound: no such printer.
        UserError: unknown command.
    """
    if command not in PRINTER_COMMANDS:
        raise UserError(f"unknown printer command {command!r} (use {', '.join(PRINTER_COMMANDS)})")
    printer = _printer(session, printer_id)
    if command == "cancel":
        job = session.exec(
            select(Job).where(Job.printer_id == printer.id, Job.status.in_(ON_PRINTER))  # type: ignore[union-attr]
        ).first()
        if job is not None:
            record_event(session, job, actor=actor, kind="cancel_requested", reason="cancelled at the printer's page")
    Queue(DISPATCH_QUEUE, connection=client).enqueue(
        "printfleet.queue.tasks.printer_command", printer_id, command, actor,
        job_timeout=120, result_ttl=600, description=f"{command} {printer_id}",
    )  # fmt: skip
    logger.info("printer %s: %s requested by %s", printer_id, command, actor)


def clear_bed(session: Session, client: redis.Redis, printer_id: str, *, actor: str) -> Printer:
    """Confirm that a printer's bed is clear, so it may take the next job.

    Raises:
        PrinterNotFound: no such printer.
        PrinterActionRefused: a job is still on the printer.
    """
    printer = _printer(session, printer_id)
    busy = session.exec(
        select(Job).where(Job.printer_id == printer_id, Job.status.in_(ON_PRINTER))  # type: ignore[union-attr]
    ).first()
    if busy is not None:
        raise PrinterActionRefused(f"printer {printer_id} still has job {busy.id} ({busy.status.value}) on it")
    printer.bed_clear, printer.bed_cleared_by, printer.bed_cleared_at = True, actor, utcnow()
    printer.updated_at = utcnow()
    session.add(printer)
    announce_jobs_changed(client, None, "bed_clear")
    logger.info("printer %s: bed cleared by %s", printer_id, actor)
    return printer


def set_maintenance(
    session: Session, client: redis.Redis, printer_id: str, on: bool, *, actor: str, reason: str = ""
) -> Printer:
    """Take a printer out of dispatch (or back in) without touching its current print."""
    printer = _printer(session, printer_id)
    printer.maintenance = on
    printer.maintenance_reason = (reason or None) if on else None
    printer.updated_at = utcnow()
    session.add(printer)
    announce_jobs_changed(client, None, "maintenance")
    logger.info("printer %s: maintenance %s by %s%s", printer_id, "on" if on else "off", actor,
                f" ({reason})" if reason else "")  # fmt: skip
    return printer


__all__ = [
    "IllegalTransition",
    "PrinterActionRefused",
    "PrinterNotFound",
    "approve_job",
    "cancel_job",
    "clear_bed",
    "collect_job",
    "command_printer",
    "reject_job",
    "requeue_job",
    "set_maintenance",
]
