"""Print estimates: time and filament of an STL (from a layer model of PrusaSlicer) or a G-code upload.

Public API::

    profile = load_profile("configs/profiles/mk3s-0.20mm-pla.ini")
    est = estimate_file("part.stl", profile, printers=[("mk3s-1", (250, 210, 210))])
    est.print_time_s, est.filament_g, est.warnings, est.fits, est.to_dict()

    result = slice_model("part.stl", "profile.ini", "part.gcode")   # exact figures + G-code (PrusaSlicer CLI)

Errors a user can act on are :class:`printfleet.errors.UserError` subclasses: :class:`MeshError`,
:class:`GcodeError`, :class:`ProfileError`, :class:`SlicerError` and its subclasses.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from printfleet.errors import UserError
from printfleet.estimate.fit import convex_hull_xy, fits_volume, fitting_printers
from printfleet.estimate.gcode import GcodeError, GcodeEstimate, read_gcode
from printfleet.estimate.mesh import (
    DEFAULT_MAX_FILE_BYTES,
    MeshError,
    MeshInfo,
    bounds_suspect,
    check_values,
    load_triangles,
    mesh_stats,
    repair_orientation,
)
from printfleet.estimate.model import (
    DEFAULT_CONSTANTS,
    ModelConstants,
    Prediction,
    features_from_slices,
    predict,
    slice_layers,
)
from printfleet.estimate.profile import ProfileError, SlicerProfile, load_profile
from printfleet.estimate.slicer import (
    SliceRejected,
    SlicerError,
    SliceResult,
    SlicerNotFound,
    SlicerTimeout,
    slice_model,
)
from printfleet.texts import N_

logger = logging.getLogger(__name__)

__all__ = [
    "Estimate",
    "GcodeError",
    "MeshAnalysis",
    "MeshError",
    "ProfileError",
    "SliceRejected",
    "SliceResult",
    "SlicerError",
    "SlicerNotFound",
    "SlicerProfile",
    "SlicerTimeout",
    "analyse_stl",
    "estimate_file",
    "estimate_files",
    "estimate_gcode",
    "estimate_stl",
    "fits_volume",
    "load_profile",
    "printers_from_fleet",
    "slice_model",
]

GCODE_SUFFIXES = (".gcode", ".gco", ".g", ".bgcode")
REPAIR_MAX_TRIANGLES = (
    200_000  # orientation repair walks facets in Python; bigger meshes are left as they are
)


@dataclass(frozen=True)
class Estimate:
    """What a print of one file costs: time, filament, the mesh facts and any warnings."""

    file: str
    print_time_s: float
    filament_mm: float
    filament_g: float
    source: str  # "model" (STL layer model), "slicer" (PrusaSlicer --slice), or the G-code's "prusaslicer",
    # "orcaslicer", "cura", "moves"
    triangles: int | None = None
    volume_mm3: float | None = None
    bbox_mm: tuple[float, float, float] | None = None
    layers: int | None = None
    warnings: tuple[str, ...] = ()
    fits: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``warnings`` a list; ``fits`` omitted when no printers were given)."""
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        data["bbox_mm"] = list(self.bbox_mm) if self.bbox_mm is not None else None
        if self.fits is None:
            data.pop("fits")
        else:
            data["fits"] = list(self.fits)
        if not self.extra:
            data.pop("extra")
        for key in ("print_time_s", "filament_mm", "filament_g", "volume_mm3"):
            if data.get(key) is not None:
                data[key] = round(float(data[key]), 2)
        return data


def printers_from_fleet(fleet: Any) -> list[tuple[str, tuple[float, float, float]]]:
    """``(id, build volume)`` pairs from a :class:`printfleet.config.FleetConfig`."""
    return [(p.id, tuple(float(v) for v in p.build_volume_mm)) for p in fleet.printers]  # type: ignore[misc]


