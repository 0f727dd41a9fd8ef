"""Replay a workload through :func:`printfleet.queue.policy.plan` in virtual time.

``printfleet simulate --config FLEET.yaml --workload JOBS.jsonl [--policy fifo|fair|least-used] [--json]``

Time 0 of a workload is a Monday 00:00 in the site's timezone (the Monday of :data:`EPOCH_MONDAY`). The
simulator keeps its own clock: it jumps from event to event (a job is submitted, a print ends, the plan's
next estimated start), calls ``plan()`` with a snapshot of the fleet, and starts what the plan assigns.
Prints take exactly ``print_time_s``, beds are cleared at once, printers never fail. The workload format
and the metrics are documented in ``docs/workloads.md``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from printfleet.errors import UserError
from printfleet.files import read_user_text
from printfleet.queue.policy import (
    Ordering,
    PrinterSnapshot,
    PrinterStatus,
    QueuedJob,
    Reason,
    SiteRules,
    UsageRecord,
    plan,
    render_reason,
    summarise_usage,
)

if TYPE_CHECKING:
    from printfleet.config import FleetConfig

logger = logging.getLogger(__name__)

EPOCH_MONDAY = dt.date(2026, 1, 5)
"""The calendar Monday that workload time 0 falls on (midnight, site timezone)."""

_REQUIRED: dict[str, str] = {
    "id": "str",
    "user": "str",
    "submitted_at": "seconds",
    "print_time_s": "seconds",
    "filament_g": "grams",
    "material": "str",
    "colour": "str",
    "bbox_mm": "bbox",
    "priority": "int",
}
_OPTIONAL: dict[str, str] = {"nozzle_mm": "positive", "tags": "tags"}


@dataclass(frozen=True, slots=True)
class WorkloadJob:
    """One line of a workload file; times in seconds from the workload's time 0."""

    id: str
    user: str
    submitted_at: float
    print_time_s: float
    filament_g: float
    material: str
    colour: str
    bbox_mm: tuple[float, float, float]
    priority: int = 0
    nozzle_mm: float | None = None
    tags: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        """The JSON object for a workload line."""
        out: dict[str, Any] = {
            "id": self.id,
            "user": self.user,
            "submitted_at": self.submitted_at,
            "print_time_s": self.print_time_s,
            "filament_g": self.filament_g,
            "material": self.material,
            "colour": self.colour,
            "bbox_mm": list(self.bbox_mm),
            "priority": self.priority,
        }
        if self.nozzle_mm is not None:
            out["nozzle_mm"] = self.nozzle_mm
        if self.tags:
            out["tags"] = sorted(self.tags)
        return out


def _check_field(name: str, kind: str, value: Any) -> Any:
    """Validate one field; raise ValueError with the problem."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        return value.strip()
    if kind in ("seconds", "grams"):
        if not number or not math.isfinite(value):
            raise ValueError("must be a number")
        if value < 0:
            raise ValueError(f"must not be negative (got {value})")
        if name == "print_time_s" and value == 0:
            raise ValueError("must be greater than 0")
        return float(value)
    if kind == "positive":
        if not number or not math.isfinite(value) or value <= 0:
            raise ValueError("must be a number greater than 0")
        return float(value)
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("must be an integer")
        return value
    if kind == "bbox":
        if (
            not isinstance(value, list)
            or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        ):
            raise ValueError("must be [x, y, z] in mm")
        if any(v < 0 for v in value):
            raise ValueError("sizes must not be negative")
        return (float(value[0]), float(value[1]), float(value[2]))
    if kind == "tags":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of strings")
        return frozenset(v.strip().lower() for v in value)
    raise AssertionError(kind)  # pragma: no cover


def parse_workload_line(text: str) -> WorkloadJob:
    """Parse one JSON line. Raises ValueError as ``"field: problem"``."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object")  # noqa: TRY004 - callers report ValueError as a bad line
    values: dict[str, Any] = {}
    for name, kind in _REQUIRED.items():
        if name not in raw:
            raise ValueError(f"{name}: missing")
        try:
            values[name] = _check_field(name, kind, raw[name])
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    for name, kind in _OPTIONAL.items():
        if name in raw and raw[name] is not None:
            try:
                values[name] = _check_field(name, kind, raw[name])
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field")
    values["material"] = values["material"].upper()
    values["colour"] = values["colour"].lower()
    return WorkloadJob(**values)


