"""The simulator: virtual time through the real policy, metrics on hand-checkable workloads, input checks."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest

from printfleet.config import load_fleet
from printfleet.errors import UserError
from printfleet.queue.policy import Ordering, PrinterSnapshot, SiteRules
from printfleet.queue.rules import site_rules
from printfleet.queue.simulate import (
    WorkloadJob,
    base_timestamp,
    fleet_printers,
    load_workload,
    run_files,
    simulate,
    write_workload,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
H = 3600.0


def wjob(jid: str, user: str, at: float, print_s: float = H, **kw: object) -> WorkloadJob:
    fields: dict[str, object] = {
        "filament_g": 10.0,
        "material": "PLA",
        "colour": "any",
        "bbox_mm": (50.0, 50.0, 50.0),
        "priority": 0,
    }
    fields.update(kw)
    return WorkloadJob(id=jid, user=user, submitted_at=at, print_time_s=print_s, **fields)  # type: ignore[arg-type]


def one_printer(n: int = 1) -> list[PrinterSnapshot]:
    return [PrinterSnapshot(id=f"p{i}", build_volume_mm=(250.0, 210.0, 210.0)) for i in range(n)]


def always_open(ordering: Ordering = Ordering.FIFO, **kw: object) -> SiteRules:
    return SiteRules(timezone="UTC", ordering=ordering, long_job_share=None, **kw)  # type: ignore[arg-type]


def test_time_zero_is_monday_midnight_in_the_site_zone() -> None:
    base = base_timestamp(SiteRules(timezone="Europe/Berlin"))
    local = dt.datetime.fromtimestamp(base, dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert local.weekday() == 0 and (local.hour, local.minute) == (0, 0)


def test_two_jobs_one_printer_metrics() -> None:
    result = simulate(one_printer(), [wjob("a1", "ann", 0), wjob("a2", "ann", 0)], always_open())
    m = result.metrics()
    starts = {r.job.id: r.start_s for r in result.records}
    assert starts == {"a1": 0.0, "a2": H}
    assert m["makespan_s"] == 2 * H
    assert m["mean_wait_s"] == H / 2
    assert m["p95_wait_s"] == H
    assert m["utilisation"] == pytest.approx(1.0)
    assert m["jain_index"] == pytest.approx(1.0)
    assert m["never_ran"] == 0 and m["ran_past_closing"] == 0
    assert m["per_user"]["ann"] == {
        "jobs": 2,
        "mean_wait_s": H / 2,
        "print_s": 2 * H,
        "mean_avoidable_wait_s": H / 2,
        "light": False,
    }


def test_fair_lets_the_light_user_in_after_one_heavy_job() -> None:
    jobs = [wjob(f"h{i}", "heavy", 0) for i in range(3)] + [wjob("l1", "light", 60)]
    fifo = simulate(one_printer(), jobs, always_open(Ordering.FIFO))
    fair = simulate(one_printer(), jobs, always_open(Ordering.FAIR))
    assert {r.job.id: r.start_s for r in fifo.records} == {"h0": 0, "h1": H, "h2": 2 * H, "l1": 3 * H}
    assert {r.job.id: r.start_s for r in fair.records} == {"h0": 0, "h1": 2 * H, "h2": 3 * H, "l1": H}
    assert fair.light_users() == {"light"}
    assert fifo.metrics()["light_mean_avoidable_wait_s"] == 3 * H - 60
    m = fair.metrics()
    assert m["light_mean_avoidable_wait_s"] == H - 60
    assert m["per_user"]["light"]["mean_wait_s"] == H - 60
    # Jain over print / (print + avoidable wait): heavy 3h/(3h+5h), light 1h/(2h-60s)
    x_heavy, x_light = 3 * H / (3 * H + 5 * H), H / (2 * H - 60)
    expected = (x_heavy + x_light) ** 2 / (2 * (x_heavy**2 + x_light**2))
    assert m["jain_index"] == pytest.approx(expected)
    assert m["utilisation"] == pytest.approx(1.0)


def test_jain_index_counts_only_waits_a_policy_could_avoid_and_members_who_printed() -> None:
    rules = SiteRules(
        timezone="UTC",
        opening_hours={0: ((dt.time(9), dt.time(17)),)},
        unattended_printing=False,
        closing_margin_s=0,
        long_job_share=None,
    )
    jobs = [
        wjob("night", "ann", 1 * H, H),  # submitted at 01:00: waits 8 h, all of it forced by the opening hours
        wjob("day", "bob", 10 * H, H),  # starts at once
        wjob("big", "cat", 10 * H, H, bbox_mm=(400.0, 400.0, 10.0)),  # never prints: no figure for cat
    ]
    result = simulate(one_printer(2), jobs, rules)
    assert result.metrics()["per_user"]["ann"]["mean_wait_s"] == 8 * H
    assert result.jain_index() == pytest.approx(1.0)
    # one member kept waiting by another's print: two figures, 1 and 1 h / (1 h + 1 h)
    jobs = [wjob("a", "ann", 10 * H, H), wjob("b", "bob", 10 * H + 1, H)]
    x = H / (H + H - 1)
    assert simulate(one_printer(), jobs, rules).jain_index() == pytest.approx((1 + x) ** 2 / (2 * (1 + x * x)))


def test_opening_hours_forced_waits_are_not_avoidable_and_nothing_runs_while_closed() -> None:
    rules = SiteRules(
        timezone="UTC",
        opening_hours={0: ((dt.time(9), dt.time(17)),)},
        unattended_printing=False,
        closing_margin_s=0,
        long_job_share=None,
    )
    jobs = [
        wjob("early", "ann", 8 * H, 2 * H),  # waits for 09:00
        wjob("late", "bob", 16 * H, 2 * H),  # would run past 17:00: next Monday
        wjob("long", "cat", 8 * H, 9 * H),  # longer than any opening
        wjob("big", "dan", 8 * H, H, bbox_mm=(400.0, 400.0, 10.0)),
    ]
    result = simulate(one_printer(), jobs, rules)
    rec = {r.job.id: r for r in result.records}
    assert rec["early"].start_s == 9 * H and rec["early"].avoidable_wait_s == 0
    assert rec["late"].start_s == 7 * 24 * H + 9 * H and rec["late"].avoidable_wait_s == 0
    assert rec["long"].start_s is None and rec["big"].start_s is None
    m = result.metrics()
    assert m["never_ran"] == 2
    reasons = {row["id"]: row["reason"] for row in m["never_ran_jobs"]}
    assert reasons == {"long": "too_long_for_opening_hours", "big": "no_printer_fits"}
    assert m["ran_past_closing"] == 0
    assert m["mean_avoidable_wait_s"] == 0


def test_ran_past_closing_counts_prints_running_while_closed() -> None:
    rules = SiteRules(
        timezone="UTC", opening_hours={0: ((dt.time(9), dt.time(17)),)}, unattended_printing=False, closing_margin_s=0
    )
    result = simulate(one_printer(), [wjob("a", "ann", 9 * H, H)], rules)
    record = result.records[0]
    assert result.ran_past_closing() == 0
    record.end_s = 18 * H  # as if it had overrun
    assert result.ran_past_closing() == 1


def test_heat_up_stagger_in_virtual_time() -> None:
    rules = always_open(max_heating=1, heatup_s=600.0)
    result = simulate(one_printer(2), [wjob("a", "ann", 0), wjob("b", "bob", 0)], rules)
    assert sorted(r.start_s for r in result.records) == [0.0, 600.0]


def test_utilisation_counts_idle_printers_while_jobs_wait() -> None:
    # the PETG job waits for the PETG printer while the PLA printer stands idle: 50 %
    fleet = [
        PrinterSnapshot(id="pla", build_volume_mm=(250.0, 210.0, 210.0)),
        PrinterSnapshot(id="petg", build_volume_mm=(250.0, 210.0, 210.0), material="PETG"),
    ]
    jobs = [wjob("a", "ann", 0, H, material="PETG"), wjob("b", "bob", 0, H, material="PETG")]
    result = simulate(fleet, jobs, always_open())
    assert result.utilisation() == pytest.approx(0.5)


# ---------------------------------------------------------------- workload files


LINE = {
    "id": "j1",
    "user": "ann",
    "submitted_at": 60,
    "print_time_s": 3600,
    "filament_g": 12.5,
    "material": "pla",
    "colour": "Red",
    "bbox_mm": [10, 20, 30],
    "priority": 0,
}


def write_lines(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "jobs.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_load_workload_round_trip(tmp_path: Path) -> None:
    path = write_lines(tmp_path, json.dumps(LINE), "", json.dumps({**LINE, "id": "j2", "nozzle_mm": 0.6, "tags": ["A"]}))
    jobs = load_workload(path)
    assert jobs[0] == WorkloadJob("j1", "ann", 60.0, 3600.0, 12.5, "PLA", "red", (10.0, 20.0, 30.0), 0)
    assert jobs[1].nozzle_mm == 0.6 and jobs[1].tags == {"a"}
    out = tmp_path / "out.jsonl"
    write_workload(out, jobs)
    assert load_workload(out) == jobs


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "j1", "user": ', "jobs.jsonl:2: malformed JSON"),
        ("[1, 2]", "jobs.jsonl:2: expected a JSON object"),
        (json.dumps({k: v for k, v in LINE.items() if k != "user"}), "jobs.jsonl:2: user: missing"),
        (json.dumps({**LINE, "submitted_at": -5}), "jobs.jsonl:2: submitted_at: must not be negative (got -5)"),
        (json.dumps({**LINE, "print_time_s": 0}), "jobs.jsonl:2: print_time_s: must be greater than 0"),
        (json.dumps({**LINE, "print_time_s": "1h"}), "jobs.jsonl:2: print_time_s: must be a number"),
        (json.dumps({**LINE, "priority": True}), "jobs.jsonl:2: priority: must be an integer"),
        (json.dumps({**LINE, "bbox_mm": [1, 2]}), "jobs.jsonl:2: bbox_mm: must be [x, y, z] in mm"),
        (json.dumps({**LINE, "colour": ""}), "jobs.jsonl:2: colour: must be a non-empty string"),
        (json.dumps({**LINE, "colur": "red"}), "jobs.jsonl:2: colur: unknown field"),
        (json.dumps(LINE), "jobs.jsonl:2: id: duplicate 'j1', already on line 1"),
    ],
)
def test_bad_workload_lines_name_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = write_lines(tmp_path, json.dumps(LINE), line)
    with pytest.raises(UserError) as info:
        load_workload(path)
    assert str(info.value).startswith(str(tmp_path / message.split(":")[0]))
    assert message in str(info.value)


def test_missing_and_empty_workload_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="file not found"):
        load_workload(tmp_path / "nope.jsonl")
    with pytest.raises(UserError, match="no jobs"):
        load_workload(write_lines(tmp_path))


# ---------------------------------------------------------------- the shipped examples


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_workloads", EXAMPLES / "make_workloads.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_examples_are_what_the_generator_makes(tmp_path: Path) -> None:
    gen = _load_generator()
    for name, jobs in (("busy-weekday.jsonl", gen.busy_weekday()), ("deadline-week.jsonl", gen.deadline_week())):
        write_workload(tmp_path / name, jobs)
        assert (tmp_path / name).read_text() == (EXAMPLES / "workloads" / name).read_text(), name
    fleet_text = gen.fleet_yaml(
        "fleet-weekday.yaml",
        "Example makerspace (weekday)",
        False,
        "busy-weekday.jsonl",
        "10 printers, open 09:00-22:00 on weekdays and 10:00-18:00 on Saturdays; no unattended printing.",
    )
    assert fleet_text == (EXAMPLES / "fleet-weekday.yaml").read_text()


def test_busy_weekday_example_fair_against_fifo() -> None:
    fair = run_files(EXAMPLES / "fleet-weekday.yaml", EXAMPLES / "workloads" / "busy-weekday.jsonl", "fair")
    fifo = run_files(EXAMPLES / "fleet-weekday.yaml", EXAMPLES / "workloads" / "busy-weekday.jsonl", "fifo")
    light = fifo.light_users()
    assert fair.mean_avoidable_wait(light) < 0.5 * fifo.mean_avoidable_wait(light)
    for result in (fair, fifo):
        m = result.metrics()
        assert m["ran_past_closing"] == 0
        assert {row["id"] for row in m["never_ran_jobs"]} >= {"wd-big", "wd-long"}


def test_example_fleets_load() -> None:
    for name in ("fleet-weekday.yaml", "fleet-deadline.yaml"):
        fleet = load_fleet(EXAMPLES / name)
        assert len(fleet_printers(fleet)) == 10
        assert site_rules(fleet).ordering is Ordering.FAIR


def test_start_estimates_compare_the_first_start_shown_with_the_real_one() -> None:
    # b waits behind a and is first shown 1 h; c (higher priority, 2 h) arrives later and goes ahead of b,
    # so b really starts at 3 h: 2 h later than it was shown. c is shown 1 h and starts at 1 h.
    jobs = [wjob("a", "ann", 0), wjob("b", "bob", 0), wjob("c", "cy", 0.5 * H, 2 * H, priority=5)]
    result = simulate(one_printer(), jobs, always_open())
    records = {r.job.id: r for r in result.records}
    assert records["a"].first_estimate_s is None  # started at once: nothing was estimated
    assert (records["b"].first_estimate_s, records["b"].start_s) == (H, 3 * H)
    assert (records["c"].first_estimate_s, records["c"].start_s) == (H, H)
    figures = result.metrics()["start_estimates"]
    assert figures["jobs"] == 2
    assert figures["within_30min"] == 0.5 and figures["late_over_1h"] == 0.5 and figures["early_over_1h"] == 0.0
    assert figures["median_abs_error_s"] == H  # (0 + 2 h) / 2
