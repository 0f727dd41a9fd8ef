"""What a pre-sliced G-code file needs of a printer, and how big the part in it is.

A G-code file cannot be turned or moved on the bed the way a model can, and it was made for one kind of
printer: its start G-code (heating, homing, the intro line, PrusaSlicer's ``M862.3 P "MINI"`` model check)
and its temperatures belong to that printer and filament. So a file fits a printer only if

- it was sliced for that printer: the same printer model, or, where a model is not named on both sides, a
  bed of the same size;
- with the filament the printer has loaded and the printer's nozzle;
- and the printer reaches every coordinate the file extrudes at.

What the file was sliced for comes from the slicer's settings block at its end (PrusaSlicer and SuperSlicer
``; prusaslicer_config = begin`` ... ``end``, OrcaSlicer ``; CONFIG_BLOCK_START``: ``printer_model``,
``filament_type``, ``nozzle_diameter``, ``bed_shape``/``printable_area``), PrusaSlicer's ``M862.3``/``M862.1``
checks, and Cura's ``;NOZZLE_DIAMETER:`` / ``;EXTRUDER_TRAIN.0.NOZZLE.DIAMETER:`` comments.

The part's size is the bounding box of the object's own extrusions (slicer ``;TYPE:`` features), widened by
half an extrusion width on each side: the intro (purge/prime) line of the start G-code, the skirt and a
wipe tower are not the part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_NOZZLE = re.compile(
    rb"^;\s*(?:nozzle_diameter\s*=\s*|NOZZLE_DIAMETER\s*:\s*|EXTRUDER_TRAIN\.0\.NOZZLE\.DIAMETER\s*:\s*)([0-9.]+)",
    re.MULTILINE,
)
_SETTING = re.compile(rb"^;\s*([a-z_]+)\s*=\s*(.*?)\s*$", re.MULTILINE)
_MODEL_CHECK = re.compile(rb'^\s*M862\.3\s+P\s*"([^"]+)"', re.MULTILINE)
_NOZZLE_CHECK = re.compile(rb"^\s*M862\.1\s+P\s*([0-9.]+)", re.MULTILINE)
_WORD = re.compile(rb"([XYZE])\s*(-?[0-9]*\.?[0-9]+)")
#: moves within this margin below zero are start-up purge lines (e.g. Prusa's at Y-3), not the print
PURGE_MARGIN_MM = 5.0
#: the slicer settings block sits in the last few hundred kB (PrusaSlicer's is about 15 kB)
_TAIL_BYTES = 400_000
#: ``;TYPE:`` features that are not the part: start/end G-code (intro line), skirt, wipe and prime towers
NOT_THE_PART = frozenset({
    "custom", "skirt", "skirt/brim", "skirt_brim", "wipe tower", "prime tower", "prime-tower", "purge",
    "wipe_tower", "unknown",
})  # fmt: skip
_BED_TOLERANCE_MM = 1.0


@dataclass(frozen=True)
class GcodeNeeds:
    """What a G-code file needs of a printer and the size of the part it prints.

    ``reach_mm``: how far it extrudes (max X, Y, Z; ``None`` if it never extrudes). ``part_mm``: the part's
    size (x, y, height). ``printer_model``, ``filament_type``, ``bed_mm`` (bed x, y) and ``nozzle_mm``: what
    it was sliced for, where the file says (``None`` otherwise).
    """

    reach_mm: tuple[float, float, float] | None
    nozzle_mm: float | None
    below_zero: bool = False
    part_mm: tuple[float, float, float] | None = None
    printer_model: str | None = None
    filament_type: str | None = None
    bed_mm: tuple[float, float] | None = None


def _settings(data: bytes) -> dict[str, str]:
    """The slicer's ``; key = value`` settings (the last block wins; values as text)."""
    tail = data[-_TAIL_BYTES:]
    return {k.decode(): v.decode("utf-8", errors="replace").strip() for k, v in _SETTING.findall(tail)}


def _bed_size(shape: str) -> tuple[float, float] | None:
    """``0x0,180x0,180x180,0x180`` -> (180, 180)."""
    try:
        points = [tuple(float(v) for v in p.split("x")) for p in shape.split(",") if p.strip()]
    except ValueError:
        return None
    if len(points) < 3 or any(len(p) != 2 for p in points):
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return round(max(xs) - min(xs), 2), round(max(ys) - min(ys), 2)


def _first_value(text: str | None) -> str | None:
    """The first of a ``;``-separated list (one per extruder), unquoted; ``None`` when empty."""
    if not text:
        return None
    value = text.split(";")[0].split(",")[0].strip().strip('"').strip()
    return value or None


