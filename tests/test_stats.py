"""Usage statistics against figures worked out by hand, on SQLite and PostgreSQL.

The trail is written by :class:`printfleet.testing.history.HistoryWriter` through the real functions (create,
transitions as the dispatcher and worker write them, the monitor following the printer's reports, the staff
and maker actions), at chosen times. All times below are Europe/Berlin; 10 and 11 March 2026 are a Tuesday and
a Wednesday in CET (UTC+1).

=====  ======  =======  ==========================================================================  =========
job    member  printer  what happens                                                                 est.
=====  ======  =======  ==========================================================================  =========
F      ada     mk3s-1   prints 9 Mar 22:00 - 10 Mar 01:00, done (1 h of it in the period)            3 h, 30 g
A      ada     mk3s-1   prints 10 Mar 22:00 - 11 Mar 02:00, done (across midnight)                   4 h, 48 g
D      ada     -        queued 11 Mar 08:00, cancelled by ada 08:30                                  PLA
B      bo      mini-1   prints 09:00, printer error 10:00 (failed, 9 g), approved 10:30, prints       2 h, 18 g
                        11:00, paused 12:00 - 12:30, done 13:30
C      cem     mini-2   prints from 11 Mar 20:00, still printing at "now" (12 Mar 00:30); cem's      6 h, 54 g
                        account is then switched off
E      bo      -        needs approval, rejected (counts nowhere)
-      -       mk3s-2   maintenance 9 Mar 18:00 - 10 Mar 06:00, and again from 11 Mar 20:00 (still on)
=====  ======  =======  ==========================================================================  =========
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from printfleet.config import FleetConfig, load_fleet
from printfleet.models import JobEvent, PrinterEvent
from printfleet.stats import (
    Grouping,
    Period,
    PeriodError,
    UtilisationBasis,
    bucket_days,
    make_period,
    parse_day,
    parse_grouping,
    today_summary,
    usage_report,
)
from printfleet.testing.history import HistoryWriter, generate_week

SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "printers.yaml"
BERLIN = ZoneInfo("Europe/Berlin")
H = 3600.0


def berlin(day: int, hour: float, month: int = 3) -> dt.datetime:
    """A time on a day of March 2026 in Berlin, as an aware UTC datetime."""
    local = dt.datetime(2026, month, day, tzinfo=BERLIN) + dt.timedelta(hours=hour)
    return local.astimezone(dt.UTC)


def priced(fleet: FleetConfig, **site: object) -> FleetConfig:
    """The fleet with other site settings."""
    return fleet.model_copy(update={"site": fleet.site.model_copy(update=site)})


@pytest.fixture()
def fleet() -> FleetConfig:
    """The shipped simulated fleet at 5 cents a gram and 50 cents an hour."""
    return priced(load_fleet(SHIPPED_CONFIG), price_per_g=0.05, price_per_hour=0.5)


@pytest.fixture()
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the session's real Redis (the actions announce their changes there)."""
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture()
def trail(migrated_engine: Engine, client: redis.Redis, fleet: FleetConfig) -> dict[str, int]:
    """The history in the module docstring; returns member and job ids by name."""
    w = HistoryWriter(migrated_engine, client, fleet)
    w.ensure_printers()
    ids = {name: w.member(name, when=berlin(1, 9)) for name in ("ada", "bo", "cem", "sam")}

    def job(owner: str, at: dt.datetime, material: str, hours: float, grams: float, **kw: object) -> int:
        return w.submit(ids[owner], at, material=material, est_print_time_s=hours * H, est_filament_g=grams, **kw)

    w.maintenance("mk3s-2", True, berlin(9, 18), "sam", "belt")
    ids["F"] = f = job("ada", berlin(9, 21), "PLA", 3, 30)
    w.start(f, "mk3s-1", berlin(9, 22))
    w.maintenance("mk3s-2", False, berlin(10, 6), "sam")
    w.finish(f, berlin(10, 1))
    w.clear_bed("mk3s-1", berlin(10, 8), "sam")
    ids["A"] = a = job("ada", berlin(10, 21), "PLA", 4, 48)
    w.start(a, "mk3s-1", berlin(10, 22))
    w.finish(a, berlin(11, 2))
    ids["D"] = d = job("ada", berlin(11, 8), "PLA", 1, 10)
    w.cancel(d, berlin(11, 8.5), "ada", "wrong file")
    ids["B"] = b = job("bo", berlin(11, 8), "PETG", 2, 18)
    w.start(b, "mini-1", berlin(11, 9))
    w.fail(b, berlin(11, 10))
    w.approve(b, berlin(11, 10.5), "sam")
    w.clear_bed("mini-1", berlin(11, 10.75), "sam")
    w.start(b, "mini-1", berlin(11, 11))
    w.pause(b, berlin(11, 12))
    w.resume(b, berlin(11, 12.5))
    w.finish(b, berlin(11, 13.5))
    ids["E"] = e = job("bo", berlin(11, 14), "PETG", 30, 300, needs_approval="longer than 24 h")
    w.reject(e, berlin(11, 15), "sam", "please split it")
    ids["C"] = c = job("cem", berlin(11, 19), "PETG", 6, 54)
    w.start(c, "mini-2", berlin(11, 20))
    w.maintenance("mk3s-2", True, berlin(11, 20), "sam", "nozzle")
    w.deactivate(ids["cem"])
    return ids


