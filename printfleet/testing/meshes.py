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
