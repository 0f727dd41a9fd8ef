"""The layer model: what PrusaSlicer 2.5 will do with a mesh, from mid-plane slices of every layer.

Geometry (:func:`slice_layers`, :func:`features_from_slices`):

* one vectorised pass cuts each layer's mid-plane through the triangles into oriented segments (outline
  length and signed shoelace area per layer); segments are chained into loops through shared mesh edges
  (loop counts, the small-perimeter rule, per-junction corner speeds under the jerk limit);
* each layer is rasterised on a ~0.5 mm grid (winding numbers: overlapping or inverted shells show up) and
  split like PrusaSlicer does: perimeter band, top and bottom surfaces grown 3 mm into the infill, shells
  propagated top/bottom_solid_layers deep, ensure_vertical_shell_thickness, bridges over air and over
  sparse infill, sparse infill. Layers deep inside a run of identical layers are not re-classified.

Physics (:func:`predict`): extrusion volumes from areas x heights (PrusaSlicer's rounded-rectangle flow,
thick bridges, infill density), path lengths from areas / line spacing, times with trapezoidal acceleration
and jerk-limited turns, gyroid speed from a simulated gyroid polyline, retract/lift/travel cycles (per printed
loop, island or hole, and per infill region), and the cooling buffer's minimum layer time. A few free
constants (:class:`ModelConstants`) are fitted on the shared estimation set (``printfleet.estimate.calibrate``,
``bench/accuracy.py --fit``).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np

from printfleet.estimate import bitmask
from printfleet.estimate.bitmask import Bits
from printfleet.estimate.profile import SlicerProfile

logger = logging.getLogger(__name__)

_CHUNK = 1 << 15
_BLOCK = 1 << 15  # elements per block in elementwise passes: a block's temporaries stay in the CPU cache
_OUTLINE_PART = 100_000  # segments per part of the outline pass on worker threads
_MAX_GRID_CELLS = 40_000_000  # layers x cells per layer; the grid coarsens above this
_Z_EPS = 1e-5


@dataclass(frozen=True)
class ModelConstants:
    """Free constants of the physics model, fitted on the shared set (``printfleet.estimate.calibrate``)."""

    solid_grow_mm: float = 3.0  # top/bottom surfaces grown into the infill area (PrusaSlicer's 3 mm margin)
    vertical_shells: bool = True  # ensure_vertical_shell_thickness
    internal_bridges: bool = True  # solid infill over sparse infill printed as a bridge
    fill_rule: str = "nonzero"  # how overlapping or inverted shells fill: nonzero, evenodd or positive
    target_cell_mm: float = 0.5  # raster cell, rounded so that the perimeter band is a whole number of cells
    max_cells_per_layer: float = 20_000  # coarser cells above this (large footprints)
    thin_shell_weight: float = 0.285  # share of one-cell vertical-shell strips that end up solid
    retracts_per_loop: float = 2.259  # retract + travel cycles per outline loop (island or hole) and layer
    retracts_per_solid_region: float = 0.636  # ... per separate solid infill region
    retracts_per_sparse_line: float = 0.032  # ... per sparse infill line (lines not joined by anchors)
    travel_distance_factor: float = 0.869  # mean travel length relative to sqrt(layer area)
    anchor_edge_factor: float = 0.550  # share of the sparse region's border covered by anchors


DEFAULT_CONSTANTS = ModelConstants()


@dataclass
class LayerFeatures:
    """Per-layer geometry of a mesh sliced for one profile (arrays of length ``layers``)."""

    z_top_mm: np.ndarray
    height_mm: np.ndarray
    outline_mm: np.ndarray  # outline length (all loops)
    area_mm2: np.ndarray  # signed shoelace area
    raster_area_mm2: np.ndarray  # area of the filled cells (non-zero winding)
    interior_mm2: np.ndarray  # area inside the perimeters
    top_mm2: np.ndarray  # exposed top surface inside the perimeters
    solid_mm2: np.ndarray  # internal solid (propagated top/bottom shells), excluding top and bridges
    thin_shell_mm2: np.ndarray  # one-cell vertical-shell strips (solid or sparse, see thin_shell_weight)
    islands: np.ndarray  # Euler number of the layer (islands - holes)
    bridge_mm2: np.ndarray  # bottom surface over air
    sparse_mm2: np.ndarray  # sparse infill
    solid_edges_mm: np.ndarray  # boundary length of the solid regions (for line-end counts)
    sparse_edges_mm: np.ndarray  # boundary length of the sparse regions
    holes: np.ndarray  # closed clockwise outline loops enclosing more than a perimeter width squared
    shells: np.ndarray  # the same, counter-clockwise (islands, and overlapping inner shells)
    small_loop_mm: np.ndarray  # outline length in loops shorter than the small-perimeter threshold
    overhang_mm: np.ndarray  # outline length over air (perimeters printed at bridge speed)
    perim_time_unit: np.ndarray  # seconds to trace the outline once at perimeter speed incl. corners
    ext_time_unit: np.ndarray  # the same at external-perimeter speed
    open_ends: int  # segment ends with no continuation (open mesh)
    overlap_cells: int  # cells covered twice (overlapping shells or an inner shell with outward normals)
    inverted_cells: int  # cells with negative winding (inverted shell)
    filled_cells: int
    skirt_mm: float
    cell_mm: float


def _layer_planes(height: float, profile: SlicerProfile) -> tuple[np.ndarray, np.ndarray]:
    """Top z and thickness of every layer PrusaSlicer prints for an object ``height`` mm tall.

    Layers are uniform above the first; a layer exists while its mid-plane cuts the object.
    """
    h1, h = profile.first_layer_height_mm, profile.layer_height_mm
    n = 1 + max(math.ceil((height - h1 + h / 2) / h - 1e-9) - 1, 0) if height > h1 else 1
    tops = h1 + np.arange(n) * h
    heights = np.full(n, h)
    heights[0] = h1
    return tops, heights


def _planes_below(zm: np.ndarray):
    """A function giving, for an array of z, how many of the sorted planes ``zm`` lie strictly below each
    (``np.searchsorted(zm, z, side="left")``) from a bucket table instead of a binary search per value.

    Buckets are a quarter of the smallest gap wide, so a bucket holds at most one plane; the bucket of a z is
    a monotone function of z, so planes in lower buckets are below it and only its own bucket's plane needs a
    comparison. Falls back to the binary search when the table would be huge.
    """
    zm = np.asarray(zm, dtype=np.float64)

    def search(z: np.ndarray) -> np.ndarray:
        return np.searchsorted(zm, z.astype(np.float64), side="left")

    if len(zm) < 2:
        return search
    gap = float(np.diff(zm).min())
    if not gap > 0 or (zm[-1] - zm[0]) / gap > 1e6:
        return search
    base, inv = float(zm[0]), 4.0 / gap
    bucket_of_plane = np.floor((zm - base) * inv).astype(np.int64)
    if np.any(np.diff(bucket_of_plane) <= 0):
        return search
    n_buckets = int(bucket_of_plane[-1]) + 2
    planes_before = np.searchsorted(bucket_of_plane, np.arange(n_buckets), side="left")
    plane_in = np.full(n_buckets, np.inf)
    plane_in[bucket_of_plane] = zm

    def lookup(z: np.ndarray) -> np.ndarray:
        zz = z.astype(np.float64)
        b = np.floor((zz - base) * inv)
        np.clip(b, 0, n_buckets - 1, out=b)
        bi = b.astype(np.intp)
        return planes_before[bi] + (plane_in[bi] < zz)

    return lookup


def _slice_segments(
    vectors: np.ndarray,
    z_mid: np.ndarray,
    origin: np.ndarray,
    z_spans: list[np.ndarray] | tuple[np.ndarray, np.ndarray] | None = None,
):
    """Cut every triangle with every mid-plane it spans.

    Returns layer (int32) and x1, y1, x2, y2, nz (float32) per segment, oriented so that the solid is on the
    left. Two chunked passes (count, then fill preallocated arrays) keep memory near the output size.
    """
    n = len(vectors)
    spans = []
    total = 0
    starts = [0]
    zm = z_mid + origin[2]
    below = _planes_below(zm)
    for a in range(0, n, _CHUNK):
        if z_spans is not None:
            zl, zh = z_spans[0][a : a + _CHUNK], z_spans[1][a : a + _CHUNK]
        else:
            z = vectors[a : a + _CHUNK, :, 2]
            zl, zh = z.min(axis=1), z.max(axis=1)
        k0 = below(zl)
        cnt = below(zh) - k0
        spans.append(
            (
                k0.astype(np.int16 if len(zm) < 32000 else np.int32),
                cnt.astype(np.int16 if len(zm) < 32000 else np.int32),
            )
        )
        total += int(cnt.sum())
        starts.append(total)
    if isinstance(z_spans, list):
        z_spans.clear()  # the caller handed them over: free them before the segments are allocated
    layer_out = np.empty(total, np.int32)
    x1o, y1o, x2o, y2o, nzo = (np.empty(total, np.float32) for _ in range(5))
    origin32 = origin.astype(np.float32)
    z_mid32 = z_mid.astype(np.float32)

    def fill(ci: int) -> None:
        a, pos = ci * _CHUNK, starts[ci]
        k0, cnt = spans[ci]
        keep = np.nonzero(cnt > 0)[0]
        if len(keep) == 0:
            return
        k0, cnt = np.take(k0, keep).astype(np.int64), np.take(cnt, keep).astype(np.int64)
        # Contiguous per-component arrays (vertex, axis, triangle): cheap elementwise work below.
        soa = np.ascontiguousarray(vectors[a + keep].transpose(1, 2, 0), dtype=np.float32)
        soa -= origin32[None, :, None]
        (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = soa
        # Vertices by z: lowest, middle, highest (a sorting network; spanning triangles are never flat).
        # ``odd``: the sort was an odd permutation, i.e. (l, m, h) winds against the facet.
        lx, ly, lz, mx, my, mz, hx, hy, hz = x0, y0, z0, x1, y1, z1, x2, y2, z2
        s = lz > mz
        odd = s
        lx, mx = np.where(s, mx, lx), np.where(s, lx, mx)
        ly, my = np.where(s, my, ly), np.where(s, ly, my)
        lz, mz = np.where(s, mz, lz), np.where(s, lz, mz)
        s = mz > hz
        odd = odd ^ s
        mx, hx = np.where(s, hx, mx), np.where(s, mx, hx)
        my, hy = np.where(s, hy, my), np.where(s, my, hy)
        mz, hz = np.where(s, hz, mz), np.where(s, mz, hz)
        s = lz > mz
        odd ^= s
        lx, mx = np.where(s, mx, lx), np.where(s, lx, mx)
        ly, my = np.where(s, my, ly), np.where(s, ly, my)
        lz, mz = np.where(s, mz, lz), np.where(s, lz, mz)
        del soa, s
        # The facet's unit normal z (for overhangs), from (l, m, h) and the parity of the sort.
        e1x, e1y, e1z = mx - lx, my - ly, mz - lz
        e2x, e2y, e2z = hx - lx, hy - ly, hz - lz
        nx = e1y * e2z - e1z * e2y
        ny = e1z * e2x - e1x * e2z
        nz = e1x * e2y - e1y * e2x
        del e1x, e1y, e1z, e2x, e2y, e2z
        norm = np.sqrt(nx * nx + ny * ny + nz * nz)
        norm[norm == 0] = 1
        nz /= norm
        np.negative(nz, out=nz, where=odd)
        del nx, ny, norm
        if bool((cnt == 1).all()):
            layer = k0
        else:
            tri = np.repeat(np.arange(len(keep)), cnt)
            first = np.repeat(np.cumsum(cnt) - cnt, cnt)
            layer = np.take(k0, tri) + (np.arange(len(tri)) - first)
            lx, ly, lz, mx, my, mz, hx, hy, hz, nz, odd = (
                np.take(arr, tri) for arr in (lx, ly, lz, mx, my, mz, hx, hy, hz, nz, odd)
            )
        zp = np.take(z_mid32, layer)
        # Point on the long edge lo-hi.
        t = (zp - lz) / (hz - lz)
        pax = lx + t * (hx - lx)
        pay = ly + t * (hy - ly)
        lower = zp < mz
        px, py, pz = np.where(lower, lx, mx), np.where(lower, ly, my), np.where(lower, lz, mz)
        qx, qy, qz = np.where(lower, mx, hx), np.where(lower, my, hy), np.where(lower, mz, hz)
        with np.errstate(invalid="ignore", divide="ignore"):
            u = (zp - pz) / (qz - pz)
        u = np.nan_to_num(u)
        pbx = px + u * (qx - px)
        pby = py + u * (qy - py)
        # Oriented so that the outward normal is on the right. The cut from the long edge (l-h) to the short
        # one always has the normal of (l, m, h) on its right, so the segment turns round exactly when the
        # sort's permutation was odd.
        flip = odd
        m = len(layer)
        sl = slice(pos, pos + m)
        layer_out[sl] = layer
        x1o[sl] = np.where(flip, pbx, pax)
        y1o[sl] = np.where(flip, pby, pay)
        x2o[sl] = np.where(flip, pax, pbx)
        y2o[sl] = np.where(flip, pay, pby)
        nzo[sl] = nz

    if n > 4 * _CHUNK and (os.cpu_count() or 1) > 1:
        # numpy releases the GIL: big meshes are cut on two threads (chunks write disjoint ranges)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(fill, range(len(spans))))
    else:
        for ci in range(len(spans)):
            fill(ci)
    return layer_out, x1o, y1o, x2o, y2o, nzo


def _key_origin(x1, y1, x2, y2) -> tuple[np.floating, np.floating]:
    """The corner the point keys are quantised from (the same for every subset, so results do not depend
    on how the segments were split between threads)."""
    return min(x1.min(), x2.min()), min(y1.min(), y2.min())


def _segment_keys(layer, x1, y1, x2, y2, origin=None, subset: np.ndarray | None = None):
    """Integer keys of each segment's start and end point: layer, then x and y quantised to 0.1 um.

    ``subset`` (indices) keys only those segments, gathering them block by block (no full-size copies).
    """
    q = 1e4
    ox, oy = origin if origin is not None else _key_origin(x1, y1, x2, y2)
    n = len(layer) if subset is None else len(subset)
    k_start = np.empty(n, dtype=np.int64)
    k_end = np.empty(n, dtype=np.int64)
    for a in range(0, n, _BLOCK):  # cache-sized blocks: several times faster than whole-array temporaries
        sl = slice(a, a + _BLOCK)

        def part(arr: np.ndarray, sl: slice = sl) -> np.ndarray:
            return arr[sl] if subset is None else np.take(arr, subset[sl])

        lay = part(layer).astype(np.int64) << 48
        for out, x, y in ((k_start, x1, y1), (k_end, x2, y2)):
            kx = np.rint((part(x) - ox) * q).astype(np.int64)
            ky = np.rint((part(y) - oy) * q).astype(np.int64)
            out[sl] = lay | (kx << 24) | ky
    return k_start, k_end


def _sort_segments(layer, x1, y1, x2, y2, nz, origin=None, subset: np.ndarray | None = None):
    """Segments reordered by start point (layer first): loops and layers become local in memory, so the
    chaining's gathers stay in cache and per-layer ranges are contiguous. Returns the arrays and both keys.

    ``subset`` (indices) sorts only those segments, gathered straight into sorted order.
    """
    if (len(layer) if subset is None else len(subset)) == 0:
        empty = np.zeros(0, np.int64)
        return tuple(arr[:0] for arr in (layer, x1, y1, x2, y2, nz)), (empty, empty)
    k_start, k_end = _segment_keys(layer, x1, y1, x2, y2, origin, subset)
    order = np.argsort(k_start)
    # np.take gathers a permutation about twice as fast as fancy indexing; the layer is the key's top bits.
    sorted_start = np.take(k_start, order)
    ties = np.flatnonzero(sorted_start[1:] == sorted_start[:-1])
    if len(ties):
        # Shared start points (a broken mesh): ties keep their input order, as a stable sort would, so that
        # the chaining does not depend on how the segments were split between threads. Only the tied
        # positions are re-sorted.
        tied_at = np.union1d(ties, ties + 1)
        tied = order[tied_at]
        order[tied_at] = tied[np.lexsort((tied, sorted_start[tied_at]))]
    k_start = sorted_start
    k_end = np.take(k_end, order)
    if subset is not None:
        order = np.take(subset, order)
    arrays = ((k_start >> 48).astype(layer.dtype), *(np.take(a, order) for a in (x1, y1, x2, y2, nz)))
    return arrays, (k_start, k_end)


def _chain(keys: tuple[np.ndarray, np.ndarray], blocks: list[tuple[int, int]]):
    """Link each segment to the one starting where it ends. Returns next index (-1: open end), loop ids and
    whether each segment's chain runs into an open end.

    ``keys`` are the start and end keys of segments sorted by start (:func:`_sort_segments`); ``blocks`` are
    ranges of whole layers (:func:`_layer_blocks`). Segments only link within their layer, so they are
    matched and labelled block by block, in cache. Each end links to the first segment starting there.
    """
    sorted_keys, k_end = keys
    n = len(sorted_keys)
    nxt = np.empty(n, dtype=np.int32)
    for a, b in blocks:
        starts_here, ends_here = sorted_keys[a:b], k_end[a:b]
        if b - a > 1 and bool((starts_here[1:] != starts_here[:-1]).all()):
            # Unique start points: if the end points are the same set (a closed outline), matching the two
            # sorted lists pairs them, which is what the search below finds, only faster.
            by_end = np.argsort(ends_here)
            if np.array_equal(starts_here, np.take(ends_here, by_end)):
                nxt[a + by_end] = np.arange(a, b)
                continue
        pos = np.minimum(np.searchsorted(starts_here, ends_here), b - a - 1)
        nxt[a:b] = np.where(starts_here[pos] == ends_here, a + pos, -1)
    del sorted_keys, k_end
    # Loop labels: the minimum index of each loop, by pointer doubling.
    label = np.empty(n, dtype=np.int32)
    dead = np.empty(n, dtype=bool)
    for a, b in blocks:
        label[a:b], dead[a:b] = _loop_labels(nxt[a:b], a)
    return nxt, label, dead


def _layer_blocks(layer: np.ndarray, size: int = _BLOCK) -> list[tuple[int, int]]:
    """Ranges of whole layers, each about ``size`` segments (a layer bigger than that is one range)."""
    n = len(layer)
    cuts = [0]
    while cuts[-1] < n:
        a = cuts[-1]
        if a + size >= n:
            cuts.append(n)
            break
        b = int(np.searchsorted(layer, layer[a + size], side="left"))
        if b <= a:
            b = int(np.searchsorted(layer, layer[a + size], side="right"))
        cuts.append(b)
    return list(itertools.pairwise(cuts))


def _loop_labels(nxt: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum index (plus ``offset``) of each segment's loop, and whether its chain runs into an open end,
    for successor pointers ``nxt`` (global indices, ``-1`` for an open end) that stay within the block."""
    n = len(nxt)
    idx = np.arange(n, dtype=np.intp)
    label = idx.copy()
    ptr = np.where(nxt >= 0, nxt - offset, idx)
    dead = nxt < 0
    track_dead = bool(dead.any())
    # After k rounds each label is the minimum over the next 2^k segments (up to a dead end). A round that
    # changes nothing means the windows cover every loop (or the rest of every chain):
    # min(m_k(i), m_k(i + 2^k)) == m_k(i) everywhere makes m_k constant along each loop.
    for _ in range(64):
        new = np.minimum(label, label[ptr])
        same = np.array_equal(new, label)
        label = new
        if track_dead:
            grown = dead | dead[ptr]
            same = same and np.array_equal(grown, dead)
            dead = grown
        if same:
            break
        ptr = ptr[ptr]
    return label + offset, dead