def load_workload(path: Path | str) -> list[WorkloadJob]:
    """Read a JSON-lines workload.

    Raises:
        UserError: one line naming the file, the line and the field.
    """
    path = Path(path)
    text = read_user_text(path)
    jobs: list[WorkloadJob] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            job = parse_workload_line(line)
        except ValueError as exc:
            raise UserError(f"{path}:{lineno}: {exc}") from None
        if job.id in seen:
            raise UserError(f"{path}:{lineno}: id: duplicate {job.id!r}, already on line {seen[job.id]}")
        seen[job.id] = lineno
        jobs.append(job)
    if not jobs:
        raise UserError(f"{path}: no jobs in the workload")
    return jobs


def write_workload(path: Path | str, jobs: Sequence[WorkloadJob]) -> None:
    """Write a workload as JSON lines."""
    with Path(path).open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(job.to_json(), separators=(", ", ": ")) + "\n" for job in jobs)


# ---------------------------------------------------------------- simulation


@dataclass(slots=True)
class JobRecord:
    """What happened to one job in a simulation (times in workload seconds)."""

    job: WorkloadJob
    start_s: float | None = None
    end_s: float | None = None
    printer_id: str | None = None
    forced_wait_s: float | None = None
    reason: Reason | None = None
    first_estimate_s: float | None = None  # the start the member was first shown (jobs that had to wait)
    estimated: bool = False

    @property
    def wait_s(self) -> float | None:
        """Start minus submission."""
        return None if self.start_s is None else self.start_s - self.job.submitted_at

    @property
    def avoidable_wait_s(self) -> float | None:
        """Wait beyond what opening hours alone force on the job."""
        if self.start_s is None:
            return None
        return max(0.0, self.start_s - self.job.submitted_at - (self.forced_wait_s or 0.0))


