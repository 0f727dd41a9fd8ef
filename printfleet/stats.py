"""Usage statistics over a period: print hours, filament, cost and outcomes per member, printer, material and
day, week or month, computed from the trails printfleet already keeps.

Definitions (the pages say the same in words):

- A **print** is one attempt of a job on a printer: from its ``-> printing`` transition to the transition that
  takes it out of ``printing``/``paused`` for good (done, failed, cancelled). A job that failed and was printed
  again is two prints. Time in ``paused`` is not printing time.
- **Print hours** are the printing intervals clipped to the period (a print across midnight counts on both
  days); a print still running counts up to ``now``.
- **Filament** of a print: done, the filament the printer used (``actual_filament_mm`` at the estimate's grams
  per mm) or else the estimate; failed, cancelled or still running, the estimate's grams for the share of the
  estimated time it printed (at most all of it). A print's grams are spread evenly over its printing time, so a
  period holds the share printed in it.
- **Cost** is ``site.cost_of(grams, seconds)`` of those figures (failed prints included: material and machine
  time were used).
- **Done / failed / cancelled** count the transitions into those states inside the period (a job cancelled
  before it printed counts as cancelled; per printer only those that had a printer).
- **Utilisation** of a printer is the share of the hours it could print in (the elapsed part of the period, or
  only its open hours when the site sets ``opening_hours``) in which it printed. **Failure rate** is failed ÷
  (done + failed). **Maintenance hours** come from ``maintenance_on``/``maintenance_off`` printer events; one still
  on counts up to the period's end (or ``now``).

The database does the selecting and joining (indexed by job and time); one pass in Python splits the printing
intervals over the buckets, which SQL cannot do portably across time zones and summer time.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from operator import itemgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Float, String, func, or_, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select

from printfleet.config import FleetConfig, SiteConfig
from printfleet.errors import UserError
from printfleet.models import Job, JobEvent, JobStatus, Printer, PrinterEvent, PrinterEventKind, User, utcnow
from printfleet.texts import N_

logger = logging.getLogger(__name__)

#: the outcomes counted
ENDINGS: tuple[JobStatus, ...] = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)
_ON_BED = (JobStatus.PRINTING, JobStatus.PAUSED)
#: the earliest and latest day a period may name (a day after the latest still has a midnight in every zone)
FIRST_DAY = dt.date(1970, 1, 2)
LAST_DAY = dt.date(9998, 12, 30)
#: the longest period, and the most buckets one grouping may make
MAX_PERIOD_DAYS = 5 * 366
MAX_BUCKETS = 400


class Grouping(StrEnum):
    """How the time series is bucketed."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class UtilisationBasis(StrEnum):
    """What a printer's utilisation is a share of."""

    ALL_HOURS = "all_hours"
    OPEN_HOURS = "open_hours"


class PeriodError(UserError):
    """A period or grouping that cannot be reported on (422)."""

    code = "bad_period"


@dataclass(frozen=True)
class Period:
    """Whole days ``first_day`` .. ``last_day`` (inclusive) in the site's timezone."""

    first_day: dt.date
    last_day: dt.date
    tz: ZoneInfo

    @property
    def start(self) -> dt.datetime:
        """Midnight that begins ``first_day`` (aware, UTC)."""
        return local_midnight(self.first_day, self.tz)

    @property
    def end(self) -> dt.datetime:
        """Midnight that ends ``last_day`` (aware, UTC); the period is ``[start, end)``."""
        return local_midnight(self.last_day + dt.timedelta(days=1), self.tz)

    @property
    def days(self) -> int:
        """How many days the period has."""
        return (self.last_day - self.first_day).days + 1


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The start of ``day`` in ``tz``, in UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def local_today(tz: ZoneInfo, now: dt.datetime | None = None) -> dt.date:
    """Today's date in ``tz``."""
    return (now or utcnow()).astimezone(tz).date()


