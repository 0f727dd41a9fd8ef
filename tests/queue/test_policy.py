"""The pure scheduling policy: assignments, estimates, reasons and site rules (no servers)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest

from printfleet.queue.policy import (
    ApprovalState,
    OpeningCalendar,
    Ordering,
    PrinterSnapshot,
    PrinterStatus,
    QueuedJob,
    Reason,
    ReasonCode,
    SiteRules,
    UsageRecord,
    UserInfo,
    UserUsage,
    fits_footprint,
    fits_volume,
    needs_approval,
    plan,
    render_reason,
    summarise_usage,
)

BERLIN = ZoneInfo("Europe/Berlin")
H = 3600.0
T9, T22 = dt.time(9), dt.time(22)
WEEKDAYS_9_22 = {day: ((T9, T22),) for day in range(5)}


def at(day: int, hour: int = 0, minute: int = 0, month: int = 1, year: int = 2026) -> float:
    """POSIX time of a local Berlin date and time."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=BERLIN).timestamp()


# 2026-01-05 is a Monday
MON = 5


def printer(pid: str = "p1", **kw: object) -> PrinterSnapshot:
    fields: dict[str, object] = {"build_volume_mm": (250.0, 210.0, 210.0), "material": "PLA", "colour": "black"}
    fields.update(kw)
    return PrinterSnapshot(id=pid, **fields)  # type: ignore[arg-type]


def job(jid: str = "j1", user: str = "ann", **kw: object) -> QueuedJob:
    fields: dict[str, object] = {
        "submitted_at": at(MON, 8),
        "est_print_s": H,
        "material": "PLA",
        "bbox_mm": (50.0, 50.0, 50.0),
    }
    fields.update(kw)
    return QueuedJob(id=jid, user=user, **fields)  # type: ignore[arg-type]


def rules(**kw: object) -> SiteRules:
    fields: dict[str, object] = {"timezone": "Europe/Berlin", "long_job_share": None}
    fields.update(kw)
    return SiteRules(**fields)  # type: ignore[arg-type]


def assigned(result) -> dict[str, str]:
    return {a.job_id: a.printer_id for a in result.assignments}


# ---------------------------------------------------------------- capability match


def test_idle_printer_takes_the_job_and_says_why() -> None:
    result = plan([printer()], [job()], rules(), at(MON, 10))
    assert assigned(result) == {"j1": "p1"}
    reason = result.assignments[0].reason
    assert reason.code is ReasonCode.START_LOADED
    assert render_reason(reason) == "starting on p1, which has black PLA loaded"
    assert result.waiting == {}


def test_waiting_for_a_printer_with_the_material() -> None:
    now = at(MON, 10)
    fleet = [printer("pla"), printer("petg", material="PETG", status=PrinterStatus.PRINTING, available_at=now + H)]
    result = plan(fleet, [job(material="PETG")], rules(), now)
    assert result.assignments == ()
    est = result.waiting["j1"]
    assert est.start_at == now + H
    assert est.printer_id == "petg"
    assert est.reason.code is ReasonCode.WAITING_FOR_PRINTER
    text = render_reason(est.reason, tz=BERLIN, now=now)
    assert text == "waiting for a printer with PETG; expected to start at 11:00"


def test_prefers_the_printer_with_the_material_loaded_over_a_swap() -> None:
    fleet = [
        printer("a-pla", loadable_materials=frozenset({"PETG"})),
        printer("b-petg", material="PETG"),
    ]
    result = plan(fleet, [job(material="PETG")], rules(allow_material_swap=True), at(MON, 10))
    assert assigned(result) == {"j1": "b-petg"}
    # with only the swappable printer idle, staff swap the spool
    fleet[1] = replace(fleet[1], status=PrinterStatus.PRINTING, available_at=at(MON, 18))
    result = plan(fleet, [job(material="PETG")], rules(allow_material_swap=True), at(MON, 10))
    assert assigned(result) == {"j1": "a-pla"}
    assert result.assignments[0].reason.code is ReasonCode.START_SWAP
    # swaps not allowed: it waits for the PETG printer
    result = plan(fleet, [job(material="PETG")], rules(), at(MON, 10))
    assert result.assignments == ()
    assert result.waiting["j1"].start_at == at(MON, 18)


def test_colour_match_and_any_colour_keeps_rare_colours_free() -> None:
    fleet = [printer("red", colour="red"), printer("black-1"), printer("black-2")]
    result = plan(fleet, [job("any", colour="any")], rules(), at(MON, 10))
    assert assigned(result) == {"any": "black-1"}
    result = plan(fleet, [job("r", colour="red")], rules(), at(MON, 10))
    assert assigned(result) == {"r": "red"}
    result = plan(fleet[1:], [job("r", colour="red")], rules(), at(MON, 10))
    assert result.waiting["r"].reason.code is ReasonCode.NO_PRINTER_FITS
    assert render_reason(result.waiting["r"].reason) == "no printer here has red PLA loaded"


