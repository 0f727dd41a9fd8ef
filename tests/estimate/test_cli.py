"""End to end: ``python -m printfleet estimate`` in a subprocess (exit codes, one-line errors, JSON)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import REPO_ROOT, SHIPPED_PROFILE, box_triangles, write_stl


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printfleet", "estimate", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd or REPO_ROOT,
        timeout=120,
    )


def test_json_lines_for_several_files_and_fit(tmp_path: Path):
    cube = write_stl(tmp_path / "cube.stl", box_triangles())
    long_bar = write_stl(tmp_path / "bar.stl", box_triangles((245, 10, 10)))
    fleet = tmp_path / "fleet.yaml"
    (tmp_path / "p.ini").write_text(SHIPPED_PROFILE.read_text())
    fleet.write_text(
        "printers:\n"
        "  - {id: big, name: Big, driver: simulated, build_volume_mm: [250, 210, 210], profile: p.ini}\n"
        "  - {id: mini, name: Mini, driver: simulated, build_volume_mm: [180, 180, 180], profile: p.ini}\n"
    )
    proc = run(str(cube), str(long_bar), "--profile", str(SHIPPED_PROFILE), "--json", "--config", str(fleet))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(r["file"]).name for r in rows] == ["cube.stl", "bar.stl"]
    cube_row = rows[0]
    for key in (
        "file",
        "triangles",
        "volume_mm3",
        "bbox_mm",
        "print_time_s",
        "filament_mm",
        "filament_g",
        "warnings",
    ):
        assert key in cube_row
    assert cube_row["triangles"] == 12
    assert cube_row["volume_mm3"] == pytest.approx(8000)
    assert cube_row["bbox_mm"] == [20, 20, 20]
    assert cube_row["warnings"] == []
    assert cube_row["fits"] == ["big", "mini"]
    assert rows[1]["fits"] == [
        "big"
    ]  # even diagonally (about 180.3 x 180.3 at 45 degrees) 245 x 10 does not fit 180 x 180


def test_table_output(tmp_path: Path):
    cube = write_stl(tmp_path / "cube.stl", box_triangles())
    proc = run(str(cube), "--profile", str(SHIPPED_PROFILE), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "cube.stl" in proc.stdout and "g /" in proc.stdout


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty.stl"
    empty.write_bytes(b"")
    png = tmp_path / "image.stl"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    truncated = tmp_path / "truncated.stl"
    truncated.write_bytes(write_stl(tmp_path / "full.stl", box_triangles()).read_bytes()[:-60])
    garbage = tmp_path / "garbage.stl"
    text = write_stl(tmp_path / "ascii.stl", box_triangles(), ascii=True).read_text().splitlines()
    text.insert(5, "this line is garbage 1 2 3")
    garbage.write_text("\n".join(text) + "\n")
    nan = box_triangles()
    nan[2, 0, 1] = np.nan
    degenerate = np.zeros((4, 3, 3), dtype=np.float32)
    degenerate[:, :, 0] = [[0, 1, 2]] * 4
    big = write_stl(tmp_path / "big.stl", box_triangles())
    return {
        "empty": (empty, "empty file"),
        "png": (png, "not an STL file (looks like a PNG image)"),
        "truncated": (truncated, "truncated or corrupt binary STL"),
        "garbage": (garbage, "malformed ASCII STL"),
        "nan": (write_stl(tmp_path / "nan.stl", nan), "NaN or infinite coordinates"),
        "degenerate": (write_stl(tmp_path / "flat.stl", degenerate), "degenerate"),
        "too_big": (big, "over the 0 MB limit"),
    }


@pytest.mark.parametrize("case", ["empty", "png", "truncated", "garbage", "nan", "degenerate", "too_big"])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, case: str):
    path, message = _bad_inputs(tmp_path)[case]
    extra = ["--max-mb", "0.0001"] if case == "too_big" else []
    proc = run(str(path), "--profile", str(SHIPPED_PROFILE), "--json", *extra)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr


def test_good_files_still_reported_when_one_is_bad(tmp_path: Path):
    good = write_stl(tmp_path / "good.stl", box_triangles())
    bad = tmp_path / "bad.stl"
    bad.write_bytes(b"")
    proc = run(str(bad), str(good), "--profile", str(SHIPPED_PROFILE), "--json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout.strip())["triangles"] == 12


def test_missing_profile_exits_2(tmp_path: Path):
    good = write_stl(tmp_path / "good.stl", box_triangles())
    proc = run(str(good), "--profile", str(tmp_path / "nope.ini"))
    assert proc.returncode == 2
    assert "profile not found" in proc.stderr and "Traceback" not in proc.stderr


def test_open_mesh_is_estimated_with_warning(tmp_path: Path):
    path = write_stl(tmp_path / "open.stl", box_triangles()[:-2])
    proc = run(str(path), "--profile", str(SHIPPED_PROFILE), "--json")
    assert proc.returncode == 0
    row = json.loads(proc.stdout)
    assert row["print_time_s"] > 0 and any("open" in w for w in row["warnings"])
