"""Estimates for an upload, for the maker before confirming: time, filament, cost and which printers fit.

Uses the estimator's public API (:func:`printfleet.estimate.estimate_file`) with a fitting printer's
PrusaSlicer profile, and the scheduler's fit rule for build volumes. Copies of a model are estimated as
the plate they are printed on (:mod:`printfleet.web.plate`); a G-code file fits the printers it was sliced
for (:mod:`printfleet.estimate.gcode_fit`).
"""

from __future__ import annotations

import gettext
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from babel import numbers

from printfleet.config import FleetConfig, PrinterConfig
from printfleet.errors import UserError
from printfleet.estimate import estimate_file, load_profile
from printfleet.estimate.gcode_fit import (
    GcodeNeeds,
    cached_gcode_needs,
    gcode_mismatch,
    profile_printer_model,
)
from printfleet.estimate.mesh import load_triangles
from printfleet.files import FileStore
from printfleet.models import FileKind, Job
from printfleet.queue.policy import fits_volume
from printfleet.texts import N_, render
from printfleet.web.i18n import SUPPORTED_LOCALES, Formatter, translations
from printfleet.web.plate import DEFAULT_GAP_MM, most_copies_on_one_bed, plan_plate, write_plate
from printfleet.web.reasons import _what, colour_name

logger = logging.getLogger(__name__)

#: accepted file name endings and what they are
KINDS: dict[str, FileKind] = {
    ".stl": FileKind.STL,
    ".gcode": FileKind.GCODE,
    ".gco": FileKind.GCODE,
    ".g": FileKind.GCODE,
}


@dataclass(frozen=True)
class UploadEstimate:
    """What the estimator says about one uploaded file, printed ``copies`` times with the options it names.

    Time, filament, cost and ``bbox_mm`` are of the whole print: for copies of a model, of the plate
    (``plate_sha256``, the stored STL of the copies side by side); ``part_mm`` is one copy's size.
    ``material`` is what the job prints with (a G-code's own filament when it names one). ``no_fit`` says why no
    printer fits (a code for :func:`no_fit_text`, with ``no_fit_params``).
    """

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
    copies: int = 1
    part_mm: list[float] | None = None
    plate_sha256: str | None = None
    plate_size: int | None = None
    material: str | None = None
    colour: str | None = None
    sliced_for: dict[str, Any] | None = None
    no_fit: str | None = None
    no_fit_params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadEstimate:
        """From :meth:`to_dict`."""
        return cls(**data)

    def matches(self, *, material: str | None, colour: str | None, copies: int) -> bool:
        """Whether this estimate was made for these options (a G-code's material is its own)."""
        own_filament = (self.sliced_for or {}).get("filament_type") is not None
        same_material = own_filament or (material or None) == self.material
        return same_material and (colour or None) == self.colour and copies == self.copies


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
    return [p for p in fleet.printers if _loaded(p, material, colour) and _holds(p, bbox_mm)]


def _loaded(printer: PrinterConfig, material: str | None, colour: str | None) -> bool:
    if (
        material
        and material.strip().upper() not in ("", "ANY")
        and printer.material != material.strip().upper()
    ):
        return False
    wanted = (colour or "").strip().lower()
    return wanted in ("", "any") or printer.colour in (wanted, "any")


def _holds(printer: PrinterConfig, bbox_mm: list[float] | tuple[float, ...] | None) -> bool:
    return bbox_mm is None or fits_volume(tuple(bbox_mm), tuple(printer.build_volume_mm))  # type: ignore[arg-type]


def loaded_colours(fleet: FleetConfig, material: str) -> list[str]:
    """The colours of ``material`` the fleet has loaded, in the fleet file's order (``any`` left out)."""
    return list(
        dict.fromkeys(p.colour for p in fleet.printers if p.material == material and p.colour != "any")
    )


def canonical_colour(fleet: FleetConfig, colour: str) -> str:
    """A colour as the fleet file names it when ``colour`` is one of its names in a page language (``schwarz`` ->
    ``black``); otherwise as given (lower case)."""
    wanted = colour.strip().lower()
    for loaded in dict.fromkeys(p.colour for p in fleet.printers):
        if wanted == loaded or any(
            wanted == colour_name(loaded, translations(code)).lower() for code in SUPPORTED_LOCALES
        ):
            return loaded
    return wanted


