"""Estimates for an upload, for the maker before confirming: time, filament, cost and which printers fit.

Uses the estimator's public API (:func:`printfleet.estimate.estimate_file`) with a fitting printer's
PrusaSlicer profile, and the scheduler's fit rule for build volumes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from printfleet.config import FleetConfig, PrinterConfig
from printfleet.errors import UserError
from printfleet.estimate import estimate_file
from printfleet.estimate.gcode_fit import fits_gcode, read_gcode_needs
from printfleet.models import FileKind
from printfleet.queue.policy import fits_volume

logger = logging.getLogger(__name__)

#: accepted file name endings and what they are
KINDS: dict[str, FileKind] = {".stl": FileKind.STL, ".gcode": FileKind.GCODE, ".gco": FileKind.GCODE, ".g": FileKind.GCODE}


@dataclass(frozen=True)
class UploadEstimate:
    """What the estimator says about one uploaded file."""

    print_time_s: float | None
    filament_g: float | None
    filament_mm: float | None
    source: str
    bbox_mm: list[float] | None
    fits: list[str] = field(default_factory=list)
    profile_printer: str | None = None
    warnings: list[str] = field(default_factory=list)
    nozzle_mm: float | None = None
    cost: float | None = None
    currency: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadEstimate:
        """From :meth:`to_dict`."""
        return cls(**data)


def kind_of(file_name: str) -> FileKind | None:
    """The kind of file a name says it is, or ``None`` when not accepted."""
    lower = file_name.lower()
    for suffix, kind in KINDS.items():
        if lower.endswith(suffix):
            return kind
    return None


def fitting_printers(
    fleet: FleetConfig, bbox_mm: list[float] | None, material: str | None, colour: str | None
) -> list[PrinterConfig]:
    """Printers of the fleet that can print this part (volume with rotation about Z, material, colour)."""
    result = []
    for printer in fleet.printers:
        if bbox_mm is not None and not fits_volume(tuple(bbox_mm), tuple(printer.build_volume_mm)):  # type: ignore[arg-type]
            continue
        if material and printer.material != material.strip().upper():
            continue
        if colour and colour.strip().lower() not in ("any", "") and printer.colour not in (colour.strip().lower(), "any"):
            continue
        result.append(printer)
    return result


def estimate_upload(
    path: Path, kind: FileKind, fleet: FleetConfig, *, material: str | None = None, colour: str | None = None
) -> UploadEstimate:
    """Estimate a stored upload with the profile of the first printer that could take it.

    ``fits`` follows the scheduler's rule (bounding box, turned about Z), so what the page promises is what
    the dispatcher will do.

    Raises:
        UserError: the file is not a usable STL or G-code (``MeshError``/``GcodeError``).
    """
    candidates = fitting_printers(fleet, None, material, colour) or list(fleet.printers)
    if not candidates:
        raise UserError("no printers are configured")
    est = estimate_file(path, candidates[0].profile)
    nozzle = None
    if kind is FileKind.GCODE:
        needs = read_gcode_needs(path)  # G-code fits as it is: how far it reaches, and its nozzle
        nozzle = needs.nozzle_mm
        bbox = list(needs.reach_mm) if needs.reach_mm is not None else None
        fits = [p.id for p in fitting_printers(fleet, None, material, colour)
                if fits_gcode(needs, tuple(p.build_volume_mm), p.nozzle_mm)]  # fmt: skip
    else:
        bbox = [round(float(v), 2) for v in est.bbox_mm] if est.bbox_mm is not None else None
        fits = [p.id for p in fitting_printers(fleet, bbox, material, colour)]
    grams = None if est.filament_g is None or math.isnan(est.filament_g) else round(est.filament_g, 2)
    return UploadEstimate(
        print_time_s=round(est.print_time_s, 1),
        filament_g=grams,
        filament_mm=round(est.filament_mm, 1),
        source=est.source if kind is FileKind.STL else f"gcode:{est.source}",
        bbox_mm=bbox,
        fits=fits,
        profile_printer=candidates[0].id,
        warnings=list(est.warnings),
        nozzle_mm=nozzle,
        cost=fleet.site.cost_of(grams, est.print_time_s),
        currency=fleet.site.currency,
    )
