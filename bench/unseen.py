"""Accuracy of the print estimator on profiles its constants were not fitted on.

Usage::

    .venv/bin/python bench/unseen.py [--shared-dir ../shared/estimation] [--work-dir DIR] [--rows]

The constants are fitted on the shared profiles A and B (``bench/accuracy.py --fit``). Here, variants of
them that change what the model has to get right from physics (layer height, perimeters, infill pattern and
density, speeds, retraction and wipe, the perimeter generator, the cooling threshold) are written as
``.ini`` files. Every shared model is sliced with each variant by PrusaSlicer (``prusa-slicer``), and the
slicer's own figures are compared with the estimate, every model counted. Slicing takes a few minutes. Pass
``--work-dir`` to keep the G-code and reuse it in a later run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from printfleet.errors import UserError
from printfleet.estimate import estimate_file
from printfleet.estimate.slicer import read_summary, slice_model

MUST = {"time_med": 8, "time_p90": 25, "fil_med": 4, "fil_p90": 15}

#: variant name -> (shared profile it starts from, the settings it changes)
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "C": (
        "A",
        {
            "layer_height": "0.15",
            "perimeters": "2",
            "fill_density": "20%",
            "fill_pattern": "grid",
            "top_solid_layers": "6",
            "bottom_solid_layers": "5",
            "wipe": "0",
            "retract_length": "1.5",
            "retract_lift": "0.2",
            "travel_speed": "150",
            "perimeter_speed": "40",
            "external_perimeter_speed": "30",
            "infill_speed": "100",
        },
    ),
    "D": (
        "B",
        {
            "layer_height": "0.25",
            "perimeters": "2",
            "perimeter_generator": "classic",
            "fill_density": "30%",
            "fill_pattern": "gyroid",
            "retract_lift": "0",
            "solid_infill_speed": "80",
            "top_solid_infill_speed": "40",
            "slowdown_below_layer_time": "10",
        },
    ),
}


def write_variant(base: Path, changes: dict[str, str], out: Path) -> Path:
    """``base`` with ``changes`` applied (keys missing from it are appended)."""
    lines, seen = [], set()
    for line in base.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if "=" in line and key in changes:
            lines.append(f"{key} = {changes[key]}")
            seen.add(key)
        else:
            lines.append(line)
    lines += [f"{k} = {v}" for k, v in changes.items() if k not in seen]
    out.write_text("\n".join(lines) + "\n")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-dir", type=Path, default=REPO.parent / "shared" / "estimation")
    parser.add_argument("--work-dir", type=Path, help="keep profiles and G-code here (reused when present)")
    parser.add_argument("--rows", action="store_true", help="print every row's errors")
    args = parser.parse_args()
    shared: Path = args.shared_dir
    bases = {p.stem.split("_")[1]: p for p in sorted((shared / "profiles").glob("profile_*.ini"))}
    models = sorted((shared / "models").glob("*.stl"))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ok_all = True
        summary = []
        for name, (base, changes) in VARIANTS.items():
            profile = write_variant(bases[base], changes, work / f"profile_{name}.ini")
            times, fils, skipped = [], [], []
            start = time.perf_counter()
            for stl in models:
                gcode = work / f"{stl.stem}_{name}.gcode"
                if not gcode.exists():
                    try:
                        slice_model(stl, profile, gcode)
                    except UserError as exc:  # PrusaSlicer refuses a few broken meshes with some settings
                        skipped.append(f"{stl.stem} ({exc})")
                        continue
                truth_s, truth_mm, _ = read_summary(gcode)
                if not truth_s or not truth_mm:
                    skipped.append(f"{stl.stem} (no figures in the G-code)")
                    continue
                est = estimate_file(stl, profile)
                times.append((est.print_time_s / truth_s - 1) * 100)
                fils.append((est.filament_mm / truth_mm - 1) * 100)
                if args.rows:
                    print(f"{name} {stl.stem:28s} time {times[-1]:+7.1f}%  filament {fils[-1]:+7.1f}%")
            t, g = np.abs(times), np.abs(fils)
            vals = {"time_med": np.median(t), "time_p90": np.percentile(t, 90),
                    "fil_med": np.median(g), "fil_p90": np.percentile(g, 90)}  # fmt: skip
            ok = all(vals[k] <= MUST[k] for k in MUST)
            ok_all &= ok
            summary.append((name, base, len(t), vals, ok, time.perf_counter() - start, skipped))
    print(f"\n{'profile':8s} {'from':>4s} {'n':>3s} {'time med':>9s} {'time p90':>9s} {'fil med':>8s} {'fil p90':>8s}  must")
    for name, base, n, vals, ok, elapsed, skipped in summary:
        print(
            f"{name:8s} {base:>4s} {n:3d} {vals['time_med']:8.1f}% {vals['time_p90']:8.1f}% "
            f"{vals['fil_med']:7.1f}% {vals['fil_p90']:7.1f}%  {'ok' if ok else 'MISSED'}  ({elapsed:.0f} s)"
        )
        for s in skipped:
            print(f"         not counted: {s}")
    print("\nmust: median <= 8% time, <= 4% filament; p90 <= 25% time, <= 15% filament (filament in mm here)")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
