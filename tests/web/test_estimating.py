"""The estimate a maker sees before confirming: copies on one plate, G-code made for one printer, and why
nothing fits, in the reader's language."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from printfleet.config import load_fleet
from printfleet.files import FileStore
from printfleet.models import FileKind
from printfleet.web.estimating import estimate_options, estimate_upload, no_fit_text, sliced_for_text
from printfleet.web.i18n import Formatter, translations
from tests.web.conftest import box_stl

REPO_ROOT = Path(__file__).resolve().parents[2]
FLEET = load_fleet(REPO_ROOT / "configs" / "printers.yaml")
MINI_PETG = REPO_ROOT / "tests" / "estimate" / "data" / "mini-petg-31x36.gcode"
MB = 1_000_000
EN = (translations("en"), Formatter("en_GB", ZoneInfo("Europe/Berlin")))
DE = (translations("de"), Formatter("de_DE", ZoneInfo("Europe/Berlin")))


def model(tmp_path: Path, x: float, y: float, z: float) -> Path:
    path = tmp_path / f"box-{x:g}x{y:g}x{z:g}.stl"
    path.write_bytes(box_stl(x, y, z))
    return path


def test_copies_are_estimated_as_the_plate_they_print_on(tmp_path: Path) -> None:
    path = model(tmp_path, 20, 20, 10)
    one = estimate_options(
        path, FileKind.STL, FLEET, tmp_path, material="PLA", colour=None, copies=1, max_bytes=MB
    )
    three = estimate_options(path, FileKind.STL, FLEET, tmp_path, material="PLA", colour=None, copies=3,
                             max_bytes=MB, known=one)  # fmt: skip
    assert (one.copies, three.copies) == (1, 3)
    assert three.filament_g == pytest.approx(3 * one.filament_g, rel=0.05)  # one skirt around all three
    # one print: the copies share the start and the skirt, and a layer of three copies is long enough that
    # the cooling slowdown for short layers does not stretch it (PrusaSlicer: 2.2 times one copy)
    assert 2 * one.print_time_s < three.print_time_s < 0.9 * 3 * one.print_time_s
    assert three.part_mm == [20, 20, 10] and three.bbox_mm == [46, 46, 10]  # 2 x 2 grid, 6 mm apart
    plate = FileStore(tmp_path).upload_path(three.plate_sha256, ".stl")
    assert plate.is_file() and three.plate_size == plate.stat().st_size
    alone = estimate_upload(plate, FileKind.STL, FLEET, material="PLA")
    assert (alone.print_time_s, alone.filament_g) == (three.print_time_s, three.filament_g)  # what is sliced
    assert three.fits == ["mk3s-1", "mk3s-2"]


def test_copies_that_do_not_fit_one_bed_say_how_many_do(tmp_path: Path) -> None:
    path = model(tmp_path, 60, 60, 10)
    nine = estimate_options(
        path, FileKind.STL, FLEET, tmp_path, material="PLA", colour=None, copies=9, max_bytes=MB
    )
    assert nine.fits == ["mk3s-1", "mk3s-2"] and nine.bbox_mm == [192, 192, 10]
    ten = estimate_options(path, FileKind.STL, FLEET, tmp_path, material="PLA", colour=None, copies=10,
                           max_bytes=MB)  # fmt: skip
    assert ten.fits == [] and ten.no_fit == "too_many_copies"
    assert (
        no_fit_text(ten, *EN) == "10 copies do not fit on one bed here (at most 9 do). Ask for fewer copies."
    )
    assert (
        no_fit_text(ten, *DE)
        == "10 Kopien passen hier nicht auf ein Druckbett (höchstens 9). Wähle weniger Kopien."
    )
    assert no_fit_text(nine, *EN) is None


def test_a_plate_larger_than_the_upload_limit_is_refused(tmp_path: Path) -> None:
    from printfleet.errors import UserError

    path = model(tmp_path, 5, 5, 5)  # 12 triangles: 684 bytes
    with pytest.raises(UserError, match="100 copies"):
        estimate_options(
            path, FileKind.STL, FLEET, tmp_path, material="PLA", colour=None, copies=100, max_bytes=20_000
        )


def test_a_model_too_large_for_every_printer(tmp_path: Path) -> None:
    huge = estimate_upload(model(tmp_path, 300, 40, 20), FileKind.STL, FLEET, material="PLA")
    assert huge.fits == [] and huge.no_fit == "too_large"
    assert no_fit_text(huge, *EN) == (
        "This model is 300 × 40 × 20 mm; the largest printer here (Prusa MK3S #1) takes "
        "250 × 210 × 210 mm. Scale it down or split it into parts."
    )
    assert no_fit_text(huge, *DE) == (
        "Dieses Modell ist 300 × 40 × 20 mm groß; der größte Drucker hier (Prusa MK3S #1) "
        "schafft 250 × 210 × 210 mm. Verkleinere es oder teile es in Stücke."
    )


def test_material_and_colour_not_loaded(tmp_path: Path) -> None:
    path = model(tmp_path, 20, 20, 10)
    red = estimate_upload(path, FileKind.STL, FLEET, material="PETG", colour="red")
    assert red.no_fit == "colour"
    assert no_fit_text(red, *DE) == "Kein Drucker hier hat PETG in rot geladen (PETG hier: schwarz, orange)."
    assert no_fit_text(red, *EN) == "No printer here has red PETG loaded (PETG here: black, orange)."
    tall = estimate_upload(model(tmp_path, 20, 20, 190), FileKind.STL, FLEET, material="PETG")
    assert tall.no_fit == "too_large_for_material"
    assert "Prusa MINI #1, Prusa MINI #2" in no_fit_text(tall, *EN)


def test_a_mini_petg_gcode_fits_the_minis_whatever_material_was_chosen() -> None:
    estimate = estimate_upload(MINI_PETG, FileKind.GCODE, FLEET, material="PLA")
    assert estimate.fits == ["mini-1", "mini-2"]
    assert estimate.material == "PETG"  # what the file was sliced for, not what was picked
    assert estimate.bbox_mm == pytest.approx([31, 36, 1.1], abs=0.05)  # the part, not the intro line
    assert sliced_for_text(estimate.sliced_for, *DE) == "MINI, PETG, 0,4-mm-Düse, Druckbett 180 × 180 mm"
    assert estimate.print_time_s == 341  # the slicer's own figure from the file


def test_copies_of_a_gcode_are_refused_with_the_reason(tmp_path: Path) -> None:
    single = estimate_upload(MINI_PETG, FileKind.GCODE, FLEET)
    three = estimate_options(MINI_PETG, FileKind.GCODE, FLEET, tmp_path, material=None, colour=None, copies=3,
                             max_bytes=MB, known=single)  # fmt: skip
    assert three.fits == [] and three.no_fit == "gcode_copies"
    assert "(.stl)" in no_fit_text(three, *EN) and "(.stl)" in no_fit_text(three, *DE)
