"""The simulator through the simulated driver (HTTP) and the status service (MQTT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from printfleet.drivers import AuthFailed, PrinterBusy, PrinterOffline, Rejected, create_driver
from printfleet.drivers.simulated import SimulatedDriver, sim_printer_url
from printfleet.ingest.service import StatusService
from printfleet.services import free_port, wait_for_port
from printfleet.settings import Settings
from printfleet.sim.printer import Fault, FaultKind, estimate_seconds
from printfleet.state import PrinterState, PrinterStatus, StateSource
from printfleet.testing.waiting import wait_for_state as wait_for

pytestmark = pytest.mark.integration


def sim_gcode(seconds: float, path: Path) -> Path:
    path.write_text(f"; PRINTFLEET_SIM_SECONDS={seconds}\nM104 S210\nM140 S55\nG28\nG1 X10 Y10 F3000\n")
    return path


def files(server, printer_id: str) -> dict[str, dict]:
    answer = requests.get(f"{sim_printer_url(server.url, printer_id)}/api/files", timeout=5).json()
    return {f["name"]: f for f in answer["files"]}


def test_estimates() -> None:
    assert estimate_seconds("; PRINTFLEET_SIM_SECONDS=12.5\n") == 12.5
    assert estimate_seconds("; estimated printing time (normal mode) = 1h 2m 3s\n") == 3723
    assert estimate_seconds(";TIME:99\n") == 99
    assert estimate_seconds("G1 X1\n" * 1000) == 50


def test_print_to_finished_and_record(sim_factory, settings: Settings, tmp_path: Path) -> None:
    server, fleet = sim_factory(1, mqtt=False)
    cfg = settings.model_copy(update={"sim_url": server.url})
    driver = create_driver(fleet.printers[0], cfg)
    assert isinstance(driver, SimulatedDriver)
    assert driver.state().status is PrinterStatus.IDLE
    name = driver.upload(sim_gcode(100, tmp_path / "cube.gcode"))
    driver.start(name)
    printing = wait_for(
        driver.state, lambda s: s.status is PrinterStatus.PRINTING and (s.job.fraction or 0) > 0
    )
    assert printing.job is not None and printing.job.file_name == "cube.gcode"
    assert printing.job.remaining_s is not None and printing.temp("tool0").target == 210.0  # type: ignore[union-attr]
    done = wait_for(driver.state, lambda s: s.status is PrinterStatus.FINISHED)
    assert done.job is not None and done.job.fraction == 1.0
    assert files(server, "sim-000")["cube.gcode"]["prints"]["success"] == 1
    with pytest.raises(Rejected):
        driver.upload(tmp_path / "cube.gcode", "cube.stl")  # 415, as OctoPrint without a slicer
    driver.start(name)  # selecting again leaves FINISHED
    wait_for(driver.state, lambda s: s.status is PrinterStatus.PRINTING)


def test_pause_resume_cancel_counts_a_failure(sim_factory, settings: Settings, tmp_path: Path) -> None:
    server, fleet = sim_factory(1, mqtt=False, speed=1.0)
    driver = create_driver(fleet.printers[0], settings.model_copy(update={"sim_url": server.url}))
    name = driver.upload(sim_gcode(600, tmp_path / "long.gcode"))
    driver.start(name)
    with pytest.raises(PrinterBusy):
        driver.start(name)
    driver.pause()
    assert driver.state().status is PrinterStatus.PAUSED
    driver.resume()
    assert driver.state().status is PrinterStatus.PRINTING
    driver.cancel()
    assert driver.state().status is PrinterStatus.IDLE
    with pytest.raises(PrinterBusy):
        driver.cancel()
    assert files(server, "sim-000")["long.gcode"]["prints"] == {
        "success": 0,
        "failure": 1,
        "last": pytest.approx(
            {
                "date": pytest.approx(time.time(), abs=60),
                "success": False,
                "printTime": pytest.approx(0, abs=5),
            }
        ),
    }


def test_scripted_faults(sim_factory, settings: Settings, tmp_path: Path) -> None:
    server, fleet = sim_factory(1, mqtt=False)
    driver = create_driver(fleet.printers[0], settings.model_copy(update={"sim_url": server.url}))
    name = driver.upload(sim_gcode(100, tmp_path / "f.gcode"))
    # refusing a start
    server.add_fault("sim-000", Fault(FaultKind.REFUSE_START))
    with pytest.raises(PrinterBusy):
        driver.start(name)
    # an error mid-print
    server.add_fault("sim-000", Fault(FaultKind.ERROR, at_fraction=0.3))
    driver.start(name)
    error = wait_for(driver.state, lambda s: s.status is PrinterStatus.ERROR)
    assert error.error and "simulated" in error.error
    assert files(server, "sim-000")["f.gcode"]["prints"]["failure"] == 1
    driver.connect()
    assert driver.state().status is PrinterStatus.IDLE
    # going offline (over HTTP, like the tests outside this process would)
    requests.post(
        f"{sim_printer_url(server.url, 'sim-000')}/sim/fault",
        json={"kind": "offline", "duration_s": 0.5},
        timeout=5,
    ).raise_for_status()
    with pytest.raises(PrinterOffline):
        driver.state()

    def reachable_state() -> PrinterState | None:
        try:
            return driver.state()
        except PrinterOffline:
            return None

    wait_for(reachable_state, lambda s: s.status is PrinterStatus.IDLE, timeout_s=5)
    # serial disconnect: the driver reconnects it
    server.add_fault("sim-000", Fault(FaultKind.DISCONNECT))
    assert driver.state().status is PrinterStatus.OFFLINE
    assert driver.state().status is PrinterStatus.IDLE
    # the Virtual Printer's debug command works too
    requests.post(
        f"{sim_printer_url(server.url, 'sim-000')}/api/printer/command",
        json={"command": "!!DEBUG:trigger_fatal_error_marlin"},
        timeout=5,
    )
    assert "Thermal Runaway" in (driver.state().error or "")


def test_api_key(sim_factory, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PF_SIM_KEY", "s3cret-sim-key")
    server, fleet = sim_factory(1, mqtt=False, api_key_env="PF_SIM_KEY")
    good = create_driver(fleet.printers[0], settings.model_copy(update={"sim_url": server.url}))
    assert good.state().status is PrinterStatus.IDLE
    bad = SimulatedDriver("sim-000", sim_printer_url(server.url, "sim-000"), SecretStr("wrong"))
    with pytest.raises(AuthFailed) as info:
        bad.state()
    assert "wrong" not in str(info.value)


def test_status_over_mqtt_and_offline(
    sim_factory, settings: Settings, redis_url: str, mqtt_broker, tmp_path: Path
) -> None:
    server, fleet = sim_factory(3)
    cfg = settings.model_copy(
        update={"sim_url": server.url, "redis_url": redis_url, "mqtt_url": mqtt_broker.url}
    )
    with StatusService(fleet, cfg, silence_s=30) as service:
        for printer in fleet.printers:
            wait_for(lambda p=printer.id: service.store.get(p), lambda s: s.status is PrinterStatus.IDLE)
        driver = create_driver(fleet.printers[1], cfg)
        driver.start(driver.upload(sim_gcode(200, tmp_path / "m.gcode")))
        printing = wait_for(
            lambda: service.store.get("sim-001"),
            lambda s: s.source is StateSource.MQTT and (s.job and s.job.fraction or 0) > 0.1,
        )
        assert printing.status is PrinterStatus.PRINTING
        wait_for(lambda: service.store.get("sim-001"), lambda s: s.status is PrinterStatus.FINISHED)
        server.add_fault("sim-002", Fault(FaultKind.OFFLINE))
        offline = wait_for(
            lambda: service.store.get("sim-002"), lambda s: s.status is PrinterStatus.OFFLINE, timeout_s=3
        )
        assert offline.error
        assert service.store.get("sim-000").status is PrinterStatus.IDLE  # type: ignore[union-attr]


def test_hundreds_in_one_process(sim_factory, settings: Settings, redis_url: str, mqtt_broker) -> None:
    server, fleet = sim_factory(200, temp_interval_s=2.0)
    cfg = settings.model_copy(
        update={"sim_url": server.url, "redis_url": redis_url, "mqtt_url": mqtt_broker.url}
    )
    with StatusService(fleet, cfg, silence_s=30) as service:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            states = service.store.all()
            if len(states) == 200 and all(
                s.status is PrinterStatus.IDLE and s.temps for s in states.values()
            ):
                break
            time.sleep(0.2)
        states = service.store.all()
        assert len(states) == 200
        assert all(s.status is PrinterStatus.IDLE and s.temps for s in states.values())
        assert service.stats.malformed == 0


def test_sim_command_in_another_process(
    tmp_path: Path, mqtt_broker, settings: Settings, fleet_writer: Callable[..., Path]
) -> None:
    from printfleet.config import load_fleet

    (tmp_path / "fleet").mkdir()
    fleet_path = fleet_writer(tmp_path / "fleet", 2)
    port = free_port()
    faults = tmp_path / "faults.yaml"
    faults.write_text("- {printer: sim-001, kind: refuse_start, count: 1}\n")
    env = {
        **os.environ,
        "PRINTFLEET_CONFIG": str(fleet_path),
        "PRINTFLEET_SIM_URL": f"http://127.0.0.1:{port}",
        "PRINTFLEET_MQTT_URL": mqtt_broker.url,
        "PRINTFLEET_DATA_DIR": str(tmp_path / "data"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "printfleet", "sim", "--speed", "100", "--faults", str(faults)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(None, "127.0.0.1", port, timeout_s=15)
        fleet = load_fleet(fleet_path)
        cfg = settings.model_copy(update={"sim_url": f"http://127.0.0.1:{port}"})
        driver = create_driver(fleet.printers[1], cfg)
        name = driver.upload(sim_gcode(100, tmp_path / "x.gcode"))
        with pytest.raises(PrinterBusy):
            driver.start(name)  # the scripted refusal
        driver.start(name)
        wait_for(driver.state, lambda s: s.status is PrinterStatus.FINISHED)
        overview = requests.get(f"http://127.0.0.1:{port}/sim/printers", timeout=5).json()
        assert [p["id"] for p in overview["printers"]] == ["sim-000", "sim-001"]
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=15)[0].decode()
    assert proc.returncode == 0, output
    records = (tmp_path / "data" / "sim" / "records.json").read_text()
    assert '"success": 1' in records