def gcode_fitting_printers(
    fleet: FleetConfig, needs: GcodeNeeds, material: str | None, colour: str | None
) -> list[PrinterConfig]:
    """Printers that can print a G-code file as it is: the printer it was sliced for, with its filament loaded."""
    material = needs.filament_type or material
    return [
        p for p in fleet.printers
        if _loaded(p, material, colour) and gcode_mismatch(
            needs, tuple(p.build_volume_mm), p.nozzle_mm, material=p.material,  # type: ignore[arg-type]
            printer_model=profile_printer_model(p.profile),
        ) is None
    ]  # fmt: skip


def job_fits(fleet: FleetConfig, data_dir: Path, job: Job) -> list[PrinterConfig]:
    """The printers a stored job can print on (a G-code job: those its file was sliced for)."""
    if job.file_kind is FileKind.GCODE:
        path = FileStore(data_dir).upload_path(job.file_sha256, ".gcode")
        if not path.is_file():
            return fitting_printers(fleet, None, job.material, job.colour)
        return gcode_fitting_printers(fleet, cached_gcode_needs(str(path)), job.material, job.colour)
    return fitting_printers(fleet, job.bbox_mm, job.material, job.colour)


def estimate_upload(
    path: Path, kind: FileKind, fleet: FleetConfig, *, material: str | None = None, colour: str | None = None
) -> UploadEstimate:
    """Estimate one copy of a stored upload with the profile of a printer that could take it.

    ``fits`` follows the scheduler's rule (bounding box, turned about Z), so what the page promises is what
    the dispatcher will do; a G-code file fits the printers it was sliced for (model or bed, filament,
    nozzle) that reach every point it prints.

    Raises:
        UserError: the file is not a usable STL or G-code (``MeshError``/``GcodeError``).
    """
    if not fleet.printers:
        raise UserError(N_("no printers are configured"), code="no_printers")
    material = material.strip().upper() if material and material.strip() else None
    colour = colour.strip().lower() if colour and colour.strip() else None
    needs = cached_gcode_needs(str(path)) if kind is FileKind.GCODE else None
    if needs is not None and needs.filament_type:
        material = needs.filament_type
    candidates = [p for p in fleet.printers if _loaded(p, material, colour)] or list(fleet.printers)
    if needs is not None:
        matching = gcode_fitting_printers(fleet, needs, material, colour)
        profile_printer = (matching or candidates)[0]
    else:
        profile_printer = candidates[0]
    est = estimate_file(path, profile_printer.profile)
    if needs is not None:
        bbox = list(needs.part_mm) if needs.part_mm is not None else None
        fits = [p.id for p in gcode_fitting_printers(fleet, needs, material, colour)]
        sliced_for: dict[str, Any] | None = {
            "printer_model": needs.printer_model, "filament_type": needs.filament_type, "nozzle_mm": needs.nozzle_mm,
            "bed_mm": list(needs.bed_mm) if needs.bed_mm else None,
        }  # fmt: skip
    else:
        bbox = [round(float(v), 2) for v in est.bbox_mm] if est.bbox_mm is not None else None
        sized = [p for p in candidates if _holds(p, bbox)]
        if sized and sized[0].profile != profile_printer.profile:  # estimate with a printer it fits
            profile_printer = sized[0]
            est = estimate_file(path, profile_printer.profile)
        fits = [p.id for p in fitting_printers(fleet, bbox, material, colour)]
        sliced_for = None
    grams = None if est.filament_g is None or math.isnan(est.filament_g) else round(est.filament_g, 2)
    estimate = UploadEstimate(
        print_time_s=round(est.print_time_s, 1),
        filament_g=grams,
        filament_mm=round(est.filament_mm, 1),
        source=est.source if kind is FileKind.STL else f"gcode:{est.source}",
        bbox_mm=bbox,
        fits=fits,
        profile_printer=profile_printer.id,
        warnings=list(est.warnings),
        nozzle_mm=needs.nozzle_mm if needs is not None else None,
        cost=fleet.site.cost_of(grams, est.print_time_s),
        currency=fleet.site.currency,
        part_mm=bbox,
        material=material,
        colour=colour,
        sliced_for=sliced_for,
    )
    return _with_no_fit(estimate, fleet, needs)


