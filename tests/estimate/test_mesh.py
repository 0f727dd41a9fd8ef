from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from printfleet.estimate.mesh import MeshError, load_triangles, mesh_info

from .conftest import box_triangles, write_stl


def test_cube_geometry_binary_and_ascii(tmp_path: Path):
    tris = box_triangles((20, 10, 5), origin=(3, 4, 7))
    for ascii in (False, True):
        path = write_stl(tmp_path / f"box{ascii}.stl", tris, ascii=ascii)
        info = mesh_info(load_triangles(path))
        assert info.triangles == 12
        assert info.volume_mm3 == pytest.approx(1000.0, rel=1e-6)
        assert info.area_mm2 == pytest.approx(2 * (200 + 100 + 50), rel=1e-6)
        assert info.bbox_mm == pytest.approx((20, 10, 5))
        assert info.bbox_min_mm == pytest.approx((3, 4, 7))
        assert info.overhang_area_mm2 == 0  # the bottom face rests on the bed
        assert info.up_area_mm2 == pytest.approx(200)
        assert info.open_edges_fraction < 1e-9


def test_open_mesh_is_detected(tmp_path: Path):
    tris = box_triangles()[:-2]  # drop one side
    info = mesh_info(load_triangles(write_stl(tmp_path / "open.stl", tris)))
    assert info.open_edges_fraction > 0.05


def test_overhang_area(tmp_path: Path):
    lower = box_triangles((10, 10, 5))
    upper = box_triangles((30, 10, 5), origin=(-10, 0, 5))  # overhangs 10 mm on each side
    info = mesh_info(load_triangles(write_stl(tmp_path / "t.stl", np.concatenate([lower, upper]))))
    assert info.overhang_area_mm2 == pytest.approx(300)  # the upper box's bottom (incl. the shared 100 mm2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "not an STL file \\(looks like a PNG image\\)"),
        (b"hello world, this is not a mesh but plain text" * 3, "not an STL file"),
        (b"\x00" * 80 + (1000).to_bytes(4, "little") + b"\x00" * 500, "truncated or corrupt binary STL"),
        (
            b"solid x\n facet normal 0 0 1\n  outer loop\n   vertex 0 0 0\n   vertex banana 1 0\n",
            "malformed ASCII STL",
        ),
    ],
)
def test_bad_files(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.stl"
    path.write_bytes(content)
    with pytest.raises(MeshError, match=message):
        load_triangles(path)


def test_nan_and_size_limit(tmp_path: Path):
    tris = box_triangles()
    tris[3, 1, 2] = np.nan
    with pytest.raises(MeshError, match="NaN or infinite"):
        load_triangles(write_stl(tmp_path / "nan.stl", tris))
    tris = box_triangles()
    tris[0, 0, 0] = np.inf
    with pytest.raises(MeshError, match="NaN or infinite"):
        load_triangles(write_stl(tmp_path / "inf.stl", tris))
    ok = write_stl(tmp_path / "ok.stl", box_triangles())
    with pytest.raises(MeshError, match="over the .* limit"):
        load_triangles(ok, max_bytes=100)
