"""One simulated OctoPrint printer: a state machine on a (possibly accelerated) clock. No I/O.

It answers the OctoPrint REST subset printfleet uses with OctoPrint's JSON shapes and state strings,
and reports what happened as OctoPrint-MQTT messages ``(subtopic, payload, retain)`` for the server to
publish. Like OctoPrint it keeps a per-file record of prints (``prints.success``/``prints.failure``).
After a successful print the file stays selected with completion 100 and the printer "Operational":
drivers report that as FINISHED until another file is selected or started.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

AMBIENT_C = 21.3
HEAT_RATE_C_PER_S = 10.0
DEFAULT_TOOL_C = 215.0
DEFAULT_BED_C = 60.0

_PRUSA_TIME = re.compile(r";\s*estimated printing time \(normal mode\)\s*=\s*(.+)")
_CURA_TIME = re.compile(r";TIME:(\d+(?:\.\d+)?)")
_SIM_TIME = re.compile(r";\s*PRINTFLEET_SIM_SECONDS\s*=\s*(\d+(?:\.\d+)?)")
_DURATION_PART = re.compile(r"(\d+)\s*([dhms])")
_TEMP = re.compile(r"^M(104|109|140|190)\b.*?\bS(\d+(?:\.\d+)?)", re.MULTILINE)


class SimError(Exception):
    """A request the simulated OctoPrint refuses, with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FaultKind(StrEnum):
    """Scripted faults."""

    ERROR = "error"  # firmware error at ``at_fraction`` of the next print (Offline after error)
    OFFLINE = "offline"  # the host goes away (REST 503, MQTT last will) now or at ``at_fraction``
    ONLINE = "online"  # the host comes back
    REFUSE_START = "refuse_start"  # the next ``count`` starts are answered 409
    DISCONNECT = "disconnect"  # the serial link drops (OctoPrint up, printer Offline)


@dataclass
class Fault:
    """One scripted fault of one printer."""

    kind: FaultKind
    at_fraction: float | None = None
    count: int = 1
    duration_s: float | None = None  # OFFLINE: real seconds until it comes back by itself

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """From ``{"kind": ..., "at_fraction": ..., "count": ..., "duration_s": ...}``.

        Raises:
            ValueError: unknown kind or bad values.
        """
        kind = FaultKind(str(data.get("kind")))
        at = data.get("at_fraction")
        if at is not None and not 0.0 <= float(at) <= 1.0:
            raise ValueError("at_fraction must be between 0 and 1")
        duration = data.get("duration_s")
        return cls(
            kind,
            None if at is None else float(at),
            int(data.get("count", 1)),
            None if duration is None else float(duration),
        )


def estimate_seconds(gcode: str) -> float:
    """How long a file prints: a ``PRINTFLEET_SIM_SECONDS``, PrusaSlicer or Cura comment, else ~0.05 s per move."""
    for pattern in (_SIM_TIME, _CURA_TIME):
        match = pattern.search(gcode)
        if match:
            return max(0.1, float(match.group(1)))
    match = _PRUSA_TIME.search(gcode)
    if match:
        units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
        total = sum(int(n) * units[u] for n, u in _DURATION_PART.findall(match.group(1)))
        if total > 0:
            return float(total)
    moves = sum(1 for line in gcode.splitlines() if line.startswith(("G0", "G1", "G2", "G3")))
    return max(5.0, moves * 0.05)


def target_temps(gcode: str) -> tuple[float, float]:
    """The first tool and bed temperatures a file sets (defaults when it sets none)."""
    tool = bed = None
    for match in _TEMP.finditer(gcode[:200_000]):
        value = float(match.group(2))
        if match.group(1) in ("104", "109") and tool is None:
            tool = value
        elif match.group(1) in ("140", "190") and bed is None:
            bed = value
    return (DEFAULT_TOOL_C if tool is None else tool), (DEFAULT_BED_C if bed is None else bed)


