"""Fit check: which printers' build volumes a model fits, rotation about Z allowed."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import numpy as np

logger = logging.getLogger(__name__)

_ANGLES = np.radians(np.arange(0.0, 180.0, 0.5))


_FIT_DIRECTIONS = 1440  # every 0.25 degrees: includes every direction fits_volume() measures (0.5 degree steps)
_EXACT_HULL_MAX = 2048  # candidate points up to which the hull is traced exactly (a Python loop)


def _extreme_points(pts: np.ndarray, n_dirs: int) -> np.ndarray:
    """Indices of the points farthest along ``n_dirs`` evenly spaced directions, in counter-clockwise order
    without repeats: vertices of the convex hull, in hull order."""
    angles = np.linspace(0, 2 * math.pi, n_dirs, endpoint=False)
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    best = np.full(n_dirs, -np.inf)
    best_idx = np.zeros(n_dirs, dtype=np.intp)
    chunk = max(1, (1 << 22) // n_dirs)
    for a in range(0, len(pts), chunk):
        proj = dirs @ pts[a : a + chunk].T  # (directions, points): row-wise reductions are contiguous
        idx = proj.argmax(axis=1)
        val = proj[np.arange(n_dirs), idx]
        better = val > best
        best[better], best_idx[better] = val[better], idx[better] + a
    extreme = best_idx[np.concatenate([[True], best_idx[1:] != best_idx[:-1]])]
    if len(extreme) > 1 and extreme[0] == extreme[-1]:
        extreme = extreme[:-1]
    return extreme


def _discard_interior(pts: np.ndarray, n_dirs: int) -> np.ndarray:
    """Drop the points strictly inside the polygon of the extreme points in ``n_dirs`` directions (they
    cannot be on the hull; Akl-Toussaint). Each point is tested against the one polygon edge of its angular
    sector around the polygon's centre, so the cost is O(n log n_dirs)."""
    extreme = _extreme_points(pts, n_dirs)
    if len(extreme) < 3:
        return pts
    poly = pts[extreme]
    centre = poly.mean(axis=0)
    vertex_angle = np.arctan2(poly[:, 1] - centre[1], poly[:, 0] - centre[0])
    start = int(vertex_angle.argmin())
    poly, vertex_angle = np.roll(poly, -start, axis=0), np.roll(vertex_angle, -start)
    if not bool(np.all(np.diff(vertex_angle) > 0)):
        return pts  # degenerate (collinear) polygon: keep everything
    point_angle = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    sector = np.searchsorted(vertex_angle, point_angle, side="right") - 1
    sector[sector < 0] = len(poly) - 1
    a, b = poly[sector], poly[(sector + 1) % len(poly)]
    cross = (b[:, 0] - a[:, 0]) * (pts[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (pts[:, 0] - a[:, 0])
    return np.concatenate([pts[~(cross > 1e-9)], poly])


def convex_hull_xy(points: np.ndarray) -> np.ndarray:
    """Convex hull (counter-clockwise, shape (k, 2)) of XY points, with extreme-point pre-filters.

    Round outlines can leave thousands of points on the hull itself; above ``_EXACT_HULL_MAX`` candidates the
    result is the hull's extreme vertices in 1,440 directions (every 0.25 degrees): still hull vertices, exact
    for :func:`fits_volume`'s 0.5 degree steps, and its perimeter within 1e-5 of the hull's.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) > 64:
        pts = _discard_interior(pts, 32)
    if len(pts) > 256:
        pts = _discard_interior(pts, 256)
    if len(pts) > _EXACT_HULL_MAX:
        pts = np.unique(np.round(pts, 6), axis=0)
        if len(pts) > _EXACT_HULL_MAX:
            return pts[_extreme_points(pts, _FIT_DIRECTIONS)]
    pts = np.unique(np.round(pts, 6), axis=0)
    if len(pts) < 3:
        return pts

    def half(seq: np.ndarray) -> list[np.ndarray]:
        hull: list[np.ndarray] = []
        for p in seq:
            while len(hull) >= 2:
                o, a = hull[-2], hull[-1]
                if (a[0] - o[0]) * (p[1] - o[1]) - (a[1] - o[1]) * (p[0] - o[0]) <= 0:
                    hull.pop()
                else:
                    break
            hull.append(p)
        return hull

    lower = half(pts)
    upper = half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def fits_volume(
    hull_xy: np.ndarray,
    height_mm: float,
    build_volume_mm: tuple[float, float, float],
    *,
    margin_mm: float = 0.0,
) -> bool:
    """Whether a footprint (convex hull) and height fit a build volume at some rotation about Z."""
    bx, by, bz = build_volume_mm
    if height_mm > bz + 1e-6:
        return False
    if len(hull_xy) == 0:
        return True
    c, s = np.cos(_ANGLES), np.sin(_ANGLES)
    x = hull_xy[:, :1] * c + hull_xy[:, 1:2] * s
    y = -hull_xy[:, :1] * s + hull_xy[:, 1:2] * c
    w = x.max(axis=0) - x.min(axis=0) + margin_mm
    d = y.max(axis=0) - y.min(axis=0) + margin_mm
    return bool(np.any((w <= bx + 1e-6) & (d <= by + 1e-6)))


def fitting_printers(
    hull_xy: np.ndarray, height_mm: float, printers: Iterable[tuple[str, tuple[float, float, float]]]
) -> list[str]:
    """Ids of the printers, given as ``(id, (x, y, z))`` pairs, whose build volume the model fits."""
    return [pid for pid, volume in printers if fits_volume(hull_xy, height_mm, volume)]
