"""Fit check: which printers' build volumes a model fits, rotation about Z allowed."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import numpy as np

logger = logging.getLogger(__name__)

_ANGLES = np.radians(np.arange(0.0, 180.0, 0.5))


def convex_hull_xy(points: np.ndarray) -> np.ndarray:
    """Convex hull (counter-clockwise, shape (k, 2)) of XY points, with an extreme-point pre-filter."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) > 64:
        # Akl-Toussaint: points strictly inside the polygon of 32 directional extremes cannot be on the hull.
        dirs = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        proj = pts @ np.stack([np.cos(dirs), np.sin(dirs)])
        extreme = pts[np.unique(proj.argmax(axis=0))]
        if len(extreme) >= 3:
            inside = np.ones(len(pts), dtype=bool)
            poly = extreme[np.argsort(np.arctan2(*(extreme - extreme.mean(axis=0)).T[::-1]))]
            for a, b in zip(poly, np.roll(poly, -1, axis=0)):
                cross = (b[0] - a[0]) * (pts[:, 1] - a[1]) - (b[1] - a[1]) * (pts[:, 0] - a[0])
                inside &= cross > 1e-9
            pts = np.concatenate([pts[~inside], extreme])
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
