"""G-code uploads: the slicer's own figures from its comments, or an estimate from the moves themselves.

Recognised comments: PrusaSlicer/SuperSlicer (``; estimated printing time (normal mode) = 1h 2m 3s``,
``; filament used [mm] = ...``, ``[g]``), OrcaSlicer/Bambu Studio (``; estimated printing time ...``,
``; model printing time: ...``, ``; total filament used [g] = ...``), Cura (``;TIME:``, ``;Filament used: 1.2m``).
Without them, time comes from G0/G1 lengths, feedrates and accelerations (G90/G91, M82/M83, G92 handled).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from printfleet.errors import UserError
from printfleet.texts import N_

logger = logging.getLogger(__name__)

DEFAULT_FILAMENT_DIAMETER_MM = 1.75
DEFAULT_DENSITY_G_CM3 = 1.24
_DEFAULT_ACCEL = 1000.0
_DEFAULT_JERK = 8.0


class GcodeError(UserError):
    """The G-code file cannot be read."""


@dataclass(frozen=True)
class GcodeEstimate:
    """Print time and filament of a G-code file and where the figures came from."""

    print_time_s: float
    filament_mm: float
    filament_g: float | None
    source: str  # "prusaslicer", "orcaslicer", "cura" or "moves"
    moves: int = 0
    by_type_mm: dict[str, float] = field(default_factory=dict)  # extruded path length per ;TYPE:
    by_type_e_mm: dict[str, float] = field(default_factory=dict)  # filament per ;TYPE:
    by_type_s: dict[str, float] = field(default_factory=dict)  # move time per ;TYPE:
    warnings: tuple[str, ...] = ()


_DURATION = re.compile(
    r"(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?!m))?\s*(?:(\d+(?:\.\d+)?)\s*s)?", re.IGNORECASE
)


def parse_duration(text: str) -> float | None:
    """``1d 2h 3m 4s`` / ``2h 3m`` / ``45s`` / plain seconds -> seconds."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    m = _DURATION.fullmatch(text)
    if not m or not any(m.groups()):
        return None
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


def _first_number(text: str) -> float | None:
    m = re.search(r"-?\d+(?:\.\d+)?", text)
    return float(m.group()) if m else None


def parse_slicer_comments(lines: list[str]) -> tuple[float | None, float | None, float | None, str | None]:
    """Return (time_s, filament_mm, filament_g, source) from slicer summary comments, where present."""
    time_s = fil_mm = fil_g = None
    source = None
    for raw in lines:
        line = raw.strip()
        if not line.startswith(";"):
            continue
        body = line.lstrip(";").strip()
        low = body.lower()
        if low.startswith("estimated printing time (normal mode)") and "=" in body:
            time_s = parse_duration(body.split("=", 1)[1]) or time_s
            source = "prusaslicer"
        elif low.startswith("estimated printing time") and time_s is None:
            value = body.split("=", 1)[1] if "=" in body else body.split(":", 1)[-1]
            parsed = parse_duration(value)
            if parsed is not None:
                time_s = parsed
                source = source or "orcaslicer"
        elif low.startswith("model printing time:"):
            # Bambu Studio / Orca: "; model printing time: 1h 2m 3s; total estimated time: 1h 5m 0s"
            parts = [p.strip() for p in body.split(";")]
            for part in parts:
                if part.lower().startswith("total estimated time:"):
                    time_s = parse_duration(part.split(":", 1)[1]) or time_s
                    break
            else:
                time_s = parse_duration(parts[0].split(":", 1)[1]) or time_s
            source = source or "orcaslicer"
        elif low.startswith("total estimated time:") and time_s is None:
            time_s = parse_duration(body.split(":", 1)[1])
            source = source or "orcaslicer"
        elif low.startswith("filament used [mm]") and "=" in body:
            fil_mm = _sum_list(body.split("=", 1)[1])
            source = source or "prusaslicer"
        elif (
            low.startswith(("filament used [g]", "total filament used [g]"))
        ) and "=" in body:
            fil_g = _sum_list(body.split("=", 1)[1])
        elif low.startswith("time:") and body[:5] == "TIME:":
            value = _first_number(body[5:])
            if value is not None:
                time_s = value
                source = "cura"
        elif low.startswith("filament used:"):
            # Cura: ";Filament used: 1.23456m" (metres; a list for several extruders)
            total = 0.0
            for item in body.split(":", 1)[1].split(","):
                item = item.strip().lower()
                num = _first_number(item)
                if num is None:
                    continue
                total += num * (1000.0 if item.endswith("m") and not item.endswith("mm") else 1.0)
            fil_mm = total
            source = source or "cura"
    return time_s, fil_mm, fil_g, source


