"""The scheduling policy: which queued job goes to which printer now, and when every other job will start.

Pure: plain frozen dataclasses in, a :class:`Plan` out; no database, Redis or network. The dispatcher
(``printfleet.queue.dispatch``) builds the snapshot and carries out ``plan.assignments``; the simulator
(``printfleet.queue.simulate``) replays whole workloads through the same :func:`plan`.

All times are POSIX seconds (``float``, UTC); the site's timezone is only used for opening hours, per-day
caps and the wording of reasons.

How a plan is made
------------------
1. **Eligibility.** A job needs approval (``PENDING``), fits no printer of the fleet (build volume with
   any rotation about Z, nozzle, material, colour, tags), is longer than any opening window when
   unattended printing is off, or exceeds a per-member cap on its own: it waits with that reason and no
   start time, so nothing is dropped silently.
2. **Ranking** (:class:`Ordering`).

   * ``fifo``: priority, then submission time (what the dispatch issue asks for first).
   * ``least-used``: priority, then the member's printer-seconds in the fair-share window, then
     submission. The obvious fair rule, kept as the benchmark's baseline.
   * ``fair`` (default): weighted fair queueing over printer-time. A member's *claim* is the
     printer-seconds they used in the window plus ``backlog_weight`` x everything they have queued, over
     their weight; their jobs, in their own priority/submission order, get the tags ``claim + (1 -
     backlog_weight) x their queued work up to and including the job / weight``. With the default
     ``backlog_weight`` of 1 every job of a member has the member's claim as its tag (and their own jobs
     keep their submission order). Jobs are served by priority, then smallest tag. Unlike "least used first",
     a member with a batch of 40 queued jobs is charged for the batch *before* it runs, so one short job
     from somebody else is not stuck behind it; and the tag includes the job's own length, so among
     light members short jobs go first, while a long job's tag does not grow as it waits (no starvation).
3. **Reserving capacity, and look-ahead over the opening hours** (``fair`` only). Light members mostly
   wait because every printer is busy with a long print when their short job arrives, so:

   * *long-job share*: while the space is open, prints of ``long_job_s`` or more may occupy at most
     ``long_job_share`` of the printers; the rest keep turning over short jobs (within the last
     ``long_job_s`` before closing with unattended printing on, long prints may take every printer:
     they run mostly overnight);
   * *overnight start*: with unattended printing on, a print that would end while the space is closed
     anyway starts as late as possible (before closing, leaving time for the heat-up stagger, and still
     ending before the next opening). That costs the fleet nothing, since the printer could not start
     another job before the morning, and keeps printers free for the evening's short jobs;
   * *carried-over long jobs first*: with unattended printing off, a job of ``at_risk_min_s`` or more
     that was already waiting at opening time goes first once its last chance to start today is less than
     ``at_risk_s`` away, and from the opening on if it could already have printed on an earlier day, so
     long jobs do not miss their morning window day after day;
   * *a job only one printer can take*: flexible jobs take another idle printer rather than the last idle
     one of a kind a waiting job can only print on; and such a job that was already waiting when the space
     opened (for ``scarce_wait_s``) goes first on its printer whenever it is free and the job can still
     finish before closing, so a stream of jobs that could print elsewhere cannot keep it busy for days.
4. **Starting now.** In that order, a job starts now if the site is open, it finishes before closing plus
   the margin (unattended printing off), the member's caps allow it, fewer than ``max_heating`` printers
   are heating up, and a compatible printer is idle with its bed confirmed clear. Among those printers it
   takes the one with the material loaded (a spool swap only as a fallback), then the one fewest waiting
   jobs could use, then the smallest and most common (so big printers and rare colours stay free for the
   requests that need them). A job that fits several printers leaves the last idle one of a kind to a job
   that fits only that one, when another printer it fits frees up within ``flex_defer_s``. Lower-ranked jobs
   may use printers a higher-ranked job cannot use now (backfilling).
5. **Estimates.** The other jobs are list-scheduled in rank order on a copy of the fleet's timeline (each
   printer's next free time), moved into the next allowed opening window where needed. The estimated start
   assumes the estimates hold and no higher-ranked job arrives. The reason names the constraint that binds
   (:class:`ReasonCode` plus parameters), and :func:`render_reason` turns it into a sentence.

Performance: printers are grouped into capability classes and each class keeps a heap of free times,
so a plan costs about O(jobs x classes a job fits + jobs log jobs). The passes over every job (eligibility,
ranking, estimates) are written for CPython's speed: caches per job signature, no per-job function calls
in the common case. ``bench/policy.py`` measures 1,000 printers and 20,000 jobs.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from operator import attrgetter, itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

ANY = "any"
ANY_MATERIAL = ANY.upper()
_EPS = 1e-6
_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# ---------------------------------------------------------------- enums


class PrinterStatus(StrEnum):
    """What a printer is doing, as far as the scheduler cares."""

    IDLE = "idle"
    HEATING = "heating"
    PRINTING = "printing"
    PAUSED = "paused"
    FINISHED = "finished"
    OFFLINE = "offline"
    ERROR = "error"


class ApprovalState(StrEnum):
    """Whether staff must approve a job before it may print."""

    NOT_REQUIRED = "not_required"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Ordering(StrEnum):
    """How waiting jobs are ranked (see the module docstring)."""

    FAIR = "fair"
    FIFO = "fifo"
    LEAST_USED = "least-used"


class ReasonCode(StrEnum):
    """Why a job starts where it does, or why it waits. Rendered by :func:`render_reason`."""

    # a job starts now
    START_LOADED = "start_loaded"
    START_SWAP = "start_swap"
    # a job waits, with an estimated start
    SITE_CLOSED = "site_closed"
    WOULD_RUN_PAST_CLOSING = "would_run_past_closing"
    WAITING_FOR_PRINTER = "waiting_for_printer"
    FAIR_SHARE = "fair_share"
    PRIORITY_AHEAD = "priority_ahead"
    OWN_JOB_PRINTING = "own_job_printing"
    DAILY_LIMIT = "daily_limit"
    WEEKLY_LIMIT = "weekly_limit"
    BED_NOT_CLEAR = "bed_not_clear"
    HEATUP_STAGGER = "heatup_stagger"
    LONG_JOB_SHARE = "long_job_share"
    ONLY_PRINTER = "only_printer"
    OVERNIGHT_START = "overnight_start"
    # a job waits with no start time until a person acts
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"
    NO_PRINTER_FITS = "no_printer_fits"
    PRINTERS_UNAVAILABLE = "printers_unavailable"
    TOO_LONG_FOR_OPENING_HOURS = "too_long_for_opening_hours"
    EXCEEDS_LIMIT = "exceeds_limit"
    # why a job needs approval (returned by needs_approval)
    APPROVAL_LONG = "approval_long"
    APPROVAL_HEAVY = "approval_heavy"
    APPROVAL_MATERIAL = "approval_material"
    APPROVAL_NEW_MEMBER = "approval_new_member"


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class PrinterSnapshot:
    """One printer as the scheduler sees it.

    ``available_at`` is the estimated end of the current print (PRINTING, PAUSED, HEATING); ``heating_until``
    the end of a heat-up in progress. ``colour == "any"`` means the loaded colour is unknown and matches any
    request. ``loadable_materials`` are materials staff may swap in (only when ``SiteRules.allow_material_swap``).
    """

    id: str
    build_volume_mm: tuple[float, float, float]
    nozzle_mm: float = 0.4
    material: str = "PLA"
    colour: str = ANY
    tags: frozenset[str] = frozenset()
    status: PrinterStatus = PrinterStatus.IDLE
    available_at: float | None = None
    bed_clear: bool = True
    maintenance: bool = False
    heating_until: float | None = None
    current_user: str | None = None
    current_job_id: str | None = None
    loadable_materials: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A job waiting for a printer (``est_print_s`` in seconds).

    ``material`` and ``colour`` ``"any"`` accept whatever is loaded; ``nozzle_mm=None`` any nozzle.
    """

    id: str
    user: str
    submitted_at: float
    est_print_s: float
    filament_g: float = 0.0
    material: str = "PLA"
    colour: str = ANY
    bbox_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    nozzle_mm: float | None = None
    tags: frozenset[str] = frozenset()
    priority: int = 0
    approval: ApprovalState = ApprovalState.NOT_REQUIRED