def test_material_any_fits_whatever_is_loaded() -> None:
    result = plan([printer(material="PETG")], [job(material="any")], rules(), at(MON, 10))
    assert assigned(result) == {"j1": "p1"}


@pytest.mark.parametrize(
    ("bbox", "fits"),
    [
        ((240.0, 200.0, 200.0), True),
        ((200.0, 240.0, 200.0), True),  # turned 90 degrees
        ((300.0, 20.0, 10.0), True),  # only on the diagonal
        ((320.0, 20.0, 10.0), False),  # longer than the diagonal allows
        ((240.0, 200.0, 211.0), False),  # too tall
        ((260.0, 215.0, 10.0), False),
    ],
)
def test_build_volume_with_rotation_about_z(bbox: tuple[float, float, float], fits: bool) -> None:
    assert fits_volume(bbox, (250.0, 210.0, 210.0)) is fits
    result = plan([printer()], [job(bbox_mm=bbox)], rules(), at(MON, 10))
    assert (result.assignments != ()) is fits
    if not fits:
        assert result.waiting["j1"].reason.code is ReasonCode.NO_PRINTER_FITS
        assert result.waiting["j1"].start_at is None


def test_footprint_rule_matches_brute_force_rotation() -> None:
    def brute(p: float, q: float, a: float, b: float) -> bool:
        for step in range(9001):
            t = math.radians(step / 100)
            if p * math.cos(t) + q * math.sin(t) <= a + 1e-6 and p * math.sin(t) + q * math.cos(t) <= b + 1e-6:
                return True
        return False

    cases = [(300, 20, 250, 210), (320, 20, 250, 210), (280, 60, 250, 210), (260, 40, 250, 210), (100, 90, 95, 95)]
    for p, q, a, b in cases:
        assert fits_footprint((p, q), (a, b)) is brute(p, q, a, b), (p, q, a, b)


def test_too_big_is_reported_in_words() -> None:
    result = plan([printer()], [job(bbox_mm=(420.0, 400.0, 120.0))], rules(), at(MON, 10))
    assert render_reason(result.waiting["j1"].reason) == "no printer here is big enough for 420 x 400 x 120 mm"


def test_nozzle_and_tags() -> None:
    fleet = [
        printer("p1", nozzle_mm=0.4, tags=frozenset({"room-a"})),
        printer("p2", nozzle_mm=0.6, build_volume_mm=(180.0, 180.0, 180.0)),
    ]
    result = plan(fleet, [job("n", nozzle_mm=0.6), job("t", tags=frozenset({"room-a"}))], rules(), at(MON, 10))
    assert assigned(result) == {"n": "p2", "t": "p1"}
    result = plan(fleet, [job("x", nozzle_mm=0.8)], rules(), at(MON, 10))
    assert result.waiting["x"].reason.params["need"] == "nozzle"
    assert render_reason(result.waiting["x"].reason) == "no printer here has a 0.8 mm nozzle"
    big = plan(fleet, [job("y", nozzle_mm=0.6, bbox_mm=(240.0, 100.0, 100.0))], rules(), at(MON, 10))
    assert render_reason(big.waiting["y"].reason) == "no printer big enough for it has a 0.6 mm nozzle"


def test_maintenance_and_offline_printers_take_nothing() -> None:
    fleet = [printer("m", maintenance=True), printer("o", status=PrinterStatus.OFFLINE)]
    result = plan(fleet, [job()], rules(), at(MON, 10))
    assert result.assignments == ()
    assert result.waiting["j1"].reason.code is ReasonCode.PRINTERS_UNAVAILABLE
    assert result.waiting["j1"].start_at is None


def test_bed_must_be_confirmed_clear() -> None:
    now = at(MON, 10)
    fleet = [printer(status=PrinterStatus.FINISHED, bed_clear=False)]
    result = plan(fleet, [job()], rules(), now)
    assert result.assignments == ()
    assert result.waiting["j1"].reason.code is ReasonCode.BED_NOT_CLEAR
    assert render_reason(result.waiting["j1"].reason, tz=BERLIN, now=now).startswith(
        "waiting for someone to clear the bed of p1"
    )
    result = plan([replace(fleet[0], bed_clear=True)], [job()], rules(), now)
    assert assigned(result) == {"j1": "p1"}


# ---------------------------------------------------------------- estimates and ordering


def test_estimates_queue_up_behind_a_busy_printer() -> None:
    now = at(MON, 10)
    fleet = [printer(status=PrinterStatus.PRINTING, available_at=now + H, current_user="zoe")]
    jobs = [job(f"j{i}", user=f"u{i}", submitted_at=now - 100 + i) for i in range(3)]
    result = plan(fleet, jobs, rules(ordering=Ordering.FIFO), now)
    starts = [result.waiting[f"j{i}"].start_at for i in range(3)]
    assert starts == [now + H, now + 2 * H, now + 3 * H]
    assert result.waiting["j2"].reason.params["ahead"] == 2
    assert render_reason(result.waiting["j2"].reason, tz=BERLIN, now=now) == (
        "waiting for a printer with PLA (2 jobs ahead of yours); expected to start at 13:00"
    )