def _mesh_warnings(info: MeshInfo, features: Any, profile: SlicerProfile) -> list[str]:
    warnings: list[str] = []
    raw = profile.raw
    if raw.get("support_material", "0") not in ("0", "") or raw.get("raft_layers", "0") not in ("0", ""):
        warnings.append("the profile prints supports or a raft; they are not in the estimate")
    if profile.filament_density_g_cm3 <= 0:
        warnings.append("the profile has no filament_density; grams assume 1.24 g/cm3 (PLA)")
    if raw.get("ironing", "0") not in ("0", ""):
        warnings.append("the profile irons top surfaces; ironing is not in the estimate")
    if info.degenerate_triangles:
        warnings.append(f"{info.degenerate_triangles} degenerate (zero-area) triangles ignored")
    if features.open_ends or info.open_edges_fraction > 1e-4:
        warnings.append(
            "open (non-manifold) mesh: the surface has holes; PrusaSlicer repairs it, the estimate is approximate"
        )
    filled = max(features.filled_cells, 1)
    if features.overlap_cells > 0.01 * filled:
        warnings.append(
            "overlapping shells (or an inner shell with reversed winding): "
            f"{100 * features.overlap_cells / filled:.0f}% of the filled area is covered twice"
        )
    if features.inverted_cells > 0.005 * filled:
        warnings.append("inverted shell: part of the mesh has inward-facing triangles")
    if info.volume_mm3 < 1e-6 or not np.any(features.area_mm2 > 0):
        warnings.append("the mesh encloses no volume; nothing would be printed")
    height = info.bbox_mm[2]
    if height > profile.max_print_height_mm + 1e-6:
        warnings.append(
            f"taller ({height:.1f} mm) than the profile's max print height ({profile.max_print_height_mm:g} mm)"
        )
    if np.any(features.area_mm2 > 0) and features.area_mm2[0] <= 0:
        warnings.append("nothing touches the bed on the first layer; PrusaSlicer will refuse it")
    return warnings


@dataclass(frozen=True)
class MeshAnalysis:
    """Whole-mesh facts, per-layer geometry and repair notes of one STL for one profile."""

    info: MeshInfo
    features: Any  # printfleet.estimate.model.LayerFeatures
    notes: tuple[str, ...]
    fits: tuple[str, ...] | None


def analyse_stl(
    path: Path | str,
    profile: SlicerProfile,
    *,
    printers: Iterable[tuple[str, tuple[float, float, float]]] | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    constants: ModelConstants = DEFAULT_CONSTANTS,
) -> MeshAnalysis:
    """Load, check and slice an STL into per-layer geometry (what :func:`estimate_stl` predicts from).

    Raises:
        MeshError: the file is empty, truncated, not an STL, has NaN/inf coordinates or no printable triangle.
    """
    vectors = load_triangles(path, max_bytes=max_bytes, check_values=False)
    info, zlo, zhi = mesh_stats(vectors)
    if bounds_suspect(info):
        check_values(path, vectors)  # raises MeshError with the reason (NaN/inf, or beyond 1 km)
    if info.degenerate_triangles == info.triangles:
        raise MeshError(N_("%(file)s: all %(count)s triangles are degenerate (zero area); nothing to print"),
                        file=str(path), count=info.triangles)
    if info.degenerate_triangles:
        vectors = _drop_degenerate(vectors)
        zlo = zhi = None
    notes: list[str] = []
    if info.inside_out:
        # Every facet faces inward: PrusaSlicer's repair turns the whole mesh over, and so does this.
        vectors = np.ascontiguousarray(vectors[:, ::-1])
        info = dataclasses.replace(info, overhang_area_mm2=info.up_area_mm2, up_area_mm2=info.overhang_area_mm2)
        notes.append("the mesh is inside out (every facet faces inward); it was turned over, as PrusaSlicer does")
    fits = None
    if printers is not None:
        hull = convex_hull_xy(_hull_candidates(vectors))
        fits = tuple(fitting_printers(hull, info.bbox_mm[2], printers))
    bounds = (np.array(info.bbox_min_mm), np.array(info.bbox_max_mm))
    spans = [zlo, zhi] if zlo is not None else None
    del zlo, zhi
    slices = slice_layers(vectors, profile, bounds=bounds, z_spans=spans)
    # Small meshes are kept for a possible orientation repair; big ones are freed before the layer analysis.
    kept = vectors if info.triangles <= REPAIR_MAX_TRIANGLES else None
    del vectors
    features = features_from_slices(slices, profile, constants)
    filled = max(features.filled_cells, 1)
    if kept is not None and (
        features.overlap_cells > 0.01 * filled or features.inverted_cells > 0.005 * filled
    ):
        fixed, flipped = repair_orientation(kept)
        if flipped:
            features = features_from_slices(slice_layers(fixed, profile, bounds=bounds), profile, constants)
            notes.append(
                f"{flipped} facets had inconsistent winding and were flipped, as PrusaSlicer's repair does"
            )
    return MeshAnalysis(info, features, tuple(notes), fits)