@dataclass(frozen=True, slots=True)
class UserUsage:
    """Printer-seconds a user has used (jobs started, running ones counted in full).

    ``window_s`` is within the fair-share window, ``day_s``/``week_s`` since the start of the current day and
    week (Monday) in the site's timezone. Build it with :func:`summarise_usage`.
    """

    window_s: float = 0.0
    day_s: float = 0.0
    week_s: float = 0.0


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One print that counts towards a user's usage."""

    user: str
    started_at: float
    print_s: float


@dataclass(frozen=True, slots=True)
class UserInfo:
    """What approval rules need to know about a member."""

    name: str
    is_staff: bool = False
    completed_jobs: int = 0


@dataclass(frozen=True)
class SiteRules:
    """Everything the policy obeys. Build it from the fleet file with ``printfleet.queue.rules.site_rules``.

    ``opening_hours`` maps weekday (Monday = 0) to ``(open, close)`` pairs in the site's timezone; a missing day
    is closed; ``None`` is always open. A close of 23:59 means midnight.
    """

    timezone: str = "UTC"
    opening_hours: Mapping[int, tuple[tuple[dt.time, dt.time], ...]] | None = None
    unattended_printing: bool = True
    closing_margin_s: float = 15 * 60
    ordering: Ordering = Ordering.FAIR
    fair_share_window_s: float = 7 * 24 * 3600
    user_weights: Mapping[str, float] = field(default_factory=dict)
    default_weight: float = 1.0
    long_job_s: float = 2 * 3600
    long_job_share: float | None = 0.8
    overnight_hold: bool = True
    max_jobs_at_once: int | None = None
    max_print_s_per_day: float | None = None
    max_print_s_per_week: float | None = None
    approval_over_print_s: float | None = None
    approval_over_g: float | None = None
    approval_materials: frozenset[str] = frozenset()
    approval_new_member_jobs: int = 0
    max_heating: int | None = None
    heatup_s: float = 600.0
    allow_material_swap: bool = False
    material_swap_s: float = 900.0
    flex_defer_s: float = 1800.0
    scarce_wait_s: float | None = 0.0  # None: a job only one printer can take is never put first
    at_risk_s: float = 3600.0
    at_risk_min_s: float = 6 * 3600.0
    backlog_weight: float = 1.0

    @cached_property
    def calendar(self) -> OpeningCalendar:
        """The opening hours as a calendar of windows (built once per rules object)."""
        return OpeningCalendar(self.timezone, self.opening_hours)

    @cached_property
    def tz(self) -> ZoneInfo:
        """The site's timezone."""
        return ZoneInfo(self.timezone)

    def weight(self, user: str) -> float:
        """The user's fair-share weight (higher = larger share)."""
        return self.user_weights.get(user, self.default_weight)

    def earliest_start(self, t: float, print_s: float) -> float | None:
        """Earliest time >= ``t`` a print of ``print_s`` may start under the opening hours alone."""
        return self.calendar.earliest_start(t, print_s, not self.unattended_printing, self.closing_margin_s)


# ---------------------------------------------------------------- outputs


_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})


class Reason(NamedTuple):
    """A structured reason: a code plus parameters (times as POSIX seconds). See :func:`render_reason`.

    (Reasons and estimates are named tuples rather than frozen dataclasses: a plan makes one per waiting
    job, and tuples are three times cheaper to create.)
    """

    code: ReasonCode
    params: Mapping[str, Any] = _NO_PARAMS


@dataclass(frozen=True, slots=True)
class Assignment:
    """Start ``job_id`` on ``printer_id`` now."""

    job_id: str
    printer_id: str
    reason: Reason


class Estimate(NamedTuple):
    """A waiting job's estimated start (``None``: not until a person acts) and the reason it waits."""

    job_id: str
    start_at: float | None
    printer_id: str | None
    reason: Reason


@dataclass(frozen=True)
class Plan:
    """What to start now, and for every job not started the estimate and reason. ``order`` is the ranking."""

    now: float
    assignments: tuple[Assignment, ...]
    waiting: Mapping[str, Estimate]
    order: tuple[str, ...] = ()


# ---------------------------------------------------------------- opening hours


class OpeningCalendar:
    """Opening windows as sorted POSIX (open, close) pairs, generated lazily day by day in the site's zone."""

    def __init__(
        self, timezone: str, hours: Mapping[int, Sequence[tuple[dt.time, dt.time]]] | None
    ) -> None:
        self._tz = ZoneInfo(timezone)
        self._hours = hours
        self.always_open = hours is None or all(
            any(o == dt.time(0, 0) and c >= dt.time(23, 59) for o, c in hours.get(day, ())) for day in range(7)
        )
        self.never_open = not self.always_open and not any(hours.get(day) for day in range(7))  # type: ignore[union-attr]
        self._opens: list[float] = []
        self._closes: list[float] = []
        self._first_day: dt.date | None = None
        self._last_day: dt.date | None = None
        self.max_window_s = math.inf if self.always_open else 0.0

    def _ts(self, day: dt.date, at: dt.time) -> float:
        if at >= dt.time(23, 59):
            return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), self._tz).timestamp()
        return dt.datetime.combine(day, at, self._tz).timestamp()

    def _add_day(self, day: dt.date) -> None:
        for open_t, close_t in self._hours.get(day.weekday(), ()):  # type: ignore[union-attr]
            o, c = self._ts(day, open_t), self._ts(day, close_t)
            if self._closes and o <= self._closes[-1] + _EPS:
                self._closes[-1] = max(self._closes[-1], c)
            else:
                self._opens.append(o)
                self._closes.append(c)
            self.max_window_s = max(self.max_window_s, self._closes[-1] - self._opens[-1])

    def _ensure(self, t: float, days_ahead: int = 8) -> None:
        day = dt.datetime.fromtimestamp(t, self._tz).date()
        if self._first_day is None or day - dt.timedelta(days=1) < self._first_day:
            first = day - dt.timedelta(days=1)
            self._opens, self._closes = [], []
            self._first_day = self._last_day = first - dt.timedelta(days=1)
            self.max_window_s = 0.0
            # a full three weeks up front, so max_window_s is known
            days_ahead = max(days_ahead, 21)
        target = day + dt.timedelta(days=days_ahead)
        while self._last_day < target:  # type: ignore[operator]
            self._last_day += dt.timedelta(days=1)  # type: ignore[operator]
            self._add_day(self._last_day)  # type: ignore[arg-type]

    def _index(self, t: float) -> int:
        """Index of the first window closing after ``t``."""
        if not self._closes or t >= self._closes[-1] - 8 * 86400 or t < self._opens[0]:
            self._ensure(t)
        return bisect.bisect_right(self._closes, t)

    def is_open(self, t: float) -> bool:
        """Whether the site is open at ``t``."""
        if self.always_open:
            return True
        if self.never_open:
            return False
        i = self._index(t)
        return self._opens[i] <= t

    def closes_at(self, t: float) -> float | None:
        """End of the window open at ``t`` (``None`` if closed or always open)."""
        if self.always_open or self.never_open:
            return None
        i = self._index(t)
        return self._closes[i] if self._opens[i] <= t else None

    def opened_at(self, t: float) -> float:
        """Start of the window open at ``t`` (``-inf`` if always open, ``t`` if closed)."""
        if self.always_open:
            return -math.inf
        if self.never_open:
            return t
        i = self._index(t)
        return min(self._opens[i], t)

    def next_open(self, t: float) -> float | None:
        """The first time >= ``t`` the site is open."""
        return self.earliest_start(t, 0.0, False, 0.0)

    def earliest_start(self, t: float, print_s: float, must_finish: bool, margin_s: float) -> float | None:
        """Earliest start >= ``t`` while open; with ``must_finish`` also ending by close + ``margin_s``.

        Returns ``None`` when no window is ever long enough (or the site never opens).
        """
        if self.always_open:
            return t
        if self.never_open:
            return None
        i = self._index(t)
        if must_finish and print_s > self.max_window_s + margin_s + _EPS:
            return None
        for _ in range(400):
            if i >= len(self._opens):
                self._ensure(self._closes[-1] + 1.0)
            o, c = self._opens[i], self._closes[i]
            s = max(t, o)
            if not must_finish or s + print_s <= c + margin_s + _EPS:
                return s
            i += 1
        return None  # pragma: no cover - only with windows that shrink over a year


