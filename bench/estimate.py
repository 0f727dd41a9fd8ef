"""Speed and memory of the print estimator, measured against PrusaSlicer in the same run.

Usage::

    .venv/bin/python bench/estimate.py [--shared-dir ../shared/estimation] [--skip-corpus] [--repeat 3]

1. Writes a 1M-triangle, 40 mm tall torus (binary STL, 50 MB) into a temp dir.
2. Peak memory: a fresh child process that only estimates the torus (its VmHWM, and the parent's
   RUSAGE_CHILDREN maximum, taken before anything else runs), against the file size.
3. Torus: PrusaSlicer (profile A, --export-gcode) wall time vs the estimate (in-process, best of --repeat;
   and a fresh process end to end).
4. Corpus: PrusaSlicer on every shared model with profile A, one at a time, vs estimating all of them in one
   process (load + layer model + prediction).
Nothing is cached between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

_CHILD = r"""
import sys, time
sys.path.insert(0, {repo!r})
t0 = time.perf_counter()
from printfleet.estimate import estimate_file, load_profile
t1 = time.perf_counter()
est = estimate_file({stl!r}, load_profile({profile!r}))
t2 = time.perf_counter()
hwm = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        hwm = int(line.split()[1])
print({{"import_s": t1 - t0, "estimate_s": t2 - t1, "vmhwm_kb": hwm, "print_time_s": est.print_time_s}})
"""


def time_slicer(stl: Path, profile: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU time (user + system, all its threads) of one PrusaSlicer export (raises if it fails)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [
            "prusa-slicer",
            "--export-gcode",
            "--load",
            str(profile),
            "--center",
            "125,105",
            "--loglevel",
            "1",
            "-o",
            str(out),
            str(stl),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"prusa-slicer failed on {stl.name}: {proc.stderr.strip()[-300:]}")
    out.unlink(missing_ok=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-dir", type=Path, default=REPO.parent / "shared" / "estimation")
    parser.add_argument("--skip-corpus", action="store_true", help="only the 1M-triangle torus")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    shared: Path = args.shared_dir
    profile = shared / "profiles" / "profile_A_0.20mm_quality.ini"

    with tempfile.TemporaryDirectory(prefix="printfleet-bench-") as tmp_name:
        tmp = Path(tmp_name)
        stl = tmp / "torus_1m.stl"
        # The torus is written by a child so that this process stays small for the memory measurement.
        subprocess.run(
            [
                PYTHON,
                "-c",
                (
                    f"import sys; sys.path.insert(0, {str(REPO)!r}); "
                    "from printfleet.testing.meshes import torus_stl; "
                    f"torus_stl(__import__('pathlib').Path({str(stl)!r}))"
                ),
            ],
            check=True,
        )
        size = stl.stat().st_size
        print(f"torus: 1,000,000 triangles, 40 mm tall, {size / 1e6:.1f} MB binary STL")

        # --- memory: a fresh child that only estimates. It is started by a tiny launcher whose
        # RUSAGE_CHILDREN then holds the estimator's peak RSS alone (this process has run other children).
        child = _CHILD.format(repo=str(REPO), stl=str(stl), profile=str(profile))
        launcher = (
            "import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            f"out = subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, text=True, check=True)\n"
            "wall = time.perf_counter() - t\n"
            "print(out.stdout.strip().splitlines()[-1])\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, wall)\n"
        )
        out = subprocess.run([PYTHON, "-c", launcher], capture_output=True, text=True, check=True)
        lines = out.stdout.strip().splitlines()
        report = eval(lines[-2])
        children_kb, fresh_wall = int(lines[-1].split()[0]), float(lines[-1].split()[1])
        peak = report["vmhwm_kb"] * 1024
        print(
            f"peak memory (child VmHWM): {peak / 1e6:.1f} MB = {peak / size:.2f}x the file size "
            f"(RUSAGE_CHILDREN max {children_kb / 1024:.1f} MiB); target <= 3x"
        )

        # --- torus speed
        sys.path.insert(0, str(REPO))
        from printfleet.estimate import estimate_file, estimate_files, load_profile

        loaded = load_profile(profile)
        best = best_cpu = float("inf")
        for _ in range(max(args.repeat, 1)):
            start, cpu0 = time.perf_counter(), time.process_time()
            estimate_file(stl, loaded)
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - cpu0)
        slicer_s, slicer_cpu = time_slicer(stl, profile, tmp / "torus.gcode")
        print(
            f"torus: PrusaSlicer {slicer_s:.1f} s wall ({slicer_cpu:.1f} s CPU); estimate {best:.2f} s wall "
            f"in-process ({slicer_s / best:.0f}x), {best_cpu:.2f} s CPU ({slicer_cpu / best_cpu:.0f}x by CPU), "
            f"{fresh_wall:.2f} s as a fresh process incl. imports ({slicer_s / fresh_wall:.0f}x); "
            "must >= 50x, aim 200x"
        )

        if args.skip_corpus:
            return 0
        # --- corpus speed
        models = sorted((shared / "models").glob("*.stl"))
        start, cpu0 = time.perf_counter(), time.process_time()
        for path in models:
            estimate_file(path, loaded)
        est_s, est_cpu = time.perf_counter() - start, time.process_time() - cpu0
        # The same files through estimate_files (a thread per core, as the CLI does), one process.
        start = time.perf_counter()
        for _path, result in estimate_files(models, loaded):
            if not hasattr(result, "print_time_s"):
                raise RuntimeError(f"{_path}: {result}")
        pool_s = time.perf_counter() - start
        slice_total = slice_cpu = 0.0
        for path in models:
            wall, cpu = time_slicer(path, profile, tmp / "model.gcode")
            slice_total += wall
            slice_cpu += cpu
        print(
            f"corpus ({len(models)} models, profile A): PrusaSlicer {slice_total:.1f} s wall "
            f"({slice_cpu:.1f} s CPU) one at a time; estimate {est_s:.2f} s wall in one process "
            f"({slice_total / est_s:.0f}x), {est_cpu:.2f} s CPU ({slice_cpu / est_cpu:.0f}x by CPU); "
            f"{pool_s:.2f} s wall on {os.cpu_count()} threads ({slice_total / pool_s:.0f}x); must >= 30x, aim 100x"
        )
    print(json.dumps({"torus_ratio": round(slicer_s / best, 1), "peak_over_file": round(peak / size, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