def test_fair_share_lets_a_light_user_overtake_a_batch() -> None:
    now = at(MON, 10)
    batch = [job(f"a{i}", user="heavy", submitted_at=now - 600 + i, est_print_s=5 * H) for i in range(3)]
    light = job("b", user="light", submitted_at=now - 60, est_print_s=2 * H)
    fifo = plan([printer()], [*batch, light], rules(ordering=Ordering.FIFO), now)
    fair = plan([printer()], [*batch, light], rules(ordering=Ordering.FAIR), now)
    assert assigned(fifo) == {"a0": "p1"}
    assert assigned(fair) == {"b": "p1"}
    assert fair.order == ("b", "a0", "a1", "a2")
    reason = fair.waiting["a0"].reason
    assert reason.code is ReasonCode.FAIR_SHARE
    assert fair.waiting["a0"].start_at == now + 2 * H
    assert render_reason(reason, tz=BERLIN, now=now) == (
        "members who have printed or queued less go first (you have 15 h queued); expected to start at 12:00"
    )


def test_fair_share_counts_recent_usage() -> None:
    now = at(MON, 10)
    jobs = [job("a", user="ann", submitted_at=now - 600), job("b", user="bob", submitted_at=now - 60)]
    usage = {"ann": UserUsage(window_s=10 * H)}
    result = plan([printer()], jobs, rules(), now, usage)
    assert assigned(result) == {"b": "p1"}
    assert render_reason(result.waiting["a"].reason, tz=BERLIN, now=now) == (
        "members who have printed or queued less go first (you have 1 h queued and used 10 h in the last 7 days); "
        "expected to start at 11:00"
    )
    # a larger weight buys a larger share
    result = plan([printer()], jobs, rules(user_weights={"ann": 20.0}), now, usage)
    assert assigned(result) == {"a": "p1"}


def test_fair_share_keeps_a_members_own_jobs_in_submission_order() -> None:
    # with these lengths, adding and subtracting the backlog job by job used to leave round-off in the tags
    # that put a2 ahead of a0 and a1
    now = at(MON, 10)
    lengths = [9023.9, 19865.7, 13696.4, 21978.8]
    jobs = [job(f"a{k}", submitted_at=now - 600 + k, est_print_s=d) for k, d in enumerate(lengths)]
    usage = {"ann": UserUsage(window_s=31286.0)}
    assert plan([printer(status=PrinterStatus.PRINTING, available_at=now + H)], jobs, rules(), now, usage).order == (
        "a0", "a1", "a2", "a3",
    )
    # a higher priority still goes first among the member's own jobs, and across members by claim
    jobs.append(job("urgent", submitted_at=now, priority=1))
    jobs.append(job("bob", user="bob", submitted_at=now))
    result = plan([printer(status=PrinterStatus.PRINTING, available_at=now + H)], jobs, rules(), now, usage)
    assert result.order == ("urgent", "bob", "a0", "a1", "a2", "a3")


@pytest.mark.parametrize("backlog_weight", [0.0, 0.5])
def test_backlog_weight_below_one_lets_short_jobs_of_a_member_go_first(backlog_weight: float) -> None:
    now = at(MON, 10)
    busy = [printer(status=PrinterStatus.PRINTING, available_at=now + H)]
    jobs = [
        job("long", user="ann", submitted_at=now - 600, est_print_s=6 * H),
        job("short", user="bob", submitted_at=now - 60, est_print_s=H),
        job("bob2", user="bob", submitted_at=now - 30, est_print_s=H),
    ]
    # tags: ann 6 h; bob beta x 2 h queued + (1 - beta) x 1 h, then 2 h of it: both ahead of ann's
    assert plan(busy, jobs, rules(backlog_weight=backlog_weight), now).order == ("short", "bob2", "long")
    heavy = {"bob": UserUsage(window_s=10 * H)}
    assert plan(busy, jobs, rules(backlog_weight=backlog_weight), now, heavy).order == ("long", "short", "bob2")


def test_estimate_uses_the_kind_of_printer_that_frees_up_first() -> None:
    now = at(MON, 10)
    fleet = [
        printer("mk3-a", status=PrinterStatus.PRINTING, available_at=now + 3 * H),
        printer("mk3-b", status=PrinterStatus.PRINTING, available_at=now + 3 * H),
        printer("xl", build_volume_mm=(360.0, 360.0, 360.0), status=PrinterStatus.PRINTING, available_at=now + H),
        printer("xl-red", build_volume_mm=(360.0, 360.0, 360.0), colour="red", status=PrinterStatus.PRINTING,
                available_at=now + H),
    ]
    jobs = [
        job("a", submitted_at=now - 300, colour="black"),  # fits all black printers: the XL frees up first
        job("b", submitted_at=now - 200, colour="black"),  # then the two MK3s tie at +3 h: the first of them
        job("c", submitted_at=now - 100, colour="black"),
        job("big", user="bob", submitted_at=now - 50, bbox_mm=(340.0, 20.0, 50.0), colour="black"),  # XL only
    ]
    result = plan(fleet, jobs, rules(ordering=Ordering.FIFO), now)
    est = result.waiting
    assert (est["a"].printer_id, est["a"].start_at) == ("xl", now + H)
    assert (est["b"].printer_id, est["b"].start_at) == ("xl", now + 2 * H)
    assert (est["c"].printer_id, est["c"].start_at) == ("mk3-a", now + 3 * H)
    assert (est["big"].printer_id, est["big"].start_at) == ("xl", now + 3 * H)