# ---------------------------------------------------------------- capability matching


def fits_footprint(part: tuple[float, float], bed: tuple[float, float]) -> bool:
    """Whether a ``p x q`` rectangle fits in an ``a x b`` one, turned by any angle about Z (Carver's condition)."""
    p, q = (part[0], part[1]) if part[0] >= part[1] else (part[1], part[0])
    a, b = (bed[0], bed[1]) if bed[0] >= bed[1] else (bed[1], bed[0])
    if p <= a + _EPS and q <= b + _EPS:
        return True
    if q > b + _EPS or p <= q + _EPS:
        return False
    return ((a + b) / (p + q)) ** 2 + ((a - b) / (p - q)) ** 2 >= 2.0 - 1e-9


def fits_volume(bbox_mm: tuple[float, float, float], volume_mm: tuple[float, float, float]) -> bool:
    """Whether a part's bounding box fits a build volume, with rotation about Z allowed."""
    return bbox_mm[2] <= volume_mm[2] + _EPS and fits_footprint((bbox_mm[0], bbox_mm[1]), (volume_mm[0], volume_mm[1]))


def _norm_material(value: str) -> str:
    return value.strip().upper()


def _norm_colour(value: str | None) -> str:
    return (value or ANY).strip().lower() or ANY


@dataclass(slots=True)
class _Class:
    """Printers with identical capabilities."""

    index: int
    volume: tuple[float, float, float]
    nozzle: float
    material: str
    colour: str
    tags: frozenset[str]
    loadable: frozenset[str]
    printers: list[int]


def _capability_problem(job: QueuedJob, printers: Sequence[PrinterSnapshot], swaps: bool) -> Reason:
    """Why no printer of the fleet can take this job: the first requirement that leaves no printer."""
    material, colour = _norm_material(job.material), _norm_colour(job.colour)
    tags = frozenset(t.lower() for t in job.tags)
    checks: list[tuple[str, Any]] = [
        ("size", lambda p: fits_volume(job.bbox_mm, p.build_volume_mm)),
        ("nozzle", lambda p: job.nozzle_mm is None or abs(p.nozzle_mm - job.nozzle_mm) < 1e-3),
        (
            "material",
            lambda p: _norm_material(p.material) == material
            or material == ANY_MATERIAL
            or (swaps and material in {_norm_material(m) for m in p.loadable_materials}),
        ),
        (
            "colour",
            lambda p: colour == ANY
            or _norm_colour(p.colour) in (colour, ANY)
            or (material != ANY_MATERIAL and _norm_material(p.material) != material),
        ),
        ("tags", lambda p: tags <= frozenset(t.lower() for t in p.tags)),
    ]
    left = list(printers)
    passed: list[str] = []
    for need, ok in checks:
        before = len(left)
        left = [p for p in left if ok(p)]
        if need == "size" and 0 < len(left) < before:
            passed.append("size")
        if not left:
            return Reason(
                ReasonCode.NO_PRINTER_FITS,
                {
                    "need": need,
                    "with": tuple(passed),
                    "bbox_mm": tuple(job.bbox_mm),
                    "nozzle_mm": job.nozzle_mm,
                    "material": material,
                    "colour": colour,
                    "tags": tuple(sorted(tags)),
                },
            )
        if need != "size":
            passed.append(need)
    return Reason(ReasonCode.NO_PRINTER_FITS, {"need": "combination", "with": tuple(passed), "material": material})


# ---------------------------------------------------------------- approval and usage


def needs_approval(job: QueuedJob, rules: SiteRules, user: UserInfo | None = None) -> Reason | None:
    """The reason staff must approve this job before it may print, or ``None``. Staff never need approval."""
    if user is not None and user.is_staff:
        return None
    if rules.approval_over_print_s is not None and job.est_print_s > rules.approval_over_print_s:
        return Reason(ReasonCode.APPROVAL_LONG, {"print_s": job.est_print_s, "limit_s": rules.approval_over_print_s})
    if rules.approval_over_g is not None and job.filament_g > rules.approval_over_g:
        return Reason(ReasonCode.APPROVAL_HEAVY, {"filament_g": job.filament_g, "limit_g": rules.approval_over_g})
    material = _norm_material(job.material)
    if material in {_norm_material(m) for m in rules.approval_materials}:
        return Reason(ReasonCode.APPROVAL_MATERIAL, {"material": material})
    if user is not None and user.completed_jobs < rules.approval_new_member_jobs:
        return Reason(
            ReasonCode.APPROVAL_NEW_MEMBER,
            {"completed": user.completed_jobs, "needed": rules.approval_new_member_jobs},
        )
    return None


def day_start(t: float, tz: ZoneInfo) -> float:
    """Midnight before ``t`` in ``tz``."""
    local = dt.datetime.fromtimestamp(t, tz)
    return dt.datetime.combine(local.date(), dt.time(0), tz).timestamp()


def week_start(t: float, tz: ZoneInfo) -> float:
    """Monday 00:00 before ``t`` in ``tz``."""
    local = dt.datetime.fromtimestamp(t, tz)
    return dt.datetime.combine(local.date() - dt.timedelta(days=local.weekday()), dt.time(0), tz).timestamp()


def _next_midnight(t: float, tz: ZoneInfo, days: int = 1) -> float:
    local = dt.datetime.fromtimestamp(t, tz).date()
    return dt.datetime.combine(local + dt.timedelta(days=days), dt.time(0), tz).timestamp()


def summarise_usage(records: Iterable[UsageRecord], rules: SiteRules, now: float) -> dict[str, UserUsage]:
    """Per-user usage at ``now`` from the prints users started (running prints included in full)."""
    since_window = now - rules.fair_share_window_s
    since_day = day_start(now, rules.tz)
    since_week = week_start(now, rules.tz)
    acc: dict[str, list[float]] = {}
    for rec in records:
        if rec.started_at > now:
            continue
        row = acc.setdefault(rec.user, [0.0, 0.0, 0.0])
        if rec.started_at >= since_window:
            row[0] += rec.print_s
        if rec.started_at >= since_day:
            row[1] += rec.print_s
        if rec.started_at >= since_week:
            row[2] += rec.print_s
    return {user: UserUsage(*row) for user, row in acc.items()}


# ---------------------------------------------------------------- ranking


def _rank(jobs: Sequence[QueuedJob], rules: SiteRules, usage: Mapping[str, UserUsage]) -> list[QueuedJob]:
    # Sorting plain floats is several times faster than sorting tuples: sort by the tie-breaker
    # (submission time; equal times keep the input order) first, then stably by the main key (priority
    # folded in far above any tag).
    by_submission = sorted(jobs, key=attrgetter("submitted_at"))
    if rules.ordering is Ordering.FIFO:
        by_submission.sort(key=lambda j: -j.priority)
        return by_submission
    if rules.ordering is Ordering.LEAST_USED:
        zero = UserUsage()
        by_submission.sort(key=lambda j: (-j.priority, usage.get(j.user, zero).window_s))
        return by_submission
    beta = rules.backlog_weight
    weights = rules.user_weights
    default_weight = rules.default_weight
    prioritised = any(map(attrgetter("priority"), by_submission))
    if beta == 1.0 or not prioritised:
        # One pass with no per-member loop. A member's jobs, in their priority/submission order, get the tags
        # claim + (1 - beta) x their queued work up to and including the job, where the claim is the usage plus
        # beta x everything they have queued (all over their weight). With beta = 1 (the default) that is the
        # claim for every job of the member, so equal tags keep their own jobs in submission order.
        users = list(map(attrgetter("user"), by_submission))
        lengths = [d if d > 0 else 0.0 for d in map(attrgetter("est_print_s"), by_submission)]
        total: dict[str, float] = {}
        for user, d in zip(users, lengths):
            total[user] = total.get(user, 0.0) + d
        claim: dict[str, float] = {}
        for user, t in total.items():
            u = usage.get(user)
            claim[user] = ((u.window_s if u is not None else 0.0) + beta * t) / (weights.get(user, default_weight) or 1e-9)
        if beta == 1.0:
            keys = list(map(claim.__getitem__, users))
        else:
            done: dict[str, float] = {}
            keys = []
            for user, d in zip(users, lengths):
                c = done[user] = done.get(user, 0.0) + d
                keys.append(claim[user] + (1.0 - beta) * c / (weights.get(user, default_weight) or 1e-9))
        if prioritised:
            keys = [k - job.priority * 1e15 for k, job in zip(keys, by_submission)]
        # sorting indices by a list of floats is cheaper than sorting the jobs with a key function
        return list(map(by_submission.__getitem__, sorted(range(len(keys)), key=keys.__getitem__)))
    by_user: dict[str, list[QueuedJob]] = {}
    for job in by_submission:
        own = by_user.get(job.user)
        if own is None:
            by_user[job.user] = [job]
        else:
            own.append(job)
    tags: dict[str, float] = {}
    for user, own in by_user.items():
        if len(own) > 1 and own[0].priority != own[-1].priority:
            own.sort(key=lambda j: -j.priority)  # stable: by submission within a priority
        weight = weights.get(user, default_weight) or 1e-9
        u = usage.get(user)
        clock = (u.window_s if u is not None else 0.0) / weight
        backlog = sum(j.est_print_s for j in own if j.est_print_s > 0) / weight if beta else 0.0
        for job in own:
            d = (job.est_print_s if job.est_print_s > 0 else 0.0) / weight
            clock += d
            backlog -= d
            tags[job.id] = clock + beta * backlog - job.priority * 1e15
    by_submission.sort(key=lambda j: tags[j.id])
    return by_submission


