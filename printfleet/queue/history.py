"""The history people read: job events and printer events (bed cleared, maintenance, commands) merged, newest
first. Render an entry with ``printfleet.web.reasons.event_text`` and its actor with ``actor_text``.

Printer events are written here too (:func:`record_printer_event`); a person's command to a printer is looked
up again (:func:`last_request`) when the printer carries it out, so the job's transition names that person.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Collection
from dataclasses import dataclass

from sqlmodel import Session, col, select

from printfleet.models import Job, JobEvent, PrinterEvent, PrinterEventKind
from printfleet.texts import CodedText, EventCode

DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class HistoryEntry:
    """One job or printer event, with the code of the job it concerns (if any)."""

    event: JobEvent | PrinterEvent
    job_code: str | None

    @property
    def at(self) -> dt.datetime:
        """When it happened (UTC)."""
        return self.event.at

    @property
    def actor(self) -> str:
        """Who did it: a user name, or ``system:<part>``."""
        return self.event.actor

    @property
    def job_id(self) -> int | None:
        """The job it concerns, if any."""
        return self.event.job_id

    @property
    def printer_id(self) -> str | None:
        """The printer it concerns, if any."""
        return self.event.printer_id

    @property
    def is_printer_event(self) -> bool:
        """Whether it is a printer event (bed cleared, maintenance, a command) rather than a job event."""
        return isinstance(self.event, PrinterEvent)


def history(
    session: Session,
    *,
    job_id: int | None = None,
    printer_id: str | None = None,
    since: dt.datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[HistoryEntry]:
    """Job and printer events, newest first, at most ``limit``.

    Args:
        job_id: only this job's events and the printer events about it (e.g. its bed clear).
        printer_id: only events on this printer (job events while the job was on it, and printer events).
        since: only events at or after this time.
    """
    job_query = select(JobEvent, Job.code).join(Job, col(Job.id) == JobEvent.job_id)
    printer_query = select(PrinterEvent, Job.code).join(Job, col(Job.id) == PrinterEvent.job_id, isouter=True)
    if job_id is not None:
        job_query = job_query.where(JobEvent.job_id == job_id)
        printer_query = printer_query.where(PrinterEvent.job_id == job_id)
    if printer_id is not None:
        job_query = job_query.where(JobEvent.printer_id == printer_id)
        printer_query = printer_query.where(PrinterEvent.printer_id == printer_id)
    if since is not None:
        job_query = job_query.where(col(JobEvent.at) >= since)
        printer_query = printer_query.where(col(PrinterEvent.at) >= since)
    job_rows = session.exec(job_query.order_by(col(JobEvent.at).desc(), col(JobEvent.id).desc()).limit(limit))
    printer_rows = session.exec(
        printer_query.order_by(col(PrinterEvent.at).desc(), col(PrinterEvent.id).desc()).limit(limit)
    )
    merged = heapq.merge(
        (HistoryEntry(event, code) for event, code in job_rows),
        (HistoryEntry(event, code) for event, code in printer_rows),
        key=lambda entry: entry.at,
        reverse=True,
    )
    return list(itertools.islice(merged, limit))


def record_printer_event(
    session: Session,
    printer_id: str,
    kind: PrinterEventKind,
    *,
    actor: str,
    job: Job | None = None,
    reason: str = "",
    said: CodedText | None = None,
) -> PrinterEvent:
    """Append an event to a printer's trail (in the caller's transaction).

    Args:
        job: the job concerned (the print on the printer, or the one taken off its bed).
        reason: what the person typed.
        said: what printfleet says; by default the kind's own text with the printer (and the job's code).
    """
    if said is None:
        params: dict[str, object] = {"printer": printer_id}
        code = EventCode(kind.value)
        if job is not None and kind is PrinterEventKind.BED_CLEARED:
            code, params["job_code"] = EventCode.BED_CLEARED_OF_JOB, job.code
        said = CodedText(code.value, params)
    event = PrinterEvent(
        printer_id=printer_id,
        actor=actor,
        kind=kind,
        job_id=job.id if job is not None else None,
        reason=reason[:500],
        reason_code=said.code,
        reason_params=said.params or None,
    )
    session.add(event)
    return event


def last_request(
    session: Session, job: Job, kinds: Collection[PrinterEventKind], *, after: dt.datetime | None = None
) -> PrinterEvent | None:
    """The newest command a person sent about ``job`` (e.g. a pause), if any, at or after ``after``."""
    query = select(PrinterEvent).where(PrinterEvent.job_id == job.id, col(PrinterEvent.kind).in_(list(kinds)))
    if after is not None:
        query = query.where(col(PrinterEvent.at) >= after)
    return session.exec(query.order_by(col(PrinterEvent.at).desc(), col(PrinterEvent.id).desc()).limit(1)).first()
