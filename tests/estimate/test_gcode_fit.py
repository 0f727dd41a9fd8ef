"""What pre-sliced G-code needs of a printer."""

from __future__ import annotations

from pathlib import Path

from printfleet.estimate.gcode_fit import fits_gcode, read_gcode_needs


def test_reach_follows_absolute_and_relative_moves_and_ignores_travel(tmp_path: Path) -> None:
    path = tmp_path / "part.gcode"
    path.write_text(
        "G90\nM83\nG1 Z0.2 F600\nG1 X10 Y10 F6000\n"
        "G1 X200 Y150 E5 ; extrude to (200,150)\n"
        "G0 X240 Y200 ; travel only, not counted\n"
        "G91\nG1 X-20 Y5 Z1 E1 ; relative, from the travel end (240,200): extrudes to (220,205,1.2)\nG90\n"
        "G1 X30 Y30 Z9.8 E-1 ; retract while moving\n"
        "; nozzle_diameter = 0.6\n"
    )
    needs = read_gcode_needs(path)
    assert needs.reach_mm == (220.0, 205.0, 1.2)
    assert needs.nozzle_mm == 0.6
    assert fits_gcode(needs, (250, 210, 210), 0.6)
    assert not fits_gcode(needs, (250, 210, 210), 0.4)  # other nozzle
    assert not fits_gcode(needs, (180, 180, 180), 0.6)  # reaches beyond a small bed


def test_cura_nozzle_and_a_purge_line_just_outside_the_bed(tmp_path: Path) -> None:
    path = tmp_path / "cura.gcode"
    path.write_text(";FLAVOR:Marlin\n;NOZZLE_DIAMETER:0.4\nM82\nG92 E0\nG1 X60 Y-3 E9\nG1 X100 Y-3 E12.5\n"
                    "G1 X50 Y50 Z0.3 E13\n")  # fmt: skip
    needs = read_gcode_needs(path)
    assert needs.nozzle_mm == 0.4 and not needs.below_zero
    assert needs.reach_mm == (100.0, 50.0, 0.3)
    far = tmp_path / "far.gcode"
    far.write_text("G1 X10 Y-40 E1\n")
    assert not fits_gcode(read_gcode_needs(far), (250, 210, 210), 0.4)
