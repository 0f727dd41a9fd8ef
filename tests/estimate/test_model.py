from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from printfleet.estimate import estimate_file, load_profile
from printfleet.estimate.model import _layer_planes, layer_features, planned_times, predict, printed_loops
from printfleet.testing.meshes import torus_stl

from .conftest import PROFILE_A, PROFILE_B, SHARED, SHIPPED_PROFILE, box_triangles, write_stl


def test_layers_follow_the_profile():
    p = load_profile(SHIPPED_PROFILE)
    tops, heights = _layer_planes(20.0, p)
    assert len(tops) == 100 and tops[-1] == pytest.approx(20.0)
    assert heights[0] == pytest.approx(p.first_layer_height_mm)


def test_cube_features_and_estimate(cube_stl: Path):
    p = load_profile(SHIPPED_PROFILE)
    from printfleet.estimate.mesh import load_triangles

    f = layer_features(load_triangles(cube_stl), p)
    assert np.allclose(f.area_mm2, 400.0)
    assert np.allclose(f.outline_mm, 80.0)
    assert (f.shells == 1).all() and (f.holes == 0).all()
    assert f.open_ends == 0 and f.overlap_cells == 0 and f.inverted_cells == 0
    # 5 top layers solid (>= 0.7 mm), 4 bottom layers: the middle is sparse
    assert f.sparse_mm2[50] > 300 and f.top_mm2[-1] > 300 and f.sparse_mm2[-1] == 0
    pred = predict(f, p)
    # A plain 20 mm cube with this profile: PrusaSlicer 2.5 says 1711 s and 1215.35 mm of filament
    assert pred.print_time_s == pytest.approx(1711, rel=0.1)
    assert pred.filament_mm == pytest.approx(1215.35, rel=0.04)
    assert pred.filament_g == pytest.approx(pred.filament_mm * 2.405 * 1.24 / 1000, rel=1e-3)


def test_hollow_box_with_reversed_inner_shell_warns(tmp_path: Path):
    outer = box_triangles((30, 30, 20))
    inner = box_triangles((20, 20, 18), origin=(5, 5, 1))  # same winding as the outer: not a proper cavity
    path = write_stl(tmp_path / "shells.stl", np.concatenate([outer, inner]))
    est = estimate_file(path, SHIPPED_PROFILE)
    assert any("overlapping shells" in w for w in est.warnings)
    proper = write_stl(tmp_path / "cavity.stl", np.concatenate([outer, inner[:, ::-1]]))
    assert estimate_file(proper, SHIPPED_PROFILE).warnings == ()


def test_open_mesh_is_estimated_with_a_warning(tmp_path: Path):
    path = write_stl(tmp_path / "open.stl", box_triangles()[:-2])
    est = estimate_file(path, SHIPPED_PROFILE)
    assert est.print_time_s > 0
    assert any("open" in w for w in est.warnings)


def test_planner_matches_closed_form():
    # one 100 mm move at 50 mm/s from and to rest with 1000 mm/s2: 2 s + 50/1000 s
    t = planned_times(np.array([100.0]), np.array([50.0]), np.array([1000.0]), np.zeros(0), 0.0, 0.0)
    assert t.sum() == pytest.approx(2.05, rel=1e-6)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared estimation set not present")
@pytest.mark.parametrize("model", ["trimesh_xyz_cube_20mm", "prusa_x_end_motor", "slicing_puppy"])
def test_shared_models_land_near_prusaslicer(model: str):
    with (SHARED / "ground_truth.csv").open() as fh:
        truth = {(r["model"], r["profile"]): r for r in csv.DictReader(fh)}
    for key, profile in (("A", PROFILE_A), ("B", PROFILE_B)):
        est = estimate_file(SHARED / "models" / f"{model}.stl", profile)
        row = truth[(model, key)]
        assert est.print_time_s == pytest.approx(float(row["print_time_s"]), rel=0.15)
        assert est.filament_mm == pytest.approx(float(row["filament_mm"]), rel=0.08)


def test_inconsistent_winding_is_repaired_like_prusaslicer(tmp_path: Path):
    clean = box_triangles((30, 20, 10))
    broken = clean.copy()
    broken[6:8] = broken[6:8, ::-1]  # one side face wound the wrong way
    good = estimate_file(write_stl(tmp_path / "good.stl", clean), SHIPPED_PROFILE)
    fixed = estimate_file(write_stl(tmp_path / "broken.stl", broken), SHIPPED_PROFILE)
    assert any("2 facets had inconsistent winding" in w for w in fixed.warnings)
    assert fixed.print_time_s == pytest.approx(good.print_time_s, rel=1e-6)
    assert fixed.filament_mm == pytest.approx(good.filament_mm, rel=1e-6)


