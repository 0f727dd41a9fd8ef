"""OctoPrint-MQTT messages -> :class:`PrinterState` changes (pure: no I/O).

Topic layout below a printer's base topic (the OctoPrint-MQTT plugin's defaults):
``event/<Event>`` (JSON, ``_event``), ``progress/printing`` (JSON ``{location, path, progress}``),
``temperature/<heater>`` (JSON ``{actual, target}``) and ``mqtt`` (plain ``connected``/``disconnected``,
the retained last will). JSON payloads carry ``_timestamp`` (Unix seconds, usually whole).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from printfleet.state import (
    JobProgress,
    PrinterState,
    PrinterStatus,
    StateSource,
    Temperature,
    from_epoch,
    offline_state,
)

#: a ``_timestamp`` further in the future than this is not trusted (receive time is used instead)
MAX_CLOCK_AHEAD_S = 300.0


class MessageError(ValueError):
    """A message that cannot be used: unknown topic or malformed payload."""


class Kind(StrEnum):
    """The topic families printfleet reads."""

    WILL = "mqtt"
    EVENT = "event"
    PROGRESS = "progress"
    TEMPERATURE = "temperature"


#: topic families that exist in the OctoPrint-MQTT layout but carry nothing printfleet needs
IGNORED_FAMILIES = frozenset({"metadata", "hassControl", "plugin"})


@dataclass(frozen=True, slots=True)
class Message:
    """One parsed message: its family, the name after it (event, heater, progress kind), payload, time."""

    kind: Kind
    name: str
    payload: dict[str, Any] | str
    ts: float


def _timestamp(data: dict[str, Any], received_ts: float) -> float:
    raw = data.get("_timestamp")
    if raw is None:
        return received_ts
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or raw <= 0:
        raise MessageError(f"_timestamp {raw!r} is not a Unix time")
    if raw > received_ts + MAX_CLOCK_AHEAD_S:
        return received_ts
    return float(raw)


def parse_message(subtopic: str, payload: bytes, received_ts: float) -> Message | None:
    """Parse a message by its topic below the printer's base topic.

    Returns:
        the message, or ``None`` for a known family printfleet does not use.

    Raises:
        MessageError: unknown topic, or a payload that does not fit its topic.
    """
    family, _, name = subtopic.partition("/")
    if family in IGNORED_FAMILIES:
        return None
    if family == Kind.WILL and not name:
        try:
            text = payload.decode("utf-8").strip().lower()
        except UnicodeDecodeError:
            raise MessageError("mqtt: payload is not text") from None
        if text not in ("connected", "disconnected"):
            raise MessageError(f"mqtt: expected connected/disconnected, got {text[:40]!r}")
        return Message(Kind.WILL, "", text, received_ts)
    if family not in (Kind.EVENT, Kind.PROGRESS, Kind.TEMPERATURE) or not name or "/" in name:
        raise MessageError(f"unknown topic {subtopic!r}")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise MessageError(f"{subtopic}: payload is not JSON") from None
    if not isinstance(data, dict):
        raise MessageError(f"{subtopic}: payload is not a JSON object")
    return Message(Kind(family), name, data, _timestamp(data, received_ts))


def _number(data: dict[str, Any], key: str, where: str, *, required: bool = False) -> float | None:
    value = data.get(key)
    if value is None:
        if required:
            raise MessageError(f"{where}: {key} missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MessageError(f"{where}: {key} is not a number")
    return float(value)


_STATE_IDS: dict[str, PrinterStatus] = {
    "OPERATIONAL": PrinterStatus.IDLE,
    "PRINTING": PrinterStatus.PRINTING,
    "STARTING": PrinterStatus.PRINTING,
    "RESUMING": PrinterStatus.PRINTING,
    "FINISHING": PrinterStatus.PRINTING,
    "PAUSED": PrinterStatus.PAUSED,
    "PAUSING": PrinterStatus.BUSY,
    "CANCELLING": PrinterStatus.BUSY,
    "OPEN_SERIAL": PrinterStatus.BUSY,
    "DETECT_SERIAL": PrinterStatus.BUSY,
    "DETECT_BAUDRATE": PrinterStatus.BUSY,
    "CONNECTING": PrinterStatus.BUSY,
    "TRANSFERING_FILE": PrinterStatus.BUSY,
    "OFFLINE": PrinterStatus.OFFLINE,
    "CLOSED": PrinterStatus.OFFLINE,
    "ERROR": PrinterStatus.ERROR,
    "CLOSED_WITH_ERROR": PrinterStatus.ERROR,
}
_JOB_KEPT = (PrinterStatus.PRINTING, PrinterStatus.PAUSED, PrinterStatus.BUSY)


def _file_name(data: dict[str, Any], where: str) -> str:
    name = data.get("path") or data.get("name")
    if not isinstance(name, str) or not name:
        raise MessageError(f"{where}: no file path")
    return name


def _with_elapsed(state: PrinterState, ts: float) -> JobProgress | None:
    """The job with elapsed time advanced to ``ts`` (only time spent printing counts)."""
    job = state.job
    if job is None or job.elapsed_s is None or state.status is not PrinterStatus.PRINTING:
        return job
    return JobProgress(
        job.file_name, job.fraction, job.elapsed_s + max(0.0, ts - state.observed_ts), job.remaining_s
    )


def _event(state: PrinterState, name: str, data: dict[str, Any], ts: float) -> dict[str, Any] | None:
    """The field changes an event implies, or ``None`` when it changes nothing."""
    where = f"event/{name}"
    if name == "PrinterStateChanged":
        state_id = data.get("state_id")
        if not isinstance(state_id, str):
            raise MessageError(f"{where}: state_id missing")
        status = _STATE_IDS.get(state_id)
        if status is None:
            return None
        if status is PrinterStatus.IDLE:
            if state.status is PrinterStatus.FINISHED:
                return None
            return {"status": status, "job": None, "error": None}
        if status is PrinterStatus.OFFLINE:
            return {"status": status, "job": None, "temps": (), "error": None}
        if status in (PrinterStatus.PRINTING, PrinterStatus.PAUSED) and (
            state.status not in _JOB_KEPT or state.job is None
        ):
            return None  # a print is starting: wait for PrintStarted, which names the file
        if status is PrinterStatus.ERROR:
            text = data.get("state_string")
            error = state.error if state.status is PrinterStatus.ERROR and state.error else text
            return {
                "status": status,
                "job": None,
                "error": error if isinstance(error, str) else "printer error",
            }
        return {
            "status": status,
            "job": _with_elapsed(state, ts) if status in _JOB_KEPT else None,
            "error": None,
        }
    if name == "PrintStarted":
        return {
            "status": PrinterStatus.PRINTING,
            "job": JobProgress(_file_name(data, where), 0.0, 0.0, None),
            "error": None,
        }
    if name == "PrintDone":
        elapsed = _number(data, "time", where)
        return {
            "status": PrinterStatus.FINISHED,
            "job": JobProgress(_file_name(data, where), 1.0, elapsed, 0.0),
            "error": None,
        }
    if name == "PrintCancelled" or (name == "PrintFailed" and data.get("reason") == "cancelled"):
        # the job is gone, but OctoPrint is still cancelling until PrinterStateChanged(OPERATIONAL)
        status = PrinterStatus.BUSY if state.status in _JOB_KEPT else state.status
        return {"status": status, "job": None}
    if name == "PrintCancelling":
        return {"status": PrinterStatus.BUSY, "job": _with_elapsed(state, ts)}
    if name == "PrintPaused":
        return {"status": PrinterStatus.PAUSED, "job": _with_elapsed(state, ts)}
    if name == "PrintResumed":
        return {"status": PrinterStatus.PRINTING}
    if name == "Error":
        error = data.get("error")
        return {
            "status": PrinterStatus.ERROR,
            "job": None,
            "error": error if isinstance(error, str) and error else "printer error",
        }
    if name in ("Disconnected", "Shutdown"):
        return {"status": PrinterStatus.OFFLINE, "job": None, "temps": (), "error": None}
    if name == "FileDeselected" and state.status is PrinterStatus.FINISHED:
        # (not FileSelected: it comes just before PrintStarted, and IDLE in between would look like a
        # print that stopped; a selection without printing shows as IDLE at the next REST poll)
        return {"status": PrinterStatus.IDLE, "job": None}
    return None


def _progress(state: PrinterState, name: str, data: dict[str, Any], ts: float) -> dict[str, Any] | None:
    where = f"progress/{name}"
    if name != "printing":
        return None  # e.g. progress/slicing
    percent = _number(data, "progress", where, required=True)
    path = data.get("path")
    if not isinstance(path, str):
        raise MessageError(f"{where}: path missing")
    if not path or state.status not in _JOB_KEPT:
        return None  # the reset message, or progress without a running print
    fraction = min(max((percent or 0.0) / 100.0, 0.0), 1.0)
    job = _with_elapsed(state, ts)
    elapsed = job.elapsed_s if job is not None and job.file_name == path else None
    remaining = None
    printer_data = data.get("printer_data")
    if isinstance(printer_data, dict) and isinstance(printer_data.get("progress"), dict):
        elapsed = _number(printer_data["progress"], "printTime", where) or elapsed
        remaining = _number(printer_data["progress"], "printTimeLeft", where)
    if remaining is None and elapsed is not None and fraction >= 0.02:
        remaining = elapsed * (1.0 - fraction) / fraction
    return {"job": JobProgress(path, fraction, elapsed, remaining)}


def _temperature(state: PrinterState, name: str, data: dict[str, Any]) -> dict[str, Any] | None:
    where = f"temperature/{name}"
    actual = _number(data, "actual", where)
    target = _number(data, "target", where)
    if actual is None and target is None:
        raise MessageError(f"{where}: neither actual nor target")
    if state.status is PrinterStatus.OFFLINE:
        return None  # e.g. retained readings of a printer that is down
    return {"temps": state.with_temp(Temperature(name, actual, target))}


def apply_message(state: PrinterState, message: Message) -> PrinterState | None:
    """The state after ``message``, or ``None`` when it changes nothing.

    The caller checks staleness first; ``observed_at`` never moves backwards here.

    Raises:
        MessageError: the payload does not fit its topic.
    """
    observed_at = max(state.observed_at, from_epoch(message.ts))
    if message.kind is Kind.WILL:
        if message.payload == "disconnected":
            return offline_state(
                state.printer_id,
                observed_at=observed_at,
                source=StateSource.MQTT,
                reason="OctoPrint lost its broker connection (last will)",
            )
        return None
    assert isinstance(message.payload, dict)
    if message.kind is Kind.EVENT:
        changes = _event(state, message.name, message.payload, message.ts)
    elif message.kind is Kind.PROGRESS:
        changes = _progress(state, message.name, message.payload, message.ts)
    else:
        changes = _temperature(state, message.name, message.payload)
    if changes is None:
        return None
    return state.evolve(**changes, observed_at=observed_at, source=StateSource.MQTT)


def unknown_state(printer_id: str) -> PrinterState:
    """The state before anything is known: OFFLINE, observed at the epoch (anything newer replaces it)."""
    return offline_state(
        printer_id,
        observed_at=dt.datetime.fromtimestamp(0, dt.UTC),
        source=StateSource.WATCHDOG,
        reason="no status yet",
    )
