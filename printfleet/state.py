"""What printfleet knows about one printer right now (pure: no I/O).

Every source (REST polling, MQTT, the simulator) produces the same frozen :class:`PrinterState`;
:mod:`printfleet.store` keeps the newest one per printer.

``FINISHED`` means: the printer's last job completed successfully and the printer is operational,
with no new file selected or started since. It says nothing about the bed: whether someone cleared it
is printfleet's own record (the ``printers.bed_clear`` column), not the printer's.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class PrinterStatus(StrEnum):
    """What a printer is doing, as far as the fleet cares."""

    OFFLINE = "offline"  # unreachable, or its host is up but the printer is not connected
    IDLE = "idle"  # operational, nothing printing
    BUSY = "busy"  # short transitions: connecting, pausing, cancelling
    PRINTING = "printing"
    PAUSED = "paused"
    FINISHED = "finished"  # last job done, printer operational (the bed may not be clear)
    ERROR = "error"  # firmware or printer error; needs a person


class StateSource(StrEnum):
    """Where a state came from."""

    REST = "rest"
    MQTT = "mqtt"
    WATCHDOG = "watchdog"  # derived by printfleet, e.g. OFFLINE after silence


#: Printer statuses in which a print job is active.
ACTIVE_STATUSES = frozenset({PrinterStatus.PRINTING, PrinterStatus.PAUSED})


class StateFormatError(ValueError):
    """A serialised state could not be read."""


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


def from_epoch(seconds: float) -> dt.datetime:
    """An aware UTC datetime from Unix seconds."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


@dataclass(frozen=True, slots=True)
class Temperature:
    """One heater: ``tool0``, ``bed``, ``chamber``...; temperatures in °C."""

    heater: str
    actual: float | None
    target: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict."""
        return {"heater": self.heater, "actual": self.actual, "target": self.target}


@dataclass(frozen=True, slots=True)
class JobProgress:
    """The printer's current (or last finished) job.

    ``fraction`` is 0..1; ``elapsed_s``/``remaining_s`` are ``None`` when the printer does not say.
    """

    file_name: str
    fraction: float | None = None
    elapsed_s: float | None = None
    remaining_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict."""
        return {
            "file_name": self.file_name,
            "fraction": self.fraction,
            "elapsed_s": self.elapsed_s,
            "remaining_s": self.remaining_s,
        }


@dataclass(frozen=True, slots=True)
class PrinterState:
    """One observation of one printer."""

    printer_id: str
    status: PrinterStatus
    observed_at: dt.datetime
    source: StateSource
    job: JobProgress | None = None
    temps: tuple[Temperature, ...] = ()
    error: str | None = None

    def __post_init__(self) -> None:
        if self.observed_at.tzinfo is None:
            raise ValueError("observed_at must be timezone-aware")

    @property
    def observed_ts(self) -> float:
        """``observed_at`` as Unix seconds."""
        return self.observed_at.timestamp()

    @property
    def eta(self) -> dt.datetime | None:
        """When the current job should end, if the printer says how long it has left."""
        if self.job is None or self.job.remaining_s is None or self.status not in ACTIVE_STATUSES:
            return None
        return self.observed_at + dt.timedelta(seconds=self.job.remaining_s)

    def temp(self, heater: str) -> Temperature | None:
        """The reading of one heater, if known."""
        for temp in self.temps:
            if temp.heater == heater:
                return temp
        return None

    def with_temp(self, temp: Temperature) -> tuple[Temperature, ...]:
        """``temps`` with ``temp`` replacing the same heater's reading (sorted by heater)."""
        others = [t for t in self.temps if t.heater != temp.heater]
        return tuple(sorted([*others, temp], key=lambda t: t.heater))

    def evolve(self, **changes: Any) -> PrinterState:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def same_content(self, other: PrinterState | None) -> bool:
        """Whether ``other`` says the same, ignoring when and how it was observed."""
        return (
            other is not None
            and self.printer_id == other.printer_id
            and self.status == other.status
            and self.job == other.job
            and self.temps == other.temps
            and self.error == other.error
        )

    def content_key(self) -> str:
        """A compact string that changes exactly when :meth:`same_content` would say False."""
        return json.dumps(
            [
                self.status.value,
                self.job.to_dict() if self.job else None,
                [t.to_dict() for t in self.temps],
                self.error,
            ],
            separators=(",", ":"),
        )

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict (``observed_at`` as ISO 8601 UTC)."""
        data: dict[str, Any] = {
            "printer_id": self.printer_id,
            "status": self.status.value,
            "job": self.job.to_dict() if self.job else None,
            "temps": [t.to_dict() for t in self.temps],
            "error": self.error,
            "observed_at": self.observed_at.astimezone(dt.UTC).isoformat(),
            "source": self.source.value,
        }
        return data

    def to_json(self) -> str:
        """As compact JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any) -> PrinterState:
        """Read a dict written by :meth:`to_dict`.

        Raises:
            StateFormatError: a field is missing or has the wrong type.
        """
        if not isinstance(data, dict):
            raise StateFormatError("a printer state must be a JSON object")
        try:
            job_data = data.get("job")
            job = None
            if job_data is not None:
                job = JobProgress(
                    file_name=str(job_data["file_name"]),
                    fraction=_opt_float(job_data.get("fraction")),
                    elapsed_s=_opt_float(job_data.get("elapsed_s")),
                    remaining_s=_opt_float(job_data.get("remaining_s")),
                )
            temps = tuple(
                Temperature(str(t["heater"]), _opt_float(t.get("actual")), _opt_float(t.get("target")))
                for t in data.get("temps") or ()
            )
            observed_at = dt.datetime.fromisoformat(str(data["observed_at"]))
            if observed_at.tzinfo is None:
                raise StateFormatError("observed_at has no timezone")
            error = data.get("error")
            return cls(
                printer_id=str(data["printer_id"]),
                status=PrinterStatus(data["status"]),
                job=job,
                temps=temps,
                error=None if error is None else str(error),
                observed_at=observed_at,
                source=StateSource(data.get("source", StateSource.REST)),
            )
        except StateFormatError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateFormatError(f"malformed printer state: {exc!r}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> PrinterState:
        """Read JSON written by :meth:`to_json`.

        Raises:
            StateFormatError: it is not such JSON.
        """
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateFormatError(f"not JSON: {exc}") from None
        return cls.from_dict(data)


def offline_state(
    printer_id: str, *, observed_at: dt.datetime, source: StateSource, reason: str | None = None
) -> PrinterState:
    """An OFFLINE state (no job, no temperatures) with an optional reason in ``error``."""
    return PrinterState(printer_id, PrinterStatus.OFFLINE, observed_at, source, error=reason)


def is_stale(new_ts: float, stored_ts: float) -> bool:
    """Whether an observation at ``new_ts`` is older than one at ``stored_ts`` (Unix seconds).

    OctoPrint-MQTT stamps messages with whole seconds, so a whole-second stamp is not older than a
    precise one within the same second; two precise stamps (REST observations) compare exactly.
    """
    new_s, stored_s = math.floor(new_ts), math.floor(stored_ts)
    if new_s != stored_s:
        return new_s < stored_s
    return new_ts != new_s and stored_ts != stored_s and new_ts < stored_ts


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("boolean where a number was expected")
    result = float(value)
    if math.isnan(result) or math.isinf(result):
        raise ValueError("not a finite number")
    return result