# ---------------------------------------------------------------- plan


# per (job signature, volumes it fits): the classes, the indices of those with the material loaded and of those
# that need a swap, the material and colour as reasons name them, and a getter of the loaded classes' free times
_FitInfo = tuple[list[tuple[_Class, bool]], tuple[int, ...], tuple[int, ...], tuple[str, str], Any]
_UNUSABLE = (PrinterStatus.OFFLINE, PrinterStatus.ERROR)


def plan(
    printers: Sequence[PrinterSnapshot],
    jobs: Sequence[QueuedJob],
    rules: SiteRules,
    now: float,
    usage: Mapping[str, UserUsage] | None = None,
) -> Plan:
    """Decide which jobs start now and estimate a start and a reason for every other job.

    Args:
        printers: the fleet, including printers in maintenance or offline.
        jobs: every job waiting for a printer (not the ones printing; those are on ``printers``).
        rules: the site's rules.
        now: the current time (POSIX seconds).
        usage: per-user usage (see :func:`summarise_usage`); missing users count as unused.

    Returns:
        The plan: assignments to carry out now, and an :class:`Estimate` for every other job.
    """
    usage = usage or {}
    cal = rules.calendar
    must_finish = not rules.unattended_printing
    margin = rules.closing_margin_s
    swaps = rules.allow_material_swap
    swap_s = rules.material_swap_s

    # -- printers into capability classes -------------------------------------------------------
    classes: list[_Class] = []
    class_of: dict[tuple[Any, ...], _Class] = {}
    raw_keys: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # printers' own fields -> the class key
    free_at: list[float] = [0.0] * len(printers)
    idle_now: list[bool] = [False] * len(printers)
    unclear: list[bool] = [False] * len(printers)
    running_by_user: dict[str, list[float]] = {}
    heating_ends: list[float] = []
    for i, p in enumerate(printers):
        if p.heating_until is not None and p.heating_until > now:
            heating_ends.append(p.heating_until)
        elif p.status is PrinterStatus.HEATING:
            heating_ends.append(now + rules.heatup_s)
        busy = p.status in (PrinterStatus.PRINTING, PrinterStatus.PAUSED, PrinterStatus.HEATING)
        if busy and p.current_user is not None:
            running_by_user.setdefault(p.current_user, []).append(max(p.available_at or now, now))
        if p.maintenance or p.status in _UNUSABLE:
            continue
        raw = (p.build_volume_mm, p.nozzle_mm, p.material, p.colour, p.tags, p.loadable_materials)
        key = raw_keys.get(raw)
        if key is None:
            volume = tuple(p.build_volume_mm)
            key = raw_keys[raw] = (
                (max(volume[0], volume[1]), min(volume[0], volume[1]), volume[2]),
                round(p.nozzle_mm, 3),
                _norm_material(p.material),
                _norm_colour(p.colour),
                frozenset(t.lower() for t in p.tags),
                frozenset(_norm_material(m) for m in p.loadable_materials) if swaps else frozenset(),
            )
        cls = class_of.get(key)
        if cls is None:
            cls = _Class(len(classes), key[0], key[1], key[2], key[3], key[4], key[5], [])  # type: ignore[arg-type]
            class_of[key] = cls
            classes.append(cls)
        cls.printers.append(i)
        if busy:
            free_at[i] = max(p.available_at if p.available_at is not None else now, now)
        else:
            free_at[i] = now
            if p.bed_clear:
                idle_now[i] = True
            else:
                unclear[i] = True
    # smallest printers first, then the most common material and colour, so big printers and rare colours
    # stay free for the parts and requests that need them
    group: dict[tuple[str, str], int] = {}
    for c in classes:
        group[(c.material, c.colour)] = group.get((c.material, c.colour), 0) + len(c.printers)
    classes.sort(
        key=lambda c: (c.volume[0] * c.volume[1] * c.volume[2], -group[(c.material, c.colour)], c.nozzle, c.material, c.colour)
    )

    # -- compatibility, cached per requirement signature ------------------------------------------
    volumes = sorted({c.volume for c in classes})
    volume_index = {v: i for i, v in enumerate(volumes)}
    volume_rows = [(a + _EPS, b + _EPS, z + _EPS, a, b, 1 << k) for k, (a, b, z) in enumerate(volumes)]
    all_volumes = (1 << len(volumes)) - 1
    small_a = min((a for a, _, _ in volumes), default=-1.0) + _EPS
    small_b = min((b for _, b, _ in volumes), default=-1.0) + _EPS
    small_z = min((z for _, _, z in volumes), default=-1.0) + _EPS
    sig_cache: dict[tuple[Any, ...], list[tuple[_Class, bool]]] = {}
    fit_cache: dict[tuple[Any, ...], _FitInfo] = {}
    by_job: dict[str, _FitInfo] = {}

    def compatible(job: QueuedJob) -> list[tuple[_Class, bool]]:
        return by_job[job.id][0]

    def candidates(job: QueuedJob, sig: tuple[Any, ...]) -> list[tuple[_Class, bool]]:
        material, colour = _norm_material(job.material), _norm_colour(job.colour)
        tags = frozenset(t.lower() for t in job.tags)
        loaded: list[tuple[_Class, bool]] = []
        swapped: list[tuple[_Class, bool]] = []
        for c in classes:
            if job.nozzle_mm is not None and abs(c.nozzle - job.nozzle_mm) >= 1e-3:
                continue
            if tags and not tags <= c.tags:
                continue
            if (c.material == material or material == ANY_MATERIAL) and (colour == ANY or c.colour in (colour, ANY)):
                loaded.append((c, False))
            elif material in c.loadable:
                swapped.append((c, True))
        # exact colour before "unknown colour" printers, loaded before swaps
        loaded.sort(key=lambda row: row[0].colour != colour)
        cands = sig_cache[sig] = loaded + swapped
        return cands

    # -- eligibility and ranking ----------------------------------------------------------------
    # (one pass over every job: written for speed, see bench/policy.py)
    waiting: dict[str, Estimate] = {}
    eligible: list[QueuedJob] = []
    queued_s: dict[str, float] = {}  # per member, the work they have queued (eligible jobs)
    cal.is_open(now)  # builds the calendar around now, so max_window_s is known
    pending, rejected = ApprovalState.PENDING, ApprovalState.REJECTED
    longest = -1.0 if cal.never_open else cal.max_window_s + margin + _EPS
    any_limit = rules.max_print_s_per_day is not None or rules.max_print_s_per_week is not None
    for job in jobs:
        approval = job.approval
        if approval is pending:
            waiting[job.id] = Estimate(job.id, None, None, Reason(ReasonCode.AWAITING_APPROVAL))
            continue
        if approval is rejected:
            waiting[job.id] = Estimate(job.id, None, None, Reason(ReasonCode.REJECTED))
            continue
        if must_finish and job.est_print_s > longest:
            waiting[job.id] = Estimate(
                job.id,
                None,
                None,
                Reason(
                    ReasonCode.TOO_LONG_FOR_OPENING_HOURS,
                    {"print_s": job.est_print_s, "longest_s": cal.max_window_s + margin},
                ),
            )
            continue
        if any_limit:
            limit = _single_job_limit(job, rules)
            if limit is not None:
                waiting[job.id] = Estimate(job.id, None, None, limit)
                continue
        bx, by, bz = job.bbox_mm
        if by > bx:
            bx, by = by, bx
        if bz <= small_z and by <= small_b and bx <= small_a:
            mask = all_volumes  # fits every build volume (most parts)
        else:
            mask = 0
            for a_eps, b_eps, z_eps, a, b, bit in volume_rows:
                if bz <= z_eps and by <= b_eps and (bx <= a_eps or fits_footprint((bx, by), (a, b))):
                    mask |= bit
        key = (job.material, job.colour, job.nozzle_mm, job.tags, mask)
        info = fit_cache.get(key)
        if info is None:
            sig = key[:4]
            cands = sig_cache.get(sig)
            if cands is None:
                cands = candidates(job, sig)
            fit = [row for row in cands if mask >> volume_index[row[0].volume] & 1]
            loaded_idx = tuple(c.index for c, swap in fit if not swap)
            info = fit_cache[key] = (
                fit,
                loaded_idx,
                tuple(c.index for c, swap in fit if swap),
                (_norm_material(job.material), _norm_colour(job.colour)),
                itemgetter(*loaded_idx) if len(loaded_idx) > 1 else None,
            )
        if not info[0]:
            if any(_fits_printer(job, p, swaps) for p in printers):
                reason = Reason(ReasonCode.PRINTERS_UNAVAILABLE, {"material": _norm_material(job.material)})
            else:
                reason = _capability_problem(job, printers, swaps)
            waiting[job.id] = Estimate(job.id, None, None, reason)
            continue
        by_job[job.id] = info
        eligible.append(job)
        queued_s[job.user] = queued_s.get(job.user, 0.0) + job.est_print_s
    ranked = _rank(eligible, rules, usage)

    # -- long-job share (fair only) -------------------------------------------------------------
    share = rules.long_job_share if rules.ordering is Ordering.FAIR else None
    long_s = rules.long_job_s
    long_running = 0
    long_ends: list[float] = []
    long_cap = 0
    if share is not None and rules.unattended_printing:
        closes_at = cal.closes_at(now)
        if closes_at is not None and closes_at - now <= long_s:
            share = None  # started now, a long print runs mostly overnight, when nobody else can print
    if share is not None:
        long_cap = max(1, math.ceil(share * sum(len(c.printers) for c in classes) - 1e-9))
        for p in printers:
            if (
                p.status in (PrinterStatus.PRINTING, PrinterStatus.PAUSED, PrinterStatus.HEATING)
                and not p.maintenance
                and p.available_at is not None
                and p.available_at - now >= long_s * 0.5
            ):
                long_running += 1
                long_ends.append(p.available_at)

    # -- caps ------------------------------------------------------------------------------------
    max_at_once = rules.max_jobs_at_once
    day_cap, week_cap = rules.max_print_s_per_day, rules.max_print_s_per_week
    day_used: dict[str, float] = {}
    week_used: dict[str, float] = {}
    if day_cap is not None or week_cap is not None:
        for user, u in usage.items():
            day_used[user] = u.day_s
            week_used[user] = u.week_s

    # -- look-ahead: who goes first at the opening in progress or the next one (fair only) ----------
    fair = rules.ordering is Ordering.FAIR
    front: set[str] = set()
    scarce: set[str] = set()
    if fair:
        front, scarce = _goes_first(ranked, by_job, rules, now)
    schedule = ranked
    if front:
        schedule = [job for job in ranked if job.id in front] + [job for job in ranked if job.id not in front]

    # -- stage A: start now -----------------------------------------------------------------------
    assignments: list[Assignment] = []
    hold_until: dict[str, float] = {}
    started: set[str] = set()
    blocked: dict[str, Reason] = {}
    open_now = cal.is_open(now)
    idle_by_class: dict[int, list[int]] = {}
    for c in classes:
        idle = [i for i in c.printers if idle_now[i]]
        if idle:
            idle.sort(key=lambda i: printers[i].id, reverse=True)
            idle_by_class[c.index] = idle
    heating_free = math.inf if rules.max_heating is None else rules.max_heating - len(heating_ends)
    n_idle = sum(len(v) for v in idle_by_class.values())
    if open_now and n_idle:
        closes = cal.closes_at(now)
        defer_s = rules.flex_defer_s

        def startable(job: QueuedJob) -> bool:
            d = job.est_print_s
            if must_finish and closes is not None and now + d > closes + margin + _EPS:
                return False
            user = job.user
            running = running_by_user.get(user)
            if max_at_once is not None and running is not None and len(running) >= max_at_once:
                return False
            if day_cap is not None and day_used.get(user, 0.0) + d > day_cap + _EPS:
                return False
            return not (week_cap is not None and week_used.get(user, 0.0) + d > week_cap + _EPS)

        def kept_for_other(ci: int, job: QueuedJob) -> bool:
            # whether another waiting job can print only on class ci, and could start now
            waiting_here = only_here.get(ci)
            while waiting_here and (waiting_here[-1].id in started or not startable(waiting_here[-1])):
                waiting_here.pop()
            return bool(waiting_here) and waiting_here[-1] is not job

        # pressure: how much of the waiting work each class could take (shared among the classes a job fits)
        by_fit: dict[int, tuple[list[tuple[_Class, bool]], list[QueuedJob]]] = {}
        for job, info in zip(ranked, map(by_job.__getitem__, map(attrgetter("id"), ranked))):
            entry = by_fit.get(id(info))
            if entry is None:
                by_fit[id(info)] = (info[0], [job])
            else:
                entry[1].append(job)
        pressure = [0.0] * len(classes)
        only_here: dict[int, list[QueuedJob]] = {}
        for fit, members in by_fit.values():
            loaded = [c for c, swap in fit if not swap] or [c for c, _ in fit]
            share_each = len(members) / len(loaded)
            for c in loaded:
                pressure[c.index] += share_each / len(c.printers)
            if len(loaded) == 1:
                only_here.setdefault(loaded[0].index, []).extend(members)
        for waiting_here in only_here.values():
            waiting_here.reverse()  # pop() from the end gives the highest-ranked
        next_free: dict[int, float] = {
            c.index: min((free_at[i] for i in c.printers if not idle_now[i]), default=math.inf) for c in classes
        }

        overnight = rules.ordering is Ordering.FAIR and rules.overnight_hold and not must_finish and closes is not None
        reopens = cal.next_open(closes + 1.0) if overnight else None
        # leave enough time before closing to start every held print despite the heat-up stagger
        hold_slack = 600.0
        if rules.max_heating:
            hold_slack += rules.heatup_s * math.ceil(len(printers) / rules.max_heating)
        for job in schedule:
            if n_idle == 0 or heating_free <= 0:
                break
            if not startable(job):
                continue
            d = job.est_print_s
            user = job.user
            fit = compatible(job)
            chosen_cls: _Class | None = None
            chosen_swap = False
            swap_cls: _Class | None = None
            best_pressure = math.inf
            flexible = len(fit) > 1
            for cls, swap in fit:
                idle = idle_by_class.get(cls.index)
                if idle:
                    if not swap:
                        load = pressure[cls.index]
                        if fair and flexible and len(idle) == 1 and kept_for_other(cls.index, job):
                            # the last idle printer of a kind that a waiting job can only print on: use
                            # another idle printer if there is one
                            load += 1e9
                        if load < best_pressure - 1e-9:
                            chosen_cls, best_pressure = cls, load
                    elif swap_cls is None:
                        swap_cls = cls
            if chosen_cls is None and swap_cls is not None:
                chosen_cls, chosen_swap = swap_cls, True
            if chosen_cls is None:
                continue
            if defer_s and len(fit) > 1 and len(idle_by_class[chosen_cls.index]) == 1:
                # a flexible job leaves the last idle printer of a kind to a job that can only print there,
                # when another printer it fits frees up soon enough
                waiting_here = only_here.get(chosen_cls.index, [])
                while waiting_here and (waiting_here[-1].id in started or not startable(waiting_here[-1])):
                    waiting_here.pop()
                if waiting_here and waiting_here[-1] is not job:
                    soon = min(
                        (next_free[c.index] for c, swap in fit if not swap and c is not chosen_cls), default=math.inf
                    )
                    if soon <= now + defer_s and cal.earliest_start(soon, d, must_finish, margin) == soon:
                        continue
            if reopens is not None and now + d > closes:  # type: ignore[operator]
                # it will end while the space is closed, so starting it later costs nothing: the printer
                # stays free this evening for short jobs and this one still ends before the next opening
                lazy = min(closes - hold_slack, reopens - d)  # type: ignore[operator]
                if lazy > now + 60.0:
                    hold_until[job.id] = lazy
                    continue
            is_long = share is not None and d >= long_s
            if is_long and long_running >= long_cap:
                blocked[job.id] = Reason(ReasonCode.LONG_JOB_SHARE, {"share": share})
                if long_ends:
                    hold_until[job.id] = min(long_ends)
                continue
            chosen = idle_by_class[chosen_cls.index].pop()
            p = printers[chosen]
            n_idle -= 1
            heating_free -= 1
            heating_ends.append(now + rules.heatup_s)
            idle_now[chosen] = False
            free_at[chosen] = now + d + (swap_s if chosen_swap else 0.0)
            running_by_user.setdefault(user, []).append(free_at[chosen])
            if day_cap is not None:
                day_used[user] = day_used.get(user, 0.0) + d
            if week_cap is not None:
                week_used[user] = week_used.get(user, 0.0) + d
            if is_long:
                long_running += 1
                long_ends.append(now + d)
            started.add(job.id)
            if chosen_swap:
                reason = Reason(ReasonCode.START_SWAP, {"material": _norm_material(job.material), "printer": p.id})
            else:
                reason = Reason(
                    ReasonCode.START_LOADED,
                    {"material": _norm_material(p.material), "colour": _norm_colour(p.colour), "printer": p.id},
                )
            assignments.append(Assignment(job.id, p.id, reason))

    # -- stage B: estimates for everything else -------------------------------------------------
    # (the hottest loop of a plan: one pass over every waiting job, so it is written for speed)
    heaps: list[list[tuple[float, str, int]]] = [[] for _ in classes]
    tops = [math.inf] * len(classes)
    for c in classes:
        h = [(free_at[i], printers[i].id, i) for i in c.printers]
        heapq.heapify(h)
        heaps[c.index] = h
        tops[c.index] = h[0][0]
    user_ends: dict[str, list[float]] = {}
    if max_at_once is not None:
        for user, ends in running_by_user.items():
            user_ends[user] = sorted(ends)
    stagger: list[float] = []
    if rules.max_heating is not None:
        stagger = sorted(e for e in heating_ends if e > now)[-rules.max_heating :] if rules.max_heating else []
        stagger = [now] * max(0, rules.max_heating - len(stagger)) + stagger
        heapq.heapify(stagger)
    tz = rules.tz if (day_cap is not None or week_cap is not None) else None
    # material -> [jobs ranked ahead, {priority: [jobs, latest submission]}]
    ahead: dict[str, list[Any]] = {}
    used_s = {user: u.window_s for user, u in usage.items()}
    earliest = cal.earliest_start
    # the calendar only ever appends windows while planning (all queries are >= now), so these lists stay valid
    always_open, w_opens, w_closes = cal.always_open, cal._opens, cal._closes
    bisect_right = bisect.bisect_right
    heapreplace = heapq.heapreplace
    margin_eps = margin + _EPS
    soon, now_eps = now + 60.0, now + _EPS
    code_waiting, code_priority, code_fair = (
        ReasonCode.WAITING_FOR_PRINTER,
        ReasonCode.PRIORITY_AHEAD,
        ReasonCode.FAIR_SHARE,
    )
    stagger_until = now + rules.heatup_s * (rules.max_heating or 1) * 2
    window_s = rules.fair_share_window_s
    heatup_s = rules.heatup_s
    new = tuple.__new__  # NamedTuple(...) runs a Python-level __new__; this is the same tuple, faster
    top_of = tops.__getitem__
    for job in schedule:
        job_id = job.id
        m = job.material
        row = ahead.get(m)
        if not started or job_id not in started:
            d = job.est_print_s
            _, loaded_idx, swap_idx, names, free_times = by_job[job_id]
            best_swap = False
            if free_times is not None:
                # the class that frees up first (the first such in the job's preference order)
                times = free_times(tops)
                best_t = min(times)
                best_ci = loaded_idx[times.index(best_t)]
            elif loaded_idx:
                best_ci = loaded_idx[0]
                best_t = tops[best_ci]
            else:
                best_ci, best_t = -1, math.inf
            if swap_idx:
                alt = min(swap_idx, key=top_of)
                if tops[alt] + swap_s < best_t - _EPS:
                    best_ci, best_t, best_swap = alt, tops[alt] + swap_s, True
            t_printer = best_t
            t_user = now
            if max_at_once is not None:
                ends = user_ends.get(job.user)
                if ends is not None and len(ends) >= max_at_once:
                    t_user = ends[len(ends) - max_at_once]
            t_hold = hold_until.get(job_id, now) if hold_until else now
            base = max(now, t_printer)
            base = max(base, t_user)
            base = max(base, t_hold)
            start: float | None
            if always_open:
                start = base
            else:
                w = bisect_right(w_closes, base)
                n_windows = len(w_closes)
                while True:
                    if w >= n_windows:
                        start = earliest(base, d, must_finish, margin)
                        break
                    o = w_opens[w]
                    start = max(base, o)
                    if not must_finish or start + d <= w_closes[w] + margin_eps:
                        break
                    w += 1
            cap_code: ReasonCode | None = None
            if tz is not None and start is not None:
                start, cap_code = _apply_caps(job, start, rules, tz, day_used, week_used, cal, must_finish, margin)
            stagger_blocked = False
            if stagger and start is not None and start < stagger_until:
                slot = stagger[0]
                if slot > start + _EPS:
                    start = earliest(slot, d, must_finish, margin)
                    stagger_blocked = True
                if start is not None:
                    heapreplace(stagger, start + heatup_s)
            if start is None:  # pragma: no cover - eligibility already checked
                waiting[job_id] = Estimate(job_id, None, None, Reason(ReasonCode.TOO_LONG_FOR_OPENING_HOURS))
                continue
            heap = heaps[best_ci]
            _, pid, idx = heap[0]
            heapreplace(heap, (start + d + swap_s if best_swap else start + d, pid, idx))
            tops[best_ci] = heap[0][0]
            if max_at_once is not None:
                bisect.insort(user_ends.setdefault(job.user, []), start + d)
            reason = blocked.get(job_id) if blocked else None
            if reason is not None:
                reason = Reason(reason.code, {**reason.params, "start_at": start})
            elif (
                cap_code is None
                and not stagger_blocked
                and t_hold <= now
                and (base > soon or start <= base + 1.0)
                and (t_user <= now_eps or t_user < t_printer)
                and (t_printer > now_eps or not unclear[idx])
            ):
                # the common case: busy printers, and maybe jobs ahead of this one (see _queue_reason)
                if row is None:
                    reason = new(
                        Reason,
                        (code_waiting, {"start_at": start, "material": names[0], "colour": names[1], "ahead": 0}),
                    )
                else:
                    prio = job.priority
                    by_priority = row[1]
                    same = by_priority.get(prio)
                    if same is not None and same[1] > job.submitted_at:
                        user = job.user
                        reason = new(
                            Reason,
                            (
                                code_fair,
                                {
                                    "start_at": start,
                                    "material": names[0],
                                    "colour": names[1],
                                    "ahead": row[0],
                                    "used_s": used_s.get(user, 0.0),
                                    "window_s": window_s,
                                    "queued_s": queued_s[user],
                                },
                            ),
                        )
                    else:
                        higher = 0
                        if len(by_priority) > 1 or same is None:
                            higher = sum(v[0] for p, v in by_priority.items() if p > prio)
                        params = {"start_at": start, "material": names[0], "colour": names[1], "ahead": row[0]}
                        if higher and 2 * higher >= row[0]:
                            params["higher"] = higher
                            reason = new(Reason, (code_priority, params))
                        else:
                            reason = new(Reason, (code_waiting, params))
            else:
                reason = _waiting_reason(
                    job, rules, now, start, base, t_printer, t_user, t_hold, cap_code, stagger_blocked,
                    printers[idx], unclear[idx], open_now, row, usage, queued_s,
                )
            if front and job_id in front and job_id in scarce and reason.code in (code_waiting, code_fair, code_priority):
                # its only printer is kept for it (see _goes_first): say so rather than name the queue
                reason = Reason(
                    ReasonCode.ONLY_PRINTER,
                    {"start_at": start, "printer": pid, "material": names[0], "colour": names[1], "first": True},
                )
            waiting[job_id] = new(Estimate, (job_id, start, pid, reason))
        if row is None:
            ahead[m] = [1, {job.priority: [1, job.submitted_at]}]
        else:
            row[0] += 1
            same = row[1].get(job.priority)
            if same is None:
                row[1][job.priority] = [1, job.submitted_at]
            else:
                same[0] += 1
                same[1] = max(same[1], job.submitted_at)
    order = [job.id for job in ranked]
    return Plan(now=now, assignments=tuple(assignments), waiting=waiting, order=tuple(order))