def _junction_speed_factor(ux1, uy1, ux2, uy2, v, jerk):
    """Junction speed relative to ``v`` under PrusaSlicer's classic per-axis jerk rule.

    Per axis, a speed change in the same direction counts as its difference, a reversal as the larger of the
    two speeds; the junction speed is scaled down until no axis exceeds ``jerk``. When both moves could start
    from rest at a higher "safe" speed, that one is used.
    """
    worst = np.zeros(np.broadcast(ux1, ux2).shape)
    for a1, a2 in ((ux1, ux2), (uy1, uy2)):
        same = a1 * a2 >= 0
        change = np.where(same, np.abs(a2 - a1), np.maximum(np.abs(a1), np.abs(a2)))
        worst = np.maximum(worst, change * v)
    factor = np.minimum(1.0, jerk / np.maximum(worst, 1e-9))
    safe1 = np.minimum(1.0, jerk / np.maximum(np.maximum(np.abs(ux1), np.abs(uy1)) * v, 1e-9))
    safe2 = np.minimum(1.0, jerk / np.maximum(np.maximum(np.abs(ux2), np.abs(uy2)) * v, 1e-9))
    both_safe = (safe1 > factor * 0.99) & (safe2 > factor * 0.99)
    return np.where(both_safe, safe2, factor)


