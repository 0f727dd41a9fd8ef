"""OctoPrint REST answers -> :class:`PrinterState` (pure: no I/O).

Used by the OctoPrint driver and by the simulated driver, which speaks the same API.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from printfleet.state import JobProgress, PrinterState, PrinterStatus, StateSource, Temperature

_BUSY_PREFIXES = (
    "pausing",
    "opening serial",
    "detecting",
    "connecting",
    "cancelling",
    "transfer",
    "sending file",
    "unknown",
)
_PRINTING_PREFIXES = ("printing", "starting", "finishing", "resuming")


class ParseError(ValueError):
    """An OctoPrint answer does not have the expected shape."""


def status_from_text(text: str) -> PrinterStatus:
    """Map OctoPrint's state string (``/api/job`` ``state``, ``/api/printer`` ``state.text``)."""
    lowered = text.strip().lower()
    if "error" in lowered:
        return PrinterStatus.ERROR
    if lowered.startswith(("offline", "closed")):
        return PrinterStatus.OFFLINE
    if lowered.startswith("operational"):
        return PrinterStatus.IDLE
    if lowered.startswith("paused"):
        return PrinterStatus.PAUSED
    if lowered.startswith(_PRINTING_PREFIXES):
        return PrinterStatus.PRINTING
    if lowered.startswith(_BUSY_PREFIXES):
        return PrinterStatus.BUSY
    return PrinterStatus.BUSY


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
        return result if math.isfinite(result) else None
    return None


def job_from_api(job_json: dict[str, Any]) -> JobProgress | None:
    """The job part of ``GET /api/job``, or ``None`` when no file is selected."""
    job = job_json.get("job")
    if not isinstance(job, dict):
        return None
    file = job.get("file")
    if not isinstance(file, dict):
        return None
    name = file.get("path") or file.get("name")
    if not isinstance(name, str) or not name:
        return None
    progress = job_json.get("progress")
    progress = progress if isinstance(progress, dict) else {}
    completion = _number(progress.get("completion"))
    fraction = None if completion is None else min(max(completion / 100.0, 0.0), 1.0)
    return JobProgress(
        file_name=name,
        fraction=fraction,
        elapsed_s=_number(progress.get("printTime")),
        remaining_s=_number(progress.get("printTimeLeft")),
    )


def temps_from_api(printer_json: dict[str, Any] | None) -> tuple[Temperature, ...]:
    """The heaters of ``GET /api/printer`` (``history`` ignored; empty heaters skipped)."""
    if not isinstance(printer_json, dict):
        return ()
    temperature = printer_json.get("temperature")
    if not isinstance(temperature, dict):
        return ()
    temps: list[Temperature] = []
    for heater, reading in temperature.items():
        if heater == "history" or not isinstance(reading, dict):
            continue
        actual, target = _number(reading.get("actual")), _number(reading.get("target"))
        if actual is None and target is None:
            continue
        temps.append(Temperature(str(heater), actual, target))
    return tuple(sorted(temps, key=lambda t: t.heater))


def state_from_api(
    printer_id: str,
    *,
    job_json: Any,
    printer_json: Any = None,
    observed_at: dt.datetime,
    source: StateSource = StateSource.REST,
) -> PrinterState:
    """Build a state from ``GET /api/job`` and (when the printer is operational) ``GET /api/printer``.

    Raises:
        ParseError: ``job_json`` is not an OctoPrint job answer.
    """
    if not isinstance(job_json, dict) or not isinstance(job_json.get("state"), str):
        raise ParseError("GET /api/job did not return an object with a 'state' string")
    text = job_json["state"]
    if isinstance(printer_json, dict):
        state_obj = printer_json.get("state")
        if isinstance(state_obj, dict) and isinstance(state_obj.get("text"), str):
            text = state_obj["text"]
    status = status_from_text(text)
    job = job_from_api(job_json)
    error: str | None = None
    if status is PrinterStatus.ERROR:
        raw_error = job_json.get("error")
        error = raw_error if isinstance(raw_error, str) and raw_error else text
    if status is PrinterStatus.IDLE and job is not None:
        if job.fraction is not None and job.fraction >= 1.0:
            status = PrinterStatus.FINISHED
            job = JobProgress(job.file_name, 1.0, job.elapsed_s, 0.0)
        else:
            job = None  # a file is selected but not printing: no job to report
    if status in (PrinterStatus.OFFLINE, PrinterStatus.ERROR):
        job = None
    temps = temps_from_api(printer_json) if status not in (PrinterStatus.OFFLINE,) else ()
    return PrinterState(
        printer_id=printer_id,
        status=status,
        job=job,
        temps=temps,
        error=error,
        observed_at=observed_at,
        source=source,
    )