NOW = berlin(12, 0.5)
TWO_DAYS = Period(dt.date(2026, 3, 10), dt.date(2026, 3, 11), BERLIN)


def test_trail_is_the_one_real_use_writes(migrated_engine: Engine, trail: dict[str, int]) -> None:
    with Session(migrated_engine) as session:
        events = session.exec(select(JobEvent).where(JobEvent.job_id == trail["B"]).order_by(col(JobEvent.id))).all()
        path = [(e.actor, e.to_status.value if e.to_status else None) for e in events if e.kind == "transition"]
        assert path == [
            ("system:intake", "queued"), ("system:dispatcher", "assigned"), ("system:worker", "slicing"),
            ("system:worker", "uploading"), ("system:worker", "printing"), ("system:monitor", "failed"),
            ("system:monitor", "awaiting_approval"), ("sam", "queued"), ("system:dispatcher", "assigned"),
            ("system:worker", "slicing"), ("system:worker", "uploading"), ("system:worker", "printing"),
            ("system:monitor", "paused"), ("system:monitor", "printing"), ("system:monitor", "done"),
        ]  # fmt: skip
        assert events[-1].at == berlin(11, 13.5)
        kinds = [e.kind.value for e in session.exec(select(PrinterEvent).order_by(col(PrinterEvent.id)))]
        assert kinds.count("maintenance_on") == 2 and kinds.count("maintenance_off") == 1
        assert kinds.count("bed_cleared") == 2