def estimate_stl(
    path: Path | str,
    profile: SlicerProfile,
    *,
    printers: Iterable[tuple[str, tuple[float, float, float]]] | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    constants: ModelConstants = DEFAULT_CONSTANTS,
) -> Estimate:
    """Estimate PrusaSlicer's time and filament for an STL file (binary or ASCII) with ``profile``.

    Raises:
        MeshError: the file is empty, truncated, not an STL, has NaN/inf coordinates or no printable triangle.
    """
    analysis = analyse_stl(path, profile, printers=printers, max_bytes=max_bytes, constants=constants)
    info, features = analysis.info, analysis.features
    prediction: Prediction = predict(features, profile, constants)
    warnings = list(analysis.notes) + _mesh_warnings(info, features, profile)
    return Estimate(
        file=str(path),
        print_time_s=prediction.print_time_s,
        filament_mm=prediction.filament_mm,
        filament_g=prediction.filament_g,
        source="model",
        triangles=info.triangles,
        volume_mm3=info.volume_mm3,
        bbox_mm=tuple(round(v, 3) for v in info.bbox_mm),  # type: ignore[arg-type]
        layers=prediction.layers,
        warnings=tuple(warnings),
        fits=analysis.fits,
    )


def _hull_candidates(vectors: np.ndarray, chunk: int = 1 << 14) -> np.ndarray:
    """XY vertices that may lie on the convex hull (per-chunk pre-filter, so a 1M-triangle mesh stays cheap)."""
    parts = []
    for a in range(0, len(vectors), chunk):
        pts = np.asarray(vectors[a : a + chunk, :, :2], dtype=np.float64).reshape(-1, 2)
        parts.append(convex_hull_xy(pts))
    return np.concatenate(parts) if parts else np.zeros((0, 2))


def _drop_degenerate(vectors: np.ndarray) -> np.ndarray:
    v = vectors.astype(np.float64)
    cross = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    keep = np.einsum("ij,ij->i", cross, cross) > 1e-24
    return vectors[keep]


def estimate_gcode(path: Path | str, profile: SlicerProfile | None = None) -> Estimate:
    """Figures of a G-code upload: the slicer's comments when present, otherwise estimated from its moves.

    Raises:
        GcodeError: the file is missing, empty or not G-code.
    """
    if profile is not None:
        result: GcodeEstimate = read_gcode(
            path,
            filament_diameter_mm=profile.filament_diameter_mm,
            density_g_cm3=profile.filament_density_g_cm3 or 1.24,
        )
    else:
        result = read_gcode(path)
    return Estimate(
        file=str(path),
        print_time_s=result.print_time_s,
        filament_mm=result.filament_mm,
        filament_g=result.filament_g if result.filament_g is not None else math.nan,
        source=result.source,
        warnings=result.warnings,
    )


def estimate_files(
    paths: Iterable[Path | str],
    profile: SlicerProfile | Path | str,
    *,
    printers: Iterable[tuple[str, tuple[float, float, float]]] | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    workers: int | None = None,
) -> Iterator[tuple[Path | str, Estimate | UserError]]:
    """Estimate many files on a thread pool (numpy releases the GIL), yielding results in input order.

    Each item is ``(path, Estimate)`` or ``(path, UserError)`` for a file that cannot be estimated.
    """
    from concurrent.futures import ThreadPoolExecutor

    if not isinstance(profile, SlicerProfile):
        profile = load_profile(profile)
    printer_list = list(printers) if printers is not None else None
    paths = list(paths)
    workers = max(1, min(workers or os.cpu_count() or 1, len(paths) or 1))

    def one(path: Path | str) -> Estimate | UserError:
        try:
            return estimate_file(path, profile, printers=printer_list, max_bytes=max_bytes)
        except UserError as exc:
            return exc

    if workers == 1:
        for path in paths:
            yield path, one(path)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="estimate") as pool:
        yield from zip(paths, pool.map(one, paths))


def estimate_file(
    path: Path | str,
    profile: SlicerProfile | Path | str,
    *,
    printers: Iterable[tuple[str, tuple[float, float, float]]] | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Estimate:
    """Estimate an STL or G-code file (by suffix) with a profile (a loaded one, or the path of a ``.ini``).

    This is the function the CLI, the web upload path and the queue call.

    Raises:
        UserError subclasses (MeshError, GcodeError, ProfileError) with one-line messages.
    """
    if not isinstance(profile, SlicerProfile):
        profile = load_profile(profile)
    if Path(path).suffix.lower() in GCODE_SUFFIXES:
        return estimate_gcode(path, profile)
    return estimate_stl(path, profile, printers=printers, max_bytes=max_bytes)
