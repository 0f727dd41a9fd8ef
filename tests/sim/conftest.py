"""A simulator (``SimServer``) serving a generated fleet of simulated printers, with the session broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from printfleet.config import FleetConfig, load_fleet
from printfleet.services import ManagedProcess
from printfleet.sim.server import SimServer


def write_fleet(directory: Path, count: int, *, api_key_env: str | None = None) -> Path:
    """A fleet file with ``count`` simulated printers ``sim-000``..."""
    (directory / "p.ini").write_text("; profile\n")
    lines = ["printers:"]
    for i in range(count):
        lines += [
            f"  - id: sim-{i:03d}",
            f"    name: Sim {i}",
            "    driver: simulated",
            "    poll_interval_s: 1",
            "    build_volume_mm: [200, 200, 200]",
            "    profile: p.ini",
        ]
        if api_key_env:
            lines.append(f"    api_key_env: {api_key_env}")
    path = directory / "printers.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def sim_factory(
    tmp_path: Path, mqtt_broker: ManagedProcess
) -> Iterator[Callable[..., tuple[SimServer, FleetConfig]]]:
    """Start simulators: ``sim_factory(count, speed=..., mqtt=True)`` -> (server, fleet)."""
    servers: list[SimServer] = []

    def start(
        count: int = 2,
        *,
        speed: float = 50.0,
        mqtt: bool = True,
        temp_interval_s: float = 1.0,
        api_key_env: str | None = None,
    ) -> tuple[SimServer, FleetConfig]:
        directory = tmp_path / f"fleet{len(servers)}"
        directory.mkdir()
        fleet = load_fleet(write_fleet(directory, count, api_key_env=api_key_env))
        port = int(mqtt_broker.extra["port"])  # type: ignore[arg-type]
        server = SimServer(
            fleet,
            port=0,
            speed=speed,
            mqtt_host_port=("127.0.0.1", port) if mqtt else None,
            temp_interval_s=temp_interval_s,
            state_file=directory / "records.json",
        )
        server.start()
        servers.append(server)
        return server, fleet

    yield start
    for server in servers:
        server.stop()


@pytest.fixture()
def fleet_writer() -> Callable[..., Path]:
    """:func:`write_fleet`, for tests that start the simulator in another process."""
    return write_fleet
