"""The dispatcher: from a snapshot of the fleet and the queue to dispatch tasks, safely.

One pass (:meth:`Dispatcher.run_once`) reads printers (fleet file + ``printers`` rows + live states) and
queued jobs, asks the pure :func:`printfleet.queue.policy.plan` what to start, and for each assignment

1. takes the printer's lease in Redis (expiring, so a dead worker cannot hold a printer forever),
2. moves the job ``queued -> assigned`` with a compare-and-set on its row,
3. enqueues the RQ task :func:`printfleet.queue.tasks.dispatch_job` that slices, uploads and starts.

Two monitors may run this at once: the lease and the compare-and-set make sure only one wins per printer and
per job. A printer with a job on it in the database (assigned .. paused) counts as busy whatever it reports.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis
from rq import Queue, Worker
from sqlalchemy import Engine
from sqlmodel import Session, select

from printfleet import db
from printfleet.config import FleetConfig
from printfleet.events import JOBS_CHANGED_CHANNEL
from printfleet.models import Job, JobStatus, Printer, User
from printfleet.queue import policy
from printfleet.queue.jobs import JobChanged, transition
from printfleet.queue.leases import Lease, printer_lease_name
from printfleet.queue.lifecycle import ON_PRINTER
from printfleet.queue.rules import printer_snapshot, site_rules
from printfleet.queue.worker import QUEUE_NAMES
from printfleet.settings import Settings
from printfleet.state import PrinterState, PrinterStatus
from printfleet.store import StateStore
from printfleet.texts import plan_said

logger = logging.getLogger(__name__)

PLAN_KEY = "printfleet:plan"
SCHEDULE_LOCK = "printfleet:lock:schedule"
COOLDOWN_PREFIX = "printfleet:cooldown:"
DISPATCH_QUEUE = QUEUE_NAMES[0]
DEFAULT_PRINT_S = 3600.0
#: dispatches allowed to wait in the queue per live worker (and in all, at least)
BACKLOG_PER_WORKER = 2
MIN_BACKLOG = 2
USAGE_LOOKBACK_S = 8 * 24 * 3600.0

_STATUS = {
    PrinterStatus.OFFLINE: policy.PrinterStatus.OFFLINE,
    PrinterStatus.IDLE: policy.PrinterStatus.IDLE,
    PrinterStatus.BUSY: policy.PrinterStatus.OFFLINE,  # connecting, pausing, cancelling: not now
    PrinterStatus.PRINTING: policy.PrinterStatus.PRINTING,
    PrinterStatus.PAUSED: policy.PrinterStatus.PAUSED,
    PrinterStatus.FINISHED: policy.PrinterStatus.FINISHED,
    PrinterStatus.ERROR: policy.PrinterStatus.ERROR,
}


def announce_jobs_changed(
    client: redis.Redis, job_id: int | None = None, status: str = "", *, printer_id: str | None = None
) -> None:
    """Tell monitors (and pages) that the queue changed, so they plan again without waiting.

    With ``printer_id`` (a print was started there), the monitor also asks that printer how it is at once,
    rather than waiting for its MQTT events, which may be lost.
    """
    message: dict[str, object] = {"job_id": job_id, "status": status}
    if printer_id is not None:
        message["printer_id"] = printer_id
    try:
        client.publish(JOBS_CHANGED_CHANNEL, json.dumps(message))
    except redis.exceptions.RedisError as exc:
        logger.warning("could not announce a job change: %s", exc)


def cool_down(client: redis.Redis, printer_id: str, seconds: float, reason: str) -> None:
    """Keep a printer out of dispatch for a while (it refused a start, or went away mid-dispatch)."""
    client.set(f"{COOLDOWN_PREFIX}{printer_id}", reason, px=int(seconds * 1000))
    logger.warning("printer %s: no dispatch for %.0f s (%s)", printer_id, seconds, reason)


@dataclass(frozen=True)
class Snapshot:
    """What one planning pass sees."""

    printers: list[policy.PrinterSnapshot]
    jobs: list[policy.QueuedJob]
    usage: dict[str, policy.UserUsage]


def build_snapshot(
    session: Session,
    fleet: FleetConfig,
    states: Mapping[str, PrinterState],
    *,
    unavailable: set[str],
    rules: policy.SiteRules,
    now: float,
) -> Snapshot:
    """Turn the database, the fleet file and the live states into the policy's plain data.

    Args:
        unavailable: printers leased by a dispatch in flight or cooling down.
    """
    rows = {p.id: p for p in session.exec(select(Printer))}
    names = {u.id: u.name for u in session.exec(select(User))}
    on_printer = {
        j.printer_id: j
        for j in session.exec(select(Job).where(Job.status.in_(ON_PRINTER)))  # type: ignore[union-attr]
        if j.printer_id
    }
    printers: list[policy.PrinterSnapshot] = []
    for cfg in fleet.printers:
        row = rows.get(cfg.id)
        state = states.get(cfg.id)
        status = _STATUS[state.status] if state is not None else policy.PrinterStatus.OFFLINE
        fields: dict[str, object] = {
            "status": status,
            "bed_clear": row.bed_clear if row else False,
            "maintenance": row.maintenance if row else True,
        }
        if state is not None and state.job is not None and state.job.remaining_s is not None:
            fields["available_at"] = now + state.job.remaining_s
        job = on_printer.get(cfg.id)
        if job is not None:
            fields["current_user"] = names.get(job.owner_id)
            fields["current_job_id"] = str(job.id)
            if status not in (policy.PrinterStatus.PRINTING, policy.PrinterStatus.PAUSED):
                fields["status"] = policy.PrinterStatus.PRINTING
                started = job.started_at.timestamp() if job.started_at else now
                fields["available_at"] = max(now, started + (job.est_print_time_s or DEFAULT_PRINT_S))
        elif cfg.id in unavailable and status is not policy.PrinterStatus.OFFLINE:
            fields["status"] = policy.PrinterStatus.OFFLINE
        printers.append(printer_snapshot(cfg, **fields))

    jobs = [
        _queued_job(job, names.get(job.owner_id, f"user-{job.owner_id}"))
        for job in session.exec(select(Job).where(Job.status == JobStatus.QUEUED))
    ]
    since = now - max(rules.fair_share_window_s, USAGE_LOOKBACK_S)
    records = [
        policy.UsageRecord(
            user=names.get(job.owner_id, f"user-{job.owner_id}"),
            started_at=job.started_at.timestamp(),
            print_s=job.actual_print_time_s or job.est_print_time_s or DEFAULT_PRINT_S,
        )
        for job in session.exec(
            select(Job).where(Job.started_at.is_not(None), Job.started_at >= _utc(since))  # type: ignore[union-attr]
        )
        if job.started_at is not None
    ]
    return Snapshot(printers, jobs, policy.summarise_usage(records, rules, now))


def _utc(ts: float):
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _queued_job(job: Job, user: str) -> policy.QueuedJob:
    bbox = tuple(job.bbox_mm) if job.bbox_mm and len(job.bbox_mm) == 3 else (0.0, 0.0, 0.0)
    return policy.QueuedJob(
        id=str(job.id),
        user=user,
        submitted_at=job.created_at.timestamp(),  # a requeued job keeps its place at the front
        est_print_s=job.est_print_time_s or DEFAULT_PRINT_S,
        filament_g=job.est_filament_g or 0.0,
        material=job.material or policy.ANY,
        colour=job.colour or policy.ANY,
        bbox_mm=bbox,  # type: ignore[arg-type]
        nozzle_mm=job.nozzle_mm,
        priority=job.priority,
    )


def plan_to_json(plan: policy.Plan) -> str:
    """The plan as JSON for pages: every waiting job's estimated start and reason (code + parameters)."""
    return json.dumps(
        {
            "now": plan.now,
            "order": list(plan.order),
            "waiting": {
                job_id: {
                    "start_at": est.start_at,
                    "printer_id": est.printer_id,
                    "reason": {"code": est.reason.code.value, "params": dict(est.reason.params)},
                }
                for job_id, est in plan.waiting.items()
            },
        },
        default=str,
    )


