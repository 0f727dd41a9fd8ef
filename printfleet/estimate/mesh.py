"""STL loading (numpy-stl) with input checks, and whole-mesh geometry, vectorised over the triangle array.

``get_mass_properties()`` is never called: its exactness check costs about 80 us per triangle.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from stl import mesh as stl_mesh
from stl.stl import Mode

from printfleet.errors import UserError
from printfleet.texts import N_, text_param

logger = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
_HEADER_BYTES = 84
_RECORD_BYTES = 50
_CHUNK = 1 << 15
INSIDE_OUT_MAX_OPEN = 0.01  # a mesh counts as closed (and can be inside out) below this open-edge fraction
_THREADED_TRIANGLES = 200_000  # meshes this big are checked and measured on two threads

_MAGIC = {
    b"\x89PNG": N_("a PNG image"),
    b"\xff\xd8\xff": N_("a JPEG image"),
    b"GIF8": N_("a GIF image"),
    b"%PDF": N_("a PDF document"),
    b"PK\x03\x04": N_("a ZIP archive (a 3MF project?)"),
    b"\x1f\x8b": N_("a gzip archive"),
    b"BM": None,  # too short to be sure; handled by the size check
}


class MeshError(UserError):
    """The model file cannot be used: empty, truncated, not an STL, or without printable geometry."""


@dataclass(frozen=True)
class MeshInfo:
    """Whole-mesh geometry (mm, mm^2, mm^3), in the file's own orientation."""

    triangles: int
    volume_mm3: float
    area_mm2: float
    bbox_min_mm: tuple[float, float, float]
    bbox_max_mm: tuple[float, float, float]
    overhang_area_mm2: float
    up_area_mm2: float
    open_edges_fraction: float
    degenerate_triangles: int
    inside_out: bool = False  # closed, with every facet facing inward (negative signed volume)

    @property
    def bbox_mm(self) -> tuple[float, float, float]:
        """Size of the axis-aligned bounding box."""
        return tuple(float(b - a) for a, b in zip(self.bbox_min_mm, self.bbox_max_mm))  # type: ignore[return-value]


def _is_ascii(head: bytes) -> bool:
    return head.lstrip()[:5].lower() == b"solid"


def load_triangles(
    path: Path | str, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES, check_values: bool = True
) -> np.ndarray:
    """Load an STL file (binary or ASCII) with numpy-stl and return its triangles, shape (n, 3, 3) float32.

    ``check_values=False`` skips the NaN/inf and range pass for a caller that runs :func:`mesh_stats` next
    and calls :func:`check_values` when its bounding box is not finite or too large (saves a pass).

    Raises:
        MeshError: empty, over ``max_bytes``, truncated, not an STL, garbage lines, non-finite coordinates,
            or no triangle with a non-zero area.
    """
    path = Path(path)
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise MeshError(N_("%(file)s: file not found"), file=str(path)) from None
    except OSError as exc:
        raise MeshError(N_("%(file)s: cannot read it (%(problem)s)"), file=str(path), problem=exc.strerror) from None
    if size == 0:
        raise MeshError(N_("%(file)s: empty file"), file=str(path))
    if size > max_bytes:
        raise MeshError(N_("%(file)s: file is %(size_mb)s MB, over the %(limit_mb)s MB limit"),
                        file=str(path), size_mb=round(size / 1e6, 1), limit_mb=round(max_bytes / 1e6))
    with open(path, "rb") as fh:
        head = fh.read(_HEADER_BYTES)
    for magic, what in _MAGIC.items():
        if what and head.startswith(magic):
            raise MeshError(N_("%(file)s: not an STL file (looks like %(looks_like)s)"), file=str(path),
                            looks_like=text_param(what))
    count = int.from_bytes(head[80:84], "little") if len(head) >= _HEADER_BYTES else -1
    binary_size_ok = count >= 0 and size == _HEADER_BYTES + _RECORD_BYTES * count
    if binary_size_ok:
        if count == 0:
            raise MeshError(N_("%(file)s: the STL has no triangles"), file=str(path))
        data = np.fromfile(path, dtype=stl_mesh.Mesh.dtype, count=count, offset=_HEADER_BYTES)
        vectors = stl_mesh.Mesh(data, calculate_normals=False).vectors
    elif _is_ascii(head):
        vectors = _load_ascii(path)
    else:
        if size < _HEADER_BYTES:
            raise MeshError(N_("%(file)s: not an STL file (only %(size)s bytes, shorter than a binary STL header)"),
                            file=str(path), size=size)
        if _looks_like_text(head):
            raise MeshError(N_("%(file)s: not an STL file (text that does not start with 'solid')"), file=str(path))
        room = (size - _HEADER_BYTES) // _RECORD_BYTES
        raise MeshError(
            N_("%(file)s: truncated or corrupt binary STL: the header says %(count)s triangles but the file has "
               "room for %(room)s"), file=str(path), count=count, room=room,
        )
    return _check_vectors(path, vectors) if check_values else vectors