def read_gcode_needs(path: Path | str) -> GcodeNeeds:
    """Scan a G-code file's moves (absolute/relative XYZ and E), its feature comments and its settings block."""
    data = Path(path).read_bytes()
    settings = _settings(data)
    nozzle: float | None = None
    nozzle_text = _first_value(settings.get("nozzle_diameter"))
    nozzle_match = _NOZZLE.search(data) or _NOZZLE_CHECK.search(data[:200_000])
    try:
        nozzle = (
            float(nozzle_text) if nozzle_text else (float(nozzle_match.group(1)) if nozzle_match else None)
        )
    except ValueError:
        nozzle = None
    model = _first_value(settings.get("printer_model"))
    if model is None:
        check = _MODEL_CHECK.search(data[:200_000])
        model = check.group(1).decode("utf-8", errors="replace").strip() if check else None
    filament = _first_value(settings.get("filament_type"))
    shape = settings.get("bed_shape") or settings.get("printable_area")
    bed = _bed_size(shape) if shape else None

    pos = {b"X": 0.0, b"Y": 0.0, b"Z": 0.0, b"E": 0.0}
    absolute_xyz, absolute_e = True, True
    hi = [float("-inf")] * 3
    lo = [float("inf")] * 3
    part_hi = [float("-inf")] * 3
    part_lo = [float("inf")] * 3
    feature: str | None = None  # the current ;TYPE:, None before the first
    half_width = 0.0
    for raw in data.splitlines():
        code, _, comment = raw.partition(b";")
        line = code.strip().upper()
        if not line:
            comment = comment.strip()
            if comment.startswith((b"TYPE:", b"FEATURE:")):
                feature = comment.split(b":", 1)[1].strip().decode("utf-8", errors="replace").lower()
            elif comment.startswith((b"WIDTH:", b"LINE_WIDTH:")):
                try:
                    half_width = float(comment.split(b":", 1)[1]) / 2
                except ValueError:
                    half_width = 0.0
            continue
        if line.startswith((b"G1", b"G0")) and line[2:3] in (b" ", b"X", b"Y", b"Z", b"E", b"F", b""):
            words = dict(_WORD.findall(line))
            extruding = False
            if b"E" in words:
                e = float(words[b"E"])
                extruding = (e > pos[b"E"]) if absolute_e else e > 0
                pos[b"E"] = e if absolute_e else pos[b"E"] + e
            start_x, start_y = pos[b"X"], pos[b"Y"]
            for axis in (b"X", b"Y", b"Z"):
                if axis in words:
                    value = float(words[axis])
                    pos[axis] = value if absolute_xyz else pos[axis] + value
            if extruding:
                for i, axis in enumerate((b"X", b"Y", b"Z")):
                    hi[i] = max(hi[i], pos[axis])
                    lo[i] = min(lo[i], pos[axis])
                if feature is not None and feature not in NOT_THE_PART:
                    for i, (a, b) in enumerate(((start_x, pos[b"X"]), (start_y, pos[b"Y"]))):
                        part_hi[i] = max(part_hi[i], a + half_width, b + half_width)
                        part_lo[i] = min(part_lo[i], a - half_width, b - half_width)
                    part_hi[2] = max(part_hi[2], pos[b"Z"])
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
        return GcodeNeeds(
            reach_mm=None, nozzle_mm=nozzle, printer_model=model, filament_type=filament, bed_mm=bed
        )
    if part_hi[0] == float("-inf"):  # no feature comments: everything it extrudes is the part
        part_hi, part_lo = hi, [*lo[:2], 0.0]
    part = (round(part_hi[0] - part_lo[0], 2), round(part_hi[1] - part_lo[1], 2), round(part_hi[2], 2))
    below = any(v < -PURGE_MARGIN_MM for v in lo[:2])
    return GcodeNeeds(
        reach_mm=(round(hi[0], 2), round(hi[1], 2), round(hi[2], 2)), nozzle_mm=nozzle, below_zero=below,
        part_mm=part, printer_model=model, filament_type=filament.upper() if filament else None, bed_mm=bed,
    )  # fmt: skip


@lru_cache(maxsize=256)
def cached_gcode_needs(path: str) -> GcodeNeeds:
    """:func:`read_gcode_needs` of a content-addressed (never changing) stored file, remembered."""
    return read_gcode_needs(path)


@lru_cache(maxsize=64)
def profile_printer_model(profile_path: Path) -> str | None:
    """The printer model a PrusaSlicer profile is for: its ``printer_model``, else the ``M862.3 P "..."`` check
    in its start G-code; ``None`` when it names none."""
    try:
        text = profile_path.read_bytes()
    except OSError:
        return None
    settings = {k.decode(): v.decode("utf-8", errors="replace").strip()
                for k, v in re.findall(rb"^([a-z_]+)\s*=\s*(.*?)\s*$", text, re.MULTILINE)}  # fmt: skip
    model = _first_value(settings.get("printer_model"))
    if model:
        return model
    check = re.search(r'M862\.3\s+P\s*"([^"]+)"', settings.get("start_gcode", ""))
    return check.group(1).strip() if check else None


def gcode_mismatch(
    needs: GcodeNeeds,
    build_volume_mm: tuple[float, float, float],
    nozzle_mm: float,
    *,
    material: str | None = None,
    printer_model: str | None = None,
) -> str | None:
    """Why a printer cannot print the file as it is (``model``, ``bed``, ``material``, ``nozzle``, ``reach``),
    or ``None`` when it can. ``material`` is what the printer has loaded, ``printer_model`` its model."""
    if needs.printer_model and printer_model:
        if needs.printer_model.strip().upper() != printer_model.strip().upper():
            return "model"
    elif needs.bed_mm is not None and any(
        abs(a - b) > _BED_TOLERANCE_MM for a, b in zip(needs.bed_mm, build_volume_mm[:2], strict=False)
    ):
        return "bed"
    if needs.filament_type and material and needs.filament_type.upper() != material.strip().upper():
        return "material"
    if needs.nozzle_mm is not None and abs(needs.nozzle_mm - nozzle_mm) > 1e-3:
        return "nozzle"
    if needs.below_zero:
        return "reach"
    if needs.reach_mm is not None and not all(
        reach <= limit + 1e-6 for reach, limit in zip(needs.reach_mm, build_volume_mm, strict=True)
    ):
        return "reach"
    return None


def fits_gcode(
    needs: GcodeNeeds,
    build_volume_mm: tuple[float, float, float],
    nozzle_mm: float,
    *,
    material: str | None = None,
    printer_model: str | None = None,
) -> bool:
    """Whether a printer with this build volume, nozzle, loaded material and model can print the file as it is."""
    return (
        gcode_mismatch(needs, build_volume_mm, nozzle_mm, material=material, printer_model=printer_model)
        is None
    )
