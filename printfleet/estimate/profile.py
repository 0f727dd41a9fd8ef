"""PrusaSlicer ``.ini`` profiles: flat ``key = value`` parsing into a typed, frozen :class:`SlicerProfile`.

Only what the estimator needs is typed; every raw key stays available in :attr:`SlicerProfile.raw`.
Profiles are taken as complete files (``prusa-slicer --save``); there is no ``inherits`` resolution.
Missing keys fall back to PrusaSlicer 2.5's defaults.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from printfleet.errors import UserError
from printfleet.texts import N_

logger = logging.getLogger(__name__)


class ProfileError(UserError):
    """The slicer profile cannot be read or has an invalid value."""


# PrusaSlicer 2.5 defaults for the keys the estimator reads (used when a key is absent).
_DEFAULTS: dict[str, str] = {
    "layer_height": "0.3",
    "first_layer_height": "0.35",
    "perimeters": "3",
    "top_solid_layers": "3",
    "bottom_solid_layers": "3",
    "top_solid_min_thickness": "0",
    "bottom_solid_min_thickness": "0",
    "fill_density": "20%",
    "fill_pattern": "stars",
    "top_fill_pattern": "monotonic",
    "bottom_fill_pattern": "monotonic",
    "infill_every_layers": "1",
    "nozzle_diameter": "0.4",
    "extrusion_width": "0",
    "first_layer_extrusion_width": "200%",
    "perimeter_extrusion_width": "0",
    "external_perimeter_extrusion_width": "0",
    "infill_extrusion_width": "0",
    "solid_infill_extrusion_width": "0",
    "top_infill_extrusion_width": "0",
    "perimeter_speed": "60",
    "external_perimeter_speed": "50%",
    "small_perimeter_speed": "15",
    "infill_speed": "80",
    "solid_infill_speed": "20",
    "top_solid_infill_speed": "15",
    "gap_fill_speed": "20",
    "bridge_speed": "60",
    "first_layer_speed": "30",
    "travel_speed": "130",
    "travel_speed_z": "0",
    "max_print_speed": "80",
    "max_volumetric_speed": "0",
    "filament_max_volumetric_speed": "0",
    "default_acceleration": "0",
    "perimeter_acceleration": "0",
    "infill_acceleration": "0",
    "bridge_acceleration": "0",
    "first_layer_acceleration": "0",
    "travel_acceleration": "0",
    "machine_limits_usage": "time_estimate_only",
    "machine_max_acceleration_extruding": "1500",
    "machine_max_acceleration_travel": "1250",
    "machine_max_acceleration_x": "9000",
    "machine_max_acceleration_y": "9000",
    "machine_max_feedrate_x": "500",
    "machine_max_feedrate_y": "500",
    "machine_max_feedrate_z": "12",
    "machine_max_jerk_x": "10",
    "machine_max_jerk_y": "10",
    "machine_max_jerk_z": "0.2",
    "retract_length": "2",
    "retract_speed": "40",
    "deretract_speed": "0",
    "retract_lift": "0",
    "retract_before_travel": "2",
    "wipe": "0",
    "retract_before_wipe": "0%",
    "cooling": "1",
    "slowdown_below_layer_time": "5",
    "min_print_speed": "10",
    "filament_diameter": "1.75",
    "filament_density": "0",
    "extrusion_multiplier": "1",
    "skirts": "1",
    "skirt_distance": "6",
    "skirt_height": "1",
    "min_skirt_length": "0",
    "brim_width": "0",
    "brim_type": "outer_only",
    "bridge_flow_ratio": "1",
    "thick_bridges": "1",
    "infill_overlap": "25%",
    "spiral_vase": "0",
    "start_gcode": "",
    "bed_shape": "0x0,200x0,200x200,0x200",
    "max_print_height": "200",
}


def _first(value: str) -> str:
    """First element of a PrusaSlicer per-extruder list (``0.4,0.4`` -> ``0.4``)."""
    return value.split(",")[0].strip()


@dataclass(frozen=True)
class SlicerProfile:
    """The settings of a PrusaSlicer FFF profile that drive the estimate (mm, mm/s, mm/s^2, g/cm^3)."""

    name: str
    layer_height_mm: float
    first_layer_height_mm: float
    perimeters: int
    top_solid_layers: int
    bottom_solid_layers: int
    top_solid_min_thickness_mm: float
    bottom_solid_min_thickness_mm: float
    fill_density: float
    fill_pattern: str
    top_fill_pattern: str
    bottom_fill_pattern: str
    nozzle_diameter_mm: float
    first_layer_width_mm: float
    perimeter_width_mm: float
    external_perimeter_width_mm: float
    infill_width_mm: float
    solid_infill_width_mm: float
    top_infill_width_mm: float
    perimeter_speed: float
    external_perimeter_speed: float
    small_perimeter_speed: float
    infill_speed: float
    solid_infill_speed: float
    top_solid_infill_speed: float
    gap_fill_speed: float
    bridge_speed: float
    first_layer_speed: float
    travel_speed: float
    travel_speed_z: float
    max_volumetric_speed: float
    default_acceleration: float
    perimeter_acceleration: float
    infill_acceleration: float
    bridge_acceleration: float
    first_layer_acceleration: float
    travel_acceleration: float
    max_acceleration_extruding: float
    max_acceleration_travel: float
    max_acceleration_xy: float
    max_feedrate_xy: float
    max_feedrate_z: float
    jerk_xy: float
    retract_length_mm: float
    retract_speed: float
    deretract_speed: float
    retract_lift_mm: float
    retract_before_travel_mm: float
    wipe: bool
    retract_before_wipe: float  # share of the retraction done standing before a wipe
    cooling: bool
    slowdown_below_layer_time_s: float
    min_print_speed: float
    filament_diameter_mm: float
    filament_density_g_cm3: float
    extrusion_multiplier: float
    skirts: int
    skirt_distance_mm: float
    skirt_height_layers: int
    min_skirt_length_mm: float
    brim_width_mm: float
    bridge_flow_ratio: float
    thick_bridges: bool
    infill_overlap: float
    spiral_vase: bool
    start_gcode_filament_mm: float
    bed_size_mm: tuple[float, float]
    max_print_height_mm: float
    raw: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def filament_area_mm2(self) -> float:
        """Cross-section of the filament."""
        return math.pi * (self.filament_diameter_mm / 2) ** 2


def parse_ini_text(text: str) -> dict[str, str]:
    """Parse flat PrusaSlicer ``key = value`` lines (``#``/``;`` comments, no sections, no inheritance)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;" or stripped.startswith("["):
            continue
        key, sep, value = stripped.partition("=")
        if not sep:
            continue
        values[key.strip()] = value.strip()
    return values


def _intro_filament_mm(start_gcode: str) -> float:
    """Filament extruded by the start G-code (e.g. the MK3S intro line), from its ``E`` words."""
    total = 0.0
    relative = True  # PrusaSlicer profiles switch to M83 in start G-code; G92 E0 resets absolute mode.
    last_abs = 0.0
    for line in start_gcode.replace("\\n", "\n").splitlines():
        code = line.split(";", 1)[0].strip().upper()
        if not code:
            continue
        words = code.split()
        if words[0] == "M82":
            relative = False
        elif words[0] == "M83":
            relative = True
        elif words[0] == "G92":
            for word in words[1:]:
                if word.startswith("E"):
                    last_abs = float(word[1:] or 0)
        elif words[0] in ("G1", "G0"):
            for word in words[1:]:
                if word.startswith("E") and "{" not in word and "[" not in word:
                    try:
                        e = float(word[1:])
                    except ValueError:
                        continue
                    if relative:
                        total += max(e, 0.0)
                    else:
                        total += max(e - last_abs, 0.0)
                        last_abs = e
    return total


class _Reader:
    def __init__(self, values: Mapping[str, str], source: str) -> None:
        self.values = values
        self.source = source

    def text(self, key: str) -> str:
        value = self.values.get(key)
        if value is None:
            value = _DEFAULTS.get(key, "")
        return value

    def number(self, key: str, base: float | None = None) -> float:
        """A number; ``N%`` is relative to ``base`` (or a fraction when ``base`` is None)."""
        value = _first(self.text(key)).strip('"')
        try:
            if value.endswith("%"):
                pct = float(value[:-1]) / 100
                return pct if base is None else pct * base
            return float(value)
        except ValueError:
            raise ProfileError(N_("%(profile)s: %(key)s = %(value)s is not a number"), profile=self.source, key=key,
                               value=repr(value)) from None

    def integer(self, key: str) -> int:
        return round(self.number(key))

    def flag(self, key: str) -> bool:
        return _first(self.text(key)) not in ("0", "", "false")


def _auto_width(nozzle: float, layer: float, kind: str) -> float:
    """PrusaSlicer's automatic extrusion width (``Flow::auto_extrusion_width``), approximately."""
    factor = {
        "perimeter": 1.125,
        "external": 1.125,
        "infill": 1.125,
        "solid": 1.125,
        "top": 1.05,
        "first": 1.125,
    }
    return round(nozzle * factor.get(kind, 1.125), 4)


def profile_from_values(values: Mapping[str, str], name: str = "profile") -> SlicerProfile:
    """Build a :class:`SlicerProfile` from parsed ``key = value`` pairs.

    Raises:
        ProfileError: a value is not a number or is out of range.
    """
    r = _Reader(values, name)
    if values.get("printer_technology", "FFF") not in ("FFF", ""):
        raise ProfileError(N_("%(profile)s: printer_technology = %(value)s is not an FFF profile"), profile=name,
                           value=values["printer_technology"])
    nozzle = r.number("nozzle_diameter")
    layer = r.number("layer_height")
    first_layer = r.number("first_layer_height", layer)
    if not (0 < layer <= 5 and 0 < first_layer <= 5 and 0 < nozzle <= 5):
        raise ProfileError(N_("%(profile)s: layer_height, first_layer_height and nozzle_diameter must be positive"),
                           profile=name)

    def width(key: str, kind: str, fallback: float = 0.0) -> float:
        # PrusaSlicer 2.5: a percentage width is relative to the nozzle diameter; 0 means "automatic".
        value = r.number(key, nozzle)
        if value > 0:
            return value
        return fallback if fallback > 0 else _auto_width(nozzle, layer, kind)

    generic = max(r.number("extrusion_width", nozzle), 0.0)
    perimeter_w = width("perimeter_extrusion_width", "perimeter", generic)
    speed_perimeter = r.number("perimeter_speed")
    infill_speed = r.number("infill_speed")
    solid_speed = r.number("solid_infill_speed", infill_speed)
    bed = []
    for point in r.text("bed_shape").split(","):
        try:
            bed.append(tuple(float(v) for v in point.split("x")))
        except ValueError:
            raise ProfileError(N_("%(profile)s: bed_shape = %(value)s is not a list of XxY points"), profile=name,
                               value=repr(r.text("bed_shape"))) from None
    bed_x = max(p[0] for p in bed) - min(p[0] for p in bed)
    bed_y = max(p[1] for p in bed) - min(p[1] for p in bed)
    accel_extruding = r.number("machine_max_acceleration_extruding")
    default_accel = r.number("default_acceleration")
    density = r.number("fill_density")
    if density > 1.0:  # a bare number without "%" is a percentage in PrusaSlicer
        density /= 100
    return SlicerProfile(
        name=name,
        layer_height_mm=layer,
        first_layer_height_mm=first_layer,
        perimeters=max(r.integer("perimeters"), 0),
        top_solid_layers=max(r.integer("top_solid_layers"), 0),
        bottom_solid_layers=max(r.integer("bottom_solid_layers"), 0),
        top_solid_min_thickness_mm=r.number("top_solid_min_thickness"),
        bottom_solid_min_thickness_mm=r.number("bottom_solid_min_thickness"),
        fill_density=min(max(density, 0.0), 1.0),
        fill_pattern=r.text("fill_pattern"),
        top_fill_pattern=r.text("top_fill_pattern"),
        bottom_fill_pattern=r.text("bottom_fill_pattern"),
        nozzle_diameter_mm=nozzle,
        first_layer_width_mm=width("first_layer_extrusion_width", "first", generic),
        perimeter_width_mm=perimeter_w,
        external_perimeter_width_mm=width("external_perimeter_extrusion_width", "external", generic),
        infill_width_mm=width("infill_extrusion_width", "infill", generic),
        solid_infill_width_mm=width("solid_infill_extrusion_width", "solid", generic),
        top_infill_width_mm=width("top_infill_extrusion_width", "top", generic),
        perimeter_speed=speed_perimeter,
        external_perimeter_speed=r.number("external_perimeter_speed", speed_perimeter),
        small_perimeter_speed=r.number("small_perimeter_speed", speed_perimeter),
        infill_speed=infill_speed,
        solid_infill_speed=solid_speed,
        top_solid_infill_speed=r.number("top_solid_infill_speed", solid_speed),
        gap_fill_speed=r.number("gap_fill_speed"),
        bridge_speed=r.number("bridge_speed"),
        first_layer_speed=r.number("first_layer_speed"),
        travel_speed=r.number("travel_speed"),
        travel_speed_z=r.number("travel_speed_z"),
        max_volumetric_speed=_positive_min(
            r.number("max_volumetric_speed"), r.number("filament_max_volumetric_speed")
        ),
        default_acceleration=default_accel,
        perimeter_acceleration=r.number("perimeter_acceleration"),
        infill_acceleration=r.number("infill_acceleration"),
        bridge_acceleration=r.number("bridge_acceleration"),
        first_layer_acceleration=r.number("first_layer_acceleration"),
        travel_acceleration=r.number("travel_acceleration"),
        max_acceleration_extruding=accel_extruding,
        max_acceleration_travel=r.number("machine_max_acceleration_travel"),
        max_acceleration_xy=min(
            r.number("machine_max_acceleration_x"), r.number("machine_max_acceleration_y")
        ),
        max_feedrate_xy=min(r.number("machine_max_feedrate_x"), r.number("machine_max_feedrate_y")),
        max_feedrate_z=r.number("machine_max_feedrate_z"),
        jerk_xy=min(r.number("machine_max_jerk_x"), r.number("machine_max_jerk_y")),
        retract_length_mm=r.number("retract_length"),
        retract_speed=r.number("retract_speed"),
        deretract_speed=r.number("deretract_speed"),
        retract_lift_mm=r.number("retract_lift"),
        retract_before_travel_mm=r.number("retract_before_travel"),
        wipe=r.flag("wipe"),
        retract_before_wipe=min(max(r.number("retract_before_wipe"), 0.0), 1.0),
        cooling=r.flag("cooling"),
        slowdown_below_layer_time_s=r.number("slowdown_below_layer_time"),
        min_print_speed=r.number("min_print_speed"),
        filament_diameter_mm=r.number("filament_diameter"),
        filament_density_g_cm3=r.number("filament_density"),
        extrusion_multiplier=r.number("extrusion_multiplier"),
        skirts=r.integer("skirts"),
        skirt_distance_mm=r.number("skirt_distance"),
        skirt_height_layers=r.integer("skirt_height"),
        min_skirt_length_mm=r.number("min_skirt_length"),
        brim_width_mm=r.number("brim_width") if r.text("brim_type") != "no_brim" else 0.0,
        bridge_flow_ratio=r.number("bridge_flow_ratio"),
        thick_bridges=r.flag("thick_bridges"),
        infill_overlap=r.number("infill_overlap"),
        spiral_vase=r.flag("spiral_vase"),
        start_gcode_filament_mm=_intro_filament_mm(r.text("start_gcode")),
        bed_size_mm=(bed_x, bed_y),
        max_print_height_mm=r.number("max_print_height"),
        raw=MappingProxyType(dict(values)),
    )


def _positive_min(*values: float) -> float:
    positive = [v for v in values if v > 0]
    return min(positive) if positive else 0.0


def load_profile(path: Path | str) -> SlicerProfile:
    """Read a PrusaSlicer ``.ini`` profile.

    Raises:
        ProfileError: the file is missing, unreadable or has an invalid value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ProfileError(N_("%(profile)s: profile not found"), profile=str(path)) from None
    except OSError as exc:
        raise ProfileError(N_("%(profile)s: cannot read the profile (%(problem)s)"), profile=str(path),
                           problem=exc.strerror) from None
    values = parse_ini_text(text)
    if "layer_height" not in values:
        raise ProfileError(N_("%(profile)s: not a PrusaSlicer profile (no layer_height key)"), profile=str(path))
    return profile_from_values(values, name=path.name)