def _goes_first(
    ranked: Sequence[QueuedJob], by_job: Mapping[str, _FitInfo], rules: SiteRules, now: float
) -> tuple[set[str], set[str]]:
    """The jobs that go ahead of the ranking at the opening in progress (or the next one), and the jobs only
    one printer can take.

    * A job only one printer can take that was already waiting when the space opened (and has waited
      ``scarce_wait_s``) goes first on that printer, whenever it is free and the job can still finish in time.
      Flexible jobs can print elsewhere; without this, they can keep its only printer busy day after day.
    * With unattended printing off, a job of ``at_risk_min_s`` or more that was waiting at opening goes
      first once its last chance to start today is less than ``at_risk_s`` away, or from the opening on when
      it could already have printed on an earlier day: otherwise a long job can miss its morning window every
      day (its printers are taken at opening, and free up too late).
    """
    cal = rules.calendar
    ref = now if cal.is_open(now) else cal.next_open(now)
    front: set[str] = set()
    scarce: set[str] = set()
    if ref is None:
        return front, scarce
    opened = cal.opened_at(ref)
    single: dict[int, bool] = {}
    wait = rules.scarce_wait_s
    for job in ranked:
        info = by_job[job.id]
        one = single.get(id(info))
        if one is None:
            one = single[id(info)] = sum(len(c.printers) for c, _ in info[0]) == 1
        if one:
            scarce.add(job.id)
            if wait is not None and job.submitted_at < opened and ref - job.submitted_at >= wait - _EPS:
                front.add(job.id)
    closes = cal.closes_at(ref)
    margin = rules.closing_margin_s
    if (
        not rules.unattended_printing
        and closes is not None
        and rules.at_risk_s
        and closes + margin - ref >= 2 * rules.at_risk_s + 3600.0
    ):
        floor = max(closes + margin - ref - rules.at_risk_s, rules.at_risk_min_s)
        min_s = rules.at_risk_min_s
        for job in ranked:
            d = job.est_print_s
            if d >= min_s and job.submitted_at < opened and (
                d >= floor or (cal.earliest_start(job.submitted_at, d, True, margin) or math.inf) < opened
            ):
                front.add(job.id)
    return front, scarce


