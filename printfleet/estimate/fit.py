"""Fit check: which printers' build volumes a model fits, rotation about Z allowed."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

logger = logging.getLogger(__name__)

_ANGLES = np.radians(np.arange(0.0, 180.0, 0.5))


def convex_hull_xy(points: np.ndarray) -> np.ndarray:
    """Convex hull of XY points: its vertices, counter-clockwise, shape (k, 2) (collinear points dropped).

    Quickhull, vectorised: each round finds, for every open hull edge at once, the point farthest outside it,
    splits the edge there and drops the points inside the new triangles. About log2(k) rounds of numpy
    work over the remaining points; no per-point Python loop, so round outlines with thousands of hull
    points stay cheap.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return np.unique(pts, axis=0)
    x, y = np.ascontiguousarray(pts[:, 0]), np.ascontiguousarray(pts[:, 1])
    low = np.flatnonzero(x == x.min())
    high = np.flatnonzero(x == x.max())
    i_a, i_b = int(low[y[low].argmin()]), int(high[y[high].argmax()])
    if i_a == i_b:
        return pts[[i_a]]
    span = max(float(np.ptp(x)), float(np.ptp(y)))
    eps = 1e-13 * span * span  # cross products below this count as collinear
    # Open edges (start, end) run counter-clockwise: the lower chain a -> b, then the upper chain b -> a.
    ax, ay, bx, by = x[i_a], y[i_a], x[i_b], y[i_b]
    below = (x - ax) * (by - ay) - (y - ay) * (bx - ax)  # > 0: outside a -> b, < 0: outside b -> a
    keep = np.abs(below) > eps
    cand = np.flatnonzero(keep)
    edge = (below[keep] < 0).astype(np.intp)
    outside = np.abs(below[keep])
    cx, cy = x[cand], y[cand]
    starts, ends = np.array([i_a, i_b]), np.array([i_b, i_a])
    starts, ends, edge = _open_edges(starts, ends, edge)
    vertices = [np.array([i_a, i_b])]
    while len(cand):
        n_edges = len(starts)
        best = np.full(n_edges, -np.inf)
        np.maximum.at(best, edge, outside)
        farthest = np.empty(n_edges, dtype=np.intp)
        winner = outside == best[edge]
        farthest[edge[winner]] = cand[winner]
        vertices.append(farthest)
        # Each edge (s, e) becomes (s, f) and (f, e); a point outside neither is inside the triangle s-f-e.
        sx, sy, fx, fy, ex, ey = (
            arr[edge] for arr in (x[starts], y[starts], x[farthest], y[farthest], x[ends], y[ends])
        )
        d_first = (cx - sx) * (fy - sy) - (cy - sy) * (fx - sx)
        d_second = (cx - fx) * (ey - fy) - (cy - fy) * (ex - fx)
        first = d_first > eps
        keep = first | (d_second > eps)
        new_edge = (2 * edge + ~first)[keep]
        outside = np.where(first, d_first, d_second)[keep]
        cand, cx, cy = cand[keep], cx[keep], cy[keep]
        starts, ends, edge = _open_edges(
            np.stack([starts, farthest], axis=1).ravel(), np.stack([farthest, ends], axis=1).ravel(), new_edge
        )
    hull = pts[np.unique(np.concatenate(vertices))]
    centre = hull.mean(axis=0)
    return hull[np.argsort(np.arctan2(hull[:, 1] - centre[1], hull[:, 0] - centre[0]))]


def _open_edges(starts: np.ndarray, ends: np.ndarray, edge: np.ndarray):
    """Keep the edges that still have points outside them (the others are hull edges), renumbering ``edge``."""
    used = np.zeros(len(starts), dtype=bool)
    used[edge] = True
    return starts[used], ends[used], (np.cumsum(used) - 1)[edge]


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
