"""Statistics: the staff page ``/staff/stats``, a maker's ``/me/usage``, their JSON and CSV, and the wall's
"today" line (``_today.html``, ``/api/wall/today``).

Staff see everyone's usage; a maker sees only their own (``/api/me/...``). A period is chosen with ``from``
and ``to`` (``YYYY-MM-DD``, days in the site's timezone, both included) and ``group`` (``day``, ``week``,
``month``); without them the last 7 days by day. A bad period is a 422 with a ``detail`` in the reader's
language.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from typing import Annotated, Any

from babel import dates, numbers
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session

from printfleet import db
from printfleet.config import FleetConfig
from printfleet.errors import NotFound
from printfleet.models import User
from printfleet.stats import (
    Grouping,
    Period,
    PeriodError,
    Report,
    TodaySummary,
    local_today,
    make_period,
    parse_day,
    parse_grouping,
    today_summary,
    trail_signature,
    usage_report,
)
from printfleet.texts import N_
from printfleet.web.deps import (
    CurrentUser,
    FleetDep,
    Lang,
    LangDep,
    OptionalUser,
    SessionDep,
    StaffUser,
    is_staff,
)
from printfleet.web.live import LiveHub
from printfleet.web.pages import render
from printfleet.web.reasons import error_text
from printfleet.web.stats_view import (
    OWN_TABLES,
    TABLES,
    TOP_MEMBERS,
    bar_chart,
    bucket_label,
    csv_file_name,
    report_csv,
    report_json,
    series_charts,
)

logger = logging.getLogger(__name__)

router = APIRouter(tags=["statistics"])

FromDay = Annotated[str | None, Query(alias="from", max_length=40, description="first day, YYYY-MM-DD (site timezone)")]
ToDay = Annotated[str | None, Query(max_length=40, description="last day, YYYY-MM-DD (included)")]
GroupBy = Annotated[str | None, Query(max_length=40, description="day | week | month")]
TableName = Annotated[str, Path(max_length=20, description="members | printers | materials | series")]


class ReportCache:
    """Reports by the question asked, reused while the trails have not changed (a page and its CSV downloads
    compute once; a year of 60 printers takes seconds) and for at most ``ttl_s`` (prints still running grow)."""

    def __init__(self, *, max_entries: int = 32, ttl_s: float = 60.0) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], float, Report]] = OrderedDict()

    def report(self, session: Session, fleet: FleetConfig, period: Period, grouping: Grouping,
               owner_id: int | None) -> Report:
        """The report, from the cache when nothing was written since it was computed."""
        key = (period.first_day, period.last_day, grouping, owner_id)
        signature = trail_signature(session)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == signature and time.monotonic() - entry[1] < self.ttl_s:
                self._entries.move_to_end(key)
                return entry[2]
        report = usage_report(session, fleet, period, grouping=grouping, owner_id=owner_id)
        with self._lock:
            self._entries[key] = (signature, time.monotonic(), report)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return report


_cache_lock = threading.Lock()


def get_reports(request: Request) -> ReportCache:
    """This web process's report cache."""
    with _cache_lock:
        cache = getattr(request.app.state, "stats_reports", None)
        if cache is None:
            cache = request.app.state.stats_reports = ReportCache()
        return cache


ReportsDep = Annotated[ReportCache, Depends(get_reports)]


def build_report(session: Session, fleet: FleetConfig, reports: ReportCache, first: str | None, last: str | None,
                 group: str | None, *, owner_id: int | None = None) -> Report:
    """The report for the query parameters.

    Raises:
        PeriodError: they do not make a period.
    """
    tz = fleet.site.tz
    grouping = parse_grouping(group)
    period = make_period(parse_day(first, "from"), parse_day(last, "to"), grouping, tz, today=local_today(tz))
    return reports.report(session, fleet, period, grouping, owner_id)


