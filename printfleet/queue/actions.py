"""What people do to jobs and printers: the service functions behind the API, the pages and the CLI.

Each checks the state machine, writes the job event with the actor and reason, and announces the change so
monitors plan again at once. Printer commands (pause, resume, cancel) are carried out by a worker, which holds
the printers' API keys; the web process never needs them.
"""

from __future__ import annotations

import logging

import redis
from rq import Queue
from sqlmodel import Session, col, select

from printfleet.errors import Conflict, NotFound, UserError
from printfleet.models import Job, JobEvent, JobStatus, Printer, PrinterEventKind, utcnow
from printfleet.queue.dispatch import DISPATCH_QUEUE, announce_jobs_changed
from printfleet.queue.history import record_printer_event
from printfleet.queue.jobs import job_not_found, transition
from printfleet.queue.lifecycle import ON_PRINTER, IllegalTransition
from printfleet.texts import N_, EventCode, said

logger = logging.getLogger(__name__)

PRINTER_COMMANDS = ("pause", "resume", "cancel")
#: the printer event that records a person's command
COMMAND_EVENTS = {
    "pause": PrinterEventKind.PAUSE_REQUESTED,
    "resume": PrinterEventKind.RESUME_REQUESTED,
    "cancel": PrinterEventKind.CANCEL_REQUESTED,
}


class PrinterNotFound(NotFound):
    """No printer with that id."""

    code = "printer_not_found"


class PrinterActionRefused(Conflict):
    """The printer's state does not allow the action (e.g. clearing the bed of a printer that prints)."""

    code = "printer_action_refused"


def printer_not_found(printer_id: str) -> PrinterNotFound:
    """The error for a printer that is not in the fleet."""
    return PrinterNotFound(N_("printer %(printer)s does not exist"), printer=printer_id)


def _job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise job_not_found(job_id)
    return job


def _printer(session: Session, printer_id: str) -> Printer:
    printer = session.get(Printer, printer_id)
    if printer is None or not printer.in_config:
        raise printer_not_found(printer_id)
    return printer


def _job_on(session: Session, printer_id: str) -> Job | None:
    return session.exec(
        select(Job).where(Job.printer_id == printer_id, Job.status.in_(ON_PRINTER))  # type: ignore[union-attr]
    ).first()


def approve_job(session: Session, client: redis.Redis, job_id: int, *, actor: str, reason: str = "") -> Job:
    """Staff approve a job: it joins the queue (at its original place)."""
    job = transition(session, job_id, JobStatus.QUEUED, actor=actor, reason=reason or said(EventCode.APPROVED),
                     expected=[JobStatus.AWAITING_APPROVAL])  # fmt: skip
    announce_jobs_changed(client, job_id, job.status.value)
    return job


def reject_job(session: Session, client: redis.Redis, job_id: int, *, actor: str, reason: str) -> Job:
    """Staff reject a job waiting for approval; the reason is shown to the maker."""
    if not reason.strip():
        raise UserError(N_("a rejection needs a reason the maker can act on"), code="reason_missing")
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
    default = said(EventCode.REQUEUED_FOR_APPROVAL if needs_approval else EventCode.REQUEUED)
    job = transition(session, job_id, target, actor=actor, reason=reason or default,
                     expected=[JobStatus.FAILED, JobStatus.CANCELLED], printer_id=None)  # fmt: skip
    announce_jobs_changed(client, job_id, job.status.value)
    return job


def collect_job(session: Session, client: redis.Redis, job_id: int, *, actor: str) -> Job:
    """The maker picked the print up."""
    job = transition(session, job_id, JobStatus.COLLECTED, actor=actor, reason=said(EventCode.PICKED_UP),
                     expected=[JobStatus.DONE])
    announce_jobs_changed(client, job_id, job.status.value)
    return job


