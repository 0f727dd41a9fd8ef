from __future__ import annotations

from pathlib import Path

import pytest

from printfleet.estimate.gcode import GcodeError, parse_duration, read_gcode


def test_durations():
    assert parse_duration("1h 2m 3s") == 3723
    assert parse_duration("1d 0h 1m 0s") == 86460
    assert parse_duration("45s") == 45
    assert parse_duration("12m 5s") == 725


def test_prusaslicer_comments(tmp_path: Path):
    path = tmp_path / "a.gcode"
    path.write_text(
        "G1 X1 E1\n; filament used [mm] = 1234.5\n; filament used [g] = 3.69\n"
        "; estimated printing time (normal mode) = 1h 2m 3s\n"
    )
    est = read_gcode(path)
    assert (est.print_time_s, est.filament_mm, est.filament_g, est.source) == (
        3723,
        1234.5,
        3.69,
        "prusaslicer",
    )


def test_orca_and_bambu_comments(tmp_path: Path):
    path = tmp_path / "b.gcode"
    path.write_text(
        "; model printing time: 50m 10s; total estimated time: 55m 0s\n"
        "; total filament used [g] = 12.50\n; filament used [mm] = 4100.00\nG1 X1 E1\n"
    )
    est = read_gcode(path)
    assert est.print_time_s == 3300 and est.filament_g == 12.5 and est.filament_mm == 4100


def test_cura_comments(tmp_path: Path):
    path = tmp_path / "c.gcode"
    path.write_text(";FLAVOR:Marlin\n;TIME:6666\n;Filament used: 1.23456m\n;Layer height: 0.2\nG1 X1 E1\n")
    est = read_gcode(path)
    assert est.source == "cura"
    assert est.print_time_s == 6666
    assert est.filament_mm == pytest.approx(1234.56)
    assert est.filament_g == pytest.approx(1234.56 * 2.405 * 1.24 / 1000, rel=1e-3)


def test_moves_absolute_relative_and_g92(tmp_path: Path):
    # 100 mm at 50 mm/s twice (absolute E, then relative E after M83), a G92 reset and a G91 move.
    path = tmp_path / "m.gcode"
    path.write_text(
        "G90\nM82\nG92 E0\nG1 X0 Y0 F3000\nG1 X100 E5 F3000\nG92 E0\nG1 X0 E5\n"
        "M83\nG1 X100 E2\nG1 E-1\nG1 E1\nG91\nG1 Y10 E0.5\n"
    )
    est = read_gcode(path)
    assert est.source == "moves"
    assert est.filament_mm == pytest.approx(12.5)
    # 310 mm of moves at 50 mm/s is 6.2 s plus acceleration; under 8 s
    assert 6.2 < est.print_time_s < 8
    assert est.warnings


def test_bad_gcode(tmp_path: Path):
    empty = tmp_path / "e.gcode"
    empty.write_text("")
    with pytest.raises(GcodeError, match="empty"):
        read_gcode(empty)
    text = tmp_path / "t.gcode"
    text.write_text("just some notes\n")
    with pytest.raises(GcodeError, match="no G0/G1 moves"):
        read_gcode(text)