def _period_error(exc: PeriodError, lang: Lang) -> JSONResponse:
    return JSONResponse({"detail": error_text(exc, lang.t, lang.fmt), "code": exc.code}, status_code=422)


def _csv_response(report: Report, table: str, fleet: FleetConfig, lang: Lang) -> Response:
    try:
        body = report_csv(report, table, fleet.site)
    except KeyError:
        tables = ", ".join(OWN_TABLES if report.owner_id is not None else TABLES)
        error = NotFound(N_("there is no table %(table)s (use %(tables)s)"), table=table, tables=tables)
        return JSONResponse({"detail": error_text(error, lang.t, lang.fmt), "code": "no_such_table"}, status_code=404)
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{csv_file_name(report, table)}"',
        "Cache-Control": "private, no-store",
    })  # fmt: skip


# ---------------------------------------------------------------------------------------------------- API


@router.get("/api/stats", summary="Everyone's usage over a period (staff)")
def read_stats(session: SessionDep, user: StaffUser, fleet: FleetDep, lang: LangDep, reports: ReportsDep,
               first: FromDay = None, to: ToDay = None, group: GroupBy = None) -> Any:
    """Print hours, filament, cost and outcomes per member, printer (utilisation, failure rate, maintenance),
    material and day/week/month."""
    try:
        report = build_report(session, fleet, reports, first, to, group)
    except PeriodError as exc:
        return _period_error(exc, lang)
    return report_json(report, fleet.site)


@router.get("/api/stats/{table}.csv", summary="One table of everyone's usage as CSV (staff)")
def read_stats_csv(table: TableName, session: SessionDep, user: StaffUser, fleet: FleetDep, lang: LangDep,
                   reports: ReportsDep, first: FromDay = None, to: ToDay = None, group: GroupBy = None) -> Response:
    """``members``, ``printers``, ``materials`` or ``series``: a header row, numbers with ``.``, times in the
    site's timezone."""
    try:
        report = build_report(session, fleet, reports, first, to, group)
    except PeriodError as exc:
        return _period_error(exc, lang)
    return _csv_response(report, table, fleet, lang)


@router.get("/api/me/usage", summary="Your own usage over a period")
def read_my_usage(session: SessionDep, user: CurrentUser, fleet: FleetDep, lang: LangDep, reports: ReportsDep,
                  first: FromDay = None, to: ToDay = None, group: GroupBy = None) -> Any:
    """Your print hours, filament, cost and outcomes per printer, material and day/week/month."""
    try:
        report = build_report(session, fleet, reports, first, to, group, owner_id=user.id)
    except PeriodError as exc:
        return _period_error(exc, lang)
    return report_json(report, fleet.site)


@router.get("/api/me/usage/{table}.csv", summary="One table of your own usage as CSV")
def read_my_usage_csv(table: TableName, session: SessionDep, user: CurrentUser, fleet: FleetDep, lang: LangDep,
                      reports: ReportsDep, first: FromDay = None, to: ToDay = None,
                      group: GroupBy = None) -> Response:
    """``printers``, ``materials`` or ``series``."""
    try:
        report = build_report(session, fleet, reports, first, to, group, owner_id=user.id)
    except PeriodError as exc:
        return _period_error(exc, lang)
    return _csv_response(report, table, fleet, lang)


@router.get("/api/wall/today", summary="Today so far: prints done, print hours, jobs waiting")
def read_today(request: Request) -> dict[str, Any]:
    """What the wall shows about today (no personal data)."""
    summary = request.app.state.today.summary()
    return {"day": summary.day.isoformat(), "prints_done": summary.prints_done,
            "print_hours": round(summary.print_hours, 2), "waiting": summary.waiting}


# ---------------------------------------------------------------------------------------------------- pages


def _money(lang: Lang, fleet: FleetConfig) -> Any:
    currency = fleet.site.currency

    def money(value: float | None) -> str:
        if value is None:
            return "–"
        return numbers.format_currency(value, currency, locale=lang.fmt.locale)

    return money


