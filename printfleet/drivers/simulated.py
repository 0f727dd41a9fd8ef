"""The simulated driver: the OctoPrint driver pointed at ``printfleet sim`` over HTTP.

``printfleet sim`` serves every ``driver: simulated`` printer of the fleet file under
``<PRINTFLEET_SIM_URL>/printers/<id>/`` with the OctoPrint REST subset this driver uses, so workers and
monitors in any process see the same simulated printers. octorest only keeps scheme and host of a URL,
so a small client with the same method names replaces it here; everything else (state mapping, typed
errors, reconnecting) is the OctoPrint driver's.
"""

from __future__ import annotations

import logging
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from printfleet.drivers.http import DriverSession
from printfleet.drivers.octoprint import OctoPrintDriver

if TYPE_CHECKING:
    from printfleet.config import PrinterConfig
    from printfleet.settings import Settings

logger = logging.getLogger(__name__)


def sim_printer_url(sim_url: str, printer_id: str) -> str:
    """The base URL of one simulated printer."""
    return f"{sim_url.rstrip('/')}/printers/{printer_id}"


class PrefixClient:
    """The few octorest calls the driver makes, against a base URL that keeps its path."""

    def __init__(self, base_url: str, session: DriverSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session

    def _url(self, path: str) -> str:
        return self.base_url + path

    def job_info(self) -> Any:
        return self.session.get(self._url("/api/job")).json()

    def printer(self, *, exclude: list[str] | None = None) -> Any:
        params = {"exclude": ",".join(exclude)} if exclude else None
        return self.session.get(self._url("/api/printer"), params=params).json()

    def upload(self, file: tuple[str, IO[bytes]]) -> Any:
        name, handle = file
        return self.session.post(
            self._url("/api/files/local"), files={"file": (name, handle, "application/octet-stream")}
        ).json()

    def select(self, location: str, *, print: bool = False) -> None:
        self.session.post(
            self._url(f"/api/files/local/{quote(location)}"), json={"command": "select", "print": print}
        )

    def _job(self, command: str, **extra: Any) -> None:
        self.session.post(self._url("/api/job"), json={"command": command, **extra})

    def pause(self) -> None:
        self._job("pause", action="pause")

    def resume(self) -> None:
        self._job("pause", action="resume")

    def cancel(self) -> None:
        self._job("cancel")

    def connect(self) -> None:
        self.session.post(self._url("/api/connection"), json={"command": "connect"})


class SimulatedDriver(OctoPrintDriver):
    """A printer simulated by ``printfleet sim`` (same API, same states as OctoPrint)."""

    @classmethod
    def from_config(cls, printer: PrinterConfig, settings: Settings | None = None) -> SimulatedDriver:
        """Build the driver; the printer lives at ``<settings.sim_url>/printers/<id>``.

        Raises:
            ConfigError: the printer names an API-key variable that is not set.
        """
        from printfleet.settings import DEFAULT_SIM_URL

        sim_url = settings.sim_url if settings is not None else DEFAULT_SIM_URL
        return cls(printer.id, sim_printer_url(sim_url, printer.id), printer.api_key())

    def _make_client(self) -> Any:
        return PrefixClient(self.url, self._session)