class Dispatcher:
    """Plans and dispatches; safe to run in several monitors at once."""

    def __init__(
        self, *, settings: Settings, fleet: FleetConfig, engine: Engine, client: redis.Redis, store: StateStore
    ) -> None:
        self.settings = settings
        self.fleet = fleet
        self.engine = engine
        self.client = client
        self.store = store
        self.rules = site_rules(fleet)
        self.queue = Queue(DISPATCH_QUEUE, connection=client)
        self.actor = "system:dispatcher"

    def _unavailable(self) -> set[str]:
        ids = [p.id for p in self.fleet.printers]
        pipe = self.client.pipeline(transaction=False)
        for pid in ids:
            pipe.exists(printer_lease_name(pid))
            pipe.exists(f"{COOLDOWN_PREFIX}{pid}")
        flags = pipe.execute()
        return {pid for i, pid in enumerate(ids) if flags[2 * i] or flags[2 * i + 1]}

    def plan(self, now: float | None = None) -> policy.Plan:
        """Plan without acting (also what pages show as queue positions and reasons)."""
        now = time.time() if now is None else now
        with Session(self.engine) as session:
            snap = build_snapshot(
                session, self.fleet, self.store.all(), unavailable=self._unavailable(), rules=self.rules, now=now
            )
        return policy.plan(snap.printers, snap.jobs, self.rules, now, snap.usage)

    def run_once(self, now: float | None = None) -> list[int]:
        """One planning pass; returns the ids of the jobs it dispatched."""
        schedule = Lease(self.client, SCHEDULE_LOCK, ttl_s=30)
        if not schedule.acquire():
            return []  # another monitor is planning right now
        try:
            result = self.plan(now)
            self.client.set(PLAN_KEY, plan_to_json(result), ex=300)
            room = self.dispatch_room()
            dispatched: list[int] = []
            for assignment in result.assignments:
                if len(dispatched) >= room:
                    break  # the rest waits for the next pass, planned with fresher facts
                if (job_id := self._dispatch(assignment)) is not None:
                    dispatched.append(job_id)
            return dispatched
        finally:
            schedule.release()

    def dispatch_room(self) -> int:
        """How many more dispatches may wait in the queue: a couple per live worker, so a dispatch starts
        well inside its lease instead of expiring behind a long backlog."""
        workers = Worker.count(queue=self.queue)
        return max(0, max(MIN_BACKLOG, BACKLOG_PER_WORKER * workers) - self.queue.count)

    def _dispatch(self, assignment: policy.Assignment) -> int | None:
        job_id = int(assignment.job_id)
        lease = Lease(self.client, printer_lease_name(assignment.printer_id), ttl_s=self.settings.dispatch_lease_s)
        if not lease.acquire():
            return None
        try:
            with db.session_scope(self.engine) as session:
                job = transition(
                    session, job_id, JobStatus.ASSIGNED, actor=self.actor, expected=[JobStatus.QUEUED],
                    reason=plan_said(assignment.reason),
                    printer_id=assignment.printer_id,
                )  # fmt: skip
                version = job.version
        except JobChanged as exc:
            logger.info("not dispatching: %s", exc)
            lease.release()
            return None
        from printfleet.queue.tasks import dispatch_job

        self.queue.enqueue(
            dispatch_job,
            job_id,
            assignment.printer_id,
            version,
            lease.token,
            job_id=f"dispatch-{job_id}-{version}",
            job_timeout=int(self.settings.dispatch_lease_s * 10),
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
            description=f"dispatch job {job_id} to {assignment.printer_id}",
        )
        logger.info("dispatching job %s to %s", job_id, assignment.printer_id)
        return job_id


def waiting_jobs(plan: policy.Plan) -> Sequence[str]:
    """Queued job ids in the order the policy ranks them."""
    return plan.order