def cancel_job(session: Session, client: redis.Redis, job_id: int, *, actor: str, reason: str = "") -> Job:
    """Cancel a job. A job that is printing is stopped on its printer first (recorded as the person's
    ``cancel_requested`` printer event); it ends as cancelled, by that person, when the printer reports the
    print stopped. Any other job ends at once.
    """
    job = _job(session, job_id)
    if job.status in (JobStatus.PRINTING, JobStatus.PAUSED) and job.printer_id:
        record_printer_event(session, job.printer_id, PrinterEventKind.CANCEL_REQUESTED, actor=actor, job=job,
                             reason=reason)
        session.flush()
        Queue(DISPATCH_QUEUE, connection=client).enqueue(
            "printfleet.queue.tasks.printer_command", job.printer_id, "cancel", actor,
            job_timeout=120, result_ttl=600, description=f"cancel job {job_id} on {job.printer_id}",
        )  # fmt: skip
        return job
    job = transition(session, job_id, JobStatus.CANCELLED, actor=actor, reason=reason or said(EventCode.CANCELLED),
                     expected=[job.status])
    announce_jobs_changed(client, job_id, job.status.value)
    return job


def command_printer(
    session: Session, client: redis.Redis, printer_id: str, command: str, *, actor: str, reason: str = ""
) -> None:
    """Enqueue ``pause``, ``resume`` or ``cancel`` for a printer (carried out by a worker), and record who asked
    (a ``*_requested`` printer event with the job on the printer), so the job's transition names that person
    when the printer carries it out.

    Raises:
        PrinterNotFound: no such printer.
        UserError: unknown command.
    """
    if command not in PRINTER_COMMANDS:
        raise UserError(N_("unknown printer command %(command)s (use %(commands)s)"), code="unknown_command",
                        command=command, commands=", ".join(PRINTER_COMMANDS))
    printer = _printer(session, printer_id)
    record_printer_event(session, printer.id, COMMAND_EVENTS[command], actor=actor, job=_job_on(session, printer.id),
                         reason=reason)
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
    busy = _job_on(session, printer_id)
    if busy is not None:
        raise PrinterActionRefused(N_("%(printer)s still has job %(job_code)s on it (%(status)s)"),
                                   printer=printer_id, job_code=busy.code, status=busy.status.value)
    taken_off = None if printer.bed_clear else last_job_on(session, printer)
    printer.bed_clear, printer.bed_cleared_by, printer.bed_cleared_at = True, actor, utcnow()
    printer.updated_at = utcnow()
    session.add(printer)
    record_printer_event(session, printer_id, PrinterEventKind.BED_CLEARED, actor=actor, job=taken_off)
    announce_jobs_changed(client, None, "bed_clear")
    logger.info("printer %s: bed cleared by %s", printer_id, actor)
    return printer


def last_job_on(session: Session, printer: Printer) -> Job | None:
    """The job whose print ended last on a printer since its bed was last cleared (what a bed clear takes off)."""
    query = select(JobEvent.job_id).where(
        JobEvent.printer_id == printer.id, JobEvent.kind == "transition",
        col(JobEvent.to_status).in_([JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED]),
    )  # fmt: skip
    if printer.bed_cleared_at is not None:
        query = query.where(col(JobEvent.at) >= printer.bed_cleared_at)
    job_id = session.exec(query.order_by(col(JobEvent.at).desc(), col(JobEvent.id).desc()).limit(1)).first()
    return session.get(Job, job_id) if job_id is not None else None


def set_maintenance(
    session: Session, client: redis.Redis, printer_id: str, on: bool, *, actor: str, reason: str = ""
) -> Printer:
    """Take a printer out of dispatch (or back in) without touching its current print."""
    printer = _printer(session, printer_id)
    if printer.maintenance != on:
        kind = PrinterEventKind.MAINTENANCE_ON if on else PrinterEventKind.MAINTENANCE_OFF
        record_printer_event(session, printer_id, kind, actor=actor, job=_job_on(session, printer_id), reason=reason)
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
    "last_job_on",
    "reject_job",
    "requeue_job",
    "set_maintenance",
]