def _fits_printer(job: QueuedJob, p: PrinterSnapshot, swaps: bool) -> bool:
    material, colour = _norm_material(job.material), _norm_colour(job.colour)
    if not fits_volume(job.bbox_mm, p.build_volume_mm):
        return False
    if job.nozzle_mm is not None and abs(p.nozzle_mm - job.nozzle_mm) >= 1e-3:
        return False
    if job.tags and not frozenset(t.lower() for t in job.tags) <= frozenset(t.lower() for t in p.tags):
        return False
    if _norm_material(p.material) == material or material == ANY_MATERIAL:
        return colour == ANY or _norm_colour(p.colour) in (colour, ANY)
    return swaps and material in {_norm_material(m) for m in p.loadable_materials}


def _single_job_limit(job: QueuedJob, rules: SiteRules) -> Reason | None:
    for cap, period in ((rules.max_print_s_per_day, "day"), (rules.max_print_s_per_week, "week")):
        if cap is not None and job.est_print_s > cap + _EPS:
            return Reason(ReasonCode.EXCEEDS_LIMIT, {"print_s": job.est_print_s, "limit_s": cap, "period": period})
    return None


def _allowed(cal: OpeningCalendar, t: float, d: float, must_finish: bool, margin: float) -> float | None:
    return cal.earliest_start(t, d, must_finish, margin)


