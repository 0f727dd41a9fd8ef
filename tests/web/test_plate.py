"""Copies of a model on one plate: the grid, the STL written, how many fit a bed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from printfleet.estimate.mesh import load_triangles
from printfleet.web.plate import most_copies_on_one_bed, plan_plate, write_plate
from tests.web.conftest import box_stl

MK3S = (250.0, 210.0, 210.0)
MINI = (180.0, 180.0, 180.0)


def test_the_grid_fits_the_most_beds_then_is_square() -> None:
    layout = plan_plate((20.0, 20.0, 10.0), 3, [MK3S, MINI])
    assert (layout.columns, layout.rows, layout.size_mm) == (2, 2, (46.0, 46.0, 10.0))
    # 4 parts in a row (218 mm) would fit only the MK3S
    long = plan_plate((50.0, 40.0, 5.0), 4, [MK3S, MINI])
    assert long.size_mm == (
        106.0,
        86.0,
        5.0,
    )  # 2 x 2 fits both (and is squarer than 1 x 4, which fits both too)
    wide = plan_plate((120.0, 30.0, 5.0), 4, [MK3S, MINI])
    assert (wide.columns, wide.rows) == (1, 4) and wide.size_mm == (120.0, 138.0, 5.0)  # fits both beds


def test_most_copies_on_one_bed() -> None:
    assert most_copies_on_one_bed((60.0, 60.0, 10.0), [MK3S]) == 9  # 3 x 3, 6 mm apart
    assert most_copies_on_one_bed((60.0, 60.0, 10.0), [MINI]) == 4
    assert most_copies_on_one_bed((300.0, 60.0, 10.0), [MK3S, MINI]) == 0
    assert (
        most_copies_on_one_bed((200.0, 10.0, 10.0), [MK3S]) == 16
    )  # turned: 16 side by side along the 250 mm


def test_the_plate_stl_holds_every_copy_apart(tmp_path: Path) -> None:
    source = tmp_path / "box.stl"
    source.write_bytes(box_stl(20, 10, 5))
    triangles = load_triangles(source)
    layout = plan_plate((20.0, 10.0, 5.0), 5, [MK3S])
    plate = tmp_path / "plate.stl"
    write_plate(triangles, layout, plate)
    written = load_triangles(plate)
    assert len(written) == 5 * len(triangles)
    points = written.reshape(-1, 3)
    assert points.min(axis=0) == pytest.approx((0, 0, 0))
    assert points.max(axis=0) == pytest.approx(layout.size_mm)
    copies = written.reshape(5, len(triangles), 3, 3)
    corners = {tuple(np.round(c.reshape(-1, 3).min(axis=0)[:2], 3)) for c in copies}
    assert (layout.columns, layout.rows) == (2, 3)
    assert corners == {(0, 0), (26, 0), (0, 16), (26, 16), (0, 32)}  # 6 mm apart, row by row