def estimate_copies(
    path: Path,
    kind: FileKind,
    fleet: FleetConfig,
    data_dir: Path,
    *,
    single: UploadEstimate,
    copies: int,
    max_bytes: int,
) -> UploadEstimate:
    """The estimate for ``copies`` of a model on one plate, from the single-copy estimate ``single`` (made with
    the same material and colour). The plate is stored in the file store (``plate_sha256``).

    Raises:
        UserError: the plate would be larger than ``max_bytes``.
    """
    if copies == 1:
        return replace(single, copies=1, plate_sha256=None, plate_size=None)
    if kind is FileKind.GCODE:
        return replace(
            single, copies=copies, fits=[], no_fit="gcode_copies", no_fit_params={"copies": copies}
        )
    holding = [p for p in fleet.printers if _holds(p, single.part_mm)]
    if single.part_mm is None or not holding:
        return replace(single, copies=copies)
    loaded = [p for p in holding if _loaded(p, single.material, single.colour)] or holding
    beds = [tuple(float(v) for v in p.build_volume_mm) for p in loaded]
    gap = _gap_mm(loaded[0])
    part = (single.part_mm[0], single.part_mm[1], single.part_mm[2])
    layout = plan_plate(part, copies, beds, gap)  # type: ignore[arg-type]
    triangles = load_triangles(path, max_bytes=max_bytes)
    plate_bytes = 84 + 50 * len(triangles) * copies
    if plate_bytes > max_bytes:
        raise UserError(N_("%(copies)s copies of this model make a plate of %(plate_mb)s MB, more than the limit of "
                           "%(limit_mb)s MB; ask for fewer copies"), code="plate_too_large", copies=copies,
                        plate_mb=round(plate_bytes / 1e6), limit_mb=round(max_bytes / 1e6))  # fmt: skip
    store = FileStore(data_dir)
    temp = store.new_temp_path(".stl")
    try:
        write_plate(triangles, layout, temp, gap)
        stored = store.put_file(temp)
    finally:
        temp.unlink(missing_ok=True)
    plate = estimate_upload(stored.path, FileKind.STL, fleet, material=single.material, colour=single.colour)
    estimate = replace(plate, copies=copies, part_mm=single.part_mm, plate_sha256=stored.sha256,
                       plate_size=stored.size, no_fit=None, no_fit_params={})  # fmt: skip
    return _with_no_fit(estimate, fleet, None, single_fits=single.fits)


def _gap_mm(printer: PrinterConfig) -> float:
    try:
        return float(load_profile(printer.profile).raw.get("duplicate_distance", DEFAULT_GAP_MM))
    except (UserError, ValueError):
        return DEFAULT_GAP_MM


def _with_no_fit(
    estimate: UploadEstimate,
    fleet: FleetConfig,
    needs: GcodeNeeds | None,
    single_fits: list[str] | None = None,
) -> UploadEstimate:
    """The estimate with the reason no printer fits (when none does)."""
    if estimate.fits:
        return replace(estimate, no_fit=None, no_fit_params={})
    material, colour = estimate.material, estimate.colour
    loaded = [p for p in fleet.printers if _loaded(p, material, None)]
    coloured = [p for p in loaded if _loaded(p, material, colour)]
    code: str
    params: dict[str, Any] = {"material": material, "colour": colour}
    if needs is not None:
        any_colour = gcode_fitting_printers(fleet, needs, material, None)
        code = "colour" if any_colour and colour else "gcode"
        params.update(estimate.sliced_for or {}, loaded=sorted({p.colour for p in any_colour}))
    elif estimate.part_mm is not None and not any(_holds(p, estimate.part_mm) for p in fleet.printers):
        largest = max(
            fleet.printers, key=lambda p: p.build_volume_mm[0] * p.build_volume_mm[1] * p.build_volume_mm[2]
        )
        code = "too_large"
        params.update(size=estimate.part_mm, largest=list(largest.build_volume_mm), printer=largest.name)
    elif not loaded:
        code = "material"
        params["loaded"] = sorted({p.material for p in fleet.printers})
    elif not coloured:
        code = "colour"
        params["loaded"] = sorted({p.colour for p in loaded})
    elif estimate.copies > 1 and single_fits:
        beds = [tuple(float(v) for v in p.build_volume_mm) for p in coloured]
        part = estimate.part_mm or [0.0, 0.0, 0.0]
        params.update(copies=estimate.copies, most=most_copies_on_one_bed((part[0], part[1], part[2]), beds))  # type: ignore[arg-type]
        code = "too_many_copies"
    else:
        code = "too_large_for_material"
        params["size"] = estimate.part_mm
        params["printers"] = [p.name for p in coloured]
    return replace(estimate, no_fit=code, no_fit_params=params)


def _size(values: list[float] | tuple[float, ...] | None) -> str:
    return " × ".join(f"{v:.0f}" for v in values or ())


