"""What pre-sliced G-code needs of a printer."""

from __future__ import annotations

from pathlib import Path

import pytest

from printfleet.estimate.gcode_fit import fits_gcode, gcode_mismatch, profile_printer_model, read_gcode_needs

PROFILES = Path(__file__).resolve().parents[2] / "configs" / "profiles"


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


DATA = Path(__file__).with_name("data")
MINI_PETG = DATA / "mini-petg-31x36.gcode"  # PrusaSlicer 2.5, MINI profile with PETG, a 31 x 36 x 1.2 mm box


def test_the_part_size_leaves_out_the_intro_line_and_the_skirt() -> None:
    needs = read_gcode_needs(MINI_PETG)
    assert needs.part_mm == pytest.approx((31.0, 36.0, 1.1), abs=0.05)  # the last layer tops out at 1.1 mm
    assert needs.reach_mm is not None and needs.reach_mm[0] > 100  # the moves reach further (skirt, intro line)


def test_what_a_prusaslicer_gcode_was_sliced_for() -> None:
    needs = read_gcode_needs(MINI_PETG)
    assert (needs.printer_model, needs.filament_type, needs.nozzle_mm, needs.bed_mm) == ("MINI", "PETG", 0.4, (180, 180))


def test_a_mini_petg_gcode_fits_only_a_mini_with_petg() -> None:
    needs = read_gcode_needs(MINI_PETG)
    mk3s = profile_printer_model(PROFILES / "mk3s-0.20mm-pla.ini")
    mini = profile_printer_model(PROFILES / "mini-0.30mm-petg.ini")
    assert (mk3s, mini) == ("MK3S", "MINI")  # from the profiles' M862.3 checks (printer_model is empty there)
    assert gcode_mismatch(needs, (250, 210, 210), 0.4, material="PLA", printer_model=mk3s) == "model"
    assert gcode_mismatch(needs, (250, 210, 210), 0.4, material="PETG", printer_model=mk3s) == "model"
    assert gcode_mismatch(needs, (180, 180, 180), 0.4, material="PLA", printer_model=mini) == "material"
    assert gcode_mismatch(needs, (180, 180, 180), 0.6, material="PETG", printer_model=mini) == "nozzle"
    assert fits_gcode(needs, (180, 180, 180), 0.4, material="PETG", printer_model=mini)
    # no model known for the printer: the bed the file was sliced for decides
    assert gcode_mismatch(needs, (250, 210, 210), 0.4, material="PETG") == "bed"
    assert fits_gcode(needs, (180, 180, 180), 0.4, material="PETG")


def test_feature_comments_of_other_slicers(tmp_path: Path) -> None:
    path = tmp_path / "cura.gcode"
    path.write_text(";FLAVOR:Marlin\nM82\nG92 E0\nG1 X0.1 Y20 Z0.3 F1500 E0\nG1 X0.1 Y200 E15 ; prime line\n"
                    ";LAYER:0\n;TYPE:SKIRT\nG1 X10 Y10 E16\nG1 X90 Y10 E17\n"
                    ";TYPE:WALL-OUTER\nG0 X20 Y20\nG1 X60 Y20 E19\nG1 X60 Y45 E20\n;LAYER:1\nG1 Z0.5\nG1 X20 Y45 E21\n")
    needs = read_gcode_needs(path)
    assert needs.part_mm == (40.0, 25.0, 0.5)
    assert needs.reach_mm == (90.0, 200.0, 0.5)