@pytest.mark.parametrize(
    ("bbox", "fits"),
    [
        ((170.0, 170.0, 170.0), {"mini", "mk3", "xl"}),  # fits every printer
        ((170.0, 170.0, 200.0), {"mk3", "xl"}),  # too tall for the MINI
        ((240.0, 100.0, 10.0), {"mk3", "xl"}),
        ((255.0, 20.0, 10.0), {"mk3", "xl"}),  # fits the MK3 only turned about Z
        ((340.0, 20.0, 10.0), {"xl"}),  # longer than the MK3 bed's diagonal
        ((20.0, 340.0, 10.0), {"xl"}),
    ],
)
def test_each_part_is_matched_against_every_build_volume(bbox: tuple[float, float, float], fits: set[str]) -> None:
    now = at(MON, 10)
    fleet = [
        printer("mini", build_volume_mm=(180.0, 180.0, 180.0)),
        printer("mk3", build_volume_mm=(250.0, 210.0, 210.0)),
        printer("xl", build_volume_mm=(360.0, 360.0, 360.0)),
    ]
    for pid in ("mini", "mk3", "xl"):
        only = [p for p in fleet if p.id == pid]
        result = plan(only, [job(bbox_mm=bbox)], rules(), now)
        assert (assigned(result) == {"j1": pid}) == (pid in fits), pid
    # on the whole fleet it takes the smallest printer it fits
    smallest = min(fits, key=["mini", "mk3", "xl"].index)
    assert assigned(plan(fleet, [job(bbox_mm=bbox)], rules(), now)) == {"j1": smallest}


def test_least_used_and_fifo_orderings() -> None:
    now = at(MON, 10)
    jobs = [job("a", user="ann", submitted_at=now - 600), job("b", user="bob", submitted_at=now - 60)]
    usage = {"ann": UserUsage(window_s=H)}
    assert plan([printer()], jobs, rules(ordering=Ordering.FIFO), now, usage).order == ("a", "b")
    assert plan([printer()], jobs, rules(ordering=Ordering.LEAST_USED), now, usage).order == ("b", "a")


def test_priority_beats_fair_share_and_age() -> None:
    now = at(MON, 10)
    jobs = [job("old", submitted_at=now - 9000, user="ann"), job("class", user="staff", priority=1, est_print_s=9 * H)]
    for ordering in Ordering:
        result = plan([printer()], jobs, rules(ordering=ordering), now)
        assert assigned(result) == {"class": "p1"}
        assert result.waiting["old"].reason.code is ReasonCode.PRIORITY_AHEAD
        assert render_reason(result.waiting["old"].reason, tz=BERLIN, now=now) == (
            "1 higher-priority job (staff or class) goes first; expected to start at 19:00"
        )


def test_flexible_job_leaves_the_only_red_printer_to_a_red_job() -> None:
    now = at(MON, 10)
    fleet = [
        printer("black", status=PrinterStatus.PRINTING, available_at=now + 600),
        printer("red", colour="red"),
    ]
    jobs = [job("any", user="ann", submitted_at=now - 600), job("red", user="bob", colour="red", submitted_at=now - 60)]
    result = plan(fleet, jobs, rules(ordering=Ordering.FIFO), now)
    assert assigned(result) == {"red": "red"}
    assert result.waiting["any"].start_at == now + 600
    # no other printer frees up soon: first come, first served
    fleet[0] = replace(fleet[0], available_at=now + 3 * H)
    result = plan(fleet, jobs, rules(ordering=Ordering.FIFO), now)
    assert assigned(result) == {"any": "red"}


# ---------------------------------------------------------------- opening hours


def test_closed_site_starts_nothing_and_says_when_it_opens() -> None:
    now = at(MON, 7, 30)
    result = plan([printer()], [job()], rules(opening_hours=WEEKDAYS_9_22), now)
    assert result.assignments == ()
    est = result.waiting["j1"]
    assert est.start_at == at(MON, 9)
    assert est.reason.code is ReasonCode.SITE_CLOSED
    assert render_reason(est.reason, tz=BERLIN, now=now) == "the makerspace is closed; starts when it opens at 09:00"