def _presets(today: dt.date, lang: Lang) -> list[tuple[str, dt.date, dt.date, Grouping]]:
    t = lang.t
    month_start = today.replace(day=1)
    return [
        (t.gettext("Today"), today, today, Grouping.DAY),
        (t.gettext("Last 7 days"), today - dt.timedelta(days=6), today, Grouping.DAY),
        (t.gettext("Last 30 days"), today - dt.timedelta(days=29), today, Grouping.DAY),
        (t.gettext("This month"), month_start, today, Grouping.DAY),
        (t.gettext("Last 12 weeks"), today - dt.timedelta(days=today.weekday() + 77), today, Grouping.WEEK),
        (t.gettext("This year"), today.replace(month=1, day=1), today, Grouping.MONTH),
    ]


def _page(request: Request, session: Session, user: User, lang: Lang, fleet: FleetConfig, template: str,
          first: str | None, to: str | None, group: str | None, *, own: bool) -> Response:
    reports = get_reports(request)
    t = lang.t
    today = local_today(fleet.site.tz)
    context: dict[str, Any] = {
        "presets": _presets(today, lang),
        "query": {"from": first or "", "to": to or "", "group": group or ""},
        "money": _money(lang, fleet),
        "with_cost": fleet.site.cost_of(0, 0) is not None,
        "groupings": [(Grouping.DAY, t.gettext("by day")), (Grouping.WEEK, t.gettext("by week")),
                      (Grouping.MONTH, t.gettext("by month"))],
        "tables": OWN_TABLES if own else TABLES,
        "csv_base": "/api/me/usage/" if own else "/api/stats/",
        "report": None,
        "error": None,
    }
    try:
        report = build_report(session, fleet, reports, first, to, group, owner_id=user.id if own else None)
    except PeriodError as exc:
        context["error"] = error_text(exc, lang.t, lang.fmt)
        return render(request, lang, template, user=user, status_code=422, **context)
    context["report"] = report
    first_day, last_day = (dates.format_date(d, "medium", locale=lang.fmt.locale)
                           for d in (report.period.first_day, report.period.last_day))  # fmt: skip
    context["period_text"] = first_day if first_day == last_day else f"{first_day} – {last_day}"
    context["query"] = {"from": report.period.first_day.isoformat(), "to": report.period.last_day.isoformat(),
                        "group": report.grouping.value}
    context["csv_query"] = "?from={from}&to={to}&group={group}".format(**context["query"])
    context["labels"] = [bucket_label(b, report.grouping, lang.t, lang.fmt.locale) for b in report.series]
    context["charts"] = _charts(report, lang, own=own)
    return render(request, lang, template, user=user, **context)


def _member_label(row: Any, lang: Lang) -> str:
    if row.deleted:
        return lang.t.gettext("deleted member %(id)s") % {"id": row.user_id}
    return row.name


def _charts(report: Report, lang: Lang, *, own: bool) -> list[tuple[str, Any]]:
    t, fmt = lang.t, lang.fmt
    charts = series_charts(report, t, fmt)

    def hours(v: float) -> str:
        return f"{fmt.number(v, 0 if float(v).is_integer() else 1)} h"

    def grams(v: float) -> str:
        return f"{fmt.number(v)} g"

    if not own:
        printers = list(reversed(report.printers))
        title = t.gettext("Utilisation per printer")
        charts.append((title, bar_chart(title, [p.name for p in printers],
                                        [round(100 * (p.utilisation or 0.0), 1) for p in printers], t,
                                        lambda v: f"{fmt.number(v)} %", colour=3, max_value=100)))  # fmt: skip
        members = list(reversed(report.members[:TOP_MEMBERS]))
        title = t.gettext("Print hours per member")
        charts.append((title, bar_chart(title, [_member_label(m, lang) for m in members],
                                        [round(m.usage.print_hours, 2) for m in members], t, hours, colour=0)))
    else:
        printers = list(reversed(report.printers))
        title = t.gettext("Print hours per printer")
        charts.append((title, bar_chart(title, [p.name for p in printers],
                                        [round(p.usage.print_hours, 2) for p in printers], t, hours, colour=0)))
    materials = list(reversed(report.materials))
    title = t.gettext("Filament per material")
    charts.append((title, bar_chart(title, [m.material or t.gettext("unknown") for m in materials],
                                    [round(m.usage.grams, 1) for m in materials], t, grams, colour=4)))
    return charts


