"""The driver interface: capabilities, operations and the few errors a driver may raise.

Drivers are synchronous (RQ workers, threads). Library exceptions are translated at the driver
boundary into the typed errors below; callers never see ``requests`` or ``octorest`` exceptions.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from printfleet.state import PrinterState

logger = logging.getLogger(__name__)


class Capability(StrEnum):
    """What a driver can do; operations outside its set raise :class:`Unsupported`."""

    STATE = "state"
    UPLOAD = "upload"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    CONNECT = "connect"
    TEMPERATURES = "temperatures"
    PROGRESS = "progress"


class DriverError(Exception):
    """A printer operation failed. The message never contains credentials."""

    def __init__(self, printer_id: str, message: str) -> None:
        super().__init__(f"printer {printer_id}: {message}")
        self.printer_id = printer_id
        self.detail = message


class PrinterOffline(DriverError):
    """The printer (or its host) cannot be reached."""


class AuthFailed(DriverError):
    """The printer's host refused our credentials."""


class PrinterBusy(DriverError):
    """The printer refused because of its current state (HTTP 409), e.g. already printing."""


class Rejected(DriverError):
    """The printer refused the request itself (bad file, unknown file, invalid command)."""


class BadResponse(DriverError):
    """The printer answered something we cannot read (HTML, a server error, malformed JSON)."""


class Unsupported(DriverError):
    """The driver does not declare the capability for this operation."""


@runtime_checkable
class PrinterDriver(Protocol):
    """One printer, as printfleet drives it."""

    printer_id: str
    capabilities: frozenset[Capability]

    def state(self) -> PrinterState:
        """The printer's state now.

        Raises:
            PrinterOffline: unreachable (logged once per outage, not per call).
            AuthFailed: credentials refused.
            BadResponse: unreadable answer.
        """
        ...

    def upload(self, path: Path, remote_name: str | None = None) -> str:
        """Upload a G-code file; returns the name the printer stores it under."""
        ...

    def start(self, remote_name: str) -> None:
        """Select an uploaded file and start printing it.

        Raises:
            PrinterBusy: the printer is not ready (printing, not operational).
            Rejected: no such file.
        """
        ...

    def pause(self) -> None:
        """Pause the current print."""
        ...

    def resume(self) -> None:
        """Resume a paused print."""
        ...

    def cancel(self) -> None:
        """Cancel the current print."""
        ...

    def connect(self) -> None:
        """(Re)connect the host to the printer, e.g. after a firmware error."""
        ...

    def close(self) -> None:
        """Release connections; the driver may not be used afterwards."""
        ...


class OfflineLog:
    """Logs a printer going offline once, and coming back once, instead of on every poll."""

    def __init__(self, printer_id: str, log: logging.Logger | None = None) -> None:
        self.printer_id = printer_id
        self.is_offline = False
        self._log = log or logger

    def offline(self, reason: str) -> None:
        """Record an offline observation; logs only the first of a row."""
        if not self.is_offline:
            self.is_offline = True
            self._log.warning("printer %s is offline: %s", self.printer_id, reason)

    def online(self) -> None:
        """Record a successful contact; logs only when it was offline before."""
        if self.is_offline:
            self.is_offline = False
            self._log.info("printer %s is reachable again", self.printer_id)


def require(driver: PrinterDriver, capability: Capability) -> None:
    """Raise :class:`Unsupported` unless ``driver`` declares ``capability``.

    Raises:
        Unsupported: it does not.
    """
    if capability not in driver.capabilities:
        raise Unsupported(driver.printer_id, f"the {type(driver).__name__} driver cannot {capability.value}")