def parse_day(value: str | None, name: str) -> dt.date | None:
    """``YYYY-MM-DD`` (or empty) as a date.

    Raises:
        PeriodError: not such a date, or outside the years a period may cover.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        day = dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise PeriodError(N_("%(field)s: '%(value)s' is not a date (use YYYY-MM-DD)"), field=name, value=text[:40])
    if not FIRST_DAY <= day <= LAST_DAY:
        raise PeriodError(N_("%(field)s: %(value)s is outside the years 1970 to 9998"), field=name, value=text)
    return day


def parse_grouping(value: str | None) -> Grouping:
    """``day``, ``week`` or ``month`` (default ``day``).

    Raises:
        PeriodError: anything else.
    """
    if value is None or not value.strip():
        return Grouping.DAY
    try:
        return Grouping(value.strip().lower())
    except ValueError:
        raise PeriodError(N_("group: '%(value)s' is not one of day, week, month"), value=value.strip()[:40]) from None


def make_period(
    first_day: dt.date | None, last_day: dt.date | None, grouping: Grouping, tz: ZoneInfo, *, today: dt.date
) -> Period:
    """The period a person asked for; without dates the last 7 days (today included).

    Raises:
        PeriodError: it ends before it starts, is longer than ``MAX_PERIOD_DAYS`` or makes too many buckets.
    """
    if last_day is None:
        last_day = max(today, first_day) if first_day is not None else today
    if first_day is None:
        first_day = max(last_day - dt.timedelta(days=6), FIRST_DAY)
    if last_day < first_day:
        raise PeriodError(N_("the period ends (%(last_day)s) before it starts (%(first_day)s)"),
                          last_day=last_day.isoformat(), first_day=first_day.isoformat())
    period = Period(first_day, last_day, tz)
    if period.days > MAX_PERIOD_DAYS:
        raise PeriodError(N_("the period has %(days)s days; choose at most %(max)s"), days=period.days,
                          max=MAX_PERIOD_DAYS)  # fmt: skip
    count = bucket_count(period, grouping)
    if count > MAX_BUCKETS:
        raise PeriodError(N_("this grouping makes %(count)s points (at most %(max)s); group by week or month"),
                          count=count, max=MAX_BUCKETS)  # fmt: skip
    return period


def bucket_count(period: Period, grouping: Grouping) -> int:
    """How many buckets :func:`bucket_days` makes."""
    if grouping is Grouping.DAY:
        return period.days
    if grouping is Grouping.WEEK:
        first_monday = period.first_day - dt.timedelta(days=period.first_day.weekday())
        return (period.last_day - first_monday).days // 7 + 1
    first, last = period.first_day, period.last_day
    return (last.year - first.year) * 12 + last.month - first.month + 1


def bucket_days(period: Period, grouping: Grouping) -> list[dt.date]:
    """The first day of each bucket (the first bucket starts with the period, later ones on Monday / the 1st)."""
    starts = [period.first_day]
    day = period.first_day
    while True:
        if grouping is Grouping.DAY:
            day = day + dt.timedelta(days=1)
        elif grouping is Grouping.WEEK:
            day = day + dt.timedelta(days=7 - day.weekday())
        else:
            day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
        if day > period.last_day:
            return starts
        starts.append(day)


@dataclass
class Usage:
    """Figures of one row: a member, printer, material, bucket or the whole period."""

    print_s: float = 0.0
    grams: float = 0.0
    done: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def print_hours(self) -> float:
        """Printing time in hours."""
        return self.print_s / 3600.0

    @property
    def prints_ended(self) -> int:
        """Done + failed + cancelled."""
        return self.done + self.failed + self.cancelled

    @property
    def failure_rate(self) -> float | None:
        """Failed ÷ (done + failed), or ``None`` without either."""
        total = self.done + self.failed
        return self.failed / total if total else None

    def cost(self, site: SiteConfig) -> float | None:
        """What the filament and machine time cost at the site's prices (``None`` when it sets none)."""
        return site.cost_of(self.grams, self.print_s)

    def count(self, status: JobStatus, times: int = 1) -> None:
        """Count transitions into ``status``."""
        if status is JobStatus.DONE:
            self.done += times
        elif status is JobStatus.FAILED:
            self.failed += times
        elif status is JobStatus.CANCELLED:
            self.cancelled += times


@dataclass
class MemberRow:
    """One member's usage. ``name`` is ``None`` when the user no longer exists."""

    user_id: int
    name: str | None
    display_name: str = ""
    active: bool = True
    usage: Usage = field(default_factory=Usage)

    @property
    def deleted(self) -> bool:
        """The user row is gone (its jobs remain)."""
        return self.name is None


