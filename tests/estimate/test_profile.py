from __future__ import annotations

from pathlib import Path

import pytest

from printfleet.errors import UserError
from printfleet.estimate.profile import ProfileError, load_profile, parse_ini_text, profile_from_values

from .conftest import PROFILE_B, SHIPPED_PROFILE


def test_parses_shipped_profile_values():
    p = load_profile(SHIPPED_PROFILE)
    assert p.layer_height_mm == pytest.approx(0.2)
    assert p.perimeters == 2
    assert p.fill_density == pytest.approx(0.15)
    assert p.fill_pattern == "gyroid"
    assert p.nozzle_diameter_mm == pytest.approx(0.4)
    assert p.jerk_xy == pytest.approx(8)
    assert p.max_acceleration_extruding == pytest.approx(1250)
    assert p.filament_density_g_cm3 == pytest.approx(1.24)
    assert p.start_gcode_filament_mm == pytest.approx(21.5)  # the MK3S intro line, E9 + E12.5
    assert p.bed_size_mm == (250.0, 210.0)


def test_percentages_lists_and_defaults():
    values = parse_ini_text(
        "# comment\nlayer_height = 0.25\nfirst_layer_height = 120%\nnozzle_diameter = 0.6,0.6\n"
        "fill_density = 35%\nperimeter_speed = 60\nexternal_perimeter_speed = 50%\n"
        "external_perimeter_extrusion_width = 150%\ninfill_speed=90\n"
    )
    p = profile_from_values(values, "t.ini")
    assert p.first_layer_height_mm == pytest.approx(0.3)
    assert p.nozzle_diameter_mm == pytest.approx(0.6)
    assert p.fill_density == pytest.approx(0.35)
    assert p.external_perimeter_speed == pytest.approx(30)
    assert p.external_perimeter_width_mm == pytest.approx(0.9)  # % of the nozzle diameter
    assert p.top_solid_layers == 3  # PrusaSlicer default when absent
    assert p.perimeter_width_mm > 0.6  # automatic width


def test_bad_profiles_raise_user_errors(tmp_path: Path):
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "missing.ini")
    junk = tmp_path / "junk.ini"
    junk.write_text("hello = world\n")
    with pytest.raises(ProfileError, match="no layer_height"):
        load_profile(junk)
    bad = tmp_path / "bad.ini"
    bad.write_text("layer_height = thick\n")
    with pytest.raises(UserError, match="layer_height"):
        load_profile(bad)


@pytest.mark.skipif(not PROFILE_B.is_file(), reason="shared estimation set not present")
def test_profile_b_grid_and_layers():
    p = load_profile(PROFILE_B)
    assert (p.layer_height_mm, p.first_layer_height_mm, p.perimeters) == (0.3, 0.2, 3)
    assert p.fill_pattern == "grid"
