"""What a pre-sliced G-code file needs of a printer: how far its moves reach and the nozzle it was sliced for.

A G-code file cannot be turned or moved on the bed the way a model can: it fits a printer only if the
printer reaches every coordinate the file extrudes at. The nozzle comes from the slicer's comments
(PrusaSlicer/SuperSlicer/OrcaSlicer ``; nozzle_diameter = 0.4``, Cura ``;NOZZLE_DIAMETER:0.4`` or
``;EXTRUDER_TRAIN.0.NOZZLE.DIAMETER:0.4``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_NOZZLE = re.compile(
    rb"^;\s*(?:nozzle_diameter\s*=\s*|NOZZLE_DIAMETER\s*:\s*|EXTRUDER_TRAIN\.0\.NOZZLE\.DIAMETER\s*:\s*)([0-9.]+)",
    re.MULTILINE,
)
_WORD = re.compile(rb"([XYZE])\s*(-?[0-9]*\.?[0-9]+)")
#: moves within this margin below zero are start-up purge lines (e.g. Prusa's at Y-3), not the print
PURGE_MARGIN_MM = 5.0


@dataclass(frozen=True)
class GcodeNeeds:
    """How far a file extrudes (max X, Y, Z in mm; ``None`` if it never extrudes) and its nozzle (mm)."""

    reach_mm: tuple[float, float, float] | None
    nozzle_mm: float | None
    below_zero: bool = False


def read_gcode_needs(path: Path | str) -> GcodeNeeds:
    """Scan a G-code file's moves (absolute/relative XYZ and E) and its slicer comments."""
    data = Path(path).read_bytes()
    nozzle_match = _NOZZLE.search(data)
    nozzle = float(nozzle_match.group(1)) if nozzle_match else None
    pos = {b"X": 0.0, b"Y": 0.0, b"Z": 0.0, b"E": 0.0}
    absolute_xyz, absolute_e = True, True
    hi = [float("-inf")] * 3
    lo = [float("inf")] * 3
    for raw in data.splitlines():
        line = raw.split(b";", 1)[0].strip().upper()
        if not line:
            continue
        if line.startswith((b"G1", b"G0")) and line[2:3] in (b" ", b"X", b"Y", b"Z", b"E", b"F", b""):
            words = dict(_WORD.findall(line))
            extruding = False
            if b"E" in words:
                e = float(words[b"E"])
                extruding = (e > pos[b"E"]) if absolute_e else e > 0
                pos[b"E"] = e if absolute_e else pos[b"E"] + e
            for axis in (b"X", b"Y", b"Z"):
                if axis in words:
                    value = float(words[axis])
                    pos[axis] = value if absolute_xyz else pos[axis] + value
            if extruding:
                for i, axis in enumerate((b"X", b"Y", b"Z")):
                    hi[i] = max(hi[i], pos[axis])
                    lo[i] = min(lo[i], pos[axis])
        elif line.startswith(b"G90"):
            absolute_xyz, absolute_e = True, True
        elif line.startswith(b"G91"):
            absolute_xyz, absolute_e = False, False
        elif line.startswith(b"M82"):
            absolute_e = True
        elif line.startswith(b"M83"):
            absolute_e = False
        elif line.startswith(b"G92") and b"E" in line:
            words = dict(_WORD.findall(line))
            pos[b"E"] = float(words.get(b"E", 0.0))
    if hi[0] == float("-inf"):
        return GcodeNeeds(reach_mm=None, nozzle_mm=nozzle)
    below = any(v < -PURGE_MARGIN_MM for v in lo[:2])
    return GcodeNeeds(
        reach_mm=(round(hi[0], 2), round(hi[1], 2), round(hi[2], 2)), nozzle_mm=nozzle, below_zero=below
    )


def fits_gcode(needs: GcodeNeeds, build_volume_mm: tuple[float, float, float], nozzle_mm: float) -> bool:
    """Whether a printer with this build volume and nozzle can print the file as it is (no turning)."""
    if needs.below_zero:
        return False
    if needs.nozzle_mm is not None and abs(needs.nozzle_mm - nozzle_mm) > 1e-3:
        return False
    if needs.reach_mm is None:
        return True
    return all(reach <= limit + 1e-6 for reach, limit in zip(needs.reach_mm, build_volume_mm, strict=True))