@dataclass
class PrinterRow:
    """One printer's usage, utilisation and maintenance."""

    printer_id: str
    name: str
    in_fleet: bool
    usage: Usage = field(default_factory=Usage)
    available_s: float = 0.0
    printing_available_s: float = 0.0
    maintenance_s: float = 0.0

    @property
    def utilisation(self) -> float | None:
        """Share of the available hours spent printing, or ``None`` when there were none yet."""
        return self.printing_available_s / self.available_s if self.available_s > 0 else None

    @property
    def maintenance_hours(self) -> float:
        """Time in maintenance, in hours."""
        return self.maintenance_s / 3600.0


@dataclass
class MaterialRow:
    """Usage of one material (``""`` when a job named none and had no printer)."""

    material: str
    usage: Usage = field(default_factory=Usage)


@dataclass
class Bucket:
    """One point of the time series: ``[start, end)``, beginning on local day ``day``."""

    day: dt.date
    start: dt.datetime
    end: dt.datetime
    usage: Usage = field(default_factory=Usage)


@dataclass
class Report:
    """Everything the statistics pages, the API and the CSV export show for one period."""

    period: Period
    grouping: Grouping
    basis: UtilisationBasis
    now: dt.datetime
    totals: Usage
    members: list[MemberRow]
    printers: list[PrinterRow]
    materials: list[MaterialRow]
    series: list[Bucket]
    owner_id: int | None = None


class PrintAttempt(NamedTuple):
    """One print: its printing intervals (Unix seconds) and how it ended (``None``: still on the printer)."""

    job_id: int
    owner_id: int
    printer_id: str | None
    material: str | None
    segments: tuple[tuple[float, float], ...]
    ended: JobStatus | None
    grams: float

    @property
    def print_s(self) -> float:
        """Printing time of the whole attempt."""
        return sum(end - start for start, end in self.segments)


def attempt_grams(ended: JobStatus | None, print_s: float, *, est_print_time_s: float | None,
                  est_filament_g: float | None, est_filament_mm: float | None,
                  actual_filament_mm: float | None) -> float:
    """The filament one print used (see the module docstring)."""
    if ended is JobStatus.DONE:
        if actual_filament_mm is not None and est_filament_mm and est_filament_g is not None:
            return actual_filament_mm * est_filament_g / est_filament_mm
        return est_filament_g or 0.0
    if not est_filament_g or not est_print_time_s or est_print_time_s <= 0:
        return 0.0
    return est_filament_g * min(1.0, print_s / est_print_time_s)


class epoch_s(FunctionElement[float]):
    """A timestamp column as Unix seconds, computed by the database (no per-row conversion in Python)."""

    type = Float()
    name = "epoch_s"
    inherit_cache = True


@compiles(epoch_s)
def _epoch_s(element: epoch_s, compiler: Any, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS DOUBLE PRECISION)"


@compiles(epoch_s, "sqlite")
def _epoch_s_sqlite(element: epoch_s, compiler: Any, **kw: Any) -> str:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


def _raw(column: Any) -> Any:
    """A stored enum column as its plain string (no conversion per row)."""
    return type_coerce(column, String)


_PRINTING, _PAUSED = JobStatus.PRINTING.value, JobStatus.PAUSED.value
_ENDING_BY_VALUE = {status.value: status for status in JobStatus}


def print_attempts(session: Session, start: dt.datetime, stop: dt.datetime, *, owner_id: int | None = None,
                   now: dt.datetime | None = None) -> list[PrintAttempt]:
    """Every print with printing time in ``[start, stop)``, from the job events (oldest job first).

    The jobs whose prints may overlap the period are picked first (they started before its end and ended after
    its start, or are on a printer now); only their events are read, through the index on ``job_id``.
    """
    now_ts = (now or utcnow()).timestamp()
    candidates = select(Job.id).where(
        col(Job.started_at) < stop,
        or_(col(Job.finished_at).is_(None), col(Job.finished_at) >= start, col(Job.status).in_(_ON_BED)),
    )
    if owner_id is not None:
        candidates = candidates.where(col(Job.owner_id) == owner_id)
    query = (
        select(JobEvent.job_id, epoch_s(JobEvent.at), _raw(JobEvent.to_status), JobEvent.printer_id,
               Job.owner_id, Job.material, Job.est_print_time_s, Job.est_filament_g, Job.est_filament_mm,
               Job.actual_filament_mm)
        .join(Job, col(Job.id) == col(JobEvent.job_id))
        .where(col(JobEvent.job_id).in_(candidates.scalar_subquery()), JobEvent.kind == "transition",
               or_(col(JobEvent.to_status).in_(_ON_BED), col(JobEvent.from_status).in_(_ON_BED)))
        .order_by(col(JobEvent.job_id), col(JobEvent.id))
    )  # fmt: skip
    attempts: list[PrintAttempt] = []
    for job_id, rows in itertools.groupby(session.connection().execute(query).all(), key=itemgetter(0)):
        segments: list[tuple[float, float]] = []
        opened: float | None = None
        printer: str | None = None
        row: Any = None
        for row in rows:
            at, target = row[1], row[2]
            if target == _PRINTING:
                if opened is None:
                    opened = at
                printer = row[3] or printer
                continue
            if opened is not None:
                segments.append((opened, at))
                opened = None
            if target == _PAUSED:
                continue
            attempts.append(_attempt(job_id, row, segments, row[3] or printer, _ENDING_BY_VALUE.get(target)))
            segments, printer = [], None
        if opened is not None:
            segments.append((opened, max(opened, now_ts)))
        if segments:
            attempts.append(_attempt(job_id, row, segments, printer, None))
    return attempts


