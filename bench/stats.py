"""Statistics benchmark: a year of history for 60 printers, and the wall's "today" line at 1,000 printers.

    .venv/bin/python bench/stats.py [--printers 60] [--days 365] [--database-url URL]

Writes the trail real use writes (jobs and their transition events: upload, queue, dispatch, slicing, upload,
printing, pauses, done / failed / cancelled, pick-up; bed clears and maintenance as printer events) straight into
a fresh SQLite database (or ``--database-url``, which is emptied first), about 4 prints per printer and day.
Then, median of 5 runs each, in the same run:

1. :func:`printfleet.stats.usage_report` for the last 7 days, 30 days (by day) and 365 days (by week), against
   a baseline that loads the same period's jobs and events through the ORM (what a report written the
   straightforward way reads before it has computed anything): the report's CPU time as a multiple of it;
   and the same report again from the web process's cache (``ReportCache``: nothing was written since).
2. The page's plots (pygal SVG) for those reports.
3. The wall's "today" line on a day of 1,000 printers (4 prints each): computed once per change
   (:func:`printfleet.stats.today_summary`), and per request from the cache (``TodayBoard.summary``), against
   the wall's budget of 250 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import Engine, insert
from sqlmodel import Session, SQLModel, col, select

from printfleet import db
from printfleet.config import FleetConfig
from printfleet.models import (
    FileKind,
    Job,
    JobEvent,
    JobStatus,
    Printer,
    PrinterEvent,
    PrinterEventKind,
    User,
)
from printfleet.stats import Grouping, Period, local_today, today_summary, usage_report

S = JobStatus
MEMBERS = 300


def fleet_of(count: int) -> FleetConfig:
    """``count`` simulated printers, alternately PLA and PETG."""
    profile = REPO / "configs" / "profiles" / "mk3s-0.20mm-pla.ini"
    printers = [{"id": f"p-{i:04d}", "name": f"Printer {i}", "driver": "simulated", "build_volume_mm": [250, 210, 210],
                 "material": "PLA" if i % 2 else "PETG", "profile": str(profile)} for i in range(count)]  # fmt: skip
    return FleetConfig.model_validate({"site": {"timezone": "Europe/Berlin"}, "printers": printers},
                                      context={"base_dir": REPO})  # fmt: skip


def write_history(engine: Engine, fleet: FleetConfig, start: dt.datetime, end: dt.datetime, seed: int = 7) -> int:
    """About 4 prints per printer and day between ``start`` and ``end``; returns the number of job events."""
    rng = random.Random(seed)
    with Session(engine) as session:
        session.execute(insert(User), [{"id": i + 1, "name": f"member-{i}", "role": "maker"} for i in range(MEMBERS)])
        session.execute(insert(Printer), [{"id": p.id, "name": p.name} for p in fleet.printers])
        session.commit()
    jobs: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    printer_events: list[dict[str, Any]] = []
    job_id = 0
    count = 0

    def event(at: dt.datetime, frm: JobStatus | None, to: JobStatus | None, printer: str | None, actor: str,
              kind: str = "transition") -> None:
        events.append({"job_id": job_id, "at": at, "actor": actor, "kind": kind, "from_status": frm, "to_status": to,
                       "printer_id": printer, "reason": ""})  # fmt: skip

    def flush() -> None:
        nonlocal count
        with Session(engine) as session:
            session.execute(insert(Job), jobs)
            session.execute(insert(JobEvent), events)
            if printer_events:
                session.execute(insert(PrinterEvent), printer_events)
            session.commit()
        count += len(events)
        jobs.clear()
        events.clear()
        printer_events.clear()

    for printer in fleet.printers:
        t = start + dt.timedelta(minutes=rng.uniform(0, 180))
        next_service = start + dt.timedelta(days=rng.uniform(5, 30))
        while t < end:
            if t >= next_service:
                printer_events.append({"printer_id": printer.id, "at": t, "actor": "staff",
                                       "kind": PrinterEventKind.MAINTENANCE_ON})  # fmt: skip
                t += dt.timedelta(hours=rng.uniform(2, 8))
                if t < end:
                    printer_events.append({"printer_id": printer.id, "at": t, "actor": "staff",
                                           "kind": PrinterEventKind.MAINTENANCE_OFF})  # fmt: skip
                next_service = t + dt.timedelta(days=rng.uniform(20, 40))
                continue
            job_id += 1
            est_s = rng.uniform(0.4, 5.0) * 3600
            grams = est_s / 3600 * 11
            created = t - dt.timedelta(minutes=rng.uniform(5, 90))
            owner = rng.randrange(MEMBERS) + 1
            name = f"member-{owner - 1}"
            event(created, None, S.UPLOADED, None, name, "created")
            event(created, S.UPLOADED, S.QUEUED, None, "system:intake")
            event(t - dt.timedelta(seconds=40), S.QUEUED, S.ASSIGNED, printer.id, "system:dispatcher")
            event(t - dt.timedelta(seconds=35), S.ASSIGNED, S.SLICING, printer.id, "system:worker")
            event(t - dt.timedelta(seconds=10), S.SLICING, S.UPLOADING, printer.id, "system:worker")
            event(t, S.UPLOADING, S.PRINTING, printer.id, "system:worker")
            duration = dt.timedelta(seconds=est_s * rng.uniform(0.9, 1.1))
            draw = rng.random()
            stop = t + duration
            if draw < 0.1:
                pause_at = t + duration / 2
                pause = dt.timedelta(minutes=rng.uniform(5, 30))
                event(pause_at, S.PRINTING, S.PAUSED, printer.id, "system:monitor")
                event(pause_at + pause, S.PAUSED, S.PRINTING, printer.id, "system:monitor")
                stop += pause
            status = S.DONE
            if 0.1 <= draw < 0.22:
                status, stop = S.FAILED, t + duration * rng.uniform(0.1, 0.9)
            elif 0.22 <= draw < 0.3:
                status, stop = S.CANCELLED, t + duration * rng.uniform(0.1, 0.9)
            finished = stop if stop < end else None
            if finished is not None:
                event(stop, S.PRINTING, status, printer.id, "system:monitor")
                collected = stop + dt.timedelta(hours=rng.uniform(0.5, 20))
                if status is S.DONE and rng.random() < 0.8 and collected < end:
                    event(collected, S.DONE, S.COLLECTED, printer.id, name)
                    status = S.COLLECTED
                if stop + dt.timedelta(minutes=10) < end:
                    printer_events.append({"printer_id": printer.id, "at": stop + dt.timedelta(minutes=10),
                                           "actor": "staff", "kind": PrinterEventKind.BED_CLEARED, "job_id": job_id})
            jobs.append({
                "id": job_id, "code": f"B{job_id:07d}", "owner_id": owner, "status": status if finished else S.PRINTING,
                "version": 6, "file_name": "part.stl", "file_sha256": "0" * 64, "file_kind": FileKind.STL,
                "file_size": 684, "material": printer.material, "copies": 1, "note": "", "priority": 0,
                "est_print_time_s": est_s, "est_filament_g": grams, "est_filament_mm": grams / 0.00298,
                "est_source": "slicer", "printer_id": printer.id, "actual_print_time_s": None,
                "actual_filament_mm": grams / 0.00298 if status in (S.DONE, S.COLLECTED) else None,
                "attempts": 1, "created_at": created, "updated_at": finished or t, "queued_at": created,
                "started_at": t, "finished_at": finished,
            })  # fmt: skip
            t = (finished or end) + dt.timedelta(minutes=rng.uniform(20, 420))
            if len(events) > 20_000:
                flush()
    flush()
    return count


def median_s(fn: Callable[[], object], runs: int = 5) -> tuple[float, float, Any]:
    """Median wall and CPU time of ``runs`` calls (the machine may be shared: CPU time is the steadier), and the
    last result."""
    wall, cpu = [], []
    result = None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def orm_baseline(engine: Engine, period: Period) -> int:
    """Load the period's jobs and their events through the ORM (no aggregation at all)."""
    with Session(engine) as session:
        jobs = session.exec(select(Job).where(col(Job.started_at) < period.end, col(Job.finished_at) >= period.start)).all()
        ids = [j.id for j in jobs]
        loaded = 0
        for i in range(0, len(ids), 5000):
            loaded += len(session.exec(select(JobEvent).where(col(JobEvent.job_id).in_(ids[i:i + 5000]))).all())
        return loaded