@router.get("/staff/stats", include_in_schema=False)
def read_stats_page(request: Request, session: SessionDep, user: OptionalUser, lang: LangDep, fleet: FleetDep,
                    first: FromDay = None, to: ToDay = None, group: GroupBy = None) -> Response:
    """Everyone's usage, with plots, tables and CSV links."""
    if user is None:
        return RedirectResponse("/login?next=/staff/stats", status_code=303)
    if not is_staff(user):
        return render(request, lang, "error.html", user=user, status_code=403,
                      message=lang.t.gettext("This page is for staff."))
    return _page(request, session, user, lang, fleet, "stats.html", first, to, group, own=False)


@router.get("/me/usage", include_in_schema=False)
def read_usage_page(request: Request, session: SessionDep, user: OptionalUser, lang: LangDep, fleet: FleetDep,
                    first: FromDay = None, to: ToDay = None, group: GroupBy = None) -> Response:
    """Your own usage."""
    if user is None:
        return RedirectResponse("/login?next=/me/usage", status_code=303)
    return _page(request, session, user, lang, fleet, "usage.html", first, to, group, own=True)


# ---------------------------------------------------------------------------------------------------- wall


class TodayBoard:
    """The wall's "today" line. It is computed again when the jobs changed (the web process's queue view was
    recomputed; at most every ``min_age_s``) or ``max_age_s`` passed, in a background thread while requests get
    the last figures: no request waits for it, except the first of a day."""

    def __init__(self, engine: Engine, fleet: FleetConfig, hub: LiveHub, *, min_age_s: float = 10.0,
                 max_age_s: float = 60.0) -> None:
        self.engine = engine
        self.fleet = fleet
        self.hub = hub
        self.min_age_s = min_age_s
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._summary: TodaySummary | None = None
        self._view: object = None
        self._computed_at = 0.0
        self._refreshing: threading.Thread | None = None

    def summary(self) -> TodaySummary:
        """Today so far; jobs waiting always from the current queue view."""
        view = self.hub.view
        waiting = len(view.queue)
        today = local_today(self.fleet.site.tz)
        with self._lock:
            cached = self._summary
            if cached is not None and cached.day == today:
                age = time.monotonic() - self._computed_at
                stale = age >= self.max_age_s or (view is not self._view and age >= self.min_age_s)
                if stale and self._refreshing is None:
                    self._refreshing = threading.Thread(target=self.refresh, args=(view,), daemon=True,
                                                        name="printfleet-today")  # fmt: skip
                    self._refreshing.start()
                return TodaySummary(cached.day, cached.prints_done, cached.print_s, waiting)
        summary = self.refresh(view)
        if summary is None:
            return TodaySummary(today, 0, 0.0, waiting)
        return TodaySummary(summary.day, summary.prints_done, summary.print_s, waiting)

    def refresh(self, view: object) -> TodaySummary | None:
        """Compute the figures now (``None`` while the database cannot be read; the wall keeps the last ones)."""
        try:
            with db.session_scope(self.engine) as session:
                summary = today_summary(session, self.fleet, waiting=0)
        except Exception as exc:  # noqa: BLE001 - database briefly unavailable
            logger.warning("could not compute today's summary: %s", exc)
            summary = None
        with self._lock:
            if summary is not None:
                self._summary, self._view, self._computed_at = summary, view, time.monotonic()
            self._refreshing = None
        return summary