def _apply_caps(
    job: QueuedJob,
    start: float,
    rules: SiteRules,
    tz: ZoneInfo,
    day_used: dict[str, float],
    week_used: dict[str, float],
    cal: OpeningCalendar,
    must_finish: bool,
    margin: float,
) -> tuple[float | None, ReasonCode | None]:
    """Push ``start`` to a later day/week while the user's caps would be exceeded (estimates only)."""
    d = job.est_print_s
    code: ReasonCode | None = None
    now_day = day_start(start, tz)
    used_day = day_used.get(job.user, 0.0)
    used_week = week_used.get(job.user, 0.0)
    s: float | None = start
    if rules.max_print_s_per_week is not None and used_week + d > rules.max_print_s_per_week + _EPS:
        s = _allowed(cal, _next_midnight(week_start(start, tz), tz, 7), d, must_finish, margin)
        code = ReasonCode.WEEKLY_LIMIT
    elif rules.max_print_s_per_day is not None and used_day + d > rules.max_print_s_per_day + _EPS:
        s = _allowed(cal, _next_midnight(now_day, tz), d, must_finish, margin)
        code = ReasonCode.DAILY_LIMIT
    if code is None:
        day_used[job.user] = used_day + d
        week_used[job.user] = used_week + d
    return s, code


def _waiting_reason(
    job: QueuedJob,
    rules: SiteRules,
    now: float,
    start: float,
    base: float,
    t_printer: float,
    t_user: float,
    t_hold: float,
    cap_code: ReasonCode | None,
    stagger_blocked: bool,
    printer: PrinterSnapshot,
    bed_unclear: bool,
    open_now: bool,
    ahead: list[Any] | None,
    usage: Mapping[str, UserUsage],
    queued_s: Mapping[str, float],
) -> Reason:
    cal = rules.calendar
    p: dict[str, Any] = {"start_at": start}
    material = _norm_material(job.material)
    if cap_code is not None:
        p["limit_s"] = rules.max_print_s_per_day if cap_code is ReasonCode.DAILY_LIMIT else rules.max_print_s_per_week
        return Reason(cap_code, p)
    if stagger_blocked:
        p["max_heating"] = rules.max_heating
        return Reason(ReasonCode.HEATUP_STAGGER, p)
    if t_hold > now and start <= t_hold + 1.0 and t_hold >= t_printer and t_hold >= t_user:
        return Reason(ReasonCode.OVERNIGHT_START, p)
    if base <= now + 60.0 and start > base + 1.0:
        if not open_now:
            return Reason(ReasonCode.SITE_CLOSED, p)
        p["closes_at"] = cal.closes_at(now)
        return Reason(ReasonCode.WOULD_RUN_PAST_CLOSING, p)
    if t_user > now + _EPS and t_user >= t_printer:
        p["max_jobs"] = rules.max_jobs_at_once
        return Reason(ReasonCode.OWN_JOB_PRINTING, p)
    if bed_unclear and t_printer <= now + _EPS:
        p["printer"] = printer.id
        return Reason(ReasonCode.BED_NOT_CLEAR, p)
    p["material"] = material
    p["colour"] = _norm_colour(job.colour)
    p["ahead"] = ahead[0] if ahead is not None else 0
    return _queue_reason(job, p, ahead, usage, rules.fair_share_window_s, queued_s)


