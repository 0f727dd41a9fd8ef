"""Small meshes made on the spot for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stl import mesh

_CORNERS = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], float)
_FACES = ((0, 3, 1), (1, 3, 2), (0, 4, 7), (0, 7, 3), (4, 5, 6), (4, 6, 7), (5, 1, 2), (5, 2, 6), (2, 3, 6), (3, 7, 6),
          (0, 1, 5), (0, 5, 4))  # fmt: skip


def box_stl(path: Path, x: float, y: float | None = None, z: float | None = None) -> Path:
    """Write a closed, outward-facing box of ``x`` by ``y`` by ``z`` mm (a cube if only ``x``) as binary STL."""
    corners = _CORNERS * [x, x if y is None else y, x if z is None else z]
    box = mesh.Mesh(np.zeros(len(_FACES), dtype=mesh.Mesh.dtype))
    for i, face in enumerate(_FACES):
        box.vectors[i] = corners[list(face)]
    box.save(str(path))
    return path


def torus_stl(path: Path, n_triangles: int = 1_000_000, height_mm: float = 40.0) -> int:
    """Closed torus (tube radius height/2, ring radius 2x that) as a binary STL with ``n_triangles``."""
    r = height_mm / 2
    big_r = 2 * r
    nv = round((n_triangles / 2 / (big_r / r)) ** 0.5)
    nu = n_triangles // (2 * nv)
    u = np.linspace(0, 2 * np.pi, nu, endpoint=False)
    v = np.linspace(0, 2 * np.pi, nv, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    pts = np.stack(
        [(big_r + r * np.cos(vv)) * np.cos(uu), (big_r + r * np.cos(vv)) * np.sin(uu), r * np.sin(vv) + r],
        axis=-1,
    ).astype(np.float32)
    i, j = np.meshgrid(np.arange(nu), np.arange(nv), indexing="ij")
    i1, j1 = (i + 1) % nu, (j + 1) % nv
    a, b, c, d = pts[i, j], pts[i1, j], pts[i1, j1], pts[i, j1]
    tris = np.concatenate(
        [np.stack([a, b, c], 2).reshape(-1, 3, 3), np.stack([a, c, d], 2).reshape(-1, 3, 3)]
    )
    data = np.zeros(len(tris), dtype=mesh.Mesh.dtype)
    data["vectors"] = tris
    mesh.Mesh(data, calculate_normals=False).save(str(path))
    return len(tris)