def test_too_long_to_finish_before_closing_starts_tomorrow() -> None:
    now = at(MON, 21)
    site = rules(opening_hours=WEEKDAYS_9_22, unattended_printing=False, closing_margin_s=15 * 60)
    result = plan([printer()], [job(est_print_s=3 * H)], site, now)
    assert result.assignments == ()
    est = result.waiting["j1"]
    assert est.start_at == at(MON + 1, 9)
    assert est.reason.code is ReasonCode.WOULD_RUN_PAST_CLOSING
    assert render_reason(est.reason, tz=BERLIN, now=now) == (
        "too long to finish before closing at 22:00; starts tomorrow at 09:00"
    )


def test_closing_margin_edge() -> None:
    now = at(MON, 21)
    site = rules(opening_hours=WEEKDAYS_9_22, unattended_printing=False, closing_margin_s=15 * 60)
    exactly = plan([printer()], [job(est_print_s=75 * 60)], site, now)
    assert assigned(exactly) == {"j1": "p1"}
    one_more = plan([printer()], [job(est_print_s=75 * 60 + 1)], site, now)
    assert one_more.assignments == ()
    # Friday evening: the next opening is Monday
    friday = plan([printer()], [job(est_print_s=3 * H)], site, at(MON + 4, 21))
    assert friday.waiting["j1"].start_at == at(MON + 7, 9)


def test_unattended_printing_may_run_past_closing_but_only_starts_while_open() -> None:
    site = rules(opening_hours=WEEKDAYS_9_22, unattended_printing=True, overnight_hold=False)
    assert assigned(plan([printer()], [job(est_print_s=3 * H)], site, at(MON, 21))) == {"j1": "p1"}
    late = plan([printer()], [job(est_print_s=3 * H)], site, at(MON, 23))
    assert late.assignments == ()
    assert late.waiting["j1"].start_at == at(MON + 1, 9)


def test_job_longer_than_any_opening_never_starts_when_unattended_is_off() -> None:
    site = rules(opening_hours=WEEKDAYS_9_22, unattended_printing=False, closing_margin_s=15 * 60)
    result = plan([printer()], [job(est_print_s=14 * H)], site, at(MON, 9))
    est = result.waiting["j1"]
    assert est.start_at is None
    assert est.reason.code is ReasonCode.TOO_LONG_FOR_OPENING_HOURS
    assert render_reason(est.reason) == "too long to finish within opening hours (the longest opening is 13.2 h); ask staff"


def test_overnight_print_starts_late_so_the_evening_stays_free() -> None:
    site = rules(opening_hours=WEEKDAYS_9_22, unattended_printing=True, max_heating=None)
    now = at(MON, 17)
    result = plan([printer()], [job("long", est_print_s=10 * H)], site, now)
    assert result.assignments == ()
    est = result.waiting["long"]
    assert est.reason.code is ReasonCode.OVERNIGHT_START
    assert est.start_at == at(MON, 21, 50)  # closing minus 10 minutes; still ends before 09:00
    # a short job meanwhile takes the printer
    result = plan([printer()], [job("long", est_print_s=10 * H), job("short", user="bob")], site, now)
    assert assigned(result) == {"short": "p1"}
    # at the latest start it goes
    assert assigned(plan([printer()], [job("long", est_print_s=10 * H)], site, at(MON, 21, 50))) == {"long": "p1"}
    # a print that would run into the next opening starts at once
    assert assigned(plan([printer()], [job("x", est_print_s=17 * H)], site, now)) == {"x": "p1"}


def test_dst_spring_forward_shortens_the_sunday_window() -> None:
    """Europe/Berlin skips 02:00-03:00 on 29 March 2026: that Sunday's 00:00-12:00 lasts 11 hours."""
    site = rules(opening_hours={6: ((dt.time(0), dt.time(12)),)}, unattended_printing=False, closing_margin_s=0)
    j = job(est_print_s=11.5 * H)
    before = plan([printer()], [j], site, at(21, 12, month=3))
    assert before.waiting["j1"].start_at == at(22, 0, month=3)
    dst = plan([printer()], [j], site, at(28, 12, month=3))
    assert dst.waiting["j1"].start_at == at(5, 0, month=4)
    # and Monday 09:00 after the change is 07:00 UTC, not 08:00
    weekday = rules(opening_hours=WEEKDAYS_9_22)
    est = plan([printer()], [job()], weekday, at(28, 12, month=3)).waiting["j1"]
    assert est.start_at == dt.datetime(2026, 3, 30, 7, 0, tzinfo=dt.UTC).timestamp()


def test_dst_fall_back_lengthens_the_sunday_window() -> None:
    site = rules(opening_hours={6: ((dt.time(0), dt.time(12)),)}, unattended_printing=False, closing_margin_s=0)
    j = job(est_print_s=12.5 * H)
    result = plan([printer()], [j], site, at(24, 12, month=10))
    assert result.waiting["j1"].start_at == at(25, 0, month=10)