def test_two_days_by_hand(migrated_engine: Engine, fleet: FleetConfig, trail: dict[str, int]) -> None:
    with Session(migrated_engine) as session:
        report = usage_report(session, fleet, TWO_DAYS, now=NOW)

    total = report.totals
    assert total.print_s == pytest.approx(12 * H)  # F 1 h + A 4 h + B 1 h + 2 h + C 4 h (until midnight)
    assert total.grams == pytest.approx(10 + 48 + 9 + 18 + 36)  # C: 54 g over 6 h, 4 h of it in the period
    assert (total.done, total.failed, total.cancelled) == (3, 1, 1)
    assert total.cost(fleet.site) == pytest.approx(121 * 0.05 + 12 * 0.5)

    members = {m.name: m for m in report.members}
    assert [m.name for m in report.members] == ["ada", "cem", "bo"]  # most print hours first
    assert members["ada"].usage.print_s == pytest.approx(5 * H) and members["ada"].usage.grams == pytest.approx(58)
    assert (members["ada"].usage.done, members["ada"].usage.failed, members["ada"].usage.cancelled) == (2, 0, 1)
    assert members["bo"].usage.print_s == pytest.approx(3 * H) and members["bo"].usage.grams == pytest.approx(27)
    assert (members["bo"].usage.done, members["bo"].usage.failed) == (1, 1)
    assert members["cem"].usage.print_s == pytest.approx(4 * H) and members["cem"].usage.grams == pytest.approx(36)
    assert not members["cem"].active and members["ada"].active

    printers = {p.printer_id: p for p in report.printers}
    assert list(printers) == ["mk3s-1", "mk3s-2", "mini-1", "mini-2"]
    assert report.basis is UtilisationBasis.ALL_HOURS
    assert printers["mk3s-1"].usage.print_s == pytest.approx(5 * H)
    assert printers["mk3s-1"].utilisation == pytest.approx(5 / 48)
    assert printers["mk3s-1"].usage.failure_rate == 0
    assert printers["mini-1"].utilisation == pytest.approx(3 / 48)
    assert printers["mini-1"].usage.failure_rate == pytest.approx(0.5)
    assert printers["mini-2"].utilisation == pytest.approx(4 / 48)
    assert printers["mini-2"].usage.failure_rate is None
    assert printers["mk3s-2"].maintenance_hours == pytest.approx(6 + 4)  # until 06:00, and from 20:00 (still on)
    assert printers["mk3s-2"].usage.print_s == 0 and printers["mini-1"].maintenance_s == 0
    assert printers["mk3s-1"].usage.cancelled == 0  # D was cancelled before it had a printer

    materials = {m.material: m.usage for m in report.materials}
    assert materials["PLA"].print_s == pytest.approx(5 * H) and materials["PLA"].grams == pytest.approx(58)
    assert (materials["PLA"].done, materials["PLA"].cancelled) == (2, 1)
    assert materials["PETG"].print_s == pytest.approx(7 * H) and materials["PETG"].grams == pytest.approx(63)
    assert (materials["PETG"].done, materials["PETG"].failed) == (1, 1)

    day10, day11 = report.series
    assert (day10.day, day11.day) == (dt.date(2026, 3, 10), dt.date(2026, 3, 11))
    assert day10.usage.print_s == pytest.approx(3 * H) and day10.usage.grams == pytest.approx(10 + 24)
    assert (day10.usage.done, day10.usage.failed, day10.usage.cancelled) == (1, 0, 0)
    assert day11.usage.print_s == pytest.approx(9 * H) and day11.usage.grams == pytest.approx(24 + 27 + 36)
    assert (day11.usage.done, day11.usage.failed, day11.usage.cancelled) == (2, 1, 1)


def test_a_print_still_running_counts_up_to_now(migrated_engine: Engine, fleet: FleetConfig,
                                                trail: dict[str, int]) -> None:
    day12 = Period(dt.date(2026, 3, 12), dt.date(2026, 3, 12), BERLIN)
    with Session(migrated_engine) as session:
        report = usage_report(session, fleet, day12, now=NOW)
        summary = today_summary(session, fleet, now=NOW)
    assert report.totals.print_s == pytest.approx(0.5 * H)  # C from midnight to 00:30
    assert report.totals.grams == pytest.approx(4.5)  # 9 g an hour
    mini2 = next(p for p in report.printers if p.printer_id == "mini-2")
    assert mini2.utilisation == pytest.approx(1.0)  # the half hour elapsed so far, all printing
    mk3s2 = next(p for p in report.printers if p.printer_id == "mk3s-2")
    assert mk3s2.maintenance_hours == pytest.approx(0.5)
    assert (summary.day, summary.prints_done, summary.waiting) == (dt.date(2026, 3, 12), 0, 0)
    assert summary.print_s == pytest.approx(0.5 * H)


def test_a_makers_own_usage(migrated_engine: Engine, fleet: FleetConfig, trail: dict[str, int]) -> None:
    with Session(migrated_engine) as session:
        report = usage_report(session, fleet, TWO_DAYS, now=NOW, owner_id=trail["bo"])
    assert report.totals.print_s == pytest.approx(3 * H) and report.totals.grams == pytest.approx(27)
    assert [m.name for m in report.members] == ["bo"]
    assert [p.printer_id for p in report.printers] == ["mini-1"]  # only printers that printed for bo
    assert report.printers[0].utilisation is None and report.printers[0].maintenance_s == 0


