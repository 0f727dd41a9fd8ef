"""Accuracy of the print estimator against PrusaSlicer's own figures on the shared estimation set.

Usage::

    .venv/bin/python bench/accuracy.py [--shared-dir ../shared/estimation] [--rows] [--fit]

Prints, per profile, the median and 90th percentile of the absolute percentage error of print time and
filament (grams; filament_mm for rows under 1 g, where the slicer's 0.01 g rounding dominates), every model
counted. ``--fit`` re-fits the model's free constants on this set and prints them (it does not change the
code). Ground truth comes from ground_truth.csv; nothing is sliced or cached.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from printfleet.estimate import analyse_stl
from printfleet.estimate.calibrate import Sample, fit_constants
from printfleet.estimate.model import DEFAULT_CONSTANTS, predict
from printfleet.estimate.profile import load_profile

MUST = {"time_med": 8, "time_p90": 25, "fil_med": 4, "fil_p90": 15}


def _profiles(shared: Path) -> dict[str, Path]:
    out = {}
    for ini in sorted((shared / "profiles").glob("*.ini")):
        key = ini.stem.split("_")[1] if ini.stem.startswith("profile_") else ini.stem
        out[key] = ini
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-dir", type=Path, default=REPO.parent / "shared" / "estimation")
    parser.add_argument("--rows", action="store_true", help="print every row's errors")
    parser.add_argument("--fit", action="store_true", help="re-fit the free constants and show them")
    args = parser.parse_args()
    shared: Path = args.shared_dir
    with (shared / "ground_truth.csv").open(newline="") as fh:
        truth = list(csv.DictReader(fh))
    profiles = {k: load_profile(v) for k, v in _profiles(shared).items()}
    samples: list[Sample] = []
    start = time.perf_counter()
    meshes: set[str] = set()
    for row in truth:
        name, key = row["model"], row["profile"]
        meshes.add(name)
        # the same pipeline as production: checks, slicing, orientation repair of broken meshes
        features = analyse_stl(shared / "models" / f"{name}.stl", profiles[key]).features
        samples.append(
            Sample(name, key, features, profiles[key], float(row["print_time_s"]), float(row["filament_mm"]))
        )
    elapsed = time.perf_counter() - start
    constants = DEFAULT_CONSTANTS
    if args.fit:
        constants = fit_constants(samples)
        print("fitted constants:", constants)
    groups: dict[str, list[tuple[str, float, float]]] = {}
    for s, row in zip(samples, truth):
        p = predict(s.features, s.profile, constants)
        truth_g = float(row["filament_g"])
        if truth_g >= 1.0:
            fil_err = (p.filament_g / truth_g - 1) * 100
        else:
            fil_err = (p.filament_mm / s.filament_mm - 1) * 100
        groups.setdefault(s.group, []).append((s.name, (p.print_time_s / s.print_time_s - 1) * 100, fil_err))
    if args.rows:
        for key, rows in groups.items():
            for name, et, eg in rows:
                print(f"{key} {name:28s} time {et:+7.1f}%  filament {eg:+7.1f}%")
    print(f"\n{len(samples)} rows, {len(meshes)} models, analysed (load + layer model) in {elapsed:.1f} s\n")
    print(f"{'profile':8s} {'n':>3s} {'time med':>9s} {'time p90':>9s} {'fil med':>8s} {'fil p90':>8s}  must")
    ok_all = True
    for key, rows in sorted(groups.items()):
        t = np.abs([r[1] for r in rows])
        g = np.abs([r[2] for r in rows])
        vals = {
            "time_med": np.median(t),
            "time_p90": np.percentile(t, 90),
            "fil_med": np.median(g),
            "fil_p90": np.percentile(g, 90),
        }
        ok = all(vals[k] <= MUST[k] for k in MUST)
        ok_all &= ok
        print(
            f"{key:8s} {len(rows):3d} {vals['time_med']:8.1f}% {vals['time_p90']:8.1f}% "
            f"{vals['fil_med']:7.1f}% {vals['fil_p90']:7.1f}%  {'ok' if ok else 'MISSED'}"
        )
    print("\nmust: median <= 8% time, <= 4% filament; p90 <= 25% time, <= 15% filament")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
