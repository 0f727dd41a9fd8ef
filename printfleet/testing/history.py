"""A site's history for tests and benchmarks, written through the functions real use goes through.

:class:`HistoryWriter` travels in time (``time_machine``) to each moment and calls what the parts of printfleet
call then: :func:`~printfleet.queue.jobs.create_job` for an upload, :func:`~printfleet.queue.jobs.transition`
as the dispatcher and worker do to start a print, :func:`~printfleet.queue.follow.follow_job` with the
printer's report (finished, error, paused, stopped) as the monitor does, and the staff and maker actions of
:mod:`printfleet.queue.actions` (approve, reject, cancel, collect, clear the bed, maintenance). The trail is
therefore the one real use writes, stamped with the chosen times.

:func:`generate_week` fills the shipped simulated fleet with a week of it: every end state, prints across
midnight, paused prints, a failed print printed again after approval, maintenance (one still on at the end),
an inactive member, and at ``now`` a print running, jobs queued and one awaiting approval.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
import time_machine
from sqlalchemy import Engine
from sqlmodel import Session

from printfleet import db
from printfleet.accounts import add_user
from printfleet.config import FleetConfig
from printfleet.models import FileKind, Job, JobStatus, Printer, User
from printfleet.queue import actions
from printfleet.queue.follow import RequeuePolicy, follow_job
from printfleet.queue.jobs import create_job, transition
from printfleet.queue.policy import Reason, ReasonCode
from printfleet.queue.tasks import remote_name
from printfleet.state import JobProgress, PrinterState, PrinterStatus, StateSource
from printfleet.texts import CodedText, EventCode, plan_said, said

logger = logging.getLogger(__name__)

#: why a very long print waits for approval (the scheduler's reason, as the intake stores it)
LONGER_THAN_A_DAY = plan_said(Reason(ReasonCode.APPROVAL_LONG, {"limit_s": 24 * 3600.0}))

DISPATCHER = "system:dispatcher"
WORKER = "system:worker"
#: filament a print uses per hour of printing, by material (roughly what the shipped profiles give)
GRAMS_PER_HOUR = {"PLA": 12.0, "PETG": 9.0}


class HistoryWriter:
    """Writes what happens at a site, at the times given, through the real functions."""

    def __init__(self, engine: Engine, client: redis.Redis, fleet: FleetConfig) -> None:
        self.engine = engine
        self.client = client
        self.fleet = fleet
        self._started_at: dict[int, dt.datetime] = {}

    @contextmanager
    def session_at(self, when: dt.datetime) -> Iterator[Session]:
        """A committing session in which the clock reads ``when``."""
        with time_machine.travel(when, tick=False), db.session_scope(self.engine) as session:
            yield session

    def ensure_printers(self) -> None:
        """The fleet's printer rows, as the monitor's fleet sync writes them."""
        with db.session_scope(self.engine) as session:
            for cfg in self.fleet.printers:
                if session.get(Printer, cfg.id) is None:
                    session.add(Printer(id=cfg.id, name=cfg.name, status="idle"))

    def member(self, name: str, *, role: str = "maker", nickname: str = "", password: str | None = None,
               when: dt.datetime | None = None) -> int:
        """Add a user; returns its id."""
        with self.session_at(when or dt.datetime.now(dt.UTC)) as session:
            user = add_user(session, name=name, role=role, nickname=nickname, password=password)
            session.flush()
            return user.id  # type: ignore[return-value]

    def deactivate(self, user_id: int) -> None:
        """A member leaves: the account is switched off, the jobs stay."""
        with db.session_scope(self.engine) as session:
            user = session.get(User, user_id)
            assert user is not None
            user.is_active = False
            session.add(user)

    def submit(self, owner_id: int, when: dt.datetime, *, material: str, est_print_time_s: float,
               est_filament_g: float, needs_approval: CodedText | None = None, name: str = "part.stl") -> int:
        """A maker uploads a model (estimated as the slicer would); returns the job id."""
        with self.session_at(when) as session:
            owner = session.get(User, owner_id)
            assert owner is not None
            digest = hashlib.sha256(f"{owner_id}:{when.isoformat()}:{name}".encode()).hexdigest()
            job = create_job(
                session, owner=owner, file_name=name, file_sha256=digest, file_kind=FileKind.STL, file_size=84 + 50 * 12,
                needs_approval=needs_approval, material=material, est_print_time_s=est_print_time_s,
                est_filament_g=est_filament_g, est_filament_mm=est_filament_g / 0.00298, est_source="slicer",
            )  # fmt: skip
            return job.id  # type: ignore[return-value]

    def start(self, job_id: int, printer_id: str, when: dt.datetime) -> None:
        """The dispatcher assigns the job and a worker slices, uploads and starts it (a few seconds apart)."""
        with self.session_at(when - dt.timedelta(seconds=40)) as session:
            queued = session.get(Job, job_id)
            assert queued is not None
            why = Reason(ReasonCode.START_LOADED, {"printer": printer_id, "material": queued.material or "PLA",
                                                   "colour": queued.colour or "any"})
            transition(session, job_id, JobStatus.ASSIGNED, actor=DISPATCHER, expected=[JobStatus.QUEUED],
                       reason=plan_said(why), printer_id=printer_id)  # fmt: skip
        with self.session_at(when - dt.timedelta(seconds=35)) as session:
            transition(session, job_id, JobStatus.SLICING, actor=WORKER, expected=[JobStatus.ASSIGNED])
        with self.session_at(when - dt.timedelta(seconds=10)) as session:
            job = session.get(Job, job_id)
            assert job is not None
            transition(session, job_id, JobStatus.UPLOADING, actor=WORKER, expected=[JobStatus.SLICING],
                       remote_file_name=remote_name(job))  # fmt: skip
        with self.session_at(when) as session:
            job = session.get(Job, job_id)
            assert job is not None
            transition(session, job_id, JobStatus.PRINTING, actor=WORKER, expected=[JobStatus.UPLOADING],
                       reason=said(EventCode.STARTED, printer=printer_id), attempts=job.attempts + 1)  # fmt: skip
            printer = session.get(Printer, printer_id)
            assert printer is not None
            printer.bed_clear = False
            session.add(printer)
        self._started_at[job_id] = when.astimezone(dt.UTC)

    def report(self, job_id: int, when: dt.datetime, status: PrinterStatus, *, error: str | None = None,
               ours: bool = True) -> JobStatus:
        """The printer reports ``status`` for the job's print; the monitor follows it. Returns the job's status."""
        with self.session_at(when) as session:
            job = session.get(Job, job_id)
            assert job is not None and job.printer_id is not None
            progress = None
            if ours:
                elapsed = when.timestamp() - self._started_at.get(job_id, when).timestamp()
                progress = JobProgress(file_name=job.remote_file_name or "", elapsed_s=elapsed)
            state = PrinterState(printer_id=job.printer_id, status=status, observed_at=when, source=StateSource.MQTT,
                                 job=progress, error=error)  # fmt: skip
            follow_job(session, job, state, lease_held=False, requeue=RequeuePolicy.APPROVAL)
            return job.status

    def finish(self, job_id: int, when: dt.datetime) -> None:
        """The printer reports the print done."""
        self.report(job_id, when, PrinterStatus.FINISHED)

    def fail(self, job_id: int, when: dt.datetime, error: str = "thermal runaway") -> None:
        """The printer reports an error; the job goes back to the approval inbox."""
        self.report(job_id, when, PrinterStatus.ERROR, error=error)

    def pause(self, job_id: int, when: dt.datetime) -> None:
        """The printer reports the print paused (filament change, a person at the printer)."""
        self.report(job_id, when, PrinterStatus.PAUSED)

    def resume(self, job_id: int, when: dt.datetime) -> None:
        """The printer reports the print running again."""
        self.report(job_id, when, PrinterStatus.PRINTING)

    def cancel(self, job_id: int, when: dt.datetime, actor: str, reason: str = "") -> None:
        """Someone cancels the job; a print on a printer stops there and the monitor sees it stopped."""
        with self.session_at(when) as session:
            job = actions.cancel_job(session, self.client, job_id, actor=actor, reason=reason)
            on_printer = job.status in (JobStatus.PRINTING, JobStatus.PAUSED)
        if on_printer:
            self.report(job_id, when + dt.timedelta(seconds=20), PrinterStatus.IDLE, ours=False)

    def approve(self, job_id: int, when: dt.datetime, actor: str) -> None:
        """Staff approve a job waiting in the inbox."""
        with self.session_at(when) as session:
            actions.approve_job(session, self.client, job_id, actor=actor)

    def reject(self, job_id: int, when: dt.datetime, actor: str, reason: str) -> None:
        """Staff reject a job waiting in the inbox."""
        with self.session_at(when) as session:
            actions.reject_job(session, self.client, job_id, actor=actor, reason=reason)

    def collect(self, job_id: int, when: dt.datetime, actor: str) -> None:
        """The maker picks the print up."""
        with self.session_at(when) as session:
            actions.collect_job(session, self.client, job_id, actor=actor)

    def clear_bed(self, printer_id: str, when: dt.datetime, actor: str) -> None:
        """Someone confirms the bed is clear."""
        with self.session_at(when) as session:
            actions.clear_bed(session, self.client, printer_id, actor=actor)

    def maintenance(self, printer_id: str, on: bool, when: dt.datetime, actor: str, reason: str = "") -> None:
        """Staff take a printer out of dispatch, or back in."""
        with self.session_at(when) as session:
            actions.set_maintenance(session, self.client, printer_id, on, actor=actor, reason=reason)


@dataclass
class Week:
    """What :func:`generate_week` wrote, for tests to look things up by."""

    start: dt.datetime
    now: dt.datetime
    members: dict[str, int]
    staff: str
    jobs_by_end: dict[str, list[int]] = field(default_factory=dict)
    running: int | None = None

    def add(self, kind: str, job_id: int) -> None:
        """Remember a job under ``kind`` (done, failed, cancelled, rejected, ...)."""
        self.jobs_by_end.setdefault(kind, []).append(job_id)


@dataclass(order=True)
class _Step:
    at: dt.datetime
    seq: int
    do: Callable[[], None] = field(compare=False)


MAKERS = (("ada", "Ada", 5), ("bo", "Bo", 3), ("cem", "Cem", 2), ("dana", "Dana", 1))


def generate_week(engine: Engine, client: redis.Redis, fleet: FleetConfig, *, now: dt.datetime | None = None,
                  seed: int = 11, password: str | None = None) -> Week:
    """A week of use of ``fleet`` up to ``now`` (site timezone): seven whole days and today so far.

    Args:
        password: the members' and the staff member's password (``None``: they cannot sign in).
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    tz = fleet.site.tz
    today = now.astimezone(tz).date()
    first_day = today - dt.timedelta(days=7)
    start = dt.datetime.combine(first_day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    rng = random.Random(seed)
    writer = HistoryWriter(engine, client, fleet)
    writer.ensure_printers()
    signup = start - dt.timedelta(days=30)
    staff = "sam"
    writer.member(staff, role="staff", password=password, when=signup)
    members = {name: writer.member(name, nickname=nick, password=password, when=signup) for name, nick, _ in MAKERS}
    weights = [w for _, _, w in MAKERS]
    week = Week(start=start, now=now, members=members, staff=staff)
    steps: list[_Step] = []
    seq = iter(range(1_000_000))

    def at(when: dt.datetime, do: Callable[[], None]) -> None:
        steps.append(_Step(when, next(seq), do))

    def local(day: dt.date, hour: float) -> dt.datetime:
        return (dt.datetime.combine(day, dt.time(0), tzinfo=tz) + dt.timedelta(hours=hour)).astimezone(dt.UTC)

    def minutes(lo: float, hi: float) -> dt.timedelta:
        return dt.timedelta(minutes=round(rng.uniform(lo, hi)))

    # Each printer's day: prints one after another while the lab is busy; the plan is made first, then
    # every step is written in time order (so ids grow with time, as in real use).
    retries: dict[str, list[tuple[list[int], str]]] = {p.id: [] for p in fleet.printers}
    for index, cfg in enumerate(fleet.printers):
        blocked: list[tuple[dt.datetime, dt.datetime]] = []
        if index == 3:  # mini-2: an afternoon in maintenance on the third day
            blocked.append((local(first_day + dt.timedelta(days=2), 10), local(first_day + dt.timedelta(days=2), 15)))
        if index == 1:  # mk3s-2: taken out on the last whole day and still out at the end
            blocked.append((local(today - dt.timedelta(days=1), 17), now + dt.timedelta(days=365)))
        for lo, hi in blocked:
            at(lo, lambda p=cfg.id, lo=lo: writer.maintenance(p, True, lo, staff, "nozzle change"))
            if hi < now:
                at(hi, lambda p=cfg.id, hi=hi: writer.maintenance(p, False, hi, staff))
        day = first_day
        t = local(day, 8) + minutes(0, 45)
        while t < now:
            if t >= local(day, 20.5):
                day += dt.timedelta(days=1)
                t = max(t, local(day, 8) + minutes(0, 45))
                continue
            hit = next(((lo, hi) for lo, hi in blocked if lo - dt.timedelta(hours=4) < t < hi), None)
            if hit is not None:
                t = hit[1] + minutes(20, 40)
                continue
            overnight = index == 0 and t.astimezone(tz).hour >= 17 and day.toordinal() % 3 == 0
            duration = dt.timedelta(hours=rng.uniform(6.5, 8)) if overnight else minutes(25, 240)
            if any(t < hi and t + duration + dt.timedelta(hours=1) > lo for lo, hi in blocked):
                duration = minutes(25, 40)
            t = _plan_print(writer, week, rng, cfg.material, cfg.id, t, duration, at, retries, weights, minutes)
        # the approval inbox after a failure is handled by staff within the hour (see _plan_print)

    extra_day = first_day + dt.timedelta(days=3)
    # a job cancelled while it waited, one rejected, and at the end two waiting and one awaiting approval
    cancelled: list[int] = []
    at(local(extra_day, 9.5), lambda: cancelled.append(writer.submit(
        members["bo"], local(extra_day, 9.5), material="PLA", est_print_time_s=5400, est_filament_g=18)))
    at(local(extra_day, 10.25), lambda: (writer.cancel(cancelled[0], local(extra_day, 10.25), "bo",
                                                       "wrong file"), week.add("cancelled_waiting", cancelled[0])))
    rejected: list[int] = []
    at(local(extra_day + dt.timedelta(days=1), 11), lambda: rejected.append(writer.submit(
        members["cem"], local(extra_day + dt.timedelta(days=1), 11), material="PETG", est_print_time_s=30 * 3600,
        est_filament_g=400, needs_approval=LONGER_THAN_A_DAY)))
    at(local(extra_day + dt.timedelta(days=1), 12), lambda: (writer.reject(
        rejected[0], local(extra_day + dt.timedelta(days=1), 12), staff, "please split it into parts"),
        week.add("rejected", rejected[0])))
    for offset_min, owner in ((50, "ada"), (30, "dana")):
        when = now - dt.timedelta(minutes=offset_min)
        at(when, lambda when=when, owner=owner: week.add("waiting", writer.submit(
            members[owner], when, material="PETG", est_print_time_s=2 * 3600, est_filament_g=20)))
    when = now - dt.timedelta(minutes=20)
    at(when, lambda: week.add("awaiting_approval", writer.submit(
        members["cem"], when, material="PLA", est_print_time_s=26 * 3600, est_filament_g=300,
        needs_approval=LONGER_THAN_A_DAY)))

    for step in sorted(steps):
        step.do()
    writer.deactivate(members["dana"])
    return week


def _plan_print(writer: HistoryWriter, week: Week, rng: random.Random, material: str, printer_id: str,
                t: dt.datetime, duration: dt.timedelta, at: Callable[[dt.datetime, Callable[[], None]], None],
                retries: dict[str, list[tuple[list[int], str]]], weights: list[int],
                minutes: Callable[[float, float], dt.timedelta]) -> dt.datetime:
    """Plan one print on ``printer_id`` starting at ``t``; returns when the printer is free for the next."""
    now, staff = week.now, week.staff
    names = [name for name, _, _ in MAKERS]
    if retries[printer_id]:
        handle, owner = retries[printer_id].pop(0)  # a failed job, approved again, goes first
    else:
        owner = rng.choices(names, weights)[0]
        handle = []
        est_s = duration.total_seconds() * rng.uniform(0.9, 1.1)
        grams = round(est_s / 3600 * GRAMS_PER_HOUR.get(material, 10.0), 1)
        submitted = max(week.start, t - minutes(5, 90))
        at(submitted, lambda: handle.append(writer.submit(
            week.members[owner], submitted, material=material, est_print_time_s=est_s, est_filament_g=grams,
            name=f"{owner}-{submitted:%m%d%H%M}.stl")))
    at(t, lambda: writer.start(handle[0], printer_id, t))
    end = t + duration
    if end > now:  # still printing at the end of the history
        at(t, lambda: setattr(week, "running", handle[0]))
        return now + dt.timedelta(days=365)
    draw = rng.random()
    ready = t
    if draw < 0.12:  # paused half-way for a while (counts as time on the printer, not printing)
        pause_at, pause = t + duration / 2, minutes(10, 30)
        at(pause_at, lambda: writer.pause(handle[0], pause_at))
        at(pause_at + pause, lambda: writer.resume(handle[0], pause_at + pause))
        end += pause
        if end > now:
            return now + dt.timedelta(days=365)
    if 0.12 <= draw < 0.22:  # the printer fails part-way: back to the inbox, approved, printed again next
        fail_at = t + duration * rng.uniform(0.2, 0.7)
        at(fail_at, lambda: (writer.fail(handle[0], fail_at), week.add("failed", handle[0])))
        approve_at = fail_at + minutes(10, 40)
        if approve_at < now:
            at(approve_at, lambda: writer.approve(handle[0], approve_at, staff))
            retries[printer_id].append((handle, owner))
        end = fail_at
        ready = approve_at + dt.timedelta(minutes=2)  # the retry starts once it is back in the queue
    elif 0.22 <= draw < 0.28:  # the maker changes their mind while it prints
        cancel_at = t + duration * rng.uniform(0.1, 0.5)
        at(cancel_at, lambda: (writer.cancel(handle[0], cancel_at, owner, "wrong colour"),
                               week.add("cancelled", handle[0])))
        end = cancel_at + dt.timedelta(seconds=20)
    else:
        at(end, lambda: (writer.finish(handle[0], end), week.add("done", handle[0])))
        collect_at = end + minutes(30, 36 * 60)
        if rng.random() < 0.8 and collect_at < now:
            at(collect_at, lambda: (writer.collect(handle[0], collect_at, owner), week.add("collected", handle[0])))
    cleared = end + minutes(5, 40)
    if cleared >= now:
        return now + dt.timedelta(days=365)
    at(cleared, lambda: writer.clear_bed(printer_id, cleared, staff))
    return max(cleared + minutes(5, 30), ready)