def test_utilisation_against_opening_hours(migrated_engine: Engine, fleet: FleetConfig,
                                           trail: dict[str, int]) -> None:
    open_fleet = priced(fleet, opening_hours={"tue": "09:00-18:00", "wed": "09:00-12:00, 13:00-19:00"})
    with Session(migrated_engine) as session:
        report = usage_report(session, open_fleet, TWO_DAYS, now=NOW)
    assert report.basis is UtilisationBasis.OPEN_HOURS
    printers = {p.printer_id: p for p in report.printers}
    assert printers["mini-1"].available_s == pytest.approx((9 + 3 + 6) * H)
    # B printed 09:00-10:00, 11:00-12:00 and 12:30-13:30; 12:30-13:00 falls in the lunch break
    assert printers["mini-1"].utilisation == pytest.approx(2.5 / 18)
    assert printers["mk3s-1"].utilisation == 0  # F and A printed at night
    assert printers["mk3s-1"].usage.print_s == pytest.approx(5 * H)  # print hours still count them


def test_weeks_and_months(migrated_engine: Engine, fleet: FleetConfig, trail: dict[str, int]) -> None:
    weeks = make_period(dt.date(2026, 3, 4), dt.date(2026, 3, 17), Grouping.WEEK, BERLIN, today=dt.date(2026, 3, 20))
    with Session(migrated_engine) as session:
        report = usage_report(session, fleet, weeks, grouping=Grouping.WEEK, now=NOW)
        months = usage_report(session, fleet, Period(dt.date(2026, 2, 20), dt.date(2026, 4, 5), BERLIN),
                              grouping=Grouping.MONTH, now=NOW)  # fmt: skip
    assert [b.day for b in report.series] == [dt.date(2026, 3, 4), dt.date(2026, 3, 9), dt.date(2026, 3, 16)]
    first, second, third = (b.usage for b in report.series)
    assert first.print_s == 0 and third.print_s == 0
    assert second.print_s == pytest.approx((3 + 4 + 3 + 4.5) * H)  # F, A, B, C until now
    assert (second.done, second.failed, second.cancelled) == (3, 1, 1)
    assert [b.day for b in months.series] == [dt.date(2026, 2, 20), dt.date(2026, 3, 1), dt.date(2026, 4, 1)]
    assert months.series[1].usage.print_s == pytest.approx(months.totals.print_s)


def test_a_day_with_23_hours(migrated_engine: Engine, client: redis.Redis, fleet: FleetConfig) -> None:
    """29 March 2026: clocks go from 02:00 to 03:00 in Berlin; a print from 01:00 to 04:00 local takes 2 h."""
    w = HistoryWriter(migrated_engine, client, fleet)
    w.ensure_printers()
    ada = w.member("ada", when=berlin(1, 9))
    job = w.submit(ada, berlin(29, 0.5), material="PLA", est_print_time_s=2 * H, est_filament_g=20)
    start = dt.datetime(2026, 3, 29, 1, tzinfo=BERLIN)
    end = dt.datetime(2026, 3, 29, 4, tzinfo=BERLIN)
    w.start(job, "mk3s-1", start)
    w.finish(job, end)
    period = Period(dt.date(2026, 3, 29), dt.date(2026, 3, 29), BERLIN)
    assert (period.end - period.start) == dt.timedelta(hours=23)
    with Session(migrated_engine) as session:
        report = usage_report(session, fleet, period, now=berlin(30, 12))
    mk3s1 = next(p for p in report.printers if p.printer_id == "mk3s-1")
    assert report.totals.print_s == pytest.approx(2 * H) and report.totals.grams == pytest.approx(20)
    assert mk3s1.utilisation == pytest.approx(2 / 23)


def test_a_deleted_account_keeps_its_numbers(tmp_path: Path, client: redis.Redis, fleet: FleetConfig) -> None:
    """Accounts are switched off, not deleted (jobs refer to them); should a row be gone anyway, the numbers stay."""
    from printfleet import db

    engine = db.make_engine(f"sqlite:///{tmp_path / 'gone.db'}")
    db.upgrade(engine)
    w = HistoryWriter(engine, client, fleet)
    w.ensure_printers()
    gone = w.member("gone", when=berlin(1, 9))
    job = w.submit(gone, berlin(10, 8), material="PLA", est_print_time_s=H, est_filament_g=12)
    w.start(job, "mk3s-1", berlin(10, 9))
    w.finish(job, berlin(10, 10))
    with engine.connect() as conn:
        conn.execute(text("PRAGMA foreign_keys=OFF"))
        conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": gone})
        conn.commit()
    with Session(engine) as session:
        report = usage_report(session, fleet, TWO_DAYS, now=NOW)
    engine.dispose()
    (row,) = report.members
    assert row.deleted and row.user_id == gone and row.usage.print_s == pytest.approx(H) and row.usage.done == 1