def _sum_list(text: str) -> float | None:
    total = 0.0
    found = False
    for item in text.split(","):
        num = _first_number(item)
        if num is not None:
            total += num
            found = True
    return total if found else None


_WORD = re.compile(r"([A-Z])\s*(-?\d*\.?\d+(?:[eE][-+]?\d+)?)")


def estimate_moves(
    lines: list[str],
    *,
    default_accel: float = _DEFAULT_ACCEL,
    jerk: float = _DEFAULT_JERK,
    axis_accel: float = _DEFAULT_ACCEL,
    z_accel: float = 200.0,
    z_feed: float = 12.0,
) -> tuple[float, float, int, dict[str, float], dict[str, float]]:
    """Time and filament from G0/G1 moves: (time_s, filament_mm, moves, path mm by type, filament mm by type)."""
    absolute = True
    e_absolute = True
    x = y = z = e = 0.0
    feed = 1500.0 / 60
    accel = default_accel
    kind = "unknown"
    rows: list[tuple[float, float, float, float, float, float]] = []  # dx, dy, dz, de, v, accel
    kinds: list[str] = []
    filament = 0.0
    dwell = 0.0
    for raw in lines:
        code, _, comment = raw.partition(";")
        if not code.strip():
            c = comment.strip()
            if c.startswith("TYPE:"):
                kind = c[5:].strip()
            continue
        code = code.strip().upper()
        cmd = code.split(None, 1)[0]
        if cmd in ("G0", "G1", "G00", "G01"):
            words = dict(_WORD.findall(code[len(cmd) :]))
            try:
                nx = float(words["X"]) if "X" in words else None
                ny = float(words["Y"]) if "Y" in words else None
                nz = float(words["Z"]) if "Z" in words else None
                ne = float(words["E"]) if "E" in words else None
                if "F" in words:
                    feed = max(float(words["F"]) / 60, 1e-3)
            except ValueError:
                continue
            tx = (nx if absolute else x + nx) if nx is not None else x
            ty = (ny if absolute else y + ny) if ny is not None else y
            tz = (nz if absolute else z + nz) if nz is not None else z
            de = 0.0
            if ne is not None:
                de = ne - e if e_absolute else ne
                e = ne if e_absolute else e + ne
            dx, dy, dz = tx - x, ty - y, tz - z
            x, y, z = tx, ty, tz
            filament += de
            if dx or dy or dz or de:
                rows.append((dx, dy, dz, de, feed, accel))
                kinds.append(kind if (de > 0 and (dx or dy)) else "travel")
        elif cmd == "G90":
            absolute = True
            e_absolute = True
        elif cmd == "G91":
            absolute = False
            e_absolute = False
        elif cmd == "M82":
            e_absolute = True
        elif cmd == "M83":
            e_absolute = False
        elif cmd == "G92":
            words = dict(_WORD.findall(code[3:]))
            if "E" in words:
                e = float(words["E"])
            if "X" in words:
                x = float(words["X"])
            if "Y" in words:
                y = float(words["Y"])
            if "Z" in words:
                z = float(words["Z"])
            if not words:
                x = y = z = e = 0.0
        elif cmd == "M204":
            words = dict(_WORD.findall(code[4:]))
            value = words.get("P") or words.get("S")
            if value:
                accel = max(float(value), 1.0)
        elif cmd == "G4":
            words = dict(_WORD.findall(code[2:]))
            if "S" in words:
                dwell += float(words["S"])
            elif "P" in words:
                dwell += float(words["P"]) / 1000
        elif cmd == "G28":
            dwell += 10.0
    if not rows:
        return dwell, filament, 0, {}, {}, {}
    arr = np.array(rows)
    dx, dy, dz, de, v, acc = arr.T
    length = np.sqrt(dx * dx + dy * dy + dz * dz)
    e_only = length == 0
    # Extruder-only moves (retract/deretract): time at their feedrate.
    t_e = np.abs(de[e_only]) / v[e_only]
    lm = ~e_only
    L = length[lm]
    vv = v[lm]
    aa = acc[lm]
    ux, uy = dx[lm] / L, dy[lm] / L
    # Z-only moves: the planner's junction speed there is tiny (Z jerk), start and stop from rest.
    from printfleet.estimate.model import _junction_speed_factor

    vmin = np.minimum(vv[:-1], vv[1:])
    vj = _junction_speed_factor(ux[:-1], uy[:-1], ux[1:], uy[1:], vmin, jerk) * vmin
    zmove = np.abs(dz[lm]) > 0.5 * L
    vj = np.where(zmove[:-1] | zmove[1:], 0.4, vj)  # Z jerk: a lift starts and ends almost from rest
    v0 = np.concatenate([[min(jerk, vv[0])], vj])
    v1 = np.concatenate([vj, [min(jerk, vv[-1])]])
    # Per-axis acceleration limits (X/Y 1000 on a MK3S) cap the M204 value along the move direction.
    uz = dz[lm] / L
    aa = np.minimum(aa, axis_accel / np.maximum(np.maximum(np.abs(ux), np.abs(uy)), 1e-9))
    aa = np.minimum(aa, z_accel / np.maximum(np.abs(uz), 1e-9))
    vv = np.minimum(vv, z_feed / np.maximum(np.abs(uz), 1e-9))
    from printfleet.estimate.model import planned_times

    t = planned_times(L, vv, aa, vj, float(v0[0]), float(v1[-1]))
    total = float(t.sum() + t_e.sum() + dwell)
    by_type: dict[str, float] = {}
    by_type_e: dict[str, float] = {}
    by_type_s: dict[str, float] = {}
    kinds_arr = np.array(kinds)
    t_all = np.zeros(len(length))
    t_all[lm] = t
    t_all[e_only] = t_e
    for k in np.unique(kinds_arr):
        sel = kinds_arr == k
        by_type[str(k)] = float(length[sel].sum())
        by_type_e[str(k)] = float(np.clip(de[sel], 0, None).sum())
        by_type_s[str(k)] = float(t_all[sel].sum())
    return total, filament, len(rows), by_type, by_type_e, by_type_s