#: why no printer fits, by ``UploadEstimate.no_fit`` code (parameters rendered by :func:`no_fit_message`)
NO_FIT_TEXTS: dict[str, str] = {
    "too_large": N_(
        "This model is %(size)s mm; the largest printer here (%(printer)s) takes %(largest)s mm. "
        "Scale it down or split it into parts."
    ),
    "too_many_copies": N_(
        "%(copies)s copies do not fit on one bed here (at most %(most)s do). Ask for fewer copies."
    ),
    "gcode_copies": N_(
        "A G-code file prints as it was sliced, once. For copies, upload the model (.stl) or put "
        "the copies on one plate in your slicer."
    ),
    "material": N_("No printer here has %(material)s loaded (loaded: %(loaded)s)."),
    "colour": N_("No printer here has %(what)s loaded (%(material)s here: %(loaded)s)."),
    "gcode": N_(
        "This G-code was sliced for %(sliced_for)s; no printer here is that printer with that filament "
        "and nozzle. Upload the model (.stl) instead, or slice it for one of our printers."
    ),
    "too_large_for_material": N_(
        "The printers with %(what)s are too small for this model (%(size)s mm): %(printers)s."
    ),
}


def no_fit_message(
    estimate: UploadEstimate, t: gettext.NullTranslations, fmt: Formatter
) -> tuple[str, dict[str, str]] | None:
    """Why no printer here can take the print: the English template and its parameters already in the
    reader's language (for a :class:`printfleet.errors.UserError`), or ``None`` when a printer can."""
    code, p = estimate.no_fit, estimate.no_fit_params
    if code is None:
        return None
    params = {
        "what": _what(t, p.get("material"), p.get("colour")),
        "material": str(p.get("material") or ""),
        "size": _size(p.get("size")),
        "largest": _size(p.get("largest")),
        "printer": str(p.get("printer", "")),
        "printers": ", ".join(p.get("printers", ())),
        "copies": str(p.get("copies", "")),
        "most": str(p.get("most", "")),
        "loaded": ", ".join(colour_name(c, t) if code == "colour" else c for c in p.get("loaded", ())),
        "sliced_for": sliced_for_text(p, t, fmt) if code == "gcode" else "",
    }
    return NO_FIT_TEXTS.get(code, NO_FIT_TEXTS["too_large_for_material"]), params


def no_fit_text(estimate: UploadEstimate, t: gettext.NullTranslations, fmt: Formatter) -> str | None:
    """Why no printer here can take the print, in the reader's language (``None`` when one can)."""
    message = no_fit_message(estimate, t, fmt)
    return None if message is None else render(message[0], message[1], gettext=t.gettext)


def sliced_for_text(sliced_for: dict[str, Any], t: gettext.NullTranslations, fmt: Formatter) -> str:
    """What a G-code file was sliced for, e.g. ``MINI, PETG, 0.4 mm nozzle, bed 180 × 180 mm``."""
    parts = []
    if sliced_for.get("printer_model"):
        parts.append(str(sliced_for["printer_model"]))
    if sliced_for.get("filament_type"):
        parts.append(str(sliced_for["filament_type"]))
    if sliced_for.get("nozzle_mm"):
        nozzle = numbers.format_decimal(sliced_for["nozzle_mm"], locale=fmt.locale)
        parts.append(t.gettext("%(nozzle)s mm nozzle") % {"nozzle": nozzle})
    if sliced_for.get("bed_mm"):
        parts.append(t.gettext("bed %(size)s mm") % {"size": _size(sliced_for["bed_mm"])})
    return ", ".join(parts) or t.gettext("an unknown printer")


def estimate_options(
    path: Path,
    kind: FileKind,
    fleet: FleetConfig,
    data_dir: Path,
    *,
    material: str | None,
    colour: str | None,
    copies: int,
    max_bytes: int,
    known: UploadEstimate | None = None,
) -> UploadEstimate:
    """The estimate of a stored upload printed with these options, reusing ``known`` where it already is one
    (for these options, or for one copy with this material and colour).

    Raises:
        UserError: the file cannot be estimated, or its copies make too large a plate.
    """
    material = material.strip().upper() if material and material.strip() else None
    colour = colour.strip().lower() if colour and colour.strip() else None
    if known is not None and known.matches(material=material, colour=colour, copies=copies):
        return known
    if known is not None and known.matches(material=material, colour=colour, copies=1):
        single = known
    else:
        single = estimate_upload(path, kind, fleet, material=material, colour=colour)
    return estimate_copies(path, kind, fleet, data_dir, single=single, copies=copies, max_bytes=max_bytes)