@pytest.mark.parametrize("size", [(1, 1, 0.1), (50, 50, 0.4), (0.3, 10, 30), (240, 200, 5)])
def test_odd_shapes_are_estimated(tmp_path: Path, size: tuple[float, float, float]):
    est = estimate_file(write_stl(tmp_path / "odd.stl", box_triangles(size)), SHIPPED_PROFILE)
    assert est.print_time_s > 0 and est.filament_mm > 0
    assert est.warnings == ()
    # never more filament than the solid volume (plus skirt and first-layer squish)
    assert est.filament_mm * 2.405 < size[0] * size[1] * size[2] * 1.1 + 200


def test_big_meshes_give_the_same_figures_on_one_thread_and_on_two(tmp_path: Path, monkeypatch):
    """Big meshes are sorted and chained in parts on worker threads; the figures must not depend on that,
    also where segments share start points (here a tenth of the facets is repeated inside out, as in broken
    files: each repeated cut starts where its original's successor starts)."""
    from stl import mesh as stl_mesh

    from printfleet.testing.meshes import torus_stl

    torus = torus_stl(tmp_path / "torus.stl", n_triangles=400_000)
    data = stl_mesh.Mesh.from_file(str(tmp_path / "torus.stl")).data
    inside_out = data[: torus // 10].copy()
    inside_out["vectors"] = inside_out["vectors"][:, ::-1]
    stl_mesh.Mesh(np.concatenate([data, inside_out])).save(str(tmp_path / "broken.stl"))
    profile = load_profile(SHIPPED_PROFILE)
    for name in ("torus.stl", "broken.stl"):
        monkeypatch.setattr("os.cpu_count", lambda: 2)
        two = estimate_file(tmp_path / name, profile)
        monkeypatch.setattr("os.cpu_count", lambda: 1)
        one = estimate_file(tmp_path / name, profile)
        assert (two.print_time_s, two.filament_mm) == (one.print_time_s, one.filament_mm), name


def test_holes_each_count_as_a_printed_loop(tmp_path: Path):
    # a torus lying flat: every layer away from its top and bottom is a ring, one island and one hole
    from printfleet.estimate.mesh import load_triangles

    path = tmp_path / "ring.stl"
    torus_stl(path, n_triangles=40_000, height_mm=10.0)
    f = layer_features(load_triangles(path), load_profile(PROFILE_A))
    middle = slice(len(f.z_top_mm) // 4, 3 * len(f.z_top_mm) // 4)
    assert (f.shells[middle] == 1).all() and (f.holes[middle] == 1).all()
    assert (f.islands[middle] == 0).all()  # the raster's Euler number: islands - holes
    assert (printed_loops(f)[middle] == 2).all()


def test_overlapping_shells_are_one_printed_loop():
    # two boxes that overlap as separate shells: the outline has two counter-clockwise loops, the slicer's
    # union (and the raster) one island
    p = load_profile(PROFILE_A)
    triangles = np.concatenate([box_triangles((20, 20, 10)), box_triangles((20, 20, 10), origin=(10, 5, 0))])
    f = layer_features(triangles, p)
    assert (f.shells == 2).all() and (f.holes == 0).all() and (f.islands == 1).all()
    assert (printed_loops(f) == 1).all()


def test_an_inside_out_mesh_is_turned_over(tmp_path: Path):
    # every facet facing inward: PrusaSlicer's repair flips the whole mesh, and the estimate is the box's
    box = box_triangles((30, 20, 10))
    normal = estimate_file(write_stl(tmp_path / "box.stl", box), PROFILE_A)
    inverted = estimate_file(write_stl(tmp_path / "inside_out.stl", np.ascontiguousarray(box[:, ::-1])), PROFILE_A)
    assert any("inside out" in w for w in inverted.warnings) and not any("inside out" in w for w in normal.warnings)
    assert inverted.print_time_s == pytest.approx(normal.print_time_s, rel=1e-6)
    assert inverted.filament_mm == pytest.approx(normal.filament_mm, rel=1e-6)


def test_a_wipe_replaces_most_of_the_standing_retraction():
    import dataclasses

    from printfleet.estimate.model import _cycle_time, _wipe

    p = load_profile(PROFILE_A)  # retract 0.8 mm at 35 mm/s, travel 180 mm/s, wipe on
    wipe_mm, v_wipe, retracted = _wipe(p)
    # PrusaSlicer 2.5 wipes 95 % of the retraction at 80 % of the travel speed, for as long as it takes
    assert v_wipe == pytest.approx(144.0) and wipe_mm == pytest.approx(0.95 * 0.8 / 35 * 144)
    assert retracted == pytest.approx(0.95 * 0.8)
    no_wipe = dataclasses.replace(p, wipe=False)
    assert _wipe(no_wipe) == (0.0, 0.0, 0.0)
    # the wipe accelerates from the jerk speed over about 3 mm: slower than retracting standing
    extra = float(_cycle_time(10.0, p)) - float(_cycle_time(10.0, no_wipe))
    assert 0.05 < extra < 0.12