def test_calendar_merges_ranges_across_midnight() -> None:
    cal = OpeningCalendar("Europe/Berlin", {0: ((dt.time(18), dt.time(23, 59)),), 1: ((dt.time(0), dt.time(6)),)})
    assert cal.is_open(at(MON, 23, 59) + 30)
    assert cal.closes_at(at(MON, 20)) == at(MON + 1, 6)
    assert cal.earliest_start(at(MON, 19), 10 * H, True, 0) == at(MON, 19)
    assert not cal.is_open(at(MON + 1, 7))
    always = OpeningCalendar("UTC", None)
    assert always.always_open and always.earliest_start(123.0, 1e9, True, 0) == 123.0


# ---------------------------------------------------------------- caps and approval


def test_one_job_at_a_time() -> None:
    now = at(MON, 10)
    fleet = [
        printer("busy", status=PrinterStatus.PRINTING, available_at=now + 2 * H, current_user="ann"),
        printer("free"),
    ]
    result = plan(fleet, [job()], rules(max_jobs_at_once=1), now)
    assert result.assignments == ()
    est = result.waiting["j1"]
    assert est.reason.code is ReasonCode.OWN_JOB_PRINTING
    assert est.start_at == now + 2 * H
    assert render_reason(est.reason, tz=BERLIN, now=now) == (
        "your other job is printing (at most 1 at once); expected to start at 12:00"
    )
    # other members are not held up
    result = plan(fleet, [job(), job("b", user="bob")], rules(max_jobs_at_once=1), now)
    assert assigned(result) == {"b": "free"}


def test_daily_and_weekly_hours() -> None:
    now = at(MON, 10)
    site = rules(max_print_s_per_day=4 * H, opening_hours=WEEKDAYS_9_22)
    usage = {"ann": UserUsage(window_s=3 * H, day_s=3 * H, week_s=3 * H)}
    result = plan([printer()], [job(est_print_s=2 * H)], site, now, usage)
    assert result.assignments == ()
    assert result.waiting["j1"].reason.code is ReasonCode.DAILY_LIMIT
    assert result.waiting["j1"].start_at == at(MON + 1, 9)
    assert assigned(plan([printer()], [job(est_print_s=H)], site, now, usage)) == {"j1": "p1"}
    too_long = plan([printer()], [job(est_print_s=5 * H)], site, now)
    assert too_long.waiting["j1"].reason.code is ReasonCode.EXCEEDS_LIMIT
    assert too_long.waiting["j1"].start_at is None
    weekly = rules(max_print_s_per_week=10 * H)
    usage = {"ann": UserUsage(week_s=9 * H)}
    result = plan([printer()], [job(est_print_s=2 * H)], weekly, now, usage)
    assert result.waiting["j1"].reason.code is ReasonCode.WEEKLY_LIMIT
    assert result.waiting["j1"].start_at == at(MON + 7, 0)


def test_needs_approval_rules() -> None:
    site = rules(
        approval_over_print_s=12 * H,
        approval_over_g=500.0,
        approval_materials=frozenset({"ABS"}),
        approval_new_member_jobs=1,
    )
    member = UserInfo("ann", completed_jobs=3)
    assert needs_approval(job(), site, member) is None
    assert needs_approval(job(est_print_s=13 * H), site, member).code is ReasonCode.APPROVAL_LONG  # type: ignore[union-attr]
    assert needs_approval(job(filament_g=600.0), site, member).code is ReasonCode.APPROVAL_HEAVY  # type: ignore[union-attr]
    reason = needs_approval(job(material="abs"), site, member)
    assert reason is not None and reason.code is ReasonCode.APPROVAL_MATERIAL
    assert render_reason(reason) == "ABS prints need staff approval"
    new = needs_approval(job(), site, UserInfo("new", completed_jobs=0))
    assert new is not None and render_reason(new) == "your first 1 prints need staff approval"
    assert needs_approval(job(est_print_s=20 * H, material="ABS"), site, UserInfo("s", is_staff=True)) is None
    assert needs_approval(job(est_print_s=20 * H), rules(), member) is None


def test_pending_and_rejected_jobs_wait_for_a_person() -> None:
    jobs = [job("p", approval=ApprovalState.PENDING), job("r", approval=ApprovalState.REJECTED), job("ok", user="b")]
    result = plan([printer()], jobs, rules(), at(MON, 10))
    assert assigned(result) == {"ok": "p1"}
    assert result.waiting["p"].reason.code is ReasonCode.AWAITING_APPROVAL
    assert result.waiting["p"].start_at is None
    assert result.waiting["r"].reason.code is ReasonCode.REJECTED


# ---------------------------------------------------------------- heat-up stagger and long-job share


