"""The OctoPrint driver against a real OctoPrint 1.11.8 with its Virtual Printer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from printfleet.drivers.base import (
    AuthFailed,
    Capability,
    PrinterBusy,
    PrinterDriver,
    PrinterOffline,
    Rejected,
)
from printfleet.drivers.octoprint import OctoPrintDriver
from printfleet.state import PrinterState, PrinterStatus, StateSource

pytestmark = pytest.mark.integration


def wait_for(
    driver: OctoPrintDriver, predicate: Callable[[PrinterState], bool], timeout_s: float = 30.0
) -> PrinterState:
    deadline = time.monotonic() + timeout_s
    state = driver.state()
    while not predicate(state):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last state {state}")
        time.sleep(0.2)
        state = driver.state()
    return state


@pytest.fixture()
def driver(octoprint) -> OctoPrintDriver:
    drv = OctoPrintDriver("op-1", octoprint.url, SecretStr(octoprint.api_key))
    yield drv
    drv.close()


def test_idle_state_and_capabilities(driver: OctoPrintDriver) -> None:
    assert isinstance(driver, PrinterDriver)
    assert Capability.PAUSE in driver.capabilities
    state = wait_for(driver, lambda s: bool(s.temps), timeout_s=10)  # first M105 answer after connecting
    assert state.status in (PrinterStatus.IDLE, PrinterStatus.FINISHED)
    assert state.source is StateSource.REST
    assert state.temp("tool0") is not None and state.temp("bed") is not None
    assert state.error is None


def test_upload_start_progress_done(driver: OctoPrintDriver, gcode_files: dict[str, Path], octoprint) -> None:
    name = driver.upload(gcode_files["fast"], "done-test.gcode")
    assert name == "done-test.gcode"
    driver.start(name)
    printing = wait_for(driver, lambda s: s.status is PrinterStatus.PRINTING, timeout_s=10)
    assert printing.job is not None and printing.job.file_name == name
    done = wait_for(driver, lambda s: s.status is PrinterStatus.FINISHED, timeout_s=30)
    assert done.job is not None and done.job.fraction == 1.0 and done.job.remaining_s == 0.0
    # OctoPrint's own per-file record counts the success
    info = octoprint.api("GET", f"/api/files/local/{name}").json()
    assert info["prints"]["success"] >= 1


def test_start_while_printing_is_busy_and_unknown_file_rejected(
    driver: OctoPrintDriver, gcode_files: dict[str, Path]
) -> None:
    with pytest.raises(Rejected):
        driver.start("no-such-file.gcode")
    name = driver.upload(gcode_files["slow"], "busy-test.gcode")
    driver.start(name)
    wait_for(driver, lambda s: s.status is PrinterStatus.PRINTING, timeout_s=10)
    with pytest.raises(PrinterBusy):
        driver.start(name)
    driver.cancel()


def test_pause_resume_cancel(driver: OctoPrintDriver, gcode_files: dict[str, Path]) -> None:
    name = driver.upload(gcode_files["slow"], "pause-test.gcode")
    driver.start(name)
    wait_for(driver, lambda s: s.status is PrinterStatus.PRINTING, timeout_s=10)
    driver.pause()
    paused = wait_for(driver, lambda s: s.status is PrinterStatus.PAUSED)
    assert paused.job is not None and paused.job.file_name == name
    driver.resume()
    wait_for(driver, lambda s: s.status is PrinterStatus.PRINTING)
    driver.cancel()
    idle = wait_for(driver, lambda s: s.status is PrinterStatus.IDLE)
    assert idle.job is None
    with pytest.raises(PrinterBusy):
        driver.pause()  # nothing to pause: OctoPrint answers 409


def test_firmware_error_then_connect(driver: OctoPrintDriver, octoprint) -> None:
    answer = octoprint.api(
        "POST", "/api/printer/command", json={"command": "!!DEBUG:trigger_fatal_error_marlin"}
    )
    assert answer.status_code == 204
    error = wait_for(driver, lambda s: s.status is PrinterStatus.ERROR, timeout_s=10)
    assert error.error and "Thermal Runaway" in error.error
    assert error.temps == ()
    driver.connect()
    wait_for(driver, lambda s: s.status is PrinterStatus.IDLE, timeout_s=10)


def test_serial_disconnect_is_reconnected(driver: OctoPrintDriver, octoprint) -> None:
    octoprint.api("POST", "/api/connection", json={"command": "disconnect"})
    time.sleep(0.5)
    first = driver.state()
    assert first.status is PrinterStatus.OFFLINE and first.error is None  # host up, printer not connected
    wait_for(driver, lambda s: s.status is PrinterStatus.IDLE, timeout_s=10)  # the driver reconnected it


def test_wrong_api_key_is_auth_failed_without_leaking_the_key(
    octoprint, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "WRONGKEY-must-not-leak-0123456789"
    drv = OctoPrintDriver("op-bad", octoprint.url, SecretStr(secret))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthFailed) as info:
        drv.state()
    assert secret not in str(info.value) and secret not in repr(drv) and secret not in caplog.text
    with pytest.raises(AuthFailed):
        drv.upload(Path(__file__), "x.gcode")


def test_non_gcode_upload_rejected(driver: OctoPrintDriver, tmp_path: Path) -> None:
    stl = tmp_path / "part.stl"
    stl.write_text("solid x\nendsolid x\n")
    with pytest.raises(Rejected):
        driver.upload(stl)


def test_unreachable_is_offline_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    from printfleet.services import free_port

    drv = OctoPrintDriver("op-gone", f"http://127.0.0.1:{free_port()}", SecretStr("k"))
    caplog.set_level(logging.INFO, logger="printfleet.drivers.octoprint")
    for _ in range(3):
        with pytest.raises(PrinterOffline):
            drv.state()
    assert sum("is offline" in r.getMessage() for r in caplog.records) == 1


def test_killed_mid_print_is_offline(octoprint, gcode_files: dict[str, Path]) -> None:
    drv = OctoPrintDriver("op-kill", octoprint.url, SecretStr(octoprint.api_key))
    name = drv.upload(gcode_files["slow"], "kill-test.gcode")
    drv.start(name)
    wait_for(drv, lambda s: s.status is PrinterStatus.PRINTING, timeout_s=10)
    octoprint.kill()
    with pytest.raises(PrinterOffline):
        drv.state()
    octoprint.start()
    assert wait_for(drv, lambda s: s.status is PrinterStatus.IDLE, timeout_s=20).job is None