@dataclass
class SimResult:
    """The outcome of a simulation and its metrics (see :meth:`metrics`)."""

    ordering: Ordering
    rules: SiteRules
    base_ts: float
    printers: tuple[PrinterSnapshot, ...]
    records: list[JobRecord]
    plans: int = 0
    plan_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def _open_segments(self, start: float, end: float) -> list[tuple[float, float]]:
        """Intervals (workload seconds) within [start, end) in which printers may print."""
        cal = self.rules.calendar
        if cal.always_open or self.rules.unattended_printing:
            return [(start, end)]
        out: list[tuple[float, float]] = []
        t = start
        while t < end:
            s = cal.next_open(self.base_ts + t)
            if s is None:
                break
            s -= self.base_ts
            if s >= end:
                break
            close = cal.closes_at(self.base_ts + s)
            c = end if close is None else min(end, close + self.rules.closing_margin_s - self.base_ts)
            if c <= s:  # pragma: no cover - defensive
                break
            out.append((s, c))
            t = c
        return out

    def utilisation(self) -> float:
        """Busy printer-time over available printer-time while jobs wait.

        Printers are available while the site is open (plus the closing margin) or, with unattended printing,
        all the time: prints may run overnight, they just cannot start then.
        """
        runnable = [r for r in self.records if r.start_s is not None]
        if not runnable or not self.printers:
            return 0.0
        end_all = max(r.end_s for r in runnable)  # type: ignore[type-var]
        waits = sorted((r.job.submitted_at, r.start_s) for r in runnable if r.start_s > r.job.submitted_at)  # type: ignore[operator]
        waits += sorted(
            (r.job.submitted_at, end_all) for r in self.records if r.start_s is None and r.forced_wait_s is not None
        )
        waits.sort()
        merged: list[list[float]] = []
        for s, e in waits:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        segments: list[tuple[float, float]] = []
        for s, e in merged:
            segments.extend(self._open_segments(s, e))
        total = sum(e - s for s, e in segments)
        if total <= 0:
            return 1.0
        starts = [s for s, _ in segments]
        busy = 0.0
        for r in runnable:
            a, b = r.start_s, r.end_s
            i = max(0, bisect.bisect_right(starts, a) - 1)  # type: ignore[arg-type]
            while i < len(segments) and segments[i][0] < b:  # type: ignore[operator]
                s, e = segments[i]
                busy += max(0.0, min(b, e) - max(a, s))  # type: ignore[type-var, operator]
                i += 1
        return busy / (total * len(self.printers))

    def ran_past_closing(self) -> int:
        """Prints running while closed (past closing + margin) although unattended printing is off."""
        if self.rules.unattended_printing:
            return 0
        cal = self.rules.calendar
        count = 0
        for r in self.records:
            if r.start_s is None:
                continue
            close = cal.closes_at(self.base_ts + r.start_s)
            if cal.always_open:
                continue
            if close is None or self.base_ts + r.end_s > close + self.rules.closing_margin_s + 1e-6:  # type: ignore[operator]
                count += 1
        return count

    def user_stats(self) -> dict[str, dict[str, float]]:
        """Per user: jobs, mean wait, print seconds, submitted print seconds and mean avoidable wait."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.records:
            row = out.setdefault(
                r.job.user,
                {"jobs": 0, "_waits": [], "_avoid": [], "print_s": 0.0, "submitted_print_s": 0.0},
            )
            row["jobs"] += 1
            row["submitted_print_s"] += r.job.print_time_s
            if r.start_s is not None:
                row["_waits"].append(r.wait_s)
                row["_avoid"].append(r.avoidable_wait_s)
                row["print_s"] += r.job.print_time_s
        for row in out.values():
            waits, avoid = row.pop("_waits"), row.pop("_avoid")
            row["mean_wait_s"] = sum(waits) / len(waits) if waits else 0.0
            row["mean_avoidable_wait_s"] = sum(avoid) / len(avoid) if avoid else 0.0
            row["_avoid_total"] = sum(avoid)
        return out

    def light_users(self) -> set[str]:
        """Users whose submitted print-hours are below the median over all users."""
        stats = self.user_stats()
        values = sorted(row["submitted_print_s"] for row in stats.values())
        if not values:
            return set()
        n = len(values)
        median = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
        return {user for user, row in stats.items() if row["submitted_print_s"] < median}

    def mean_avoidable_wait(self, users: set[str] | None = None) -> float:
        """Mean avoidable wait over the jobs (of ``users``, if given) that ran."""
        values = [
            r.avoidable_wait_s
            for r in self.records
            if r.start_s is not None and (users is None or r.job.user in users)
        ]
        return sum(values) / len(values) if values else 0.0  # type: ignore[arg-type]

    def jain_index(self) -> float:
        """Jain's index over users of ``print_s / (print_s + avoidable wait)`` (1 = all served alike).

        Summed over each user's jobs that ran; users none of whose jobs ran have no figure. See
        ``docs/workloads.md`` for why this figure.
        """
        xs: list[float] = []
        for row in self.user_stats().values():
            if row["print_s"] > 0:
                xs.append(row["print_s"] / (row["print_s"] + row["_avoid_total"]))
        if not xs:
            return 1.0
        return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs))

    def start_estimates(self) -> dict[str, float]:
        """How well the start time a waiting member is first shown matches when the job really started.

        Over the jobs that had to wait and then ran: ``jobs``, ``median_abs_error_s``, ``within_30min`` and
        ``late_over_1h`` / ``early_over_1h`` (shares of those jobs).
        """
        errors = sorted(
            r.start_s - r.first_estimate_s
            for r in self.records
            if r.start_s is not None and r.first_estimate_s is not None
        )
        if not errors:
            return {"jobs": 0, "median_abs_error_s": 0.0, "within_30min": 1.0, "late_over_1h": 0.0,
                    "early_over_1h": 0.0}
        n = len(errors)
        absolute = sorted(abs(e) for e in errors)
        return {
            "jobs": n,
            "median_abs_error_s": absolute[n // 2] if n % 2 else (absolute[n // 2 - 1] + absolute[n // 2]) / 2,
            "within_30min": sum(a <= 1800 for a in absolute) / n,
            "late_over_1h": sum(e > 3600 for e in errors) / n,
            "early_over_1h": sum(e < -3600 for e in errors) / n,
        }

    def metrics(self) -> dict[str, Any]:
        """The figures ``printfleet simulate --json`` prints."""
        ran = [r for r in self.records if r.start_s is not None]
        waits = sorted(r.wait_s for r in ran)  # type: ignore[type-var]
        p95 = waits[max(0, math.ceil(0.95 * len(waits)) - 1)] if waits else 0.0
        first = min(r.job.submitted_at for r in self.records)
        makespan = (max(r.end_s for r in ran) - first) if ran else 0.0  # type: ignore[type-var, operator]
        light = self.light_users()
        stats = self.user_stats()
        tz = self.rules.tz
        never = [
            {
                "id": r.job.id,
                "user": r.job.user,
                "reason": r.reason.code.value if r.reason else None,
                "why": render_reason(r.reason, tz=tz, now=self.base_ts) if r.reason else "",
            }
            for r in self.records
            if r.start_s is None
        ]
        return {
            "policy": self.ordering.value,
            "jobs": len(self.records),
            "makespan_s": makespan,
            "utilisation": self.utilisation(),
            "mean_wait_s": sum(waits) / len(waits) if waits else 0.0,
            "p95_wait_s": p95,
            "mean_avoidable_wait_s": self.mean_avoidable_wait(),
            "light_mean_avoidable_wait_s": self.mean_avoidable_wait(light),
            "jain_index": self.jain_index(),
            "ran_past_closing": self.ran_past_closing(),
            "never_ran": len(never),
            "never_ran_jobs": never,
            "per_user": {
                user: {
                    "jobs": row["jobs"],
                    "mean_wait_s": row["mean_wait_s"],
                    "print_s": row["print_s"],
                    "mean_avoidable_wait_s": row["mean_avoidable_wait_s"],
                    "light": user in light,
                }
                for user, row in sorted(stats.items())
            },
            "start_estimates": self.start_estimates(),
            "plans": self.plans,
        }


def base_timestamp(rules: SiteRules) -> float:
    """POSIX time of workload time 0: Monday :data:`EPOCH_MONDAY` 00:00 in the site's timezone."""
    return dt.datetime.combine(EPOCH_MONDAY, dt.time(0), rules.tz).timestamp()


