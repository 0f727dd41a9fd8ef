"""What the pages show about jobs: the queue in the scheduler's order with estimated starts and reasons,
jobs on printers and jobs ready for pickup, computed in one pass from the database and the state store.

The scheduler (:func:`printfleet.queue.policy.plan`) is pure; this module plans on the dispatcher's own
snapshot (:func:`printfleet.queue.dispatch.build_snapshot`) but only reads the estimates (it assigns nothing).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sqlmodel import Session, col, func, select

from printfleet.config import FleetConfig
from printfleet.models import Job, JobStatus, Printer, User
from printfleet.queue.dispatch import build_snapshot
from printfleet.queue.lifecycle import ON_PRINTER
from printfleet.queue.policy import Plan, Reason, ReasonCode, plan
from printfleet.queue.rules import site_rules
from printfleet.state import PrinterState

logger = logging.getLogger(__name__)

#: done jobs older than this no longer show as "ready for pickup" on the wall
PICKUP_WINDOW = dt.timedelta(days=7)

@dataclass(frozen=True)
class JobBrief:
    """A job as the wall may show it, plus what the pages need to place it (no file name, no user name)."""

    id: int
    code: str
    nickname: str
    owner_id: int
    status: JobStatus
    printer_id: str | None = None
    position: int | None = None
    start_at: float | None = None
    reason: Reason | None = None
    finished_at: float | None = None
    est_print_time_s: float | None = None
    queued_at: float | None = None
    started_at: float | None = None


@dataclass
class FleetView:
    """One consistent picture of the jobs, recomputed when something changes."""

    now: float
    queue: list[JobBrief] = field(default_factory=list)
    approvals: list[JobBrief] = field(default_factory=list)
    on_printer: dict[str, JobBrief] = field(default_factory=dict)
    pickup: list[JobBrief] = field(default_factory=list)
    printer_rows: dict[str, Printer] = field(default_factory=dict)
    status_counts: dict[str, int] = field(default_factory=dict)
    by_id: dict[int, JobBrief] = field(default_factory=dict)

    def brief(self, job_id: int) -> JobBrief | None:
        """The queue/printer/pickup entry of a job, if it is in one."""
        return self.by_id.get(job_id)


def loaded_materials(fleet: FleetConfig) -> list[str]:
    """The materials the fleet has loaded, the commonest first (ties: the one loaded first in the fleet file)."""
    materials = [p.material for p in fleet.printers]
    return sorted(dict.fromkeys(materials), key=lambda m: (-materials.count(m), materials.index(m)))


def default_material(fleet: FleetConfig) -> str:
    """The material a job gets when the maker names none: the fleet's commonest (PLA for an empty fleet)."""
    return next(iter(loaded_materials(fleet)), "PLA")


def job_signature(session: Session) -> tuple[object, ...]:
    """A cheap value that changes whenever a job or printer row changes."""
    jobs = session.exec(select(func.count(col(Job.id)), func.max(Job.updated_at), func.max(col(Job.id)))).one()
    printers = session.exec(select(func.max(Printer.updated_at), func.count())).one()
    return (*jobs, *printers)