def fresh_engine(url: str | None, directory: Path, name: str) -> Engine:
    """An empty database at the current schema."""
    engine = db.make_engine(url or f"sqlite:///{directory / name}")
    if url:
        with engine.begin() as conn:
            SQLModel.metadata.drop_all(conn)
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    db.upgrade(engine)
    return engine


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--printers", type=int, default=60)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--wall-printers", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()

    from printfleet.web.i18n import Formatter, translations
    from printfleet.web.routes.stats import ReportCache, TodayBoard
    from printfleet.web.stats_view import bar_chart, series_charts

    directory = Path(tempfile.mkdtemp(prefix="printfleet-bench-stats-"))
    fleet = fleet_of(args.printers)
    tz = fleet.site.tz
    now = dt.datetime.now(dt.UTC)
    today = local_today(tz, now)
    engine = fresh_engine(args.database_url, directory, "year.db")
    started = time.perf_counter()
    count = write_history(engine, fleet, now - dt.timedelta(days=args.days), now)
    print(f"history: {args.printers} printers, {args.days} days, {count:,} job events "
          f"(written in {time.perf_counter() - started:.0f} s, {engine.dialect.name})")  # fmt: skip

    t, fmt = translations("en"), Formatter("en_GB", tz)
    reports = ReportCache()
    print(f"\n{'period':<18}{'report (CPU)':>20}{'ORM load (CPU)':>22}{'ratio CPU':>10}{'cached':>10}{'plots':>9}"
          "   prints ended, print hours")
    for label, days, grouping, runs in (("7 days by day", 7, Grouping.DAY, 5), ("30 days by day", 30, Grouping.DAY, 5),
                                        ("365 days by week", 365, Grouping.WEEK, 3)):  # fmt: skip
        period = Period(today - dt.timedelta(days=days - 1), today, tz)

        def report(period: Period = period, grouping: Grouping = grouping) -> Any:
            with Session(engine) as session:
                return usage_report(session, fleet, period, grouping=grouping, now=now)

        def cached(period: Period = period, grouping: Grouping = grouping) -> Any:
            with Session(engine) as session:
                return reports.report(session, fleet, period, grouping, None)

        report_s, report_cpu, result = median_s(report, runs)
        base_s, base_cpu, _ = median_s(lambda period=period: orm_baseline(engine, period), runs)
        cached()
        cached_s, _, _ = median_s(cached, 20)

        def plots(result: Any = result) -> None:
            series_charts(result, t, fmt)
            bar_chart("u", [p.name for p in result.printers], [p.utilisation or 0 for p in result.printers], t, str)
            bar_chart("m", [str(m.user_id) for m in result.members[:12]], [m.usage.print_s for m in result.members[:12]],
                      t, str)  # fmt: skip

        plots_s, _, _ = median_s(plots, runs=3)
        print(f"{label:<18}{report_s * 1000:>8.0f} ms ({report_cpu * 1000:>5.0f}){base_s * 1000:>10.0f} ms "
              f"({base_cpu * 1000:>5.0f}){report_cpu / base_cpu:>9.2f}x{cached_s * 1000:>7.1f} ms{plots_s * 1000:>6.0f} ms"
              f"   {result.totals.prints_ended:,}, {result.totals.print_hours:,.0f} h")
    engine.dispose()

    wall = fleet_of(args.wall_printers)
    wall_engine = fresh_engine(args.database_url, directory, "wall.db")
    write_history(wall_engine, wall, now - dt.timedelta(hours=(now.astimezone(tz).hour + 1) + 20), now, seed=8)
    compute_s, compute_cpu, summary = median_s(lambda: _today(wall_engine, wall, now))
    hub = SimpleNamespace(view=SimpleNamespace(queue=[]))
    board = TodayBoard(wall_engine, wall, hub)
    board.summary()
    cached_s, _, _ = median_s(board.summary, runs=1000)
    print(f"\nwall today ({args.wall_printers:,} printers; {summary.prints_done:,} prints done today, "
          f"{summary.print_hours:,.0f} print hours):")  # fmt: skip
    print(f"  computed once per change: {compute_s * 1000:.1f} ms, CPU {compute_cpu * 1000:.1f} ms "
          f"({compute_s / 0.25:.1%} of the wall's 250 ms budget)")
    print(f"  per request from the cache: {cached_s * 1e6:.1f} µs ({compute_s / cached_s:,.0f}x less than computing)")
    wall_engine.dispose()


def _today(engine: Engine, fleet: FleetConfig, now: dt.datetime) -> Any:
    with Session(engine) as session:
        return today_summary(session, fleet, now=now)


if __name__ == "__main__":
    main()