def simulate(
    printers: Sequence[PrinterSnapshot],
    workload: Sequence[WorkloadJob],
    rules: SiteRules,
    *,
    max_days: float = 366,
) -> SimResult:
    """Run ``workload`` on ``printers`` under ``rules`` (``rules.ordering`` picks the policy)."""
    import time

    base = base_timestamp(rules)
    fleet = [
        PrinterSnapshot(
            id=p.id,
            build_volume_mm=p.build_volume_mm,
            nozzle_mm=p.nozzle_mm,
            material=p.material,
            colour=p.colour,
            tags=p.tags,
            loadable_materials=p.loadable_materials,
            maintenance=p.maintenance,
        )
        for p in printers
    ]
    index = {p.id: i for i, p in enumerate(fleet)}
    records = {job.id: JobRecord(job) for job in workload}
    for rec in records.values():
        s = rules.earliest_start(base + rec.job.submitted_at, rec.job.print_time_s)
        rec.forced_wait_s = None if s is None else s - base - rec.job.submitted_at
    arrivals = sorted(workload, key=lambda j: (j.submitted_at, j.id))
    queued: dict[str, QueuedJob] = {}
    running: list[tuple[float, str, str]] = []  # (end, printer id, job id)
    usage: list[UsageRecord] = []
    result = SimResult(rules.ordering, rules, base, tuple(fleet), list(records.values()))
    t = base + (arrivals[0].submitted_at if arrivals else 0.0)
    horizon = t + max_days * 86400
    next_arrival = 0
    wakeup: float | None = None
    while t <= horizon:
        while next_arrival < len(arrivals) and base + arrivals[next_arrival].submitted_at <= t + 1e-9:
            job = arrivals[next_arrival]
            next_arrival += 1
            queued[job.id] = QueuedJob(
                id=job.id,
                user=job.user,
                submitted_at=base + job.submitted_at,
                est_print_s=job.print_time_s,
                filament_g=job.filament_g,
                material=job.material,
                colour=job.colour,
                bbox_mm=job.bbox_mm,
                nozzle_mm=job.nozzle_mm,
                tags=job.tags,
                priority=job.priority,
            )
        while running and running[0][0] <= t + 1e-9:
            _, pid, _ = heapq.heappop(running)
            i = index[pid]
            fleet[i] = _replace(fleet[i], status=PrinterStatus.IDLE, available_at=None, current_user=None,
                                current_job_id=None, heating_until=None)
        if queued:
            snapshot = [
                _replace(p, heating_until=None) if p.heating_until is not None and p.heating_until <= t else p
                for p in fleet
            ]
            window_from = t - rules.fair_share_window_s - 7 * 86400
            usage = [u for u in usage if u.started_at >= window_from]
            tick = time.perf_counter()
            result_plan = plan(snapshot, list(queued.values()), rules, t, summarise_usage(usage, rules, t))
            result.plan_s += time.perf_counter() - tick
            result.plans += 1
            for a in result_plan.assignments:
                job = queued.pop(a.job_id)
                i = index[a.printer_id]
                end = t + job.est_print_s
                fleet[i] = _replace(
                    fleet[i],
                    status=PrinterStatus.PRINTING,
                    available_at=end,
                    heating_until=t + rules.heatup_s,
                    current_user=job.user,
                    current_job_id=job.id,
                    bed_clear=True,
                )
                heapq.heappush(running, (end, a.printer_id, job.id))
                usage.append(UsageRecord(job.user, t, job.est_print_s))
                rec = records[job.id]
                rec.start_s, rec.end_s, rec.printer_id, rec.reason = t - base, end - base, a.printer_id, a.reason
            starts = [e.start_at for e in result_plan.waiting.values() if e.start_at is not None and e.start_at > t + 1e-6]
            wakeup = min(starts) if starts else None
            for job_id, est in result_plan.waiting.items():
                rec = records[job_id]
                rec.reason = est.reason
                if not rec.estimated:
                    rec.estimated = True
                    rec.first_estimate_s = None if est.start_at is None else est.start_at - base
            if rules.max_heating is not None:
                heat = [p.heating_until for p in fleet if p.heating_until is not None and p.heating_until > t + 1e-6]
                if heat and any(e.start_at is not None for e in result_plan.waiting.values()):
                    wakeup = min([*heat, wakeup] if wakeup is not None else heat)
        else:
            wakeup = None
        candidates = []
        if next_arrival < len(arrivals):
            candidates.append(base + arrivals[next_arrival].submitted_at)
        if running:
            candidates.append(running[0][0])
        if wakeup is not None:
            candidates.append(wakeup)
        if not candidates:
            stuck = [j for j, est in result_plan.waiting.items() if est.start_at is not None] if queued else []
            if not stuck:
                break
            candidates.append(t + 300.0)  # a start time was promised but nothing will change: poll
        t = max(min(candidates), t + 1e-3)
    return result