def compute_view(
    session: Session, fleet: FleetConfig, states: Mapping[str, PrinterState], now: dt.datetime | None = None,
    *, plan_queue: bool = True,
) -> FleetView:
    """Read the jobs that matter to the pages and plan the queue (``plan_queue=False``: only the printer rows,
    the jobs on the printers and those ready for pickup, which the printer cards need; planning takes far longer)."""
    now_dt = now or dt.datetime.now(dt.UTC)
    ts = now_dt.timestamp()
    view = FleetView(now=ts)
    view.printer_rows = {p.id: p for p in session.exec(select(Printer))}
    view.status_counts = {
        str(getattr(status, "value", status)): count
        for status, count in session.exec(select(Job.status, func.count()).group_by(Job.status))
    }
    wanted = [JobStatus.DONE, *ON_PRINTER] + ([JobStatus.QUEUED, JobStatus.AWAITING_APPROVAL] if plan_queue else [])
    rows = session.exec(
        select(Job, User).join(User, col(User.id) == Job.owner_id).where(col(Job.status).in_(wanted))
    ).all()
    cutoff = now_dt - PICKUP_WINDOW
    waiting: list[tuple[Job, User]] = []
    for job, user in rows:
        brief = _brief(job, user)
        if job.status in ON_PRINTER and job.printer_id:
            view.on_printer[job.printer_id] = brief
            view.by_id[job.id] = brief  # type: ignore[index]
        elif job.status is JobStatus.DONE:
            if job.finished_at is None or job.finished_at >= cutoff:
                view.pickup.append(brief)
                view.by_id[job.id] = brief  # type: ignore[index]
        elif job.status in (JobStatus.QUEUED, JobStatus.AWAITING_APPROVAL):
            waiting.append((job, user))
    view.pickup.sort(key=lambda b: b.finished_at or 0.0, reverse=True)
    if plan_queue:
        _plan_queue(session, view, fleet, states, waiting, now_dt)
    return view


def _brief(job: Job, user: User, **extra: object) -> JobBrief:
    return JobBrief(
        id=job.id,  # type: ignore[arg-type]
        code=job.code,
        nickname=user.nickname or user.name[:1].upper(),
        owner_id=job.owner_id,
        status=job.status,
        printer_id=job.printer_id,
        finished_at=job.finished_at.timestamp() if job.finished_at else None,
        est_print_time_s=job.est_print_time_s,
        queued_at=job.queued_at.timestamp() if job.queued_at else None,
        started_at=job.started_at.timestamp() if job.started_at else None,
        **extra,  # type: ignore[arg-type]
    )


def _plan_queue(
    session: Session,
    view: FleetView,
    fleet: FleetConfig,
    states: Mapping[str, PrinterState],
    waiting: list[tuple[Job, User]],
    now_dt: dt.datetime,
) -> None:
    now = now_dt.timestamp()
    if not waiting:
        return
    jobs = {job.id: job for job, _ in waiting}
    owners = {job.id: user for job, user in waiting}
    rules = site_rules(fleet)
    result: Plan | None
    try:
        snap = build_snapshot(session, fleet, states, unavailable=set(), rules=rules, now=now)
        result = plan(snap.printers, snap.jobs, rules, now, snap.usage)
    except Exception:  # the pages must keep working even if planning trips over odd data
        logger.exception("planning the queue for the pages failed; showing it in submission order")
        result = None
    submitted = sorted(jobs.values(), key=lambda j: (-j.priority, (j.queued_at or j.created_at)))
    order: list[str] = list(result.order) if result is not None and result.order else []
    seen = set(order)
    order += [str(j.id) for j in submitted if str(j.id) not in seen]
    position = 0
    for job_key in order:
        job_id = int(job_key)
        job = jobs.get(job_id)
        if job is None:
            continue
        reason: Reason | None = None
        start_at: float | None = None
        printer_id: str | None = None
        if result is not None:
            estimate = result.waiting.get(job_key)
            assignment = next((a for a in result.assignments if a.job_id == job_key), None)
            if estimate is not None:
                reason, start_at, printer_id = estimate.reason, estimate.start_at, estimate.printer_id
            elif assignment is not None:
                reason, start_at, printer_id = assignment.reason, now, assignment.printer_id
        if job.status is JobStatus.AWAITING_APPROVAL:
            brief = _brief(job, owners[job_id], reason=reason or Reason(ReasonCode.AWAITING_APPROVAL))
            view.approvals.append(brief)
        else:
            position += 1
            brief = _brief(job, owners[job_id], position=position, start_at=start_at, reason=reason)
            brief = replace(brief, printer_id=printer_id)
            view.queue.append(brief)
        view.by_id[job_id] = brief
