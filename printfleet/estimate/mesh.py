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

logger = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
_HEADER_BYTES = 84
_RECORD_BYTES = 50
_CHUNK = 1 << 15

_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (a 3MF project?)",
    b"\x1f\x8b": "a gzip archive",
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

    @property
    def bbox_mm(self) -> tuple[float, float, float]:
        """Size of the axis-aligned bounding box."""
        return tuple(float(b - a) for a, b in zip(self.bbox_min_mm, self.bbox_max_mm))  # type: ignore[return-value]


def _is_ascii(head: bytes) -> bool:
    return head.lstrip()[:5].lower() == b"solid"


def load_triangles(path: Path | str, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> np.ndarray:
    """Load an STL file (binary or ASCII) with numpy-stl and return its triangles, shape (n, 3, 3) float32.

    Raises:
        MeshError: empty, over ``max_bytes``, truncated, not an STL, garbage lines, non-finite coordinates,
            or no triangle with a non-zero area.
    """
    path = Path(path)
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise MeshError(f"{path}: file not found") from None
    except OSError as exc:
        raise MeshError(f"{path}: cannot read it ({exc.strerror})") from None
    if size == 0:
        raise MeshError(f"{path}: empty file")
    if size > max_bytes:
        raise MeshError(f"{path}: file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit")
    with open(path, "rb") as fh:
        head = fh.read(_HEADER_BYTES)
    for magic, what in _MAGIC.items():
        if what and head.startswith(magic):
            raise MeshError(f"{path}: not an STL file (looks like {what})")
    count = int.from_bytes(head[80:84], "little") if len(head) >= _HEADER_BYTES else -1
    binary_size_ok = count >= 0 and size == _HEADER_BYTES + _RECORD_BYTES * count
    if binary_size_ok:
        if count == 0:
            raise MeshError(f"{path}: the STL has no triangles")
        data = np.fromfile(path, dtype=stl_mesh.Mesh.dtype, count=count, offset=_HEADER_BYTES)
        vectors = stl_mesh.Mesh(data, calculate_normals=False).vectors
    elif _is_ascii(head):
        vectors = _load_ascii(path)
    else:
        if size < _HEADER_BYTES:
            raise MeshError(f"{path}: not an STL file (only {size} bytes, shorter than a binary STL header)")
        if _looks_like_text(head):
            raise MeshError(f"{path}: not an STL file (text that does not start with 'solid')")
        room = (size - _HEADER_BYTES) // _RECORD_BYTES
        raise MeshError(
            f"{path}: truncated or corrupt binary STL: the header says {count} triangles "
            f"but the file has room for {room}"
        )
    return _check_vectors(path, vectors)


def _looks_like_text(head: bytes) -> bool:
    printable = sum(32 <= c < 127 or c in (9, 10, 13) for c in head)
    return printable == len(head)


def _load_ascii(path: Path) -> np.ndarray:
    try:
        loaded = stl_mesh.Mesh.from_file(str(path), calculate_normals=False, mode=Mode.ASCII, speedups=True)
    except (ValueError, AssertionError, RuntimeError, TypeError, IndexError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MeshError(f"{path}: malformed ASCII STL ({detail[:160]})") from None
    if loaded is None or len(loaded.data) == 0:
        raise MeshError(f"{path}: the STL has no triangles")
    return loaded.vectors


def _check_vectors(path: Path, vectors: np.ndarray) -> np.ndarray:
    bad = 0
    extreme = 0.0
    for a in range(0, len(vectors), _CHUNK):
        chunk = vectors[a : a + _CHUNK]
        lo, hi = float(chunk.min()), float(chunk.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            bad += int((~np.isfinite(chunk).all(axis=(1, 2))).sum())
        else:
            extreme = max(extreme, -lo, hi)
    if bad:
        raise MeshError(f"{path}: {bad} triangle(s) have NaN or infinite coordinates")
    if extreme > 1e6:
        raise MeshError(f"{path}: coordinates beyond 1 km; the file is corrupt or not in millimetres")
    return vectors


def _chunks(n: int, size: int = _CHUNK):
    for start in range(0, n, size):
        yield start, min(start + size, n)


def mesh_info(vectors: np.ndarray) -> MeshInfo:
    """Volume, area, bounding box, overhang and up-facing areas and closure, in chunks of f64 (low memory)."""
    n = len(vectors)
    volume = area = overhang = up = 0.0
    vec_area = np.zeros(3)
    degenerate = 0
    lo = vectors.min(axis=(0, 1)).astype(np.float64)
    hi = vectors.max(axis=(0, 1)).astype(np.float64)
    centre = (lo + hi) / 2
    z_bed = lo[2] + 1e-3
    c32 = centre.astype(np.float32)
    for a, b in _chunks(n, 1 << 16):
        # float32 component arithmetic on centred coordinates; sums accumulate in float64.
        v = vectors[a:b] - c32
        x0, y0, z0 = v[:, 0, 0], v[:, 0, 1], v[:, 0, 2]
        x1, y1, z1 = v[:, 1, 0], v[:, 1, 1], v[:, 1, 2]
        x2, y2, z2 = v[:, 2, 0], v[:, 2, 1], v[:, 2, 2]
        ax, ay, az = x1 - x0, y1 - y0, z1 - z0
        bx, by, bz = x2 - x0, y2 - y0, z2 - z0
        cx = ay * bz - az * by
        cy = az * bx - ax * bz
        cz = ax * by - ay * bx
        dbl = np.sqrt(cx * cx + cy * cy + cz * cz)
        # volume: sum of v0 . (v1 x v2) / 6 == sum of (v0 . (a x b)) / 6 with a, b the edge vectors
        volume += (
            float(
                np.dot(x0.astype(np.float64), cx)
                + np.dot(y0.astype(np.float64), cy)
                + np.dot(z0.astype(np.float64), cz)
            )
            / 6
        )
        area += float(dbl.sum(dtype=np.float64)) / 2
        vec_area += (
            np.array([cx.sum(dtype=np.float64), cy.sum(dtype=np.float64), cz.sum(dtype=np.float64)]) / 2
        )
        degenerate += int(np.count_nonzero(dbl <= 1e-12))
        nz = cz / np.maximum(dbl, np.float32(1e-30))
        tri_area = dbl / 2
        above_bed = np.minimum(np.minimum(z0, z1), z2) + c32[2] > z_bed
        overhang += float(tri_area[(nz < -0.7072) & above_bed].sum(dtype=np.float64))
        up += float(tri_area[nz > 0.7072].sum(dtype=np.float64))
    open_fraction = float(np.linalg.norm(vec_area) / area) if area > 0 else 1.0
    return MeshInfo(
        triangles=n,
        volume_mm3=abs(volume),
        area_mm2=area,
        bbox_min_mm=tuple(float(x) for x in lo),  # type: ignore[arg-type]
        bbox_max_mm=tuple(float(x) for x in hi),  # type: ignore[arg-type]
        overhang_area_mm2=overhang,
        up_area_mm2=up,
        open_edges_fraction=open_fraction,
        degenerate_triangles=degenerate,
    )