def _replace(p: PrinterSnapshot, **changes: Any) -> PrinterSnapshot:
    from dataclasses import replace

    return replace(p, **changes)


# ---------------------------------------------------------------- CLI


def fleet_printers(fleet: FleetConfig) -> list[PrinterSnapshot]:
    """Idle snapshots of every printer in a fleet file."""
    from printfleet.queue.rules import printer_snapshot

    return [printer_snapshot(p) for p in fleet.printers]


def run_files(config: Path, workload: Path, policy: str) -> SimResult:
    """Load a fleet file and a workload and simulate them.

    Raises:
        UserError: a file is missing or invalid, or the policy is unknown.
    """
    from printfleet.config import load_fleet
    from printfleet.queue.rules import site_rules

    try:
        ordering = Ordering(policy)
    except ValueError:
        raise UserError(
            f"--policy: unknown policy {policy!r} (use one of: {', '.join(o.value for o in Ordering)})"
        ) from None
    fleet = load_fleet(config)
    if not fleet.printers:
        raise UserError(f"{config}: printers: the fleet has no printers to simulate")
    jobs = load_workload(workload)
    return simulate(fleet_printers(fleet), jobs, site_rules(fleet, ordering=ordering))


def _fmt_h(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h"


def simulate_command(
    config: Annotated[Path, typer.Option("--config", help="fleet file (site rules and printers)")],
    workload: Annotated[Path, typer.Option("--workload", help="JSON-lines workload, see docs/workloads.md")],
    policy: Annotated[str, typer.Option("--policy", help="fair | fifo | least-used")] = "fair",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Replay a workload in virtual time through the scheduling policy and report waits and fairness."""
    result = run_files(config, workload, policy)
    metrics = result.metrics()
    if as_json:
        print(json.dumps(metrics, indent=None, sort_keys=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table("metric", "value", title=f"{workload.name} on {config.name}, policy {metrics['policy']}")
    summary.add_row("jobs", str(metrics["jobs"]))
    summary.add_row("makespan", _fmt_h(metrics["makespan_s"]))
    summary.add_row("utilisation (while jobs wait)", f"{metrics['utilisation']:.1%}")
    summary.add_row("mean wait", _fmt_h(metrics["mean_wait_s"]))
    summary.add_row("p95 wait", _fmt_h(metrics["p95_wait_s"]))
    summary.add_row("mean avoidable wait", _fmt_h(metrics["mean_avoidable_wait_s"]))
    summary.add_row("light users' mean avoidable wait", _fmt_h(metrics["light_mean_avoidable_wait_s"]))
    summary.add_row("Jain's index", f"{metrics['jain_index']:.3f}")
    summary.add_row("ran past closing", str(metrics["ran_past_closing"]))
    summary.add_row("never ran", str(metrics["never_ran"]))
    shown = metrics["start_estimates"]
    summary.add_row(
        "start shown to a waiting member",
        f"within 30 min for {shown['within_30min']:.0%} of {shown['jobs']}; over 1 h late {shown['late_over_1h']:.0%}",
    )
    console.print(summary)
    users = Table("user", "jobs", "print", "mean wait", "avoidable", "light", title="per user")
    for user, row in metrics["per_user"].items():
        users.add_row(
            user,
            str(row["jobs"]),
            _fmt_h(row["print_s"]),
            _fmt_h(row["mean_wait_s"]),
            _fmt_h(row["mean_avoidable_wait_s"]),
            "yes" if row["light"] else "",
        )
    console.print(users)
    if metrics["never_ran_jobs"]:
        never = Table("job", "user", "why it never ran", title="never ran")
        for row in metrics["never_ran_jobs"]:
            never.add_row(row["id"], row["user"], row["why"])
        console.print(never)
