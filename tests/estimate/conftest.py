"""Fixtures for the estimator tests: meshes written with numpy-stl into tmp_path, the shared set's profiles."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from stl import mesh

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PRINTFLEET_SHARED_DIR", REPO_ROOT.parent / "shared")) / "estimation"
PROFILE_A = SHARED / "profiles" / "profile_A_0.20mm_quality.ini"
PROFILE_B = SHARED / "profiles" / "profile_B_0.30mm_draft.ini"
SHIPPED_PROFILE = REPO_ROOT / "configs" / "profiles" / "mk3s-0.20mm-pla.ini"


def box_triangles(size=(20.0, 20.0, 20.0), origin=(0.0, 0.0, 0.0)) -> np.ndarray:
    """A closed, outward-wound box as (12, 3, 3) float32."""
    x0, y0, z0 = origin
    x1, y1, z1 = x0 + size[0], y0 + size[1], z0 + size[2]
    c = np.array(
        [
            [x0, y0, z0],
            [x1, y0, z0],
            [x1, y1, z0],
            [x0, y1, z0],
            [x0, y0, z1],
            [x1, y0, z1],
            [x1, y1, z1],
            [x0, y1, z1],
        ],
        dtype=np.float32,
    )
    faces = [
        (0, 2, 1),
        (0, 3, 2),
        (4, 5, 6),
        (4, 6, 7),
        (0, 1, 5),
        (0, 5, 4),
        (1, 2, 6),
        (1, 6, 5),
        (2, 3, 7),
        (2, 7, 6),
        (3, 0, 4),
        (3, 4, 7),
    ]
    return c[np.array(faces)]


def write_stl(path: Path, triangles: np.ndarray, *, ascii: bool = False) -> Path:
    data = np.zeros(len(triangles), dtype=mesh.Mesh.dtype)
    data["vectors"] = triangles
    m = mesh.Mesh(data, calculate_normals=bool(np.isfinite(triangles).all()))
    from stl.stl import Mode

    m.save(str(path), mode=Mode.ASCII if ascii else Mode.BINARY)
    return path


@pytest.fixture
def cube_stl(tmp_path: Path) -> Path:
    return write_stl(tmp_path / "cube.stl", box_triangles())


@pytest.fixture
def profile_path() -> Path:
    if PROFILE_A.is_file():
        return PROFILE_A
    return SHIPPED_PROFILE
