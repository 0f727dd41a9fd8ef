from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from printfleet.errors import UserError
from printfleet.estimate import estimate_file, slicer
from printfleet.estimate.slicer import SlicerError, SlicerNotFound, slice_model

from .conftest import SHIPPED_PROFILE

needs_slicer = pytest.mark.skipif(shutil.which("prusa-slicer") is None, reason="prusa-slicer not installed")


@needs_slicer
@pytest.mark.integration
def test_slices_a_cube_and_reads_its_figures(cube_stl: Path, tmp_path: Path):
    out = tmp_path / "cube.gcode"
    result = slice_model(cube_stl, SHIPPED_PROFILE, out)
    assert out.is_file() and result.gcode_path == out
    assert result.print_time_s == pytest.approx(1711, abs=60)  # PrusaSlicer 2.5.0 on this cube and profile
    assert result.filament_mm == pytest.approx(1215.35, rel=0.01)
    assert result.filament_g == pytest.approx(result.filament_mm * 2.405 * 1.24 / 1000, abs=0.02)
    # the instant estimate lands near the slicer's figure
    est = estimate_file(cube_stl, SHIPPED_PROFILE)
    assert est.print_time_s == pytest.approx(result.print_time_s, rel=0.15)
    assert est.filament_mm == pytest.approx(result.filament_mm, rel=0.06)
    # and the G-code reader agrees with the slicer's comments
    again = estimate_file(out, SHIPPED_PROFILE)
    assert (again.print_time_s, again.filament_mm) == (result.print_time_s, result.filament_mm)


@needs_slicer
@pytest.mark.integration
def test_slicer_errors_are_user_errors(tmp_path: Path):
    bad = tmp_path / "bad.stl"
    bad.write_bytes(b"solid nothing\nendsolid nothing\n")
    with pytest.raises(SlicerError) as info:
        slice_model(bad, SHIPPED_PROFILE, tmp_path / "bad.gcode")
    assert isinstance(info.value, UserError)
    assert "\n" not in str(info.value)


def test_missing_slicer_binary(monkeypatch: pytest.MonkeyPatch, cube_stl: Path, tmp_path: Path):
    monkeypatch.setattr(slicer, "SLICER_BINARY", "prusa-slicer-does-not-exist")
    with pytest.raises(SlicerNotFound, match="not found"):
        slice_model(cube_stl, SHIPPED_PROFILE, tmp_path / "x.gcode")
