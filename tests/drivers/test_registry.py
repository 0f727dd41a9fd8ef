"""The driver registry and declared capabilities (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from printfleet.config import load_fleet
from printfleet.drivers import DRIVERS, Capability, Unsupported, create_driver
from printfleet.drivers.octoprint import OctoPrintDriver
from printfleet.drivers.simulated import SimulatedDriver
from printfleet.errors import ConfigError
from printfleet.settings import Settings


def fleet_file(tmp_path: Path, body: str) -> Path:
    (tmp_path / "p.ini").write_text("; profile\n")
    path = tmp_path / "printers.yaml"
    path.write_text("printers:\n" + body)
    return path


def test_registry_builds_each_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PF_REG_KEY", "0123456789abcdef")
    fleet = load_fleet(
        fleet_file(
            tmp_path,
            "  - {id: o1, name: O, driver: octoprint, url: 'http://192.0.2.1', api_key_env: PF_REG_KEY,"
            " build_volume_mm: [1, 1, 1], profile: p.ini}\n"
            "  - {id: s1, name: S, driver: simulated, build_volume_mm: [1, 1, 1], profile: p.ini}\n",
        )
    )
    assert set(DRIVERS) == {"octoprint", "simulated"}
    octo = create_driver(fleet.printers[0])
    assert type(octo) is OctoPrintDriver and octo.url == "http://192.0.2.1"
    assert "0123456789abcdef" not in repr(octo)
    sim = create_driver(fleet.printers[1], Settings(sim_url="http://127.0.0.1:9999/"))
    assert isinstance(sim, SimulatedDriver) and sim.url == "http://127.0.0.1:9999/printers/s1"


def test_unknown_driver_and_missing_key_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PF_REG_MISSING", raising=False)
    fleet = load_fleet(
        fleet_file(
            tmp_path,
            "  - {id: o1, name: O, driver: octoprint, url: 'http://192.0.2.1', api_key_env: PF_REG_MISSING,"
            " build_volume_mm: [1, 1, 1], profile: p.ini}\n",
        )
    )
    with pytest.raises(ConfigError, match="PF_REG_MISSING"):
        create_driver(fleet.printers[0])
    odd = fleet.printers[0].model_copy(update={"driver": "bambu"})
    with pytest.raises(ConfigError, match="unknown driver 'bambu'"):
        create_driver(odd)


def test_undeclared_capability_is_unsupported() -> None:
    class ReadOnly(OctoPrintDriver):
        capabilities = frozenset({Capability.STATE})

    driver = ReadOnly("r1", "http://192.0.2.1", SecretStr("k"))
    with pytest.raises(Unsupported, match="cannot pause"):
        driver.pause()
