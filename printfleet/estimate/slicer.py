"""PrusaSlicer CLI: slice a model with a profile into G-code and read the slicer's own figures.

This is the one place that runs the slicer; the dispatcher reuses :func:`slice_model` to produce G-code.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from printfleet.errors import UserError
from printfleet.estimate.gcode import parse_slicer_comments
from printfleet.estimate.profile import load_profile
from printfleet.texts import N_

logger = logging.getLogger(__name__)

SLICER_BINARY = os.environ.get("PRINTFLEET_PRUSA_SLICER", "prusa-slicer")
DEFAULT_TIMEOUT_S = 900.0


class SlicerError(UserError):
    """Slicing failed; the message says why."""


class SlicerNotFound(SlicerError):
    """The PrusaSlicer executable is not installed or not on PATH."""


class SlicerTimeout(SlicerError):
    """PrusaSlicer did not finish in time."""


class SliceRejected(SlicerError):
    """PrusaSlicer refused the model or profile (e.g. nothing on the first layer, object outside the bed)."""


@dataclass(frozen=True)
class SliceResult:
    """G-code written by PrusaSlicer and its own figures."""

    gcode_path: Path
    print_time_s: float
    filament_mm: float
    filament_g: float | None
    elapsed_s: float


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        low = line.lower()
        if "error" in low or "refus" in low or "fail" in low or "no extrusions" in low or "outside" in low:
            return line
    return lines[-1] if lines else "no output"


def read_summary(gcode_path: Path) -> tuple[float | None, float | None, float | None]:
    """Time (s), filament (mm) and filament (g) from the comments at the end of a PrusaSlicer G-code file."""
    size = gcode_path.stat().st_size
    with open(gcode_path, "rb") as fh:
        fh.seek(max(size - 64_000, 0))
        tail = fh.read().decode("utf-8", errors="replace").splitlines()
    time_s, fil_mm, fil_g, _ = parse_slicer_comments(tail)
    return time_s, fil_mm, fil_g


def slice_model(
    stl_path: Path | str,
    profile_path: Path | str,
    out_path: Path | str,
    *,
    center: tuple[float, float] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> SliceResult:
    """Slice ``stl_path`` with the PrusaSlicer profile into ``out_path`` (G-code).

    Args:
        center: XY bed position of the model; default the middle of the profile's bed.
        timeout_s: kill the slicer after this long.

    Raises:
        SlicerNotFound, SlicerTimeout, SliceRejected, SlicerError: all :class:`UserError` with one-line messages.
    """
    stl_path, profile_path, out_path = Path(stl_path), Path(profile_path), Path(out_path)
    binary = shutil.which(SLICER_BINARY)
    if binary is None:
        raise SlicerNotFound(N_("%(program)s not found; install PrusaSlicer (Debian: apt install prusa-slicer)"),
                             program=SLICER_BINARY)
    if not stl_path.is_file():
        raise SlicerError(N_("%(file)s: file not found"), file=str(stl_path))
    profile = load_profile(profile_path)
    if center is None:
        center = (profile.bed_size_mm[0] / 2, profile.bed_size_mm[1] / 2)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        binary,
        "--export-gcode",
        "--load",
        str(profile_path),
        "--center",
        f"{center[0]:g},{center[1]:g}",
        "--loglevel",
        "1",
        "-o",
        str(out_path),
        str(stl_path),
    ]
    logger.debug("running %s", " ".join(cmd))
    env = dict(os.environ)
    env.setdefault("HOME", "/tmp")
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise SlicerTimeout(N_("%(file)s: PrusaSlicer did not finish within %(limit_s)s"), file=str(stl_path),
                            limit_s=timeout_s) from None
    except OSError as exc:
        raise SlicerError(N_("cannot run %(program)s: %(problem)s"), program=binary, problem=exc.strerror) from None
    elapsed = time.perf_counter() - start
    output = (proc.stderr or "") + "\n" + (proc.stdout or "")
    if proc.returncode != 0 or not out_path.is_file():
        reason = _tail(output)
        if "no extrusions in the first layer" in output.lower():
            raise SliceRejected(N_("%(file)s: PrusaSlicer refused it: nothing touches the bed on the first layer"),
                                file=str(stl_path))
        if "outside" in reason.lower() or "fit" in reason.lower():
            raise SliceRejected(N_("%(file)s: PrusaSlicer refused it: %(detail)s"), file=str(stl_path), detail=reason)
        raise SlicerError(N_("%(file)s: PrusaSlicer failed (exit %(exit_code)s): %(detail)s"), file=str(stl_path),
                          exit_code=proc.returncode, detail=reason)
    time_s, fil_mm, fil_g = read_summary(out_path)
    if time_s is None or fil_mm is None:
        raise SlicerError(N_("%(file)s: PrusaSlicer wrote no time/filament summary"), file=str(stl_path))
    return SliceResult(out_path, float(time_s), float(fil_mm), fil_g, elapsed)