def _junction_geometry(ux1, uy1, ux2, uy2):
    """The direction terms of :func:`_junction_speed_factor`: largest per-axis change and each move's
    largest axis component, so that several speeds can be evaluated without recomputing them."""
    worst = None
    for a1, a2 in ((ux1, ux2), (uy1, uy2)):
        same = a1 * a2 >= 0
        change = np.where(same, np.abs(a2 - a1), np.maximum(np.abs(a1), np.abs(a2)))
        worst = change if worst is None else np.maximum(worst, change)
    return worst, np.maximum(np.abs(ux1), np.abs(uy1)), np.maximum(np.abs(ux2), np.abs(uy2))


def _junction_factor_at(geometry, v, jerk):
    """:func:`_junction_speed_factor` at speed ``v`` from :func:`_junction_geometry` (same result)."""
    change, m1, m2 = geometry
    worst = np.maximum(change * v, 0.0, dtype=np.float64)
    factor = np.minimum(1.0, jerk / np.maximum(worst, 1e-9))
    safe1 = np.minimum(1.0, jerk / np.maximum(m1 * v, 1e-9))
    safe2 = np.minimum(1.0, jerk / np.maximum(m2 * v, 1e-9))
    both_safe = (safe1 > factor * 0.99) & (safe2 > factor * 0.99)
    return np.where(both_safe, safe2, factor)


def _segment_times(length, v, v0, v1, accel):
    """Trapezoidal move time for segments with cruise ``v`` and entry/exit speeds ``v0``/``v1``.

    Entry and exit speeds are first made reachable within the segment, as the planner's passes would.
    """
    v0 = np.minimum(v0, v)
    v1 = np.minimum(v1, v)
    reach = 2 * accel * length
    v1 = np.minimum(v1, np.sqrt(v0 * v0 + reach))
    v0 = np.minimum(v0, np.sqrt(v1 * v1 + reach))
    d_acc = (v * v - v0 * v0) / (2 * accel)
    d_dec = (v * v - v1 * v1) / (2 * accel)
    full = d_acc + d_dec <= length
    t_full = (v - v0) / accel + (v - v1) / accel + (length - d_acc - d_dec) / v
    vp = np.sqrt(np.maximum((reach + v0 * v0 + v1 * v1) / 2, 0.0))
    vp = np.minimum(np.maximum(vp, np.maximum(v0, v1)), v)
    t_tri = (2 * vp - v0 - v1) / accel
    return np.where(full, t_full, np.maximum(t_tri, length / v))


def line_time(length, v, v_end, accel):
    """Time of a straight line of ``length`` starting and ending at ``v_end`` (infill lines, turnarounds)."""
    length = np.asarray(length, dtype=np.float64)
    return _segment_times(length, v, v_end, v_end, accel)


def _euler(mask: np.ndarray) -> np.ndarray:
    """Euler number (components - holes, 8-connected) per layer of a (layers, ny, nx) mask (Gray's bit quads)."""
    m = np.zeros((mask.shape[0], mask.shape[1] + 2, mask.shape[2] + 2), dtype=np.int8)
    m[:, 1:-1, 1:-1] = mask
    a, b, c, d = m[:, :-1, :-1], m[:, :-1, 1:], m[:, 1:, :-1], m[:, 1:, 1:]
    total = a + b + c + d
    q1 = _count_layers(total == 1)
    q3 = _count_layers(total == 3)
    qd = _count_layers((total == 2) & (a == d))
    return (q1 - q3 - 2 * qd) / 4


def _rasterise(layer, x1, y1, x2, y2, n_layers, x0, y0, cell, nx, ny):
    """Winding number of every cell centre, per layer: int8 array (layers, ny, nx)."""
    ymin = np.minimum(y1, y2)
    ymax = np.maximum(y1, y2)
    r0 = np.ceil((ymin - y0) / cell - 0.5).astype(np.int64)
    r1 = np.ceil((ymax - y0) / cell - 0.5).astype(np.int64)
    r0 = np.clip(r0, 0, ny)
    r1 = np.clip(r1, 0, ny)
    cnt = r1 - r0
    # Only segments that cross a row centre (most of a fine mesh's short segments cross none or one).
    crossing = np.flatnonzero(cnt)
    cnt = cnt[crossing]
    if len(cnt) == 0 or int(cnt.max()) == 1:
        seg = crossing
        row = r0[seg]
    else:
        seg = np.repeat(crossing, cnt)
        first = np.repeat(np.cumsum(cnt) - cnt, cnt)
        row = r0[seg] + (np.arange(len(seg)) - first)
    yc = y0 + (row + 0.5) * cell
    sx1, sy1, sx2, sy2 = x1[seg], y1[seg], x2[seg], y2[seg]
    xc = sx1 + (yc - sy1) * (sx2 - sx1) / (sy2 - sy1)
    col = np.clip(np.ceil((xc - x0) / cell - 0.5).astype(np.int64), 0, nx)
    sign = np.where(sy2 > sy1, -1, 1)  # CCW outline: left edges go down
    # int8 winding numbers: a cell covered by more than 127 shells does not occur in practice. The running
    # sum along x is taken with x as the outer axis (whole planes of cells added at once, much faster than
    # short rows one by one), then the result is laid out (layers, ny, nx) again.
    winding = np.zeros((nx + 1, n_layers, ny), dtype=np.int8)
    flat = (col * n_layers + layer[seg].astype(np.int64)) * ny + row
    np.add.at(winding.reshape(-1), flat, sign.astype(np.int8))
    np.cumsum(winding, axis=0, out=winding, dtype=np.int8)
    return np.ascontiguousarray(winding[:nx].transpose(1, 2, 0))


def _count_layers(mask: np.ndarray) -> np.ndarray:
    """Set cells per layer (count_nonzero per 2-D slice is much faster than with ``axis=``)."""
    return np.fromiter((np.count_nonzero(layer) for layer in mask), dtype=np.float64, count=len(mask))


def _fill(winding: np.ndarray, rule: str) -> np.ndarray:
    """Cells inside the outline under the fill rule (non-zero, even-odd or positive winding)."""
    if rule == "evenodd":
        return (winding % 2) != 0
    if rule == "positive":
        return winding > 0
    return winding != 0


@dataclass(frozen=True)
class _Grid:
    x0: float
    y0: float
    cell: float
    nx: int
    ny: int


