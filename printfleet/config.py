"""The fleet file (``configs/printers.yaml``): site facts and printers, validated with pydantic.

The file holds no secrets. A printer's API key is read from the environment variable that
``api_key_env`` names, when a driver needs it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from printfleet.errors import ConfigError
from printfleet.files import read_user_text
from printfleet.queue.rules import PolicyConfig

PRINTER_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class DriverName(StrEnum):
    """The drivers a printer can use."""

    OCTOPRINT = "octoprint"
    SIMULATED = "simulated"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


OpeningRange = tuple[dt.time, dt.time]


def parse_opening_ranges(text: str) -> tuple[OpeningRange, ...]:
    """Parse ``"09:00-12:30, 13:00-22:00"`` into ordered (open, close) pairs.

    Raises:
        ValueError: a range is malformed, empty, or overlaps another.
    """
    ranges: list[OpeningRange] = []
    for part in text.split(","):
        match = _HOURS_RANGE.match(part)
        if not match:
            raise ValueError(f"{part.strip()!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h2 == 24 and m2 == 0:
            h2, m2 = 23, 59
        try:
            start, end = dt.time(h1, m1), dt.time(h2, m2)
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not a valid time range") from None
        if end <= start:
            raise ValueError(f"{part.strip()!r} closes before it opens")
        ranges.append((start, end))
    ranges.sort()
    for (_, end), (start, _) in itertools.pairwise(ranges):
        if start < end:
            raise ValueError(f"ranges in {text!r} overlap")
    return tuple(ranges)


class SiteConfig(_Strict):
    """Facts about the site: name, timezone, language and when it is staffed."""

    name: str = "Makerspace"
    timezone: str = "Europe/Berlin"
    locale: str = Field(default="de", description="default page language: de or en, optionally with a region (de_AT)")
    public_url: str | None = Field(
        default=None,
        description="the address people open printfleet at (e.g. https://print.example.org); every absolute link "
        "(the wall's QR code, mails) uses it, never the Host header of a request",
    )
    opening_hours: dict[str, str] | None = Field(
        default=None,
        description="weekday (mon..sun) -> 'HH:MM-HH:MM[, ...]'; a day not listed is closed; unset: always open",
    )
    unattended_printing: bool = True
    closing_margin_min: int = Field(default=15, ge=0, le=24 * 60)
    currency: str = Field(default="EUR", min_length=1, max_length=8)
    price_per_g: float | None = Field(default=None, ge=0, le=100, description="filament price; unset: no cost shown")
    price_per_hour: float | None = Field(default=None, ge=0, le=1000, description="machine time price")

    def cost_of(self, filament_g: float | None, print_time_s: float | None) -> float | None:
        """What a print costs at the site's prices, or ``None`` when the site sets none."""
        if self.price_per_g is None and self.price_per_hour is None:
            return None
        grams = (filament_g or 0.0) * (self.price_per_g or 0.0)
        hours = (print_time_s or 0.0) / 3600.0 * (self.price_per_hour or 0.0)
        return round(grams + hours, 2)

    @field_validator("locale")
    @classmethod
    def _check_locale(cls, value: str) -> str:
        if not re.match(r"^(de|en)(_[A-Z]{2})?$", value):
            raise ValueError(f"unsupported locale {value!r} (use de or en, optionally with a region such as de_AT)")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"must be an http:// or https:// address without query (got {value!r})")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    @field_validator("opening_hours")
    @classmethod
    def _check_opening_hours(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        for day, text in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown day {day!r} (use {', '.join(WEEKDAYS)})")
            try:
                parse_opening_ranges(str(text))
            except ValueError as exc:
                raise ValueError(f"{day}: {exc}") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The site's timezone."""
        return ZoneInfo(self.timezone)

    def opening_ranges(self) -> dict[int, tuple[OpeningRange, ...]] | None:
        """Opening hours by weekday number (Monday = 0), or ``None`` when always open."""
        if self.opening_hours is None:
            return None
        return {WEEKDAYS.index(day): parse_opening_ranges(text) for day, text in self.opening_hours.items()}


PositiveMm = Annotated[float, Field(gt=0, le=5000)]


class PrinterConfig(_Strict):
    """One printer of the fleet, as the site describes it."""

    id: str = Field(pattern=PRINTER_ID_PATTERN, description="[a-z0-9-], unique")
    name: str = Field(min_length=1, max_length=80)
    driver: DriverName
    url: str | None = Field(default=None, description="OctoPrint base URL, e.g. http://10.0.0.21")
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    mqtt_base_topic: str | None = Field(default=None, description="OctoPrint-MQTT base topic, ends with /")
    poll_interval_s: float = Field(default=5.0, gt=0, le=3600)
    build_volume_mm: tuple[PositiveMm, PositiveMm, PositiveMm]
    nozzle_mm: float = Field(default=0.4, gt=0, le=3)
    material: str = Field(default="PLA", min_length=1, max_length=30)
    colour: str = Field(default="any", min_length=1, max_length=30)
    profile: Path = Field(description="PrusaSlicer .ini, relative to the fleet file")
    tags: tuple[str, ...] = ()

    @field_validator("material")
    @classmethod
    def _upper_material(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("colour")
    @classmethod
    def _lower_colour(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("tags")
    @classmethod
    def _lower_tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(tag.strip().lower() for tag in value)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"must be an http:// or https:// URL (got {value!r})")
        return value.rstrip("/")

    @field_validator("mqtt_base_topic")
    @classmethod
    def _check_topic(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.endswith("/") or any(c in value for c in "#+") or value.startswith("/"):
            raise ValueError(f"must end with '/' and contain no wildcards (got {value!r})")
        return value

    @field_validator("profile")
    @classmethod
    def _resolve_profile(cls, value: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get("base_dir")
        path = value if value.is_absolute() or base is None else Path(base) / value
        if not path.is_file():
            raise ValueError(f"file {path} does not exist")
        return path.resolve()

    @model_validator(mode="after")
    def _check_driver_fields(self) -> PrinterConfig:
        if self.driver is DriverName.OCTOPRINT:
            if self.url is None:
                raise ValueError("url: an octoprint printer needs the OctoPrint URL")
            if self.api_key_env is None:
                raise ValueError("api_key_env: an octoprint printer needs the name of the variable holding its API key")
        return self

    @property
    def base_topic(self) -> str:
        """The MQTT base topic its status arrives on."""
        if self.mqtt_base_topic is not None:
            return self.mqtt_base_topic
        if self.driver is DriverName.SIMULATED:
            return f"printfleet-sim/{self.id}/octoPrint/"
        return "octoPrint/"

    def api_key(self) -> SecretStr | None:
        """The API key from the environment, or ``None`` when the printer needs none.

        Raises:
            ConfigError: the named variable is not set.
        """
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ConfigError(f"printer {self.id}: api_key_env: environment variable {self.api_key_env} is not set")
        return SecretStr(value)


class FleetConfig(_Strict):
    """The whole fleet file."""

    site: SiteConfig = SiteConfig()
    printers: tuple[PrinterConfig, ...] = ()
    policy: PolicyConfig = PolicyConfig()
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _check_unique(self) -> FleetConfig:
        seen_ids: dict[str, int] = {}
        seen_topics: dict[str, str] = {}
        for index, printer in enumerate(self.printers):
            if printer.id in seen_ids:
                raise ValueError(
                    f"printers[{index}] ({printer.id}): id: duplicate, already used by printers[{seen_ids[printer.id]}]"
                )
            seen_ids[printer.id] = index
            topic = printer.base_topic
            if topic in seen_topics:
                raise ValueError(
                    f"printers[{index}] ({printer.id}): mqtt_base_topic: {topic!r} is already used by "
                    f"printer {seen_topics[topic]}; give each printer its own base topic"
                )
            seen_topics[topic] = printer.id
        return self

    def printer(self, printer_id: str) -> PrinterConfig:
        """The printer with this id.

        Raises:
            KeyError: no such printer.
        """
        for printer in self.printers:
            if printer.id == printer_id:
                return printer
        raise KeyError(printer_id)

    def check_secrets(self) -> None:
        """Check that every printer's API-key variable is set.

        Raises:
            ConfigError: one is not; the message names the file, printer and variable.
        """
        for index, printer in enumerate(self.printers):
            try:
                printer.api_key()
            except ConfigError:
                raise ConfigError(
                    f"{self.source}: printers[{index}] ({printer.id}): api_key_env: "
                    f"environment variable {printer.api_key_env} is not set"
                ) from None


def _describe_location(raw: Any, loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into ``printers[1] (mk3s-2): build_volume_mm``."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int):
            label = f"[{key}]"
            if isinstance(node, list) and key < len(node):
                node = node[key]
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    label += f" ({node['id']})"
            else:
                node = None
            if parts:
                parts[-1] += label
            else:
                parts.append(label)
            continue
        parts.append(str(key))
        node = node.get(key) if isinstance(node, dict) else None
    text = ""
    for part in parts:
        if not text:
            text = part
        elif part.startswith("["):
            text += part
        else:
            sep = ": " if ")" in text.split(".")[-1] else "."
            text += sep + part
    return text


#: what a field's pattern means, in words (pydantic's message quotes the regular expression)
_PATTERN_WORDS = {
    "id": "must be 1-64 characters of a-z, 0-9 and '-', starting and ending with a letter or digit",
    "api_key_env": "must be the name of an environment variable (letters, digits and _, not starting with a digit)",
}


def _format_error(path: Path, raw: Any, exc: ValidationError) -> str:
    err = exc.errors()[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    loc = tuple(k for k in err["loc"] if not (isinstance(k, str) and k.startswith(("function-", "tuple["))))
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "string_pattern_mismatch" and loc and loc[-1] in _PATTERN_WORDS:
        msg = f"{_PATTERN_WORDS[str(loc[-1])]} (got {err.get('input')!r})"
    elif err["type"] == "enum" and "driver" in loc:
        msg = f"unknown driver {err.get('input')!r} (use one of: {', '.join(d.value for d in DriverName)})"
    where = _describe_location(raw, loc)
    return f"{path}: {where}: {msg}" if where else f"{path}: {msg}"


def load_fleet(path: Path | str, *, check_secrets: bool = False) -> FleetConfig:
    """Read and validate a fleet file.

    Args:
        path: the YAML file.
        check_secrets: also require every ``api_key_env`` variable to be set.

    Raises:
        ConfigError: one line naming the file, the printer and the field.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found (set PRINTFLEET_CONFIG or pass the path)")
    text = read_user_text(path, error=ConfigError)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: {where}malformed YAML ({problem})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with 'site' and 'printers' at the top")
    try:
        fleet = FleetConfig.model_validate(
            {**raw, "source": path}, context={"base_dir": path.resolve().parent}
        )
    except ValidationError as exc:
        raise ConfigError(_format_error(path, raw, exc)) from None
    if check_secrets:
        fleet.check_secrets()
    return fleet
