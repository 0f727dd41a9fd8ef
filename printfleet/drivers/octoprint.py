"""The OctoPrint driver, on octorest (tested against OctoPrint 1.11.8).

octorest 0.4 quirks handled here:

* ``upload(select=True, print=True)`` silently ignores both flags, so :meth:`OctoPrintDriver.start` is a
  separate ``select(name, print=True)``;
* its constructor calls ``/api/version`` when given a key, so the key goes on our own session instead;
* it raises bare ``RuntimeError``/``requests`` errors and sets no timeouts: our :class:`DriverSession`
  answers every failure with a typed error and a timeout before octorest sees it.

The API key is a ``SecretStr`` until it goes into the ``X-Api-Key`` header; it is never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from octorest import OctoRest
from pydantic import SecretStr

from printfleet.drivers.base import (
    BadResponse,
    Capability,
    DriverError,
    OfflineLog,
    PrinterBusy,
    PrinterOffline,
    require,
)
from printfleet.drivers.http import DEFAULT_TIMEOUT_S, DriverSession
from printfleet.drivers.octoprint_parse import ParseError, state_from_api
from printfleet.state import PrinterState, PrinterStatus, StateSource, utcnow

if TYPE_CHECKING:
    from printfleet.config import PrinterConfig
    from printfleet.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

ALL_CAPABILITIES = frozenset(Capability)
#: seconds between two automatic serial reconnects of one printer
RECONNECT_INTERVAL_S = 30.0


class OctoPrintDriver:
    """One printer behind OctoPrint's REST API.

    Args:
        printer_id: the fleet id (used in errors and logs).
        url: OctoPrint's base URL.
        api_key: an application or user key (never the global one).
        auto_connect: reconnect the serial port from :meth:`state` when OctoPrint is up but the printer
            is not (not after a firmware error: that stays visible as ERROR until :meth:`connect`).
    """

    capabilities: frozenset[Capability] = ALL_CAPABILITIES
    source = StateSource.REST

    def __init__(
        self,
        printer_id: str,
        url: str,
        api_key: SecretStr | None,
        *,
        timeout_s: tuple[float, float] = DEFAULT_TIMEOUT_S,
        auto_connect: bool = True,
        reconnect_interval_s: float = RECONNECT_INTERVAL_S,
    ) -> None:
        self.printer_id = printer_id
        self.url = url.rstrip("/")
        self.auto_connect = auto_connect
        self.reconnect_interval_s = reconnect_interval_s
        self._session = DriverSession(printer_id, timeout_s=timeout_s)
        if api_key is not None:
            self._session.headers["X-Api-Key"] = api_key.get_secret_value()
        self._offline = OfflineLog(printer_id, logger)
        self._last_reconnect_at = float("-inf")
        self._client: Any = None

    @classmethod
    def from_config(cls, printer: PrinterConfig, settings: Settings | None = None) -> OctoPrintDriver:
        """Build the driver for one fleet printer.

        Raises:
            ConfigError: its API-key variable is not set.
        """
        assert printer.url is not None  # the fleet config requires it for octoprint printers
        return cls(printer.id, printer.url, printer.api_key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.printer_id!r}, {self.url!r})"

    # ------------------------------------------------------------ plumbing

    def _make_client(self) -> Any:
        return OctoRest(url=self.url, session=self._session)

    @property
    def client(self) -> Any:
        """The underlying octorest client (created on first use; it sends no request itself)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one library call, translating whatever it raises at this boundary."""
        try:
            result = fn()
        except PrinterOffline as exc:
            self._offline.offline(exc.detail)
            raise
        except DriverError:
            self._offline.online()
            raise
        except (ValueError, KeyError, TypeError) as exc:  # JSON decode errors and odd shapes
            self._offline.online()
            raise BadResponse(self.printer_id, f"{what}: unreadable answer ({type(exc).__name__})") from None
        except RuntimeError as exc:  # octorest's own non-2xx error; our session should have raised first
            raise BadResponse(self.printer_id, f"{what}: {str(exc).split(':')[0]}") from None
        except requests.RequestException as exc:
            raise DriverError(self.printer_id, f"{what}: {type(exc).__name__}") from None
        self._offline.online()
        return result

    # ------------------------------------------------------------ state

    def state(self) -> PrinterState:
        """The printer's state from ``/api/job`` and ``/api/printer``.

        Raises:
            PrinterOffline: OctoPrint cannot be reached.
            AuthFailed: the key was refused.
            BadResponse: HTML, a server error or malformed JSON.
        """
        # Stamped when the question is sent: the answer is at least that new. A stamp taken after the answer
        # came back (late, on a busy machine) would make an MQTT event from the same moment look older
        # than it, and drop it: a PrintStarted lost that way left a job looking stopped.
        observed_at = utcnow()
        job_json = self._call("GET /api/job", self.client.job_info)
        printer_json = None
        try:
            printer_json = self._call("GET /api/printer", lambda: self.client.printer(exclude=["sd"]))
        except PrinterBusy:
            printer_json = None  # 409: the printer is not operational; job_json says why
        try:
            state = state_from_api(
                self.printer_id,
                job_json=job_json,
                printer_json=printer_json,
                observed_at=observed_at,
                source=self.source,
            )
        except ParseError as exc:
            raise BadResponse(self.printer_id, str(exc)) from None
        if state.status is PrinterStatus.OFFLINE and self.auto_connect:
            self._maybe_reconnect()
        return state

    def _maybe_reconnect(self) -> None:
        now = time.monotonic()
        if now - self._last_reconnect_at < self.reconnect_interval_s:
            return
        self._last_reconnect_at = now
        logger.info("printer %s: host is up but the printer is not connected; reconnecting", self.printer_id)
        try:
            self.connect()
        except DriverError as exc:
            logger.warning("printer %s: reconnect failed: %s", self.printer_id, exc.detail)

    # ------------------------------------------------------------ operations

    def upload(self, path: Path, remote_name: str | None = None) -> str:
        """Upload a G-code file to OctoPrint's local storage; returns its stored path.

        Raises:
            Rejected: OctoPrint refused the file (e.g. 415 for anything but G-code).
        """
        require(self, Capability.UPLOAD)
        path = Path(path)
        name = remote_name or path.name

        def do() -> Any:
            with path.open("rb") as handle:
                return self.client.upload((name, handle))

        answer = self._call(f"upload {name}", do)
        try:
            return str(answer["files"]["local"]["path"])
        except (KeyError, TypeError):
            return name

    def start(self, remote_name: str) -> None:
        """Select ``remote_name`` and print it (octorest's upload flags do not work, so always this way).

        Raises:
            PrinterBusy: not operational or already printing.
            Rejected: no such file.
        """
        require(self, Capability.START)
        self._call(f"start {remote_name}", lambda: self.client.select(remote_name, print=True))

    def pause(self) -> None:
        """Pause the current print (no-op when already paused).

        Raises:
            PrinterBusy: nothing is printing.
        """
        require(self, Capability.PAUSE)
        self._call("pause", self.client.pause)

    def resume(self) -> None:
        """Resume a paused print.

        Raises:
            PrinterBusy: nothing is paused.
        """
        require(self, Capability.RESUME)
        self._call("resume", self.client.resume)

    def cancel(self) -> None:
        """Cancel the current print.

        Raises:
            PrinterBusy: nothing is printing or paused.
        """
        require(self, Capability.CANCEL)
        self._call("cancel", self.client.cancel)

    def connect(self) -> None:
        """Connect OctoPrint to the printer with its saved port and baud rate (recovers from errors)."""
        require(self, Capability.CONNECT)
        self._call("connect", self.client.connect)

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()


__all__ = ["OctoPrintDriver"]
