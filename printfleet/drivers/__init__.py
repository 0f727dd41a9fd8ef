"""Printer drivers: one small interface, one frozen PrinterState per protocol.

``DRIVERS`` maps the fleet file's ``driver:`` value to a driver class; :func:`create_driver` builds the
driver for one configured printer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from printfleet.drivers.base import (
    AuthFailed,
    BadResponse,
    Capability,
    DriverError,
    PrinterBusy,
    PrinterDriver,
    PrinterOffline,
    Rejected,
    Unsupported,
)
from printfleet.drivers.octoprint import OctoPrintDriver
from printfleet.drivers.simulated import SimulatedDriver
from printfleet.errors import ConfigError

if TYPE_CHECKING:
    from printfleet.config import PrinterConfig
    from printfleet.settings import Settings

DRIVERS: dict[str, type[OctoPrintDriver]] = {
    "octoprint": OctoPrintDriver,
    "simulated": SimulatedDriver,
}


def create_driver(printer: PrinterConfig, settings: Settings | None = None) -> PrinterDriver:
    """The driver for one printer of the fleet file.

    Args:
        printer: the printer's configuration.
        settings: process settings (the simulated driver reads ``sim_url``); defaults apply when omitted.

    Raises:
        ConfigError: unknown driver, or its API-key variable is not set.
    """
    name = str(getattr(printer.driver, "value", printer.driver))
    try:
        driver_cls = DRIVERS[name]
    except KeyError:
        raise ConfigError(
            f"printer {printer.id}: unknown driver {name!r} (use one of: {', '.join(sorted(DRIVERS))})"
        ) from None
    return driver_cls.from_config(printer, settings)


__all__ = [
    "DRIVERS",
    "AuthFailed",
    "BadResponse",
    "Capability",
    "DriverError",
    "PrinterBusy",
    "PrinterDriver",
    "PrinterOffline",
    "Rejected",
    "Unsupported",
    "create_driver",
]
