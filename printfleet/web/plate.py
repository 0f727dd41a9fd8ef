"""Copies of a model on one plate, printed together, the way PrusaSlicer prints copies.

PrusaSlicer puts copies side by side on one bed (``duplicate_distance`` apart, 6 mm by default) and prints
them layer by layer in one print, so the copies share the start and end G-code, the heating and one skirt,
and a layer of many copies is long enough that the cooling slowdown for short layers no longer stretches it.
Time therefore grows less than the number of copies (PrusaSlicer: 3 copies of a 20 mm cube take 2.2 times
one, 10 copies 7.2 times). Rather than guess that factor, printfleet writes the plate (the copies in a grid)
as one STL and estimates, slices and prints that: the estimate, the slicer's figure and the print are all of
the same N copies.

The grid is chosen so that the plate fits as many of the given beds as possible (turning the whole plate
about Z is allowed, as for any part), then as square as possible. Copies are not turned on their own.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from printfleet.queue.policy import fits_volume

logger = logging.getLogger(__name__)

#: PrusaSlicer's default distance between copies (``duplicate_distance``) when a profile does not say
DEFAULT_GAP_MM = 6.0
_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])


@dataclass(frozen=True)
class PlateLayout:
    """Copies in ``columns`` x ``rows`` (the last row may be short); ``size_mm`` is the plate's x, y, z."""

    copies: int
    columns: int
    rows: int
    size_mm: tuple[float, float, float]


def _layout(part_mm: tuple[float, float, float], copies: int, columns: int, gap_mm: float) -> PlateLayout:
    rows = math.ceil(copies / columns)
    x = columns * part_mm[0] + (columns - 1) * gap_mm
    y = rows * part_mm[1] + (rows - 1) * gap_mm
    return PlateLayout(copies, columns, rows, (round(x, 3), round(y, 3), part_mm[2]))


def plan_plate(
    part_mm: tuple[float, float, float],
    copies: int,
    beds_mm: list[tuple[float, float, float]],
    gap_mm: float = DEFAULT_GAP_MM,
) -> PlateLayout:
    """The grid for ``copies`` of a part: the one that fits the most of ``beds_mm``, then the squarest."""
    if copies < 1:
        raise ValueError("copies must be at least 1")

    def score(layout: PlateLayout) -> tuple[int, float, int]:
        fitting = sum(fits_volume(layout.size_mm, bed) for bed in beds_mm)
        return (-fitting, max(layout.size_mm[:2]), layout.rows)

    columns = sorted({math.ceil(copies / rows) for rows in range(1, copies + 1)})  # no needlessly wide grids
    return min((_layout(part_mm, copies, c, gap_mm) for c in columns), key=score)


def most_copies_on_one_bed(
    part_mm: tuple[float, float, float],
    beds_mm: list[tuple[float, float, float]],
    gap_mm: float = DEFAULT_GAP_MM,
    limit: int = 100,
) -> int:
    """How many copies of the part fit on the largest of ``beds_mm`` in one grid (0 if not even one)."""
    best = 0
    for bed in beds_mm:
        for turned in (False, True):
            x, y = (part_mm[1], part_mm[0]) if turned else (part_mm[0], part_mm[1])
            if part_mm[2] > bed[2] or x > bed[0] or y > bed[1]:
                continue
            columns = int((bed[0] + gap_mm) // (x + gap_mm))
            rows = int((bed[1] + gap_mm) // (y + gap_mm))
            best = max(best, columns * rows)
    return min(best, limit)


def write_plate(
    triangles: np.ndarray, layout: PlateLayout, path: Path, gap_mm: float = DEFAULT_GAP_MM
) -> None:
    """Write the copies of ``triangles`` (n, 3, 3) in the layout's grid as one binary STL, the plate's corner at
    the origin and its bottom on z = 0."""
    points = triangles.reshape(-1, 3)
    low = points.min(axis=0)
    size = points.max(axis=0) - low
    records = np.zeros(len(triangles) * layout.copies, dtype=_RECORD)
    for copy in range(layout.copies):
        column, row = copy % layout.columns, copy // layout.columns
        offset = np.array([column * (size[0] + gap_mm), row * (size[1] + gap_mm), 0.0]) - low
        part = slice(copy * len(triangles), (copy + 1) * len(triangles))
        records["vertices"][part] = triangles + offset.astype(np.float32)
    with path.open("wb") as out:
        out.write(f"printfleet plate: {layout.copies} copies".encode().ljust(80, b" "))
        out.write(np.uint32(len(records)).tobytes())
        out.write(records.tobytes())
    logger.debug(
        "wrote a plate of %d copies (%d x %d) to %s", layout.copies, layout.columns, layout.rows, path
    )