def _queue_reason(
    job: QueuedJob,
    params: dict[str, Any],
    ahead: list[Any] | None,
    usage: Mapping[str, UserUsage],
    window_s: float,
    queued_s: Mapping[str, float],
) -> Reason:
    """Waiting for a printer: because of fair share, higher priorities, or simply the queue."""
    if ahead is None:
        return Reason(ReasonCode.WAITING_FOR_PRINTER, params)
    count, by_priority = ahead
    same = by_priority.get(job.priority)
    if same is not None and same[1] > job.submitted_at:
        # a job of the same priority submitted later is ahead: fair share put it there
        u = usage.get(job.user)
        params["used_s"] = u.window_s if u is not None else 0.0
        params["window_s"] = window_s
        params["queued_s"] = queued_s.get(job.user, job.est_print_s)
        return Reason(ReasonCode.FAIR_SHARE, params)
    higher = sum(v[0] for priority, v in by_priority.items() if priority > job.priority)
    if higher and 2 * higher >= count:
        params["higher"] = higher
        return Reason(ReasonCode.PRIORITY_AHEAD, params)
    return Reason(ReasonCode.WAITING_FOR_PRINTER, params)


# ---------------------------------------------------------------- rendering


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    if hours < 1:
        return f"{max(1, round(seconds / 60))} min"
    return f"{hours:.1f} h".replace(".0 h", " h")


def _period(seconds: float) -> str:
    days = seconds / 86400
    if days >= 1 and abs(days - round(days)) < 1e-9:
        return "day" if round(days) == 1 else f"{round(days)} days"
    return _hours(seconds)


def format_when(t: float, now: float, tz: ZoneInfo) -> str:
    """``"at 14:30"``, ``"tomorrow at 09:00"`` or ``"Wed 12 Mar at 09:00"`` in the site's timezone."""
    local, today = dt.datetime.fromtimestamp(t, tz), dt.datetime.fromtimestamp(now, tz).date()
    clock = local.strftime("%H:%M")
    days = (local.date() - today).days
    if days <= 0:
        return f"at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if days < 7:
        return f"on {local.strftime('%A')} at {clock}"
    return f"on {local.strftime('%a %d %b')} at {clock}"


def _what(material: str, colour: str) -> str:
    return material if colour in ("", ANY) else f"{colour} {material}"


def render_reason(reason: Reason, *, tz: ZoneInfo | str = "UTC", now: float = 0.0) -> str:
    """Turn a :class:`Reason` into a sentence a member understands (English; other languages can follow)."""
    if isinstance(tz, str):
        tz = ZoneInfo(tz)
    p = reason.params
    code = reason.code
    when = f"; expected to start {format_when(p['start_at'], now, tz)}" if p.get("start_at") is not None else ""
    if code is ReasonCode.START_LOADED:
        return f"starting on {p['printer']}, which has {_what(p['material'], p['colour'])} loaded"
    if code is ReasonCode.START_SWAP:
        return f"starting on {p['printer']} after staff load {p['material']}"
    if code is ReasonCode.SITE_CLOSED:
        return f"the makerspace is closed; starts when it opens {format_when(p['start_at'], now, tz)}"
    if code is ReasonCode.WOULD_RUN_PAST_CLOSING:
        closes = dt.datetime.fromtimestamp(p["closes_at"], tz).strftime("%H:%M") if p.get("closes_at") else "closing"
        return (
            f"too long to finish before closing at {closes}; starts {format_when(p['start_at'], now, tz)}"
        )
    if code is ReasonCode.WAITING_FOR_PRINTER:
        ahead = f" ({p['ahead']} job{'s' if p['ahead'] != 1 else ''} ahead of yours)" if p.get("ahead") else ""
        return f"waiting for a printer with {_what(p['material'], p['colour'])}{ahead}{when}"
    if code is ReasonCode.FAIR_SHARE:
        used = p.get("used_s", 0.0)
        mine = f"you have {_hours(p['queued_s'])} queued" if p.get("queued_s") else "you"
        if used:
            mine += f"{' and' if p.get('queued_s') else ''} used {_hours(used)} in the last {_period(p.get('window_s', 0.0))}"
        else:
            mine += "" if p.get("queued_s") else " printed recently"
        return f"members who have printed or queued less go first ({mine}){when}"
    if code is ReasonCode.PRIORITY_AHEAD:
        n = p.get("higher")
        what = f"{n} higher-priority job{'s' if n != 1 else ''}" if n else "higher-priority jobs"
        return f"{what} (staff or class) {'goes' if n == 1 else 'go'} first{when}"
    if code is ReasonCode.OWN_JOB_PRINTING:
        return f"your other job is printing (at most {p.get('max_jobs')} at once){when}"
    if code is ReasonCode.DAILY_LIMIT:
        return f"you reached today's limit of {_hours(p['limit_s'])} of printing{when}"
    if code is ReasonCode.WEEKLY_LIMIT:
        return f"you reached this week's limit of {_hours(p['limit_s'])} of printing{when}"
    if code is ReasonCode.BED_NOT_CLEAR:
        return f"waiting for someone to clear the bed of {p['printer']}{when}"
    if code is ReasonCode.HEATUP_STAGGER:
        return f"waiting a few minutes so that not too many printers heat up at once{when}"
    if code is ReasonCode.OVERNIGHT_START:
        return (
            f"prints overnight: starts {format_when(p['start_at'], now, tz)}, still finishing before the space "
            "opens, so printers stay free this evening"
        )
    if code is ReasonCode.ONLY_PRINTER:
        first = "; it goes first there" if p.get("first") else ""
        return (
            f"waiting for {p['printer']}, the only printer here that can take it "
            f"({_what(p['material'], p['colour'])}){first}{when}"
        )
    if code is ReasonCode.LONG_JOB_SHARE:
        return (
            f"long prints already use {round(100 * p.get('share', 1))} % of the printers; the rest stay free "
            f"for short prints while the space is open{when}"
        )
    if code is ReasonCode.AWAITING_APPROVAL:
        return "waiting for staff approval"
    if code is ReasonCode.REJECTED:
        return "staff did not approve this job"
    if code is ReasonCode.NO_PRINTER_FITS:
        need = p.get("need")
        which = "no printer here"
        if "size" in p.get("with", ()) and need != "size":
            which = "no printer big enough for it"
        if need == "size":
            x, y, z = p["bbox_mm"]
            return f"no printer here is big enough for {x:.0f} x {y:.0f} x {z:.0f} mm"
        if need == "nozzle":
            return f"{which} has a {p['nozzle_mm']} mm nozzle"
        if need == "material":
            return f"{which} prints {p['material']}"
        if need == "colour":
            return f"{which} has {p['colour']} {p['material']} loaded"
        if need == "tags":
            return f"{which} has all of: {', '.join(p['tags'])}"
        return f"no single printer meets all requirements ({p.get('material', '')} with this size, nozzle and tags)"
    if code is ReasonCode.PRINTERS_UNAVAILABLE:
        return f"every printer that could take it is offline or in maintenance ({p.get('material', '')})"
    if code is ReasonCode.TOO_LONG_FOR_OPENING_HOURS:
        longest = f" (the longest opening is {_hours(p['longest_s'])})" if p.get("longest_s") else ""
        return f"too long to finish within opening hours{longest}; ask staff"
    if code is ReasonCode.EXCEEDS_LIMIT:
        return f"longer than the limit of {_hours(p['limit_s'])} per {p['period']}; ask staff"
    if code is ReasonCode.APPROVAL_LONG:
        return f"prints longer than {_hours(p['limit_s'])} need staff approval"
    if code is ReasonCode.APPROVAL_HEAVY:
        return f"prints over {p['limit_g']:.0f} g of filament need staff approval"
    if code is ReasonCode.APPROVAL_MATERIAL:
        return f"{p['material']} prints need staff approval"
    if code is ReasonCode.APPROVAL_NEW_MEMBER:
        return f"your first {p['needed']} prints need staff approval"
    return code.value  # pragma: no cover


__all__ = [
    "ANY",
    "ApprovalState",
    "Assignment",
    "Estimate",
    "OpeningCalendar",
    "Ordering",
    "Plan",
    "PrinterSnapshot",
    "PrinterStatus",
    "QueuedJob",
    "Reason",
    "ReasonCode",
    "SiteRules",
    "UsageRecord",
    "UserInfo",
    "UserUsage",
    "day_start",
    "fits_footprint",
    "fits_volume",
    "format_when",
    "needs_approval",
    "plan",
    "render_reason",
    "summarise_usage",
    "week_start",
]