def _classify_window(
    mask: Bits,
    first: int,
    n_layers: int,
    grid: _Grid,
    steps: int,
    grow: int,
    nt: int,
    nb: int,
    constants: ModelConstants,
) -> dict[str, np.ndarray]:
    """Split the filled cells of layers ``first .. first + len(mask)`` into perimeters, top, bottom/bridge,
    solid and sparse infill (per-layer areas and border lengths). Works on packed masks (eight cells a
    byte); the window needs an empty margin of at least one cell around what it holds."""
    m = mask.data
    n_win = len(m)
    cell_area = grid.cell * grid.cell
    interior = bitmask.erode(mask, steps) if steps else mask.copy()
    # Exposed top: filled here, empty above; layers beyond the window edge are known to be empty only at
    # the object's ends.
    top = m.copy()
    top[:-1] &= ~m[1:]
    bottom = m.copy()
    bottom[1:] &= ~m[:-1]
    if first + n_win < n_layers:
        top[-1] = 0
    if first > 0:
        bottom[0] = 0
    # Top and bottom surfaces that reach inside the perimeters are grown into the infill area to anchor them
    # (PrusaSlicer's 3 mm margin).
    top_cells = bitmask.dilate_layers(mask.like(top) & interior, grow) & interior
    bottom_cells = bitmask.dilate_layers(mask.like(bottom) & interior, grow) & interior
    del top, bottom
    inner, tops, bottoms = interior.data, top_cells.data, bottom_cells.data
    # Shells propagate top_solid_layers down and bottom_solid_layers up (discover_horizontal_shells).
    shell = tops | bottoms
    for j in range(1, min(nt, n_win)):
        shell[: n_win - j] |= tops[j:] & inner[: n_win - j]
    for j in range(1, min(nb, n_win)):
        shell[j:] |= bottoms[: n_win - j] & inner[j:]
    if constants.vertical_shells:
        # ensure_vertical_shell_thickness: infill area not inside the infill area of every layer within
        # the top/bottom shell range becomes solid, so sloped walls keep their shell thickness.
        covered = np.full_like(m, 0xFF)
        for j in range(1, nt):
            if j < n_win:
                covered[: n_win - j] &= inner[j:]
            if first + n_win >= n_layers:
                covered[max(n_win - j, 0) :] = 0
        for j in range(1, nb):
            if j < n_win:
                covered[j:] &= inner[: n_win - j]
            if first == 0:
                covered[: min(j, n_win)] = 0
        vshell = mask.like(inner & ~covered & ~shell)
        del covered
        # PrusaSlicer's opening drops strips narrower than ~0.65 line spacing. One-cell strips on the raster
        # are 0-0.9 mm wide, so they count with a weight (thin_shell_weight); wider ones count fully.
        opened = bitmask.dilate(bitmask.erode(vshell, 1), 1) & vshell
        thin_shell = vshell.and_not(opened).data
        shell |= opened.data
        del vshell, opened
    else:
        thin_shell = np.zeros_like(m)
    bridge_cells = bottoms & ~tops
    if first == 0:
        bridge_cells[0] = 0
    sparse = inner & ~shell & ~thin_shell
    # bridge_over_infill: solid infill resting on sparse infill is printed as an (internal) bridge.
    if constants.internal_bridges:
        internal_bridge = shell & ~bridge_cells
        internal_bridge[0] = 0
        internal_bridge[1:] &= sparse[:-1]
        bridge_cells |= internal_bridge
        del internal_bridge
    internal_solid = shell & ~tops & ~bridge_cells

    def cells(d: np.ndarray) -> np.ndarray:
        return mask.like(d).count_layers() * cell_area

    manhattan = math.pi / 4 * grid.cell
    return {
        "raster": cells(m),
        "interior": cells(inner),
        "top": cells(tops),
        "solid": cells(internal_solid),
        "thin": cells(thin_shell),
        "bridge": cells(bridge_cells),
        "sparse": cells(sparse),
        "solid_edges": bitmask.edges(mask.like(shell)) * manhattan,
        "sparse_edges": bitmask.edges(mask.like(sparse)) * manhattan,
    }


def slice_layers(
    vectors: np.ndarray,
    profile: SlicerProfile,
    *,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
    z_spans: list[np.ndarray] | tuple[np.ndarray, np.ndarray] | None = None,
) -> Slices:
    """Cut ``vectors`` (n, 3, 3) at the mid-plane of every layer of ``profile``.

    ``bounds`` (min and max corner) and ``z_spans`` (each triangle's lowest and highest z) save passes
    when the caller has them (:func:`printfleet.estimate.mesh.mesh_stats`); a list is emptied once used.
    """
    if bounds is None:
        lo = vectors.min(axis=(0, 1)).astype(np.float64)
        hi = vectors.max(axis=(0, 1)).astype(np.float64)
    else:
        lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
    origin = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    height = float(hi[2] - lo[2])
    tops, heights = _layer_planes(height, profile)
    z_mid = tops - heights / 2 + _Z_EPS
    z_mid[0] = min(z_mid[0], height / 2)  # an object thinner than the first layer is cut through its middle
    segments = _slice_segments(vectors, z_mid, origin, z_spans)
    return Slices(tops, heights, lo, hi, segments)


@dataclass
class Slices:
    """Oriented mid-plane segments of every layer (layer, x1, y1, x2, y2, nz), centred on the bounding box."""

    z_top_mm: np.ndarray
    height_mm: np.ndarray
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    segments: tuple[np.ndarray, ...]