def test_at_most_k_printers_heat_up_at_once() -> None:
    now = at(MON, 10)
    fleet = [printer(f"p{i}") for i in range(4)]
    jobs = [job(f"j{i}", user=f"u{i}", submitted_at=now - 100 + i) for i in range(4)]
    site = rules(max_heating=2, heatup_s=600.0, ordering=Ordering.FIFO)
    result = plan(fleet, jobs, site, now)
    assert len(result.assignments) == 2
    assert set(assigned(result)) == {"j0", "j1"}
    for jid in ("j2", "j3"):
        assert result.waiting[jid].reason.code is ReasonCode.HEATUP_STAGGER
        assert result.waiting[jid].start_at == now + 600
    # one printer is still heating from an earlier start: only one more now
    fleet[0] = replace(fleet[0], status=PrinterStatus.PRINTING, heating_until=now + 300, available_at=now + H)
    result = plan(fleet, jobs, site, now)
    assert len(result.assignments) == 1
    assert result.waiting["j1"].start_at == now + 300


def test_long_prints_leave_a_share_of_printers_for_short_ones() -> None:
    now = at(MON, 10)
    fleet = [printer(f"p{i}") for i in range(5)]
    jobs = [job(f"long{i}", user="ann", est_print_s=3 * H, submitted_at=now - 100 + i) for i in range(5)]
    site = rules(long_job_s=2 * H, long_job_share=0.8)
    result = plan(fleet, jobs, site, now)
    assert len(result.assignments) == 4
    assert result.waiting["long4"].reason.code is ReasonCode.LONG_JOB_SHARE
    assert result.waiting["long4"].start_at == now + 3 * H  # when the first long print ends
    result = plan(fleet, [*jobs, job("short", user="bob", est_print_s=H)], site, now)
    assert "short" in assigned(result)
    assert len(result.assignments) == 5
    # FIFO does not hold printers back
    assert len(plan(fleet, jobs, replace(site, ordering=Ordering.FIFO), now).assignments) == 5


# ---------------------------------------------------------------- usage and rendering


def test_summarise_usage_windows() -> None:
    now = at(MON + 2, 12)  # Wednesday
    site = rules(fair_share_window_s=7 * 24 * H)
    records = [
        UsageRecord("ann", at(MON + 2, 9), 2 * H),  # today
        UsageRecord("ann", at(MON, 9), 3 * H),  # this week
        UsageRecord("ann", at(MON - 3, 9), 4 * H),  # last week, in the window
        UsageRecord("ann", at(MON, 9) - 10 * 24 * H, 5 * H),  # out of the window
        UsageRecord("bob", now + 60, H),  # in the future: ignored
    ]
    usage = summarise_usage(records, site, now)
    assert usage["ann"] == UserUsage(window_s=9 * H, day_s=2 * H, week_s=5 * H)
    assert "bob" not in usage


def test_every_reason_code_renders() -> None:
    params = {
        "start_at": at(MON, 12),
        "closes_at": at(MON, 22),
        "material": "PLA",
        "colour": "red",
        "printer": "p1",
        "ahead": 1,
        "used_s": H,
        "window_s": 7 * 24 * H,
        "max_jobs": 1,
        "limit_s": 4 * H,
        "period": "day",
        "max_heating": 2,
        "share": 0.8,
        "need": "size",
        "bbox_mm": (1.0, 2.0, 3.0),
        "longest_s": 13 * H,
        "print_s": 14 * H,
        "limit_g": 500.0,
        "filament_g": 600.0,
        "needed": 1,
        "completed": 0,
    }
    for code in ReasonCode:
        text = render_reason(Reason(code, params), tz=BERLIN, now=at(MON, 10))
        assert text and text != code.value, code


def test_plan_is_fast_enough_for_a_big_site() -> None:
    """A smoke version of the benchmark (bench/policy.py measures 1,000 printers x 20,000 jobs)."""
    import random
    import time

    rng = random.Random(3)
    now = at(MON, 10)
    fleet = [
        printer(
            f"p{i}",
            material=rng.choice(["PLA", "PETG"]),
            status=PrinterStatus.PRINTING if rng.random() < 0.8 else PrinterStatus.IDLE,
            available_at=now + rng.uniform(0, 8 * H),
        )
        for i in range(200)
    ]
    jobs = [
        job(f"j{k}", user=f"u{rng.randrange(300)}", material=rng.choice(["PLA", "PETG"]), est_print_s=rng.uniform(600, 8 * H))
        for k in range(4000)
    ]
    start = time.perf_counter()
    result = plan(fleet, jobs, rules(opening_hours=WEEKDAYS_9_22, unattended_printing=False), now)
    assert time.perf_counter() - start < 2.0
    assert len(result.assignments) + len(result.waiting) == 4000


# ---------------------------------------------------------------- jobs only one printer can take


def weekday_site(**kw: object) -> SiteRules:
    return rules(opening_hours=WEEKDAYS_9_22, unattended_printing=False, closing_margin_s=15 * 60, **kw)