@pytest.mark.parametrize(("first", "last", "group", "message"), [
    ("2026-03-10", "2026-03-01", "day", "the period ends (2026-03-01) before it starts (2026-03-10)"),
    ("99999-01-01", None, "day", "from: '99999-01-01' is not a date (use YYYY-MM-DD)"),
    ("2026-02-30", None, "day", "from: '2026-02-30' is not a date (use YYYY-MM-DD)"),
    (None, "0001-01-01", "day", "to: 0001-01-01 is outside the years 1970 to 9998"),
    ("2026-01-01", "2026-12-31", "hour", "group: 'hour' is not one of day, week, month"),
    ("2020-01-01", "2026-12-31", "month", "the period has 2557 days; choose at most 1830"),
    ("2025-01-01", "2026-12-31", "day", "this grouping makes 730 points (at most 400); group by week or month"),
])  # fmt: skip
def test_bad_periods_are_refused_with_a_reason(first: str | None, last: str | None, group: str, message: str) -> None:
    with pytest.raises(PeriodError) as caught:
        make_period(parse_day(first, "from"), parse_day(last, "to"), parse_grouping(group), BERLIN,
                    today=dt.date(2026, 3, 20))  # fmt: skip
    assert str(caught.value) == message


def test_default_period_and_buckets() -> None:
    period = make_period(None, None, Grouping.DAY, BERLIN, today=dt.date(2026, 3, 20))
    assert (period.first_day, period.last_day) == (dt.date(2026, 3, 14), dt.date(2026, 3, 20))
    assert len(bucket_days(period, Grouping.DAY)) == 7
    assert bucket_days(period, Grouping.WEEK) == [dt.date(2026, 3, 14), dt.date(2026, 3, 16)]
    dec = Period(dt.date(2026, 12, 15), dt.date(2027, 1, 10), BERLIN)
    assert bucket_days(dec, Grouping.MONTH) == [dt.date(2026, 12, 15), dt.date(2027, 1, 1)]


def test_a_generated_week_adds_up(migrated_engine: Engine, client: redis.Redis, fleet: FleetConfig) -> None:
    now = berlin(25, 15)
    week = generate_week(migrated_engine, client, fleet, now=now)
    for end in ("done", "collected", "failed", "cancelled", "cancelled_waiting", "rejected", "waiting",
                "awaiting_approval"):  # fmt: skip
        assert week.jobs_by_end.get(end), f"no job ended {end}"
    assert week.running is not None
    period = Period(dt.date(2026, 3, 18), dt.date(2026, 3, 25), BERLIN)
    with Session(migrated_engine) as session:
        report = usage_report(session, fleet, period, now=now)
        events = len(session.exec(select(JobEvent.id).where(
            col(JobEvent.to_status).in_(["done", "failed", "cancelled"]))).all())
    total = report.totals
    assert total.done + total.failed + total.cancelled == events  # every end in the week is counted once
    assert total.done == len(week.jobs_by_end["done"])
    assert total.failed == len(week.jobs_by_end["failed"])
    for rows in (report.members, report.printers, report.materials, report.series):
        assert sum(r.usage.print_s for r in rows) == pytest.approx(total.print_s)
        assert sum(r.usage.grams for r in rows) == pytest.approx(total.grams)
        assert sum(r.usage.done for r in rows) == total.done
    assert sum(r.usage.failed + r.usage.cancelled for r in report.members) == total.failed + total.cancelled
    assert all(0 < (p.utilisation or 0) < 1 for p in report.printers)
    mk3s2 = next(p for p in report.printers if p.printer_id == "mk3s-2")
    assert mk3s2.maintenance_hours == pytest.approx(22)  # taken out yesterday at 17:00, still out at 15:00
    assert {m.name: m.active for m in report.members}["dana"] is False
