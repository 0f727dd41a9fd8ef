"""The ``printfleet sim`` command."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
import yaml

from printfleet.errors import ConfigError

logger = logging.getLogger(__name__)


def load_faults(path: Path, printer_ids: set[str]) -> list[tuple[str, dict[str, object]]]:
    """Read a fault script: a YAML list of ``{printer, kind, at_fraction?, count?, duration_s?}``.

    Raises:
        ConfigError: unreadable file, unknown printer or fault.
    """
    from printfleet.sim.printer import Fault

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the fault script ({exc})") from None
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: expected a list of faults")
    faults: list[tuple[str, dict[str, object]]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("printer") not in printer_ids:
            raise ConfigError(f"{path}: [{index}]: 'printer' must name a simulated printer of the fleet")
        spec = {k: v for k, v in item.items() if k != "printer"}
        try:
            Fault.from_dict(spec)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path}: [{index}]: {exc}") from None
        faults.append((str(item["printer"]), spec))
    return faults


def sim(
    speed: Annotated[
        float, typer.Option(help="time acceleration: simulated seconds per real second", min=0.01)
    ] = 1.0,
    port: Annotated[int | None, typer.Option(help="port (default: the one in PRINTFLEET_SIM_URL)")] = None,
    faults: Annotated[
        Path | None, typer.Option(help="YAML fault script: [{printer, kind, at_fraction, ...}]")
    ] = None,
    mqtt: Annotated[bool, typer.Option(help="publish status on the broker (OctoPrint-MQTT layout)")] = True,
    temp_interval: Annotated[float, typer.Option(help="seconds between temperature reports", min=0.05)] = 5.0,
) -> None:
    """Serve every `driver: simulated` printer of the fleet file (OctoPrint REST + MQTT)."""
    from printfleet.cli import setup_logging
    from printfleet.config import load_fleet
    from printfleet.runtime import StopSignal
    from printfleet.settings import load_settings
    from printfleet.sim.printer import Fault
    from printfleet.sim.server import SimServer

    settings = load_settings()
    setup_logging(settings.log_level)
    fleet = load_fleet(settings.config, check_secrets=True)
    parts = urlsplit(settings.sim_url)
    host = parts.hostname or "127.0.0.1"
    try:
        server = SimServer(
            fleet,
            host=host,
            port=port if port is not None else (parts.port or 80),
            speed=speed,
            mqtt_host_port=settings.mqtt_host_port if mqtt else None,
            temp_interval_s=temp_interval,
            state_file=settings.data_dir / "sim" / "records.json",
        )
    except OSError as exc:
        raise ConfigError(
            f"PRINTFLEET_SIM_URL={settings.sim_url}: cannot listen there ({exc.strerror})"
        ) from None
    if faults is not None:
        for printer_id, spec in load_faults(faults, set(server.fleet.printers)):
            server.add_fault(printer_id, Fault.from_dict(spec))
    stop = StopSignal()
    server.start()
    logger.info(
        "simulating %d printer(s) at %s/printers/<id> (speed x%g)%s",
        len(server.fleet.printers),
        server.url,
        speed,
        f", MQTT {settings.effective_mqtt_url}" if mqtt else "",
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
        logger.info("simulator stopped")