def _attempt(job_id: int, row: Any, segments: list[tuple[float, float]], printer_id: str | None,
             ended: JobStatus | None) -> PrintAttempt:
    print_s = sum(end - start for start, end in segments)
    grams = attempt_grams(ended, print_s, est_print_time_s=row[6], est_filament_g=row[7], est_filament_mm=row[8],
                          actual_filament_mm=row[9])  # fmt: skip
    return PrintAttempt(job_id, row[4], printer_id, row[5], tuple(segments), ended, grams)


def outcome_events(session: Session, start: dt.datetime, stop: dt.datetime, *,
                   owner_id: int | None = None) -> list[tuple[float, JobStatus, str | None, int, str | None]]:
    """Transitions into done, failed or cancelled in ``[start, stop)``: (time, status, printer, owner, material)."""
    query = (
        select(epoch_s(JobEvent.at), _raw(JobEvent.to_status), JobEvent.printer_id, Job.owner_id, Job.material)
        .join(Job, col(Job.id) == col(JobEvent.job_id))
        .where(JobEvent.kind == "transition", col(JobEvent.to_status).in_(ENDINGS),
               col(JobEvent.at) >= start, col(JobEvent.at) < stop)
    )  # fmt: skip
    if owner_id is not None:
        query = query.where(col(Job.owner_id) == owner_id)
    status = _ENDING_BY_VALUE
    rows = session.connection().execute(query).all()
    return [(at, status[to], printer, owner, material) for at, to, printer, owner, material in rows]


def maintenance_intervals(session: Session, stop: dt.datetime) -> dict[str, list[tuple[float, float]]]:
    """Each printer's maintenance intervals before ``stop`` (one still on ends at ``stop``)."""
    query = (
        select(PrinterEvent.printer_id, PrinterEvent.at, PrinterEvent.kind)
        .where(col(PrinterEvent.kind).in_([PrinterEventKind.MAINTENANCE_ON, PrinterEventKind.MAINTENANCE_OFF]),
               col(PrinterEvent.at) < stop)
        .order_by(col(PrinterEvent.printer_id), col(PrinterEvent.at), col(PrinterEvent.id))
    )  # fmt: skip
    stop_ts = stop.timestamp()
    result: dict[str, list[tuple[float, float]]] = {}
    for printer_id, rows in itertools.groupby(session.execute(query), key=itemgetter(0)):
        intervals: list[tuple[float, float]] = []
        on_at: float | None = None
        for _, at, kind in rows:
            if kind is PrinterEventKind.MAINTENANCE_ON:
                on_at = at.timestamp() if on_at is None else on_at
            elif on_at is not None:
                intervals.append((on_at, at.timestamp()))
                on_at = None
        if on_at is not None:
            intervals.append((on_at, stop_ts))
        result[printer_id] = intervals
    return result


