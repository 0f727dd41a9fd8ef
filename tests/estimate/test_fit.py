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


def _signed_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2


def test_hull_of_a_round_outline_keeps_every_rim_point_and_drops_the_rest():
    """A finely tessellated round part puts thousands of points on the hull itself (the case a per-point
    hull walk was slow on); duplicates and interior points must go, every rim point must stay."""
    angles = np.linspace(0, 2 * np.pi, 3000, endpoint=False)
    rim = np.stack([np.cos(angles), np.sin(angles)], axis=1) * 60 + [5, -3]
    inner = np.random.default_rng(2).uniform(-40, 40, size=(20_000, 2)) + [
        5,
        -3,
    ]  # within 57 mm of the centre
    hull = convex_hull_xy(np.concatenate([rim, inner, rim[::7]]))  # rim points repeated, as in a mesh
    assert len(hull) == 3000
    assert np.allclose(np.sort(np.hypot(hull[:, 0] - 5, hull[:, 1] + 3)), 60)
    assert _signed_area(hull) > 0  # counter-clockwise
    assert abs(_signed_area(hull) - 0.5 * 3000 * 60**2 * np.sin(2 * np.pi / 3000)) < 1e-6


def test_hull_of_degenerate_inputs():
    assert len(convex_hull_xy(np.zeros((10, 2)))) == 1
    line = np.stack([np.arange(10.0), 2 * np.arange(10.0)], axis=1)
    assert sorted(map(tuple, convex_hull_xy(line))) == [(0.0, 0.0), (9.0, 18.0)]
    square_grid = np.stack(np.meshgrid(np.arange(5.0), np.arange(3.0)), axis=-1).reshape(-1, 2)
    assert sorted(map(tuple, convex_hull_xy(square_grid))) == [(0, 0), (0, 2), (4, 0), (4, 2)]