def test_only_printer_is_kept_at_opening_for_a_job_that_fits_nowhere_else() -> None:
    now = at(MON + 1, 9)  # Tuesday, opening
    fleet = [printer("black1"), printer("black2"), printer("blue", colour="blue")]
    heavy = {"ann": UserUsage(window_s=40 * H)}
    jobs = [
        job("long", user="ann", colour="blue", est_print_s=9 * H, submitted_at=at(MON, 10)),
        *(job(f"f{k}", user=f"light{k}", est_print_s=5 * H, submitted_at=at(MON, 20, k)) for k in range(3)),
    ]
    result = plan(fleet, jobs, weekday_site(), now, heavy)
    assert result.order[-1] == "long"  # fair share still ranks it last ...
    assert assigned(result) == {"long": "blue", "f0": "black1", "f1": "black2"}  # ... but its printer is kept
    assert result.waiting["f2"].start_at == now + 5 * H
    # later that morning, its printer busy: it waits for it, and says so
    fleet[2] = replace(fleet[2], status=PrinterStatus.PRINTING, available_at=at(MON + 1, 11), current_user="cat")
    waiting = plan(fleet, jobs, weekday_site(), at(MON + 1, 10), heavy).waiting["long"]
    assert waiting.start_at == at(MON + 1, 11)
    assert waiting.reason.code is ReasonCode.ONLY_PRINTER
    assert render_reason(waiting.reason, tz=BERLIN, now=at(MON + 1, 10)) == (
        "waiting for blue, the only printer here that can take it (blue PLA); it goes first there; "
        "expected to start at 11:00"
    )
    # FIFO is the plain baseline: no look-ahead
    fifo = plan(fleet[:2] + [printer("blue", colour="blue")], jobs, weekday_site(ordering=Ordering.FIFO), now, heavy)
    assert assigned(fifo) == {"long": "blue", "f0": "black1", "f1": "black2"}  # submitted first anyway


def test_flexible_job_takes_another_idle_printer_not_the_only_one_a_waiting_job_fits() -> None:
    now = at(MON, 10)
    fleet = [
        printer("blue", colour="blue"),
        printer("black1"),
        printer("black2", status=PrinterStatus.PRINTING, available_at=now + 4 * H, current_user="ann"),
    ]
    jobs = [
        job("flex", user="bob", submitted_at=now - 120),
        job("blue-only", user="cat", colour="blue", submitted_at=now - 60),
        # black-only jobs that cannot start now (one job at a time): they make black look busier than blue
        *(job(f"ann{k}", user="ann", colour="black", submitted_at=now - 300 + k) for k in range(3)),
    ]
    result = plan(fleet, jobs, rules(max_jobs_at_once=1), now)
    assert assigned(result) == {"flex": "black1", "blue-only": "blue"}


def test_a_stream_of_flexible_jobs_does_not_starve_a_job_that_fits_one_printer() -> None:
    from printfleet.queue.simulate import WorkloadJob, simulate

    def wjob(jid: str, user: str, at_h: float, hours: float, colour: str = "any") -> WorkloadJob:
        return WorkloadJob(jid, user, at_h * H, hours * H, 10.0, "PLA", colour, (50.0, 50.0, 50.0))

    fleet = [printer("black1"), printer("black2"), printer("blue", colour="blue")]
    # Monday 09:30: a 9-hour print only the blue printer can take; from 08:00 every day, light members
    # submit 2.5-hour jobs that any printer can take, a bit more than the three printers can print
    workload = [wjob("long", "ann", 9.5, 9.0, colour="blue")]
    for day in (0, 1, 2):
        for k in range(16):
            workload.append(wjob(f"s{day}-{k}", f"m{day}-{k}", day * 24 + 8 + k * 0.75, 2.5))
    result = simulate(fleet, workload, weekday_site(max_heating=None))
    long = next(r for r in result.records if r.job.id == "long")
    # its printer is busy whenever it frees up on Monday; at Tuesday's opening it is kept for the long job
    # (without that, the light members' jobs took it every morning, and it started on Thursday)
    assert long.start_s == 24 * H + 9 * H
    assert result.ran_past_closing() == 0


def test_long_job_that_fits_a_full_day_starts_at_opening_after_missing_one() -> None:
    now = at(MON + 1, 9)
    fleet = [printer("p1"), printer("p2")]
    heavy = {"ann": UserUsage(window_s=40 * H)}
    jobs = [
        # could have printed on Monday (12 h from 09:30 ends before closing) but every printer was busy
        job("long", user="ann", est_print_s=12 * H, submitted_at=at(MON, 9, 30)),
        job("b", user="bob", est_print_s=3 * H, submitted_at=at(MON, 21)),
        job("c", user="cat", est_print_s=3 * H, submitted_at=at(MON, 21, 1)),
    ]
    result = plan(fleet, jobs, weekday_site(max_heating=1), now, heavy)
    assert assigned(result) == {"long": "p1"}
    # a job longer than any opening is reported and holds no printer
    too_long = job("huge", user="ann", colour="blue", est_print_s=14 * H, submitted_at=at(MON, 9))
    result = plan([printer("blue", colour="blue")], [too_long, job("x", user="bob")], weekday_site(), now, heavy)
    assert assigned(result) == {"x": "blue"}
    assert result.waiting["huge"].reason.code is ReasonCode.TOO_LONG_FOR_OPENING_HOURS
    assert result.waiting["huge"].start_at is None