def check_values(path: Path | str, vectors: np.ndarray) -> np.ndarray:
    """Raise :class:`MeshError` for NaN or infinite coordinates or coordinates beyond 1 km."""
    return _check_vectors(Path(path), vectors)


def bounds_suspect(info: MeshInfo) -> bool:
    """Whether a bounding box from :func:`mesh_stats` shows non-finite or out-of-range coordinates."""
    corners = np.array([info.bbox_min_mm, info.bbox_max_mm])
    return not bool(np.isfinite(corners).all()) or float(np.abs(corners).max()) > 1e6


def _looks_like_text(head: bytes) -> bool:
    printable = sum(32 <= c < 127 or c in (9, 10, 13) for c in head)
    return printable == len(head)


def _load_ascii(path: Path) -> np.ndarray:
    try:
        loaded = stl_mesh.Mesh.from_file(str(path), calculate_normals=False, mode=Mode.ASCII, speedups=True)
    except (ValueError, AssertionError, RuntimeError, TypeError, IndexError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MeshError(N_("%(file)s: malformed ASCII STL (%(detail)s)"), file=str(path), detail=detail[:160]) from None
    if loaded is None or len(loaded.data) == 0:
        raise MeshError(N_("%(file)s: the STL has no triangles"), file=str(path))
    return loaded.vectors


def _check_vectors(path: Path, vectors: np.ndarray) -> np.ndarray:
    def check(span: tuple[int, int]) -> tuple[int, float]:
        chunk = vectors[span[0] : span[1]]
        lo, hi = float(chunk.min()), float(chunk.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return int((~np.isfinite(chunk).all(axis=(1, 2))).sum()), 0.0
        return 0, max(-lo, hi)

    results = _map_chunks(check, len(vectors), 1 << 17)
    bad = sum(r[0] for r in results)
    extreme = max((r[1] for r in results), default=0.0)
    if bad:
        raise MeshError(N_("%(file)s: %(count)s triangle(s) have NaN or infinite coordinates"), file=str(path), count=bad)
    if extreme > 1e6:
        raise MeshError(N_("%(file)s: coordinates beyond 1 km; the file is corrupt or not in millimetres"),
                        file=str(path))
    return vectors


def _map_chunks(fn, n: int, size: int, *, threads: bool = True) -> list:
    """``fn`` over the ``(start, stop)`` chunks of ``range(n)`` in order; big arrays on two threads (numpy
    releases the GIL in the per-chunk work). Chunks of a few ten thousand elements are faster on one
    thread: their many short numpy calls spend more time waiting for the GIL than they gain."""
    spans = list(_chunks(n, size))
    if threads and n >= _THREADED_TRIANGLES and len(spans) > 1 and (os.cpu_count() or 1) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(fn, spans))
    return [fn(span) for span in spans]


def _chunks(n: int, size: int = _CHUNK):
    for start in range(0, n, size):
        yield start, min(start + size, n)


def mesh_info(vectors: np.ndarray) -> MeshInfo:
    """Volume, area, bounding box, overhang and up-facing areas and closure (chunked, low memory)."""
    return mesh_stats(vectors)[0]


def mesh_stats(vectors: np.ndarray) -> tuple[MeshInfo, np.ndarray, np.ndarray]:
    """:func:`mesh_info` plus every triangle's lowest and highest z (float32), reused by the slicer.

    One pass in chunks: each chunk is transposed to contiguous per-component float32 arrays; sums
    accumulate in float64. The volume's reference point is the first vertex (exact for closed meshes).
    """
    n = len(vectors)
    ref = np.asarray(vectors[0, 0], dtype=np.float32) if n else np.zeros(3, np.float32)
    zlo = np.empty(n, np.float32)
    zhi = np.empty(n, np.float32)

    def chunk_stats(span: tuple[int, int]):
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf show in the bounds; callers check them
            return _chunk_stats(span)

    def _chunk_stats(span: tuple[int, int]):
        a, b = span
        soa = np.ascontiguousarray(vectors[a:b].transpose(1, 2, 0))  # (vertex, axis, triangle)
        soa -= ref[None, :, None]
        (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = soa
        c_lo = [float(soa[:, axis].min()) for axis in range(3)]
        c_hi = [float(soa[:, axis].max()) for axis in range(3)]
        np.minimum(np.minimum(z0, z1), z2, out=zlo[a:b])
        np.maximum(np.maximum(z0, z1), z2, out=zhi[a:b])
        ax, ay, az = x1 - x0, y1 - y0, z1 - z0
        bx, by, bz = x2 - x0, y2 - y0, z2 - z0
        cx = ay * bz - az * by
        cy = az * bx - ax * bz
        cz = ax * by - ay * bx
        dbl = np.sqrt(cx * cx + cy * cy + cz * cz)
        # volume: sum of v0 . (v1 x v2) / 6 == sum of v0 . (a x b) / 6, with a, b the edge vectors
        c_volume = float(np.dot(x0, cx, out=None) + np.dot(y0, cy) + np.dot(z0, cz)) / 6
        c_area = float(dbl.sum(dtype=np.float64)) / 2
        c_vec = np.array([cx.sum(dtype=np.float64), cy.sum(dtype=np.float64), cz.sum(dtype=np.float64)]) / 2
        c_degenerate = int(np.count_nonzero(dbl <= 1e-12))
        steep = np.float32(0.7072) * dbl
        down = cz < -steep
        c_overhang = (dbl[down] / 2, zlo[a:b][down]) if down.any() else None
        c_up = float((dbl[cz > steep]).sum(dtype=np.float64)) / 2
        return c_lo, c_hi, c_volume, c_area, c_vec, c_degenerate, c_overhang, c_up

    volume = area = up = 0.0
    vec_area = np.zeros(3)
    degenerate = 0
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    overhang_parts: list[tuple[np.ndarray, np.ndarray]] = []
    # Cache-sized chunks, on one thread (see _map_chunks); partial results are combined in chunk order.
    for c_lo, c_hi, c_volume, c_area, c_vec, c_degenerate, c_overhang, c_up in _map_chunks(
        chunk_stats, n, 1 << 14, threads=False
    ):
        lo = np.minimum(lo, c_lo)
        hi = np.maximum(hi, c_hi)
        volume += c_volume
        area += c_area
        vec_area += c_vec
        degenerate += c_degenerate
        if c_overhang is not None:
            overhang_parts.append(c_overhang)
        up += c_up
    z_bed = lo[2] + 1e-3
    overhang = sum(float(ar[z > z_bed].sum(dtype=np.float64)) for ar, z in overhang_parts)
    lo += ref
    hi += ref
    zlo += ref[2]
    zhi += ref[2]
    open_fraction = float(np.linalg.norm(vec_area) / area) if area > 0 else 1.0
    info = MeshInfo(
        triangles=n,
        volume_mm3=abs(volume),
        area_mm2=area,
        bbox_min_mm=tuple(float(x) for x in lo),  # type: ignore[arg-type]
        bbox_max_mm=tuple(float(x) for x in hi),  # type: ignore[arg-type]
        overhang_area_mm2=overhang,
        up_area_mm2=up,
        open_edges_fraction=open_fraction,
        degenerate_triangles=degenerate,
        inside_out=volume < 0 and open_fraction < INSIDE_OUT_MAX_OPEN,
    )
    return info, zlo, zhi


def repair_orientation(vectors: np.ndarray) -> tuple[np.ndarray, int]:
    """Make facet winding consistent across shared edges, as PrusaSlicer's mesh repair (admesh) does.

    Each connected part keeps the winding of its first facet; a neighbour that runs a shared edge in the
    same direction is flipped. Vertices are matched at 1e-4 mm. Returns the triangles and how many were
    flipped. Meant for small meshes that show overlapping or inverted shells (it walks facets in Python).
    """
    from collections import deque

    n = len(vectors)
    pts = np.round(np.asarray(vectors, dtype=np.float64).reshape(-1, 3), 4)
    _, vid = np.unique(pts, axis=0, return_inverse=True)
    vid = vid.reshape(n, 3).astype(np.int64)
    a, b = vid, np.roll(vid, -1, axis=1)
    key = (np.minimum(a, b) << 32 | np.maximum(a, b)).ravel()
    forward = (a < b).ravel()
    facet = np.repeat(np.arange(n), 3)
    order = np.argsort(key, kind="stable")
    key, forward, facet = key[order], forward[order], facet[order]
    pair = np.nonzero(key[1:] == key[:-1])[0]
    f1, f2 = facet[pair], facet[pair + 1]
    same_dir = forward[pair] == forward[pair + 1]  # a consistent pair runs the edge in opposite directions
    # adjacency in CSR form
    src = np.concatenate([f1, f2])
    dst = np.concatenate([f2, f1])
    par = np.concatenate([same_dir, same_dir])
    idx = np.argsort(src, kind="stable")
    dst, par = dst[idx].tolist(), par[idx].tolist()
    start = np.searchsorted(src[idx], np.arange(n + 1)).tolist()
    flip = [False] * n
    seen = [False] * n
    for root in range(n):
        if seen[root]:
            continue
        seen[root] = True
        queue = deque([root])
        while queue:
            f = queue.popleft()
            for k in range(start[f], start[f + 1]):
                g = dst[k]
                if not seen[g]:
                    seen[g] = True
                    flip[g] = flip[f] ^ par[k]
                    queue.append(g)
    mask = np.array(flip, dtype=bool)
    if not mask.any():
        return vectors, 0
    fixed = np.array(vectors, dtype=np.float32, copy=True)
    fixed[mask] = fixed[mask][:, ::-1]
    return fixed, int(mask.sum())