def read_gcode(
    path: Path | str,
    *,
    filament_diameter_mm: float = DEFAULT_FILAMENT_DIAMETER_MM,
    density_g_cm3: float = DEFAULT_DENSITY_G_CM3,
    force_moves: bool = False,
) -> GcodeEstimate:
    """Figures for a G-code file: the slicer's comments when present, otherwise estimated from the moves.

    Raises:
        GcodeError: the file is missing, empty or not text G-code.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise GcodeError(N_("%(file)s: file not found"), file=str(path)) from None
    except OSError as exc:
        raise GcodeError(N_("%(file)s: cannot read it (%(problem)s)"), file=str(path), problem=exc.strerror) from None
    if not data.strip():
        raise GcodeError(N_("%(file)s: empty file"), file=str(path))
    if b"\x00" in data[:4096]:
        raise GcodeError(N_("%(file)s: not a text G-code file (binary content)"), file=str(path))
    lines = data.decode("utf-8", errors="replace").splitlines()
    area = math.pi * (filament_diameter_mm / 2) ** 2
    time_s, fil_mm, fil_g, source = (None, None, None, None) if force_moves else parse_slicer_comments(lines)
    warnings: list[str] = []
    if time_s is not None and fil_mm is not None and not force_moves:
        if fil_g is None:
            fil_g = fil_mm * area * density_g_cm3 / 1000
        return GcodeEstimate(time_s, fil_mm, fil_g, source or "slicer")
    moves_time, moves_fil, n_moves, by_type, by_type_e, by_type_s = estimate_moves(lines)
    if n_moves == 0 and time_s is None:
        raise GcodeError(N_("%(file)s: no G0/G1 moves and no slicer summary; not a G-code file?"), file=str(path))
    if time_s is None:
        time_s = moves_time
        warnings.append("no slicer time in the file; estimated from the moves")
    if fil_mm is None:
        fil_mm = moves_fil
    if fil_g is None:
        fil_g = fil_mm * area * density_g_cm3 / 1000
    return GcodeEstimate(
        time_s,
        fil_mm,
        fil_g,
        source if source and not force_moves else "moves",
        n_moves,
        by_type,
        by_type_e,
        by_type_s,
        tuple(warnings),
    )
