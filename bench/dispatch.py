"""Dispatch benchmarks: latency (queued -> printer reports printing) and a soak with random worker kills.

    .venv/bin/python bench/dispatch.py latency [--jobs 20]
    .venv/bin/python bench/dispatch.py soak [--printers 200 --jobs 2000 --workers 4 --kill-every 20]

Latency: pre-sliced G-code on an idle simulated printer with a clear bed, so slicing is excluded. The baseline,
measured in the same run, is the floor: the same upload + start done directly through the driver, watched
the same way. Soak: every job must end done exactly once, checked on the printers' own records.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import Session, func, select

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from printfleet.drivers import create_driver
from printfleet.models import Job, JobStatus, Printer
from printfleet.queue.tasks import remote_name
from printfleet.services import start_mosquitto, start_redis
from printfleet.state import PrinterStatus
from printfleet.store import StateStore
from printfleet.testing.site import Site, fleet_yaml, make_site, wait_sim

GCODE = "; printfleet bench\nG28\nG1 Z0.3 F600\n" + "".join(
    f"G1 X{10 + (i % 2) * 40} Y{10 + i} E{0.5 * i:.1f} F3000\n" for i in range(40)
) + "M84\n"


def _gcode(tmp: Path, name: str) -> Path:
    path = tmp / name
    path.write_text(GCODE + f"; {name}\n")
    return path


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _wait_printing(store: StateStore, printer_id: str, file_name: str, timeout_s: float = 30) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = store.get(printer_id)
        if state is not None and state.job is not None and state.job.file_name == file_name and state.status in (
            PrinterStatus.PRINTING, PrinterStatus.FINISHED,
        ):  # fmt: skip
            return time.monotonic()
        time.sleep(0.005)
    raise TimeoutError(f"{printer_id} never reported printing {file_name}")


def latency(site: Site, jobs: int, tmp: Path) -> None:
    """Dispatch latency against the direct-driver floor, interleaved."""
    client = site.client
    store = StateStore(client)
    printer = site.fleet.printers[0]
    via_queue: list[float] = []
    direct: list[float] = []
    for i in range(jobs):
        # printfleet: queued -> printing
        t0 = time.monotonic()
        job_id = site.submit(_gcode(tmp, f"bench-{i}.gcode"), est_print_time_s=5.0)
        name = None
        while name is None:
            job = site.job(job_id)
            name = job.remote_file_name if job.remote_file_name else None
            if name is None:
                time.sleep(0.005)
        via_queue.append(_wait_printing(store, printer.id, name) - t0)
        site.wait_status(job_id, JobStatus.DONE, timeout_s=60)
        site.clear_bed(printer.id)
        # floor: the same upload + start straight through the driver
        driver = create_driver(printer, site.settings)
        path = _gcode(tmp, f"direct-{i}.gcode")
        t0 = time.monotonic()
        driver.upload(path, path.name)
        driver.start(path.name)
        direct.append(_wait_printing(store, printer.id, path.name) - t0)
        driver.close()
        _wait_state(store, printer.id, PrinterStatus.FINISHED)
    p50, p50_floor = statistics.median(via_queue), statistics.median(direct)
    print(f"dispatch latency over {jobs} jobs: p50 {p50 * 1000:.0f} ms, p90 {_percentile(via_queue, 0.9) * 1000:.0f} ms "
          f"(target p50 <= 1000 ms)")  # fmt: skip
    print(f"direct driver upload+start (floor), same run: p50 {p50_floor * 1000:.0f} ms")
    print(f"ratio printfleet / floor: {p50 / p50_floor:.1f}x; printfleet overhead p50 {(p50 - p50_floor) * 1000:.0f} ms")


def _wait_state(store: StateStore, printer_id: str, status: PrinterStatus, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = store.get(printer_id)
        if state is not None and state.status is status:
            return
        time.sleep(0.02)
    raise TimeoutError(f"{printer_id} never became {status.value}")


def soak(site: Site, jobs: int, workers: int, kill_every_s: float, tmp: Path) -> None:
    """Many printers and jobs, workers killed at random; every job must end done exactly once."""
    started = time.monotonic()
    ids = [site.submit(_gcode(tmp, f"soak-{i}.gcode"), user=f"u{i % 37}", est_print_time_s=5.0) for i in range(jobs)]
    rng = random.Random(7)
    kills = 0
    next_kill = time.monotonic() + kill_every_s
    engine = site.engine
    while True:
        with Session(engine) as session:
            done = session.exec(select(func.count()).where(Job.status == JobStatus.DONE)).one()
            finished = session.exec(select(Printer.id).where(Printer.bed_clear.is_(False))).all()  # type: ignore[union-attr]
        for printer_id in finished:  # staff clear every bed at once
            with contextlib.suppress(Exception):  # a job may just have started there
                site.clear_bed(printer_id)
        if done >= jobs:
            break
        if time.monotonic() >= next_kill:
            victim = rng.choice([n for n in site.parts if n.startswith("worker")])
            site.kill(victim)
            site.start(victim)
            kills += 1
            next_kill = time.monotonic() + kill_every_s
        if time.monotonic() - started > 3600:
            raise TimeoutError(f"soak: only {done} of {jobs} done after an hour")
        time.sleep(0.5)
    wall_s = time.monotonic() - started
    printed = site.printed_everywhere()
    with Session(engine) as session:
        names = [remote_name(j) for j in session.exec(select(Job).where(Job.id.in_(ids)))]  # type: ignore[union-attr]
    twice = [n for n in names if printed.get(n, (0, 0))[0] > 1]
    missing = [n for n in names if printed.get(n, (0, 0))[0] == 0]
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"soak: {jobs} jobs on {len(site.fleet.printers)} printers with {workers} workers, {kills} worker kills")
    print(f"wall time {wall_s:.0f} s; printed twice: {len(twice)}; never printed: {len(missing)}; "
          f"peak RSS of the largest part {peak_kib / 1024:.0f} MiB")  # fmt: skip


def main() -> None:
    """Run one benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=["latency", "soak"])
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--printers", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=20.0)
    parser.add_argument("--speed", default="500", help="simulator time acceleration")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="printfleet-bench-") as tmp_name:
        tmp = Path(tmp_name)
        redis_proc = start_redis(tmp / "redis", appendonly=False)
        broker = start_mosquitto(tmp / "mosquitto", persistence=False)
        site = None
        try:
            count = 1 if args.which == "latency" else args.printers
            printers = {f"p{i:03d}": "mk3s" for i in range(count)}
            site = make_site(tmp / "site", redis_proc.url, broker.url, fleet_yaml(printers), lease_s=10.0)
            site.start("sim", "--speed", args.speed)
            wait_sim(site)
            site.start("monitor")
            for w in range(1 if args.which == "latency" else args.workers):
                site.start(f"worker-{w}")
            time.sleep(2)
            if args.which == "latency":
                latency(site, args.jobs or 20, tmp)
            else:
                soak(site, args.jobs or 2000, args.workers, args.kill_every, tmp)
        finally:
            if site is not None:
                site.stop()
            broker.stop()
            redis_proc.stop()


if __name__ == "__main__":
    main()