def open_intervals(site: SiteConfig, period: Period, stop: dt.datetime) -> list[tuple[float, float]] | None:
    """The site's open hours within ``[period.start, stop)`` (Unix seconds), or ``None`` when always open."""
    ranges = site.opening_ranges()
    if ranges is None:
        return None
    tz = period.tz
    lo, hi = period.start.timestamp(), stop.timestamp()
    intervals: list[tuple[float, float]] = []
    day = period.first_day
    while day <= period.last_day:
        for opens, closes in ranges.get(day.weekday(), ()):
            a = dt.datetime.combine(day, opens, tzinfo=tz).timestamp()
            b = dt.datetime.combine(day, closes, tzinfo=tz).timestamp()
            a, b = max(a, lo), min(b, hi)
            if b > a:
                intervals.append((a, b))
        day += dt.timedelta(days=1)
    return intervals


def overlap_s(a: float, b: float, intervals: Sequence[tuple[float, float]]) -> float:
    """How much of ``[a, b)`` lies in the sorted, disjoint ``intervals``."""
    total = 0.0
    i = max(0, bisect.bisect_right(intervals, (a, float("inf"))) - 1)
    while i < len(intervals) and intervals[i][0] < b:
        lo, hi = max(a, intervals[i][0]), min(b, intervals[i][1])
        if hi > lo:
            total += hi - lo
        i += 1
    return total


def _material(material: str | None, printer_id: str | None, printer_materials: dict[str, str]) -> str:
    return material or printer_materials.get(printer_id or "", "")


def usage_report(
    session: Session,
    fleet: FleetConfig,
    period: Period,
    *,
    grouping: Grouping = Grouping.DAY,
    owner_id: int | None = None,
    now: dt.datetime | None = None,
) -> Report:
    """Print hours, filament, cost and outcomes over ``period`` per member, printer, material and bucket.

    Args:
        owner_id: only this member's jobs (a maker's own usage); printers then carry no utilisation.
        now: the present (tests pass it); intervals still open end here, utilisation counts up to here.
    """
    now = now or utcnow()
    start, end = period.start, period.end
    stop = min(end, max(now, start))  # the elapsed part of the period
    lo, hi = start.timestamp(), stop.timestamp()
    site = fleet.site
    printer_materials = {p.id: p.material for p in fleet.printers}

    days = bucket_days(period, grouping)
    series = [Bucket(day, local_midnight(day, period.tz), local_midnight(nxt, period.tz))
              for day, nxt in zip(days, [*days[1:], period.last_day + dt.timedelta(days=1)], strict=True)]
    edges = [b.start.timestamp() for b in series]

    totals = Usage()
    members: dict[int, Usage] = {}
    printers: dict[str, PrinterRow] = {
        p.id: PrinterRow(p.id, p.name, True) for p in fleet.printers
    }
    materials: dict[str, Usage] = {}
    opening = open_intervals(site, period, stop)

    def printer_row(printer_id: str) -> PrinterRow:
        row = printers.get(printer_id)
        if row is None:
            row = printers[printer_id] = PrinterRow(printer_id, printer_id, False)
        return row

    bucket_usage = [b.usage for b in series]
    ends = [*edges[1:], period.end.timestamp()]
    for attempt in print_attempts(session, start, stop, owner_id=owner_id, now=now):
        attempt_s = attempt.print_s
        grams_per_s = attempt.grams / attempt_s if attempt_s > 0 else 0.0
        seconds = open_s = 0.0
        for seg_start, seg_end in attempt.segments:
            a = max(lo, seg_start)
            b = min(hi, seg_end)
            if b <= a:
                continue
            seconds += b - a
            if opening is not None:
                open_s += overlap_s(a, b, opening)
            i = bisect.bisect_right(edges, a) - 1
            while i < len(edges) and edges[i] < b:  # split over the buckets it spans
                piece = (min(ends[i], b)) - (max(edges[i], a))
                bucket_usage[i].print_s += piece
                bucket_usage[i].grams += piece * grams_per_s
                i += 1
        if seconds <= 0:
            continue
        grams = seconds * grams_per_s
        material = _material(attempt.material, attempt.printer_id, printer_materials)
        rows = [totals, members.setdefault(attempt.owner_id, Usage()), materials.setdefault(material, Usage())]
        if attempt.printer_id:
            printer = printer_row(attempt.printer_id)
            printer.printing_available_s += seconds if opening is None else open_s
            rows.append(printer.usage)
        for usage in rows:
            usage.print_s += seconds
            usage.grams += grams

    outcomes = outcome_events(session, start, end, owner_id=owner_id)
    by_row = Counter((owner, printer_id, _material(material_name, printer_id, printer_materials), status)
                     for _, status, printer_id, owner, material_name in outcomes)  # fmt: skip
    for (owner, printer_id, material, status), count in by_row.items():
        for usage in (totals, members.setdefault(owner, Usage()), materials.setdefault(material, Usage()),
                      printer_row(printer_id).usage if printer_id else None):  # fmt: skip
            if usage is not None:
                usage.count(status, count)
    by_bucket = Counter((bisect.bisect_right(edges, at) - 1, status) for at, status, *_ in outcomes)
    for (i, status), count in by_bucket.items():
        bucket_usage[max(0, i)].count(status, count)

    available = (hi - lo) if opening is None else sum(b - a for a, b in opening)
    if owner_id is None:
        for printer_id, intervals in maintenance_intervals(session, stop).items():
            total = sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in intervals)
            if total > 0 or printer_id in printers:
                printer_row(printer_id).maintenance_s = total
        for row in printers.values():
            row.available_s = available
    _name_printers(session, printers)
    printer_rows = list(printers.values())
    if owner_id is not None:
        printer_rows = [row for row in printer_rows if row.usage.print_s > 0 or row.usage.prints_ended]

    return Report(
        period=period,
        grouping=grouping,
        basis=UtilisationBasis.ALL_HOURS if opening is None else UtilisationBasis.OPEN_HOURS,
        now=now,
        totals=totals,
        members=_member_rows(session, members),
        printers=printer_rows,
        materials=sorted((MaterialRow(name, usage) for name, usage in materials.items()),
                         key=lambda row: (-row.usage.grams, row.material)),
        series=series,
        owner_id=owner_id,
    )