@dataclass
class SimFile:
    """An uploaded file and its print record."""

    name: str
    size: int
    date: int
    estimate_s: float
    tool_c: float
    bed_c: float
    success: int = 0
    failure: int = 0
    last: dict[str, Any] | None = None

    def to_api(self) -> dict[str, Any]:
        """OctoPrint's file entry."""
        prints: dict[str, Any] = {"success": self.success, "failure": self.failure}
        if self.last is not None:
            prints["last"] = self.last
        return {
            "name": self.name,
            "display": self.name,
            "path": self.name,
            "origin": "local",
            "type": "machinecode",
            "typePath": ["machinecode", "gcode"],
            "size": self.size,
            "date": self.date,
            "gcodeAnalysis": {"estimatedPrintTime": self.estimate_s},
            "prints": prints,
            "refs": {"resource": f"/api/files/local/{self.name}"},
        }

    def to_record(self) -> dict[str, Any]:
        """For the simulator's state file."""
        return {
            "name": self.name,
            "size": self.size,
            "date": self.date,
            "estimate_s": self.estimate_s,
            "tool_c": self.tool_c,
            "bed_c": self.bed_c,
            "success": self.success,
            "failure": self.failure,
            "last": self.last,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> SimFile:
        """From :meth:`to_record`."""
        return cls(
            **{
                k: data[k]
                for k in (
                    "name",
                    "size",
                    "date",
                    "estimate_s",
                    "tool_c",
                    "bed_c",
                    "success",
                    "failure",
                    "last",
                )
            }
        )


Publish = tuple[str, dict[str, Any] | str, bool]


@dataclass
class SimPrinter:
    """One simulated printer; ``speed`` multiplies print and heating time."""

    printer_id: str
    speed: float = 1.0
    api_key: str | None = None
    files: dict[str, SimFile] = field(default_factory=dict)
    state: str = "Operational"  # OctoPrint's state string
    host_up: bool = True
    selected: str | None = None
    progress_s: float = 0.0  # simulated seconds printed of the selected file
    completion: float | None = None  # percent, as in /api/job
    error: str | None = None
    tool: tuple[float, float] = (AMBIENT_C, 0.0)  # actual, target
    bed: tuple[float, float] = (AMBIENT_C, 0.0)
    faults: list[Fault] = field(default_factory=list)
    refuse_starts: int = 0
    offline_until: float | None = None
    dirty: bool = False  # the file records changed since the last save
    _out: list[Publish] = field(default_factory=list)
    _last_percent: int = -1

    # ------------------------------------------------------------ helpers

    def drain(self) -> list[Publish]:
        """Messages produced since the last call."""
        out, self._out = self._out, []
        return out

    def _event(self, event: str, /, **payload: Any) -> None:
        payload["_event"] = event
        self._out.append((f"event/{event}", payload, False))

    def _set_state(self, text: str, state_id: str) -> None:
        self.state = text
        self._event("PrinterStateChanged", state_id=state_id, state_string=text)

    def _file_payload(self) -> dict[str, Any]:
        file = self.files.get(self.selected or "")
        return {
            "name": self.selected,
            "path": self.selected,
            "origin": "local",
            "size": file.size if file else 0,
        }

    @property
    def operational(self) -> bool:
        """Connected and not in error."""
        return self.state in ("Operational", "Printing", "Paused", "Pausing", "Cancelling")

    @property
    def printing(self) -> bool:
        """A job is active (printing or paused)."""
        return self.state in ("Printing", "Paused", "Pausing")

    def check_reachable(self) -> None:
        """Raises: SimError: 503 while the simulated host is down."""
        if not self.host_up:
            raise SimError(503, "printer host unreachable (simulated)")

    def check_key(self, given: str | None) -> None:
        """Raises: SimError: 403 for a wrong or missing key when the printer has one."""
        if self.api_key is not None and given != self.api_key:
            raise SimError(403, "Invalid API key")

    # ------------------------------------------------------------ REST answers

    def job_json(self) -> dict[str, Any]:
        """``GET /api/job``."""
        file = self.files.get(self.selected or "")
        estimate = file.estimate_s if file else None
        active = self.printing or self.state == "Cancelling"
        left = max(0.0, estimate - self.progress_s) if (estimate is not None and active) else None
        if self.completion is not None and self.completion >= 100:
            left = 0.0
        answer: dict[str, Any] = {
            "job": {
                "file": {
                    "name": self.selected,
                    "path": self.selected,
                    "display": self.selected,
                    "origin": "local" if self.selected else None,
                    "size": file.size if file else None,
                    "date": file.date if file else None,
                },
                "estimatedPrintTime": estimate,
                "averagePrintTime": None,
                "lastPrintTime": None,
                "filament": None,
                "user": None,
            },
            "progress": {
                "completion": self.completion,
                "filepos": None,
                "printTime": round(self.progress_s) if self.completion is not None else None,
                "printTimeLeft": None if left is None else round(left),
                "printTimeLeftOrigin": "estimate" if left is not None else None,
            },
            "state": self.state,
        }
        if self.error:
            answer["error"] = self.error
        return answer

    def printer_json(self) -> dict[str, Any]:
        """``GET /api/printer``.

        Raises:
            SimError: 409 when the printer is not operational (as OctoPrint).
        """
        if not self.operational:
            raise SimError(409, "Printer is not operational")
        flags = {
            "operational": True,
            "printing": self.state == "Printing",
            "paused": self.state == "Paused",
            "pausing": self.state == "Pausing",
            "cancelling": self.state == "Cancelling",
            "resuming": False,
            "finishing": False,
            "closedOrError": False,
            "error": False,
            "ready": self.state == "Operational",
            "sdReady": False,
        }
        return {
            "state": {"text": self.state, "flags": flags, "error": ""},
            "temperature": {
                "tool0": {"actual": round(self.tool[0], 2), "target": self.tool[1], "offset": 0},
                "bed": {"actual": round(self.bed[0], 2), "target": self.bed[1], "offset": 0},
            },
        }

    def connection_json(self) -> dict[str, Any]:
        """``GET /api/connection``."""
        state = "Closed" if self.state == "Offline" else self.state
        return {
            "current": {"state": state, "port": "VIRTUAL", "baudrate": 115200, "printerProfile": "_default"},
            "options": {"ports": ["VIRTUAL"], "baudrates": [115200], "portPreference": "VIRTUAL"},
        }

    def files_json(self) -> dict[str, Any]:
        """``GET /api/files``."""
        return {
            "files": [f.to_api() for f in sorted(self.files.values(), key=lambda f: f.name)],
            "free": 10**10,
            "total": 10**11,
        }

    def file_json(self, name: str) -> dict[str, Any]:
        """``GET /api/files/local/<name>``.

        Raises:
            SimError: 404 for an unknown file.
        """
        if name not in self.files:
            raise SimError(404, "File not found")
        return self.files[name].to_api()

    # ------------------------------------------------------------ commands

    def upload(self, name: str, data: bytes) -> dict[str, Any]:
        """Store a G-code file (its content is analysed, not kept).

        Raises:
            SimError: 415 for anything but G-code; 409 when overwriting the file being printed.
        """
        name = name.replace("/", "_").strip()
        if not name.lower().endswith((".gcode", ".gco", ".g")):
            raise SimError(415, "Could not upload file, invalid type")
        if self.printing and name == self.selected:
            raise SimError(409, "Trying to overwrite file that is currently being printed")
        text = data.decode("utf-8", errors="replace")
        tool_c, bed_c = target_temps(text)
        old = self.files.get(name)
        self.files[name] = SimFile(
            name,
            len(data),
            int(time.time()),
            estimate_seconds(text),
            tool_c,
            bed_c,
            old.success if old else 0,
            old.failure if old else 0,
            old.last if old else None,
        )
        self.dirty = True
        self._event("Upload", name=name, path=name, target="local")
        self._event("FileAdded", storage="local", path=name, name=name, type=["machinecode", "gcode"])
        return {
            "done": True,
            "files": {"local": {"name": name, "path": name, "origin": "local"}},
            "effectiveSelect": False,
            "effectivePrint": False,
        }

    def delete(self, name: str) -> None:
        """Delete a file.

        Raises:
            SimError: 404 unknown, 409 when it is being printed.
        """
        if name not in self.files:
            raise SimError(404, "File not found")
        if self.printing and self.selected == name:
            raise SimError(409, "Trying to delete a file that is currently being printed")
        del self.files[name]
        self.dirty = True

    def select(self, name: str, *, start: bool) -> None:
        """Select a file, optionally printing it.

        Raises:
            SimError: 404 unknown file; 409 not operational or already printing.
        """
        if name not in self.files:
            raise SimError(404, f"File not found on 'local': {name}")
        if not self.operational:
            raise SimError(409, "Printer is not operational, cannot select a new file")
        if self.printing or self.state == "Cancelling":
            raise SimError(409, "Printer is already printing, cannot select a new file")
        self.selected, self.progress_s, self.completion = name, 0.0, None
        self._event("FileSelected", name=name, path=name, origin="local")
        if start:
            self.start()

    def start(self) -> None:
        """Start the selected file.

        Raises:
            SimError: 409 when not operational, printing, nothing selected, or a scripted refusal.
        """
        if not self.operational or self.printing or self.state == "Cancelling":
            raise SimError(
                409,
                "Printer is not ready to print" if not self.operational else "Printer is already printing",
            )
        if self.selected is None:
            raise SimError(409, "No file selected")
        if self.refuse_starts > 0:
            self.refuse_starts -= 1
            raise SimError(409, "Printer refused to start (simulated)")
        file = self.files[self.selected]
        self.progress_s, self.completion, self.error = 0.0, 0.0, None
        self.tool, self.bed = (self.tool[0], file.tool_c), (self.bed[0], file.bed_c)
        self._last_percent = 0
        self._set_state("Printing", "PRINTING")
        self._event("PrintStarted", **self._file_payload())
        self._out.append(
            ("progress/printing", {"location": "local", "path": self.selected, "progress": 0}, True)
        )

    def pause(self, action: str = "pause") -> None:
        """pause / resume / toggle.

        Raises:
            SimError: 409 when nothing is printing or paused.
        """
        if not self.printing:
            raise SimError(
                409, f"Printer is neither printing nor paused, '{action}' command cannot be performed"
            )
        if action == "toggle":
            action = "resume" if self.state == "Paused" else "pause"
        if action == "pause" and self.state == "Printing":
            self._set_state("Paused", "PAUSED")
            self._event("PrintPaused", **self._file_payload())
        elif action == "resume" and self.state == "Paused":
            self._set_state("Printing", "PRINTING")
            self._event("PrintResumed", **self._file_payload())

    def cancel(self) -> None:
        """Cancel the active print (a failure in the file's record, like OctoPrint).

        Raises:
            SimError: 409 when there is no active job.
        """
        if not self.printing:
            raise SimError(
                409, "Printer is neither printing nor paused, 'cancel' command cannot be performed"
            )
        self._set_state("Cancelling", "CANCELLING")
        self._event("PrintCancelling", **self._file_payload())
        self._end_print(success=False, reason="cancelled")
        self._event(
            "PrintCancelled", **self._file_payload(), reason="cancelled", time=round(self.progress_s, 2)
        )
        self._event("PrintFailed", **self._file_payload(), reason="cancelled", time=round(self.progress_s, 2))
        self.completion, self.progress_s = None, 0.0
        self._set_state("Operational", "OPERATIONAL")

    def connect(self) -> None:
        """Connect the serial link (recovers from errors)."""
        if self.operational:
            return
        self.error = None
        self._event("Connecting")
        self._set_state("Operational", "OPERATIONAL")
        self._event("Connected", port="VIRTUAL", baudrate=115200)

    def disconnect(self) -> None:
        """Drop the serial link (an active print fails)."""
        if self.printing:
            self._end_print(success=False, reason="error")
        self.completion = None
        self._set_state("Offline", "OFFLINE")
        self._event("Disconnected")
        self.tool, self.bed = (self.tool[0], 0.0), (self.bed[0], 0.0)

    def gcode(self, command: str) -> None:
        """``POST /api/printer/command``: only OctoPrint's Virtual Printer debug command for a firmware error.

        Raises:
            SimError: 409 when not operational.
        """
        if not self.operational:
            raise SimError(409, "Printer is not operational")
        if command.strip() == "!!DEBUG:trigger_fatal_error_marlin":
            self.firmware_error(
                "Thermal Runaway, system stopped! Heater_ID: bed - Printer halted. kill() called!"
            )

    # ------------------------------------------------------------ faults

    def add_fault(self, fault: Fault, now: float) -> None:
        """Apply or schedule a fault (``now`` is real monotonic time)."""
        if fault.kind is FaultKind.REFUSE_START:
            self.refuse_starts += max(1, fault.count)
        elif fault.kind is FaultKind.DISCONNECT:
            self.disconnect()
        elif fault.kind is FaultKind.ONLINE:
            self.go_online()
        elif fault.at_fraction is None and fault.kind is FaultKind.OFFLINE:
            self.go_offline(now, fault.duration_s)
        elif fault.at_fraction is None and fault.kind is FaultKind.ERROR:
            self.firmware_error("Printer halted (simulated error)")
        else:
            self.faults.append(fault)

    def firmware_error(self, text: str) -> None:
        """A firmware error: the print fails and the printer ends "Offline after error"."""
        was_printing = self.printing
        self.error = text
        self._event("Error", error=text, reason="firmware")
        if was_printing:
            self._end_print(success=False, reason="error")
            self._event("PrintFailed", **self._file_payload(), reason="error", time=round(self.progress_s, 2))
        self.completion = None
        self._set_state("Offline after error", "CLOSED_WITH_ERROR")
        self.tool, self.bed = (self.tool[0], 0.0), (self.bed[0], 0.0)

    def go_offline(self, now: float, duration_s: float | None) -> None:
        """The host disappears: its print fails, REST answers 503, MQTT publishes the last will."""
        if not self.host_up:
            return
        if self.printing:
            self._end_print(success=False, reason="error")
        self.completion, self.progress_s = None, 0.0
        self.host_up = False
        self.offline_until = None if duration_s is None else now + duration_s
        self._out.append(("mqtt", "disconnected", True))

    def go_online(self) -> None:
        """The host comes back, freshly started: connected and Operational, nothing selected."""
        if self.host_up:
            return
        self.host_up, self.offline_until = True, None
        self.state, self.selected, self.error = "Operational", None, None
        self.tool, self.bed = (AMBIENT_C, 0.0), (AMBIENT_C, 0.0)
        self._out.append(("mqtt", "connected", True))
        self._out.append(("progress/printing", {"location": "", "path": "", "progress": 0}, True))
        self._set_state("Operational", "OPERATIONAL")

    def _end_print(self, *, success: bool, reason: str | None) -> None:
        file = self.files.get(self.selected or "")
        if file is None:
            return
        if success:
            file.success += 1
        else:
            file.failure += 1
        file.last = {"date": time.time(), "success": success, "printTime": round(self.progress_s, 2)}
        self.dirty = True

    # ------------------------------------------------------------ time

    def tick(self, dt_real: float, now: float) -> None:
        """Advance by ``dt_real`` real seconds (``now``: real monotonic time)."""
        if not self.host_up:
            if self.offline_until is not None and now >= self.offline_until:
                self.go_online()
            return
        sim_dt = dt_real * self.speed
        self.tool = (_approach(self.tool[0], self.tool[1], sim_dt), self.tool[1])
        self.bed = (_approach(self.bed[0], self.bed[1], sim_dt), self.bed[1])
        if self.state != "Printing":
            return
        file = self.files[self.selected or ""]
        self.progress_s = min(file.estimate_s, self.progress_s + sim_dt)
        fraction = self.progress_s / file.estimate_s
        for fault in list(self.faults):
            if fault.at_fraction is not None and fraction >= fault.at_fraction:
                self.faults.remove(fault)
                if fault.kind is FaultKind.ERROR:
                    self.firmware_error("Printer halted (simulated error)")
                elif fault.kind is FaultKind.OFFLINE:
                    self.go_offline(now, fault.duration_s)
                return
        self.completion = fraction * 100.0
        percent = int(self.completion)
        if percent != self._last_percent:
            self._last_percent = percent
            self._out.append(
                ("progress/printing", {"location": "local", "path": self.selected, "progress": percent}, True)
            )
        if self.progress_s >= file.estimate_s:
            self.completion = 100.0
            self._end_print(success=True, reason=None)
            self._event("PrintDone", **self._file_payload(), time=round(self.progress_s, 2))
            self.tool, self.bed = (self.tool[0], 0.0), (self.bed[0], 0.0)
            self._set_state("Operational", "OPERATIONAL")

    def temperature_messages(self) -> list[Publish]:
        """The current readings in the ``temperature/<heater>`` layout (with sensor jitter)."""
        out: list[Publish] = []
        for heater, (actual, target) in (("tool0", self.tool), ("bed", self.bed)):
            out.append(
                (
                    f"temperature/{heater}",
                    {"actual": round(actual + random.uniform(-0.15, 0.15), 2), "target": target},
                    True,
                )
            )
        return out


def _approach(actual: float, target: float, sim_dt: float) -> float:
    goal = target if target > 0 else AMBIENT_C
    step = HEAT_RATE_C_PER_S * sim_dt
    if abs(goal - actual) <= step:
        return goal
    return actual + step if goal > actual else actual - step
