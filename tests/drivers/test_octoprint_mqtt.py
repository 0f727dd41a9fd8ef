"""End to end: real OctoPrint + the single-file MQTT plugin + real Mosquitto + Redis -> StatusService."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from pydantic import SecretStr

from printfleet.config import FleetConfig, load_fleet
from printfleet.drivers.octoprint import OctoPrintDriver
from printfleet.ingest.service import StatusService
from printfleet.services import ManagedProcess
from printfleet.settings import Settings
from printfleet.state import PrinterState, PrinterStatus, StateSource
from printfleet.store import StateStore

pytestmark = pytest.mark.integration

PRINTER_ID = "op-mqtt"


def wait_state(
    service: StatusService, predicate: Callable[[PrinterState], bool], timeout_s: float
) -> PrinterState:
    deadline = time.monotonic() + timeout_s
    while True:
        state = service.store.get(PRINTER_ID)
        if state is not None and predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; stored state {state}")
        time.sleep(0.05)


def mqtt_printing(state: PrinterState) -> bool:
    """PRINTING with its job, as told over MQTT (PrinterStateChanged may come just before PrintStarted)."""
    return (
        state.status is PrinterStatus.PRINTING and state.source is StateSource.MQTT and state.job is not None
    )


@pytest.fixture()
def fleet(tmp_path: Path, octoprint, monkeypatch: pytest.MonkeyPatch) -> FleetConfig:
    monkeypatch.setenv("PF_TEST_OCTOPRINT_KEY", octoprint.api_key)
    (tmp_path / "p.ini").write_text("; profile\n")
    path = tmp_path / "printers.yaml"
    path.write_text(
        "printers:\n"
        f"  - id: {PRINTER_ID}\n    name: OctoPrint test\n    driver: octoprint\n    url: {octoprint.url}\n"
        "    api_key_env: PF_TEST_OCTOPRINT_KEY\n"
        f"    mqtt_base_topic: {octoprint.base_topic}\n    poll_interval_s: 1\n"
        "    build_volume_mm: [200, 200, 200]\n    profile: p.ini\n"
    )
    return load_fleet(path, check_secrets=True)


@pytest.fixture()
def service(fleet: FleetConfig, settings: Settings, redis_url: str, octoprint) -> Iterator[StatusService]:
    cfg = settings.model_copy(
        update={"redis_url": redis_url, "mqtt_url": f"mqtt://127.0.0.1:{octoprint.mqtt_port}"}
    )
    svc = StatusService(fleet, cfg, silence_s=120)  # long silence: states must come from MQTT
    svc.start()
    assert svc.link.wait_connected(10)
    wait_state(svc, lambda s: s.status in (PrinterStatus.IDLE, PrinterStatus.FINISHED), 10)  # start-up poll
    yield svc
    svc.stop()


@pytest.fixture()
def driver(octoprint) -> Iterator[OctoPrintDriver]:
    drv = OctoPrintDriver("op-mqtt-driver", octoprint.url, SecretStr(octoprint.api_key))
    yield drv
    drv.close()


def _print(driver: OctoPrintDriver, path: Path, name: str) -> None:
    driver.start(driver.upload(path, name))


def test_states_and_progress_arrive_over_mqtt(
    service: StatusService, driver: OctoPrintDriver, gcode_files: dict[str, Path], octoprint
) -> None:
    seen: list[str] = []
    own = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    own.on_message = lambda c, u, m: seen.append(m.payload.decode())
    own.connect("127.0.0.1", octoprint.mqtt_port)
    own.subscribe(f"printfleet/printers/{PRINTER_ID}/state")
    own.loop_start()
    try:
        _print(driver, gcode_files["slow"], "mqtt-progress.gcode")
        printing = wait_state(service, mqtt_printing, 10)
        assert printing.job is not None and printing.job.file_name == "mqtt-progress.gcode"
        progressed = wait_state(service, lambda s: s.job is not None and (s.job.fraction or 0) > 0.02, 15)
        assert progressed.source is StateSource.MQTT and progressed.job.elapsed_s is not None
        driver.pause()
        wait_state(service, lambda s: s.status is PrinterStatus.PAUSED and s.source is StateSource.MQTT, 10)
        driver.resume()
        wait_state(service, lambda s: s.status is PrinterStatus.PRINTING, 10)
        driver.cancel()
        idle = wait_state(
            service, lambda s: s.status is PrinterStatus.IDLE and s.source is StateSource.MQTT, 10
        )
        assert idle.job is None
        _print(driver, gcode_files["fast"], "mqtt-done.gcode")
        done = wait_state(service, lambda s: s.status is PrinterStatus.FINISHED, 30)
        assert done.job is not None and done.job.file_name == "mqtt-done.gcode" and done.job.fraction == 1.0
        assert service.stats.malformed == 0
        # printfleet's own normalised state, retained
        deadline = time.monotonic() + 5
        while not any(json.loads(p)["status"] == "finished" for p in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(json.loads(p)["status"] == "finished" for p in seen)
    finally:
        own.loop_stop()
        own.disconnect()


def test_broker_restart_status_resumes(
    service: StatusService,
    driver: OctoPrintDriver,
    gcode_files: dict[str, Path],
    octoprint_broker: ManagedProcess,
    mosquitto_factory: Callable[..., ManagedProcess],
) -> None:
    port = int(octoprint_broker.extra["port"])  # type: ignore[arg-type]
    octoprint_broker.stop()
    time.sleep(0.5)
    assert not service.link.connected
    mosquitto_factory(persistence=False, port=port)
    assert service.link.wait_connected(15), "the status service did not reconnect"
    time.sleep(3)  # the plugin reconnects on its own schedule (1-2 s)
    _print(driver, gcode_files["slow"], "after-restart.gcode")
    state = wait_state(service, mqtt_printing, 15)
    assert state.job is not None and state.job.file_name == "after-restart.gcode"
    driver.cancel()
    wait_state(service, lambda s: s.status is PrinterStatus.IDLE, 10)


def test_kill_9_is_offline_within_seconds(
    service: StatusService, driver: OctoPrintDriver, gcode_files: dict[str, Path], octoprint
) -> None:
    changes: list[PrinterState] = []
    store = StateStore.from_url(service.settings.effective_redis_url)
    follower = threading.Thread(target=lambda: changes.extend(store.changes(timeout_s=8)), daemon=True)
    follower.start()
    _print(driver, gcode_files["slow"], "kill9.gcode")
    wait_state(service, lambda s: s.status is PrinterStatus.PRINTING, 10)
    killed_at = time.monotonic()
    octoprint.kill()
    offline = wait_state(service, lambda s: s.status is PrinterStatus.OFFLINE, 5)
    assert time.monotonic() - killed_at < 5
    assert offline.job is None
    follower.join(10)
    assert any(c.status is PrinterStatus.OFFLINE for c in changes), "the change was not announced on Redis"
    store.close()
    octoprint.start()  # for later tests