def layer_features(
    vectors: np.ndarray,
    profile: SlicerProfile,
    constants: ModelConstants = DEFAULT_CONSTANTS,
    *,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> LayerFeatures:
    """Slice ``vectors`` (n, 3, 3) at every layer of ``profile`` and measure what the slicer will fill."""
    return features_from_slices(slice_layers(vectors, profile, bounds=bounds), profile, constants)


def _per_layer(layer: np.ndarray, n_layers: int):
    """A function summing per-segment values into per-layer totals (float64), for segments sorted by layer.

    Contiguous ``np.add.reduceat`` runs instead of a ``bincount`` scatter: about ten times faster.
    """
    starts = np.flatnonzero(layer[1:] != layer[:-1]) + 1 if len(layer) else np.zeros(0, np.intp)
    starts = np.concatenate([[0], starts]) if len(layer) else starts
    ids = layer[starts]

    def sums(values: np.ndarray) -> np.ndarray:
        out = np.zeros(n_layers)
        if len(starts):
            out[ids] = np.add.reduceat(values, starts, dtype=np.float64)
        return out

    return sums


def _outline_features(layer, x1, y1, x2, y2, nz, keys, n_layers: int, profile: SlicerProfile) -> dict:
    """Per-layer outline facts of segments sorted by start point: length, shoelace area, loops, small loops,
    perimeter trace times (with corners) and overhanging length. Any contiguous range of whole layers works."""
    blocks = _layer_blocks(layer)
    nxt, label, dead = _chain(keys, blocks)
    del keys
    per_layer = _per_layer(layer, n_layers)
    n_seg = len(nxt)
    has_next = nxt >= 0
    open_ends = n_seg - int(np.count_nonzero(has_next))
    dx, dy = x2 - x1, y2 - y1
    seg_len = np.hypot(dx, dy)
    outline = per_layer(seg_len)
    cross = np.empty(n_seg)
    for a0 in range(0, n_seg, _BLOCK):
        sl = slice(a0, a0 + _BLOCK)
        cross[sl] = x1[sl].astype(np.float64) * y2[sl] - x2[sl].astype(np.float64) * y1[sl]
    area = per_layer(cross) / 2

    # ---- loops, small perimeters, corners, overhangs
    # Holes and shells: closed loops running clockwise / counter-clockwise around more than twice a perimeter
    # width squared. Each printed one gets its own perimeters (and a travel to their start); slivers and a
    # broken mesh's open chains do not count. printed_loops() bounds both by the raster's Euler number.
    min_area2 = 2 * profile.external_perimeter_width_mm**2
    small_threshold = 2 * math.pi * 6.5
    small_loop = np.empty(n_seg, dtype=bool)
    hole = np.empty(n_seg, dtype=bool)
    shell = np.empty(n_seg, dtype=bool)
    for a0, b0 in blocks:  # a loop's segments (and its label) lie in one block of layers
        local = label[a0:b0] - a0
        loop_len = np.bincount(local, weights=seg_len[a0:b0], minlength=b0 - a0)
        small_loop[a0:b0] = np.take(loop_len, local) < small_threshold
        loop_area2 = np.bincount(local, weights=cross[a0:b0], minlength=b0 - a0)
        # A closed loop's area is at most length^2 / 4 pi (a circle): a loop that breaks this is not closed
        # (a chain that met a shared or zero-length point of a broken mesh).
        closed = (
            (local == np.arange(b0 - a0)) & ~dead[a0:b0] & (np.abs(loop_area2) <= loop_len * loop_len / (2 * math.pi))
        )
        hole[a0:b0] = closed & (loop_area2 <= -min_area2)
        shell[a0:b0] = closed & (loop_area2 >= min_area2)
    del label, dead, cross
    holes = per_layer(hole.astype(np.float32))
    shells = per_layer(shell.astype(np.float32))
    del hole, shell
    small_loop_mm = per_layer(seg_len * small_loop)
    del small_loop

    safe = np.maximum(seg_len, np.float32(1e-12))
    ux, uy = dx / safe, dy / safe
    del safe, dx, dy
    # Successor and predecessor indices are kept as int32 (memory) and widened per block for gathering.
    nidx = np.where(has_next, nxt, np.arange(n_seg, dtype=np.int32))
    prev = np.full(n_seg, -1, dtype=np.int32)
    prev[nxt[has_next]] = np.flatnonzero(has_next)
    has_prev = prev >= 0
    np.maximum(prev, 0, out=prev)
    jerk = profile.jerk_xy
    moves = []
    for speed, accel in (
        (profile.perimeter_speed, profile.perimeter_acceleration or profile.default_acceleration),
        (profile.external_perimeter_speed, profile.perimeter_acceleration or profile.default_acceleration),
    ):
        speed = _cap_speed(speed, profile, profile.perimeter_width_mm, profile.layer_height_mm)
        accel = min(accel or profile.max_acceleration_extruding, profile.max_acceleration_extruding)
        moves.append((speed, accel, np.empty(n_seg, dtype=np.float32)))
    # Elementwise passes run in cache-sized blocks (several times faster than whole-array temporaries).
    # Junction speeds first (the speed-independent geometry shared by both perimeter speeds) ...
    for a0 in range(0, n_seg, _BLOCK):
        sl = slice(a0, a0 + _BLOCK)
        nb = nidx[sl].astype(np.intp)
        turns = _junction_geometry(ux[sl], uy[sl], ux[nb], uy[nb])
        for speed, _, v_end in moves:
            f_out = _junction_factor_at(turns, speed, jerk)
            v_end[sl] = np.where(has_next[sl], np.minimum(f_out * speed, speed), min(jerk, speed))
    del ux, uy, nidx, has_next
    # ... then every segment's trapezoid from its entry (the previous junction) and exit speeds.
    perim_times = []
    t = np.empty(n_seg, dtype=np.float32)
    for speed, accel, v_end in moves:
        cruise = np.float32(speed)
        for a0 in range(0, n_seg, _BLOCK):
            sl = slice(a0, a0 + _BLOCK)
            v_start = np.where(has_prev[sl], np.take(v_end, prev[sl]), np.float32(min(jerk, speed)))
            # Fine meshes: most segments enter and leave at full speed (a straight trace).
            slow = np.flatnonzero((v_start < cruise) | (v_end[sl] < cruise))
            if len(slow) == len(v_start):
                t[sl] = _segment_times(seg_len[sl], speed, v_start, v_end[sl], accel)
                continue
            t[sl] = seg_len[sl] / cruise
            if len(slow):
                t[a0 + slow] = _segment_times(seg_len[sl][slow], speed, v_start[slow], v_end[sl][slow], accel)
        perim_times.append(per_layer(t))
    del prev, has_prev, moves, t
    perim_time_unit, ext_time_unit = perim_times

    # Overhanging outline: the wall leans out more than half an extrusion width per layer.
    w_ext = profile.external_perimeter_width_mm
    h = profile.layer_height_mm
    slope_nz = math.sin(math.atan2(w_ext / 2, h))
    overhang_mm = per_layer(seg_len * (nz < -slope_nz))

    return {
        "open_ends": open_ends,
        "outline": outline,
        "area": area,
        "holes": holes,
        "shells": shells,
        "small_loop_mm": small_loop_mm,
        "perim_time_unit": perim_time_unit,
        "ext_time_unit": ext_time_unit,
        "overhang_mm": overhang_mm,
    }


def features_from_slices(
    slices: Slices, profile: SlicerProfile, constants: ModelConstants = DEFAULT_CONSTANTS
) -> LayerFeatures:
    """Per-layer geometry from :func:`slice_layers` (consumes ``slices.segments`` to save memory)."""
    tops, heights, lo, hi = slices.z_top_mm, slices.height_mm, slices.bbox_min, slices.bbox_max
    n_layers = len(tops)
    segments = slices.segments
    slices.segments = ()
    # Big meshes: the outline facts (sorting by start point, chaining, corners) run per part of the layers on
    # two workers while this thread rasterises and classifies. numpy releases the GIL, and a layer's segments
    # never link to another's, so each part is sorted and chained on its own.
    threads = 2 if len(segments[0]) > 200_000 and (os.cpu_count() or 1) > 1 else 1
    pool = None
    futures: list = []
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        by_layer = np.argsort(
            segments[0].astype(np.int16) if n_layers < 32000 else segments[0], kind="stable"
        ).astype(np.int32)
        raster_src = segments[:5]
        raster_layers = np.take(raster_src[0], by_layer)
        # Parts of whole layers, about _OUTLINE_PART segments each, two at a time: the parts' sort keys
        # and chains are the estimator's largest temporaries, so smaller parts keep the peak memory down.
        parts_wanted = max(2, -(-len(by_layer) // _OUTLINE_PART))
        ranges = _layer_blocks(raster_layers, -(-len(by_layer) // parts_wanted))

        origin = _key_origin(*segments[1:5])

        def outline_part(r: tuple[int, int], order: np.ndarray = by_layer, src: tuple = segments) -> dict:
            (hl, hx1, hy1, hx2, hy2, hnz), keys = _sort_segments(
                *src, origin=origin, subset=order[r[0] : r[1]]
            )
            return _outline_features(hl, hx1, hy1, hx2, hy2, hnz, keys, n_layers, profile)

        pool = ThreadPoolExecutor(max_workers=2)
        futures = [pool.submit(outline_part, r) for r in ranges]
    else:
        (layer, x1, y1, x2, y2, nz), keys = _sort_segments(*segments)
        raster_src = (layer, x1, y1, x2, y2)
        by_layer = None
        raster_layers = layer
        parts = [_outline_features(layer, x1, y1, x2, y2, nz, keys, n_layers, profile)]
        del layer, x1, y1, x2, y2, nz, keys
        del segments

    # ---- raster: infill regions
    h = profile.layer_height_mm
    band = profile.external_perimeter_width_mm + max(profile.perimeters - 1, 0) * _spacing(
        profile.perimeter_width_mm, profile.layer_height_mm
    )
    if profile.perimeters == 0:
        band = 0.0
    steps = max(round(band / constants.target_cell_mm), 1) if band > 0 else 0
    # Large footprints get coarser cells (whole perimeter bands still), bounding the work per layer.
    footprint = float(hi[0] - lo[0] + 2) * float(hi[1] - lo[1] + 2)
    while steps > 1 and footprint / (band / steps) ** 2 > constants.max_cells_per_layer:
        steps -= 1
    cell = band / steps if steps else 0.5
    width_x = float(hi[0] - lo[0]) + 4 * cell
    width_y = float(hi[1] - lo[1]) + 4 * cell
    while (width_x / cell) * (width_y / cell) * n_layers > _MAX_GRID_CELLS:
        cell *= 1.5
    steps_eff = max(round(band / cell), 1) if band > 0 else 0
    nxc = math.ceil(width_x / cell)
    nyc = math.ceil(width_y / cell)
    gx0 = -width_x / 2 + 0.3183 * cell  # off round coordinates: walls rarely pass through cell centres
    gy0 = -width_y / 2 + 0.2871 * cell
    nt = max(profile.top_solid_layers, 0)
    nb = max(profile.bottom_solid_layers, 0)
    if profile.top_solid_min_thickness_mm > 0 and nt > 0:
        nt = max(nt, math.ceil(profile.top_solid_min_thickness_mm / h - 1e-6))
    if profile.bottom_solid_min_thickness_mm > 0 and nb > 0:
        nb = max(
            nb,
            math.ceil((profile.bottom_solid_min_thickness_mm - profile.first_layer_height_mm) / h - 1e-6)
            + 1,
        )
    grow = round(constants.solid_grow_mm / cell) if profile.fill_density > 0 else 0
    grid = _Grid(gx0, gy0, cell, nxc, nyc)
    # Layers are classified in batches with a halo of neighbouring layers, so memory stays bounded.
    # The segments are sorted by layer (_sort_segments): each layer range is a contiguous slice.
    halo = max(nt, nb) + 1
    per_batch = max(4 * halo, int(1_500_000 // max(nxc * nyc, 1)))

    def segs(lo_l: int, hi_l: int):
        i0, i1 = np.searchsorted(raster_layers, [lo_l, hi_l])
        if by_layer is None:
            return raster_layers[i0:i1] - lo_l, *(arr[i0:i1] for arr in raster_src[1:])
        idx = by_layer[i0:i1]
        return raster_layers[i0:i1] - lo_l, *(np.take(arr, idx) for arr in raster_src[1:])

    first_layer = segs(0, 1)[1:] if n_layers else ()  # x1, y1, x2, y2 of the first layer (for the skirt)

    # Pass 1: rasterise every layer once (kept bit-packed); count cells, islands, and find where a layer
    # differs from the one below. Layers farther than the halo from any change (prismatic parts: most of
    # them) need no classification: perimeters around sparse infill, like the run's first such layer.
    counters = {"overlap": 0, "inverted": 0, "filled": 0}
    changed = np.ones(n_layers + 1, dtype=bool)
    packed = np.empty((n_layers, nyc, (nxc + 7) // 8), dtype=np.uint8)
    islands = np.zeros(n_layers)
    prev_last: np.ndarray | None = None
    for a in range(0, n_layers, per_batch):
        b = min(a + per_batch, n_layers)
        winding = _rasterise(*segs(a, b), b - a, grid.x0, grid.y0, grid.cell, grid.nx, grid.ny)
        counters["overlap"] += int(np.count_nonzero(winding >= 2))
        counters["inverted"] += int(np.count_nonzero(winding < 0))
        mask = _fill(winding, constants.fill_rule)
        del winding
        counters["filled"] += int(np.count_nonzero(mask))
        if b - a > 1:
            changed[a + 1 : b] = (mask[1:] != mask[:-1]).any(axis=(1, 2))
        if prev_last is not None:
            changed[a] = not np.array_equal(prev_last, mask[0])
        # Islands (Euler number) only where the layer differs from the one below; copied up otherwise.
        differs = np.nonzero(changed[a:b])[0]
        if len(differs):
            islands[a + differs] = _euler(mask[differs])
        prev_last = mask[-1].copy()
        packed[a:b] = np.packbits(mask, axis=2)
        del mask

    raster_src = raster_layers = by_layer = None  # free the raster views before classification
    fill_from = np.maximum.accumulate(np.where(changed[:n_layers], np.arange(n_layers), 0))
    islands = islands[fill_from]

    def masks(lo_l: int, hi_l: int) -> Bits:
        return Bits(packed[lo_l:hi_l], nxc)

    boundaries = np.nonzero(changed)[0]  # a change between layer i-1 and i (0 and n_layers always)
    near = np.zeros(n_layers, dtype=bool)
    for bnd in boundaries:
        near[max(bnd - halo, 0) : min(bnd + halo, n_layers)] = True
    stats: dict[str, np.ndarray] = {}
    # Pass 2: classify the layers near a change, in windows with a halo; runs closer than two halos share one.
    near_idx = np.nonzero(near)[0]
    pos = 0
    while pos < len(near_idx):
        a = int(near_idx[pos])
        end = pos
        while (
            end + 1 < len(near_idx)
            and near_idx[end + 1] - a < per_batch
            and near_idx[end + 1] - near_idx[end] <= 2 * halo
        ):
            end += 1
        b = int(near_idx[end]) + 1
        lo_l, hi_l = max(a - halo, 0), min(b + halo, n_layers)
        window = packed[lo_l:hi_l]
        # Crop to the window's occupied rows and bytes of columns, keeping an empty margin (results are
        # per-layer sums).
        rows = np.nonzero(window.any(axis=(0, 2)))[0]
        cols = np.nonzero(window.any(axis=(0, 1)))[0]
        c0 = 0
        if len(rows) and len(cols):
            c0 = max(int(cols[0]) - 1, 0)
            window = window[:, max(rows[0] - 1, 0) : rows[-1] + 2, c0 : cols[-1] + 2]
        window_bits = Bits(window, min(nxc - 8 * c0, 8 * window.shape[2]))
        part = _classify_window(window_bits, lo_l, n_layers, grid, steps_eff, grow, nt, nb, constants)
        for key, values in part.items():
            stats.setdefault(key, np.zeros(n_layers))[a:b] = values[a - lo_l : b - lo_l]
        pos = end + 1
    # Deep layers: one representative per run.
    deep = ~near
    deep_starts = np.nonzero(deep & ~np.concatenate([[False], deep[:-1]]))[0]
    cell_area = grid.cell * grid.cell
    for run_start in deep_starts:
        run_end = int(run_start)
        while run_end < n_layers and deep[run_end]:
            run_end += 1
        rep = int(run_start)
        mask = masks(rep, rep + 1)
        interior = bitmask.erode(mask, steps_eff) if steps_eff else mask
        values = {
            "raster": float(mask.count_layers()[0]) * cell_area,
            "interior": float(interior.count_layers()[0]) * cell_area,
            "sparse": float(interior.count_layers()[0]) * cell_area,
            "sparse_edges": float(bitmask.edges(interior)[0]) * math.pi / 4 * grid.cell,
        }
        for key in (
            "raster",
            "interior",
            "top",
            "solid",
            "thin",
            "bridge",
            "sparse",
            "solid_edges",
            "sparse_edges",
        ):
            stats.setdefault(key, np.zeros(n_layers))[rep:run_end] = values.get(key, 0.0)
    stats["islands"] = islands
    if pool is not None:
        try:
            # This thread is done with the raster: it takes on the parts no worker has started yet.
            parts = [outline_part(r) if f.cancel() else f.result() for f, r in zip(futures, ranges)]
        finally:
            pool.shutdown()
    outline, area, holes, shells, small_loop_mm, perim_time_unit, ext_time_unit, overhang_mm = (
        np.sum([part[key] for part in parts], axis=0)
        for key in (
            "outline",
            "area",
            "holes",
            "shells",
            "small_loop_mm",
            "perim_time_unit",
            "ext_time_unit",
            "overhang_mm",
        )
    )
    overhang_mm[0] = 0.0
    open_ends = sum(part["open_ends"] for part in parts)
    overlap_cells, inverted_cells, filled_cells = (
        counters["overlap"],
        counters["inverted"],
        counters["filled"],
    )
    raster_area = stats["raster"]
    features = LayerFeatures(
        z_top_mm=tops,
        height_mm=heights,
        outline_mm=outline,
        area_mm2=area,
        raster_area_mm2=raster_area,
        interior_mm2=stats["interior"],
        top_mm2=stats["top"],
        solid_mm2=stats["solid"],
        thin_shell_mm2=stats["thin"],
        islands=stats["islands"],
        bridge_mm2=stats["bridge"],
        sparse_mm2=stats["sparse"],
        solid_edges_mm=stats["solid_edges"],
        sparse_edges_mm=stats["sparse_edges"],
        holes=holes,
        shells=shells,
        small_loop_mm=small_loop_mm,
        overhang_mm=overhang_mm,
        perim_time_unit=perim_time_unit,
        ext_time_unit=ext_time_unit,
        open_ends=open_ends,
        overlap_cells=overlap_cells,
        inverted_cells=inverted_cells,
        filled_cells=filled_cells,
        skirt_mm=0.0,
        cell_mm=cell,
    )
    has_first = bool(len(first_layer) and len(first_layer[0]))
    if has_first and profile.skirts > 0:
        from printfleet.estimate.fit import convex_hull_xy

        fx1, fy1, fx2, fy2 = first_layer
        pts = np.stack([np.concatenate([fx1, fx2]), np.concatenate([fy1, fy2])], axis=1)
        hull_pts = convex_hull_xy(pts)
        hull = (
            float(np.linalg.norm(np.diff(np.vstack([hull_pts, hull_pts[:1]]), axis=0), axis=1).sum())
            if len(hull_pts) > 2
            else 0.0
        )
        loop = hull + 2 * math.pi * (profile.skirt_distance_mm + profile.first_layer_width_mm / 2)
        # min_skirt_length is filament (mm) the skirt must at least use on the first layer.
        per_loop = (
            loop
            * _section(profile.first_layer_width_mm, profile.first_layer_height_mm)
            / profile.filament_area_mm2
        )
        loops_needed = math.ceil(profile.min_skirt_length_mm / per_loop - 1e-9) if per_loop > 0 else 0
        features.skirt_mm = max(profile.skirts, loops_needed) * loop
    if has_first and profile.brim_width_mm > 0:
        # Outer brim: concentric loops around the first layer's outline, one spacing apart.
        spacing = _spacing(profile.first_layer_width_mm, profile.first_layer_height_mm)
        rings = int(profile.brim_width_mm / spacing)
        outline0 = float(outline[0])
        features.skirt_mm += sum(outline0 + 2 * math.pi * (k + 0.5) * spacing for k in range(rings))
    return features


def _spacing(width: float, height: float) -> float:
    """Centre-line spacing of adjacent extrusions (PrusaSlicer's Flow: rounded-rectangle cross-section)."""
    return width - height * (1 - math.pi / 4)


def _section(width: float, height: float) -> float:
    """Cross-section area of an extrusion, mm^2."""
    return height * _spacing(width, height)


def _cap_speed(speed: float, profile: SlicerProfile, width: float, height: float) -> float:
    speed = min(speed, profile.max_feedrate_xy) if profile.max_feedrate_xy > 0 else speed
    if profile.max_volumetric_speed > 0:
        speed = min(speed, profile.max_volumetric_speed / _section(width, height))
    return speed


def planned_times(
    length: np.ndarray, v: np.ndarray, accel: np.ndarray, v_junction: np.ndarray, v_start: float, v_end: float
) -> np.ndarray:
    """Move times after a planner's backward and forward passes.

    ``v_junction[i]`` is the highest speed allowed between move ``i`` and ``i + 1`` (length ``n - 1``).
    """
    n = len(length)
    if n == 0:
        return np.zeros(0)
    entry = [min(v_start, float(v[0]))] + np.minimum(v_junction, v[1:]).tolist()
    L = length.tolist()
    A = accel.tolist()
    nxt = v_end
    for i in range(n - 1, -1, -1):
        limit = math.sqrt(nxt * nxt + 2 * A[i] * L[i])
        entry[i] = min(entry[i], limit)
        nxt = entry[i]
    for i in range(n - 1):
        limit = math.sqrt(entry[i] * entry[i] + 2 * A[i] * L[i])
        entry[i + 1] = min(entry[i + 1], limit)
    v0 = np.array(entry)
    v1 = np.append(v0[1:], v_end)
    return _segment_times(length, v, v0, v1, accel)


_WAVY_CACHE: dict[tuple[float, ...], tuple[float, float]] = {}


def _gyroid_line(line_spacing: float, v: float, accel: float, jerk: float) -> tuple[float, float]:
    """(arc-length factor, mean speed) of PrusaSlicer-like gyroid polylines at cruise speed ``v``.

    The gyroid isoline at height phase z is ``y = asin(-sin z cos x / R) - atan2(sin x, cos z)`` with
    ``R = hypot(sin x, cos z)``; lines repeat every pi in y. It is scaled so that lines are ``line_spacing`` apart,
    sampled 16 points per period and run through the jerk/acceleration planner, averaged over z phases.
    """
    key = (round(line_spacing, 4), round(v, 3), round(accel, 1), round(jerk, 3))
    if key in _WAVY_CACHE:
        return _WAVY_CACHE[key]
    scale = line_spacing / 2.44  # PrusaSlicer's gyroid: period 2*pi*spacing/(2.44*density)
    total_len = total_t = total_x = 0.0
    for z in np.linspace(0.05, math.pi / 2 - 0.05, 7):
        x = np.arange(0, 2 * math.pi * 12, 2 * math.pi / 16)
        r = np.hypot(np.sin(x), math.cos(z))
        y = np.arcsin(np.clip(-math.sin(z) * np.cos(x) / r, -1, 1)) - np.arctan2(np.sin(x), math.cos(z))
        y = np.unwrap(y)
        px, py = x * scale, y * scale
        dx, dy = np.diff(px), np.diff(py)
        seg = np.hypot(dx, dy)
        ux, uy = dx / seg, dy / seg
        vj = _junction_speed_factor(ux[:-1], uy[:-1], ux[1:], uy[1:], v, jerk) * v
        t = planned_times(seg, np.full(len(seg), v), np.full(len(seg), accel), vj, v, v)
        total_len += seg.sum()
        total_t += t.sum()
        total_x += px[-1] - px[0]
    # lines of the family are pi*scale apart: length per area relative to straight lines at line_spacing
    result = (total_len / total_x * 2.44 / math.pi, total_len / total_t)
    _WAVY_CACHE[key] = result
    return result


def _accel(value: float, profile: SlicerProfile) -> float:
    limit = profile.max_acceleration_extruding or 1e9
    value = value or profile.default_acceleration or limit
    return max(min(value, limit), 1.0)


#: PrusaSlicer 2.5 retracts this share of the length while wiping (the rest standing, after the wipe)
WIPE_SHARE = 0.95


def _wipe(p: SlicerProfile) -> tuple[float, float, float]:
    """The wipe back along the last path while retracting: its length (mm), its speed and the filament it
    retracts (mm); zeros without wipe.

    The wipe runs at 80 % of the travel speed for as long as the retraction takes at retract speed.
    """
    if not p.wipe or p.retract_length_mm <= 0:
        return 0.0, 0.0, 0.0
    v_wipe = 0.8 * min(p.travel_speed, p.max_feedrate_xy or 1e9)
    retracted = WIPE_SHARE * p.retract_length_mm * (1 - p.retract_before_wipe)
    return retracted / max(p.retract_speed, 1e-9) * v_wipe, v_wipe, retracted


def _cycle_time(distance: np.ndarray | float, p: SlicerProfile) -> np.ndarray | float:
    """One retract (or wipe) - lift - travel - lower - unretract cycle over ``distance`` mm."""
    t = 0.0
    if p.retract_length_mm > 0:
        wipe_mm, v_wipe, wipe_retracted = _wipe(p)
        if wipe_mm > 0:
            t += float(line_time(wipe_mm, v_wipe, min(p.jerk_xy, v_wipe), _accel(p.default_acceleration, p)))
        t += (p.retract_length_mm - wipe_retracted) / max(p.retract_speed, 1e-9)
        t += p.retract_length_mm / max(p.deretract_speed or p.retract_speed, 1e-9)
    vz = min(p.travel_speed_z or p.max_feedrate_z, p.max_feedrate_z or 1e9)
    if p.retract_lift_mm > 0 and vz > 0:
        az = 200.0
        t += 2 * float(line_time(p.retract_lift_mm, vz, min(p.jerk_xy, vz) * 0.05, az))
    travel_accel = max(
        min(
            p.travel_acceleration or p.max_acceleration_travel or p.default_acceleration or 1500,
            p.max_acceleration_travel or 1e9,
        ),
        1.0,
    )
    travel_accel = min(travel_accel, (p.max_acceleration_xy or 1e9) * math.sqrt(2))
    v = min(p.travel_speed, p.max_feedrate_xy or 1e9)
    return t + line_time(np.maximum(distance, 1e-3), v, min(p.jerk_xy, v), travel_accel)


def _cycle_simple_time(distance, p: SlicerProfile):
    """Feedrate-only time of a retract cycle, as PrusaSlicer's cooling buffer counts it."""
    t = distance / max(min(p.travel_speed, p.max_feedrate_xy or 1e9), 1e-9)
    if p.retract_length_mm > 0:
        # (a wipe takes, by feedrate alone, just as long as the retraction it replaces)
        t = t + p.retract_length_mm / max(p.retract_speed, 1e-9) * 2
    vz = min(p.travel_speed_z or p.max_feedrate_z, p.max_feedrate_z or 1e9)
    if p.retract_lift_mm > 0 and vz > 0:
        t = t + 2 * p.retract_lift_mm / vz
    return t


@dataclass(frozen=True)
class Prediction:
    """Time and filament predicted for one mesh and profile."""

    print_time_s: float
    filament_mm: float
    filament_g: float
    filament_mm3: float
    layers: int
    breakdown_s: dict[str, float]
    lengths_mm: dict[str, float] = field(default_factory=dict)
    volumes_mm3: dict[str, float] = field(default_factory=dict)


def _fill_time(area, edges, line_spacing, arc, v_line, v, accel, v_j, link_mm):
    """Time to fill ``area`` with lines ``line_spacing`` apart that end at the region border (mean chord pi*A/P)."""
    straight = area / line_spacing
    chord = np.where(edges > 0, math.pi * area / np.maximum(edges, 1e-9), 0.0)
    chord = np.maximum(chord, line_spacing)
    lines = np.where(area > 0, straight / chord, 0.0)
    t_line = line_time(chord * arc, v_line, min(v_j, v_line), accel)
    t_link = line_time(np.full_like(chord, max(link_mm, 1e-3)), v, min(v_j, v), accel)
    return lines * (t_line + t_link), straight * arc, lines


def printed_loops(f: LayerFeatures) -> np.ndarray:
    """Outline loops (islands + holes) per layer, each of which gets its own perimeters and a travel.

    The outline's clockwise loops (holes) and counter-clockwise loops (shells) can each overcount: a cavity
    inside another shell, overlapping shells. The raster's Euler number (islands - holes of the filled
    area) bounds both.
    """
    holes = np.clip(f.shells - f.islands, 0.0, f.holes)
    return (np.clip(f.islands + holes, 1.0, np.maximum(f.shells, 1.0)) + holes) * (f.raster_area_mm2 > 0)


def predict(
    features: LayerFeatures, profile: SlicerProfile, constants: ModelConstants = DEFAULT_CONSTANTS
) -> Prediction:
    """Turn per-layer geometry into PrusaSlicer's time and filament figures."""
    p, f, c = profile, features, constants
    n = len(f.z_top_mm)
    hgt = f.height_mm
    h = p.layer_height_mm
    w_ext, w_per = p.external_perimeter_width_mm, p.perimeter_width_mm
    w_inf, w_sol, w_top = p.infill_width_mm, p.solid_infill_width_mm, p.top_infill_width_mm
    w_first = p.first_layer_width_mm
    jerk = p.jerk_xy

    # --- volumes (mm^3): area x height where filled solid; density for sparse infill.
    # The layer's true area is the shoelace area (the raster misses walls thinner than a cell).
    # Overlapping shells count twice in the shoelace sum, so it is capped by what the raster can miss.
    layer_area = np.clip(f.area_mm2, f.interior_mm2, f.raster_area_mm2 + f.outline_mm * f.cell_mm / 2)
    # The perimeter band: what the raster erosion leaves, but no wider than outline x band width (the eroded
    # digital contour is jagged and loses more than the true offset); infill areas are rescaled to match.
    band_w = w_ext + max(p.perimeters - 1, 0) * _spacing(w_per, h) if p.perimeters else 0.0
    band_area = np.maximum(layer_area - f.interior_mm2, 0.0)
    # An offset band of width w along a closed outline covers P*w - pi*w^2 per net loop (islands - holes).
    band_area = np.minimum(
        band_area, np.maximum(f.outline_mm * band_w - math.pi * band_w**2 * f.islands, 0.0)
    )
    scale = np.where(f.interior_mm2 > 0, (layer_area - band_area) / np.maximum(f.interior_mm2, 1e-9), 1.0)
    scale = np.clip(scale, 0.0, 3.0)
    f = dataclasses.replace(
        f,
        interior_mm2=f.interior_mm2 * scale,
        top_mm2=f.top_mm2 * scale,
        solid_mm2=f.solid_mm2 * scale,
        thin_shell_mm2=f.thin_shell_mm2 * scale,
        bridge_mm2=f.bridge_mm2 * scale,
        sparse_mm2=f.sparse_mm2 * scale,
    )
    thin_solid = f.thin_shell_mm2 * c.thin_shell_weight
    thin_sparse = f.thin_shell_mm2 - thin_solid
    solid_area = f.solid_mm2 + thin_solid
    sparse_area = f.sparse_mm2 + thin_sparse

    # The external perimeter's outer side is rounded: the band holds (1 - pi/4) h^2 less per mm of outline.
    perim_vol = np.maximum(band_area * hgt - f.outline_mm * hgt * hgt * (1 - math.pi / 4), 0.0)
    solid_vol = (solid_area + f.top_mm2) * hgt
    bridge_spacing = p.nozzle_diameter_mm + 0.05
    if p.thick_bridges:
        bridge_section = math.pi * p.nozzle_diameter_mm**2 / 4 * p.bridge_flow_ratio
    else:
        bridge_section = h * bridge_spacing * p.bridge_flow_ratio
    bridge_vol = f.bridge_mm2 / bridge_spacing * bridge_section
    sparse_vol = sparse_area * hgt * p.fill_density  # anchors are added below, once lengths are known
    skirt_vol = f.skirt_mm * _section(w_first, p.first_layer_height_mm)
    volume = float(perim_vol.sum() + solid_vol.sum() + bridge_vol.sum() + sparse_vol.sum() + skirt_vol)

    # --- perimeters: loops that fit in the band, traced with corner (jerk) slowdowns
    acc_inf = _accel(p.infill_acceleration, p)
    acc_first = _accel(p.first_layer_acceleration, p)
    sp_ext = _spacing(w_ext, h)
    sp_per = _spacing(w_per, h)
    outline = np.maximum(f.outline_mm, 1e-9)
    n_inner = np.clip((band_area - outline * sp_ext) / (outline * sp_per), 0, max(p.perimeters - 1, 0))
    ext_frac = np.clip(band_area / (outline * sp_ext), 0, 1)
    v_per = _cap_speed(p.perimeter_speed, p, w_per, h)
    v_ext = _cap_speed(p.external_perimeter_speed, p, w_ext, h)
    v_small = _cap_speed(p.small_perimeter_speed, p, w_per, h)
    v_bridge = p.bridge_speed
    small_frac = np.clip(f.small_loop_mm / outline, 0, 1)
    t_int = n_inner * (f.perim_time_unit * (1 - small_frac) + f.outline_mm * small_frac / min(v_small, v_per))
    t_ext = ext_frac * (f.ext_time_unit * (1 - small_frac) + f.outline_mm * small_frac / min(v_small, v_ext))
    t_ext = t_ext + f.overhang_mm * np.maximum(1 / v_bridge - 1 / v_ext, 0)
    t_perim = t_ext + t_int

    # --- infill: lines between region borders, a turn (jerk-limited) and a short link at every end
    v_j = jerk * 1.2
    sp_inf = _spacing(w_inf, h)
    density = max(p.fill_density, 1e-6)
    v_inf = _cap_speed(p.infill_speed, p, w_inf, h)
    sparse_spacing = sp_inf / density
    anchor = float(p.raw.get("infill_anchor", "600%").rstrip("%") or 600)
    anchor_mm = anchor / 100 * w_inf if str(p.raw.get("infill_anchor", "600%")).endswith("%") else anchor
    link_sparse = min(anchor_mm, sparse_spacing * math.sqrt(2))
    if p.fill_pattern == "gyroid":
        # PrusaSlicer scales the gyroid so that its length matches the density; its waviness sets the speed.
        _, v_line = _gyroid_line(sparse_spacing, v_inf, acc_inf, jerk)
        arc = 1.0
    else:
        arc, v_line = 1.0, v_inf
    t_sparse, sparse_len, sparse_lines = _fill_time(
        sparse_area, f.sparse_edges_mm, sparse_spacing, arc, v_line, v_inf, acc_inf, v_j, link_sparse
    )
    # Anchors and overlap: sparse lines are extended along the region border (infill_anchor).
    anchor_len = (
        c.anchor_edge_factor * f.sparse_edges_mm * min(anchor_mm / sparse_spacing, 1.0) * (sparse_area > 0)
    )
    sparse_len = sparse_len + anchor_len
    t_sparse = t_sparse + anchor_len / v_inf
    sp_sol = _spacing(w_sol, h)
    sp_top = _spacing(w_top, h)
    edges_solid = f.solid_edges_mm
    share = solid_area / np.maximum(solid_area + f.top_mm2, 1e-9)
    v_sol = _cap_speed(p.solid_infill_speed, p, w_sol, h)
    v_top = _cap_speed(p.top_solid_infill_speed, p, w_top, h)
    t_solid, solid_len, _ = _fill_time(
        solid_area, edges_solid * share, sp_sol, 1.0, v_sol, v_sol, acc_inf, v_j, sp_sol * math.sqrt(2)
    )
    t_top, top_len, _ = _fill_time(
        f.top_mm2, edges_solid * (1 - share), sp_top, 1.0, v_top, v_top, acc_inf, v_j, sp_top * math.sqrt(2)
    )
    bridge_len = f.bridge_mm2 / bridge_spacing
    t_bridge, _, _ = _fill_time(
        f.bridge_mm2,
        edges_solid * 0 + 4 * np.sqrt(f.bridge_mm2),
        bridge_spacing,
        1.0,
        v_bridge,
        v_bridge,
        _accel(p.bridge_acceleration, p),
        v_j,
        bridge_spacing,
    )

    volume += float(anchor_len.sum()) * _section(w_inf, h)
    volume *= p.extrusion_multiplier
    # PrusaSlicer 2.5's "filament used" counts its own extrusions only, not the start G-code's intro line.
    filament_mm = volume / p.filament_area_mm2
    filament_g = filament_mm * p.filament_area_mm2 * (p.filament_density_g_cm3 or 1.24) / 1000  # PLA if unset

    # --- first layer: everything at first-layer speed
    if n:
        sp1 = _spacing(w_first, p.first_layer_height_mm)
        v1 = _cap_speed(p.first_layer_speed, p, w_first, p.first_layer_height_mm)
        t1, _, _ = _fill_time(
            f.interior_mm2[:1], edges_solid[:1], sp1, 1.0, v1, v1, acc_first, v_j, sp1 * math.sqrt(2)
        )
        t_solid[0] = float(t1[0]) + (ext_frac[0] + n_inner[0]) * f.outline_mm[0] / v1
        t_perim[0] = t_sparse[0] = t_top[0] = t_bridge[0] = 0.0
    t_extrude = t_perim + t_sparse + t_solid + t_top

    # --- travel: retract/lift/travel cycles per island and infill region
    islands = np.maximum(f.islands, 1.0) * (f.raster_area_mm2 > 0)
    loops = printed_loops(f)
    cycles = (
        c.retracts_per_loop * loops
        + c.retracts_per_solid_region * islands * ((solid_area + f.top_mm2) > 0)
        + c.retracts_per_sparse_line * sparse_lines
    )
    distance = c.travel_distance_factor * np.sqrt(np.maximum(f.raster_area_mm2, 1.0))
    t_travel = cycles * _cycle_time(distance, p)

    # --- cooling: PrusaSlicer's cooling buffer stretches a layer whose *feedrate-only* time (length / speed,
    # travel included, no acceleration) is below slowdown_below_layer_time, by slowing its extrusions (not
    # below min_print_speed). The time estimate then replays the slowed moves with acceleration.
    t_layer = t_extrude + t_bridge + t_travel
    if p.cooling and p.slowdown_below_layer_time_s > 0:
        target = p.slowdown_below_layer_time_s
        perim_len = (n_inner + ext_frac) * f.outline_mm
        simple_ext = (
            n_inner * f.outline_mm / v_per
            + ext_frac * f.outline_mm / v_ext
            + sparse_len / v_inf
            + solid_len / v_sol
            + top_len / v_top
        )
        if n:
            simple_ext[0] = (
                perim_len[0] + f.interior_mm2[0] / _spacing(w_first, p.first_layer_height_mm)
            ) / v1
        ext_len = perim_len + sparse_len + solid_len + top_len
        if n:
            ext_len[0] = perim_len[0] + f.interior_mm2[0] / _spacing(w_first, p.first_layer_height_mm)
        simple_travel = cycles * _cycle_simple_time(distance, p) + bridge_len / v_bridge
        simple = simple_ext + simple_travel
        slow = (simple < target) & (simple_ext > 0)
        k = np.where(slow, (target - simple_travel) / np.maximum(simple_ext, 1e-9), 1.0)
        k_max = np.maximum(ext_len / max(p.min_print_speed, 1e-9) / np.maximum(simple_ext, 1e-9), 1.0)
        k = np.clip(k, 1.0, k_max)
        overhead = np.maximum(t_extrude - simple_ext, 0.0)
        stretched = simple_ext * k + overhead / k
        t_layer = np.where(slow, np.maximum(stretched, t_extrude) + t_bridge + t_travel, t_layer)
    skirt_t = f.skirt_mm / max(p.first_layer_speed, 1e-9)
    total = float(t_layer.sum() + skirt_t)
    breakdown = {
        "perimeters": float(t_perim.sum()),
        "sparse": float(t_sparse.sum()),
        "solid": float(t_solid.sum()),
        "top": float(t_top.sum()),
        "bridge": float(t_bridge.sum()),
        "travel": float(t_travel.sum()),
        "cooling": float(total - skirt_t - (t_extrude + t_bridge + t_travel).sum()),
    }
    return Prediction(
        print_time_s=total,
        filament_mm=filament_mm,
        filament_g=filament_g,
        filament_mm3=volume,
        layers=n,
        breakdown_s=breakdown,
        volumes_mm3={
            "perimeters": float(perim_vol.sum()),
            "solid": float(solid_vol.sum()),
            "bridge": float(bridge_vol.sum()),
            "sparse": float(sparse_vol.sum()),
            "anchors": float(anchor_len.sum()) * _section(w_inf, h),
            "skirt": float(skirt_vol),
        },
        lengths_mm={
            "external": float((ext_frac * f.outline_mm).sum()),
            "perimeter": float((n_inner * f.outline_mm).sum()),
            "sparse": float(sparse_len.sum()),
            "solid": float(solid_len.sum()),
            "top": float(top_len.sum()),
            "bridge": float(bridge_len.sum()),
            "overhang": float(f.overhang_mm.sum()),
            "cycles": float(cycles.sum()),
        },
    )