def _member_rows(session: Session, usage: dict[int, Usage]) -> list[MemberRow]:
    users = {row[0]: row for row in session.execute(
        select(User.id, User.name, User.display_name, User.is_active).where(col(User.id).in_(list(usage)))
    )} if usage else {}  # fmt: skip
    rows = []
    for user_id, figures in usage.items():
        user = users.get(user_id)
        if user is None:
            rows.append(MemberRow(user_id, None, "", False, figures))
        else:
            rows.append(MemberRow(user_id, user[1], user[2] or "", bool(user[3]), figures))
    rows.sort(key=lambda row: (-row.usage.print_s, -row.usage.prints_ended, row.name or "", row.user_id))
    return rows


def _name_printers(session: Session, printers: dict[str, PrinterRow]) -> None:
    unnamed = [row.printer_id for row in printers.values() if not row.in_fleet]
    if not unnamed:
        return
    for printer_id, name in session.execute(select(Printer.id, Printer.name).where(col(Printer.id).in_(unnamed))):
        printers[printer_id].name = name or printer_id


def trail_signature(session: Session) -> tuple[Any, ...]:
    """A cheap value that changes whenever an event is written (or a user added): reports may be reused until then."""
    return tuple(session.execute(select(
        select(func.max(JobEvent.id)).scalar_subquery(),
        select(func.max(PrinterEvent.id)).scalar_subquery(),
        select(func.max(User.id)).scalar_subquery(),
    )).one())


@dataclass(frozen=True)
class TodaySummary:
    """The wall's line about today: prints done, print hours (running prints included), jobs waiting."""

    day: dt.date
    prints_done: int
    print_s: float
    waiting: int

    @property
    def print_hours(self) -> float:
        """Printing time today, in hours."""
        return self.print_s / 3600.0


def today_summary(session: Session, fleet: FleetConfig, *, now: dt.datetime | None = None,
                  waiting: int | None = None) -> TodaySummary:
    """Today (site timezone) so far, by the same definitions as :func:`usage_report`.

    Args:
        waiting: the number of queued jobs when the caller knows it (the web process's queue view); counted
            from the database otherwise.
    """
    now = now or utcnow()
    day = local_today(fleet.site.tz, now)
    period = Period(day, day, fleet.site.tz)
    lo, hi = period.start.timestamp(), now.timestamp()
    print_s = 0.0
    for attempt in print_attempts(session, period.start, now, now=now):
        print_s += sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in attempt.segments)
    done = session.execute(select(func.count()).select_from(JobEvent).where(
        JobEvent.kind == "transition", JobEvent.to_status == JobStatus.DONE, col(JobEvent.at) >= period.start,
        col(JobEvent.at) < period.end)).scalar_one()
    if waiting is None:
        waiting = session.exec(select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED)).one()
    return TodaySummary(day, done, print_s, waiting)

