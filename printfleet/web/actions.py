"""The service functions behind the action routes (``printfleet.queue.actions``), plus fleet look-ups.

Routes check who may act; the service functions check the state machine, write the job events and
announce the change (printer commands are carried out by a worker, which holds the printers' API keys).
"""

from __future__ import annotations

from printfleet.config import FleetConfig, PrinterConfig
from printfleet.queue.actions import PrinterActionRefused, PrinterNotFound, printer_not_found

__all__ = ["PrinterActionRefused", "PrinterNotFound", "printer_config"]


def printer_config(fleet: FleetConfig, printer_id: str) -> PrinterConfig:
    """A printer of the fleet file.

    Raises:
        PrinterNotFound: no such printer.
    """
    try:
        return fleet.printer(printer_id)
    except KeyError:
        raise printer_not_found(printer_id) from None
