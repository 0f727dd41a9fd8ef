from __future__ import annotations

import numpy as np

from printfleet.estimate.fit import convex_hull_xy, fits_volume, fitting_printers


def _rect(w: float, d: float) -> np.ndarray:
    return np.array([[0, 0], [w, 0], [w, d], [0, d]], dtype=float)


def test_rotation_about_z_is_allowed():
    long_thin = _rect(240, 20)
    assert fits_volume(convex_hull_xy(long_thin), 10, (250, 210, 210))
    # 200 mm long does not fit a 180 bed straight, but does along the diagonal (254 mm)
    assert fits_volume(convex_hull_xy(_rect(200, 10)), 10, (180, 180, 180))
    assert not fits_volume(convex_hull_xy(_rect(260, 10)), 10, (180, 180, 180))
    # too tall
    assert not fits_volume(convex_hull_xy(_rect(10, 10)), 200, (250, 210, 180))


def test_fitting_printers_and_hull():
    pts = np.random.default_rng(1).uniform(-50, 50, size=(5000, 2))
    hull = convex_hull_xy(pts)
    assert len(hull) < 60
    assert np.abs(hull).max() <= 50
    printers = [("small", (60.0, 60.0, 60.0)), ("big", (250.0, 210.0, 210.0))]
    assert fitting_printers(hull, 20, printers) == ["big"]
