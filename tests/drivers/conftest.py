"""A real OctoPrint 1.11.8 with its Virtual Printer, started once per session (plus its own broker).

The OctoPrint venv is found via ``PRINTFLEET_OCTOPRINT_BIN`` (default ``<repo>/.venv-octoprint/bin/octoprint``,
which ``scripts/setup.sh --test`` creates). A missing OctoPrint fails the tests with a message; it never skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from printfleet.services import ManagedProcess, free_port, spawn

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_FILE = Path(__file__).resolve().parent / "octoprint_plugin" / "printfleet_mqtt.py"
APP_KEY = "PFTESTKEY0123456789ABCDEFGHIJKLM"
BASE_TOPIC = "octoPrint/pf-test/"

CONFIG_YAML = """\
server:
  host: 127.0.0.1
  port: {port}
  firstRun: false
  seenWizards:
    corewizard: 4
  onlineCheck:
    enabled: false
  pluginBlacklist:
    enabled: false
serial:
  port: VIRTUAL
  baudrate: 115200
  autoconnect: true
plugins:
  _disabled:
  - softwareupdate
  - announcements
  - tracking
  - errortracking
  - discovery
  - pluginmanager
  - health_check
  - achievements
  - gcodeviewer
  - firmware_check
  - backup
  virtual_printer:
    enabled: true
  printfleet_mqtt:
    host: 127.0.0.1
    port: {mqtt_port}
    baseTopic: {base_topic}
"""


def octoprint_binary() -> Path:
    """The ``octoprint`` console script of the separate test venv."""
    return Path(
        os.environ.get("PRINTFLEET_OCTOPRINT_BIN", REPO_ROOT / ".venv-octoprint" / "bin" / "octoprint")
    )


@dataclass
class OctoPrintServer:
    """A real OctoPrint on 127.0.0.1 that tests may kill and start again."""

    basedir: Path
    port: int
    mqtt_port: int
    proc: ManagedProcess | None = None
    api_key: str = APP_KEY
    base_topic: str = BASE_TOPIC
    starts: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        """A raw API call with the test key (for arranging tests, not for testing the driver)."""
        return requests.request(
            method,
            self.url + path,
            headers={"X-Api-Key": self.api_key},
            timeout=10,
            **kwargs,  # type: ignore[arg-type]
        )

    def start(self, timeout_s: float = 60.0) -> None:
        binary = octoprint_binary()
        argv = [
            str(binary),
            "serve",
            "--basedir",
            str(self.basedir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if os.geteuid() == 0:
            argv.append("--iknowwhatimdoing")  # OctoPrint refuses to run as root without it
        self.proc = spawn("octoprint", argv, log_path=self.basedir / "serve.log")
        started = time.monotonic()
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if not self.proc.is_running():
                pytest.fail(f"OctoPrint exited during start-up:\n{self.proc.log_tail(30)}")
            try:
                answer = self.api("GET", "/api/connection")
                if answer.status_code == 200 and answer.json()["current"]["state"] == "Operational":
                    self.starts.append(time.monotonic() - started)
                    return
            except (requests.ConnectionError, requests.Timeout, ValueError, KeyError):
                pass
            time.sleep(0.2)
        pytest.fail(
            f"OctoPrint did not become operational within {timeout_s:.0f} s:\n{self.proc.log_tail(30)}"
        )

    def ensure_running(self) -> None:
        if self.proc is None or not self.proc.is_running():
            self.start()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout_s=10)

    def job_state(self) -> str:
        return str(self.api("GET", "/api/job").json()["state"])

    def reset(self, timeout_s: float = 20.0) -> None:
        """Back to Operational with no active job: cancel, reconnect after errors."""
        self.ensure_running()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.job_state()
            if state == "Operational":
                return
            if state in ("Printing", "Paused", "Pausing"):
                self.api("POST", "/api/job", json={"command": "cancel"})
            elif state.startswith(("Offline", "Error", "Closed")):
                self.api("POST", "/api/connection", json={"command": "connect"})
            time.sleep(0.3)
        pytest.fail(f"OctoPrint did not return to Operational (state {self.job_state()!r})")


def _seed_basedir(basedir: Path, port: int, mqtt_port: int) -> None:
    binary = octoprint_binary()
    if not binary.exists():
        pytest.fail(
            f"OctoPrint not found at {binary}. Create the test venv with 'scripts/setup.sh --test' "
            "(or: python3 -m venv .venv-octoprint && .venv-octoprint/bin/pip install octoprint==1.11.8 "
            "'paho-mqtt>=2,<3'), or set PRINTFLEET_OCTOPRINT_BIN."
        )
    (basedir / "plugins").mkdir(parents=True)
    (basedir / "config.yaml").write_text(
        CONFIG_YAML.format(port=port, mqtt_port=mqtt_port, base_topic=BASE_TOPIC)
    )
    shutil.copy(PLUGIN_FILE, basedir / "plugins" / "printfleet_mqtt.py")
    appkeys = basedir / "data" / "appkeys"
    appkeys.mkdir(parents=True)
    (appkeys / "keys.yaml").write_text(f"admin:\n- app_id: printfleet-tests\n  api_key: {APP_KEY}\n")
    subprocess.run(
        [
            str(binary),
            "--basedir",
            str(basedir),
            "user",
            "add",
            "admin",
            "--password",
            "adminpass",
            "--admin",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def octoprint_broker(mosquitto_factory: Callable[..., ManagedProcess]) -> ManagedProcess:
    """The broker the test OctoPrint's plugin publishes to (tests may restart it on the same port)."""
    return mosquitto_factory(persistence=False)


@pytest.fixture(scope="session")
def octoprint_server(
    tmp_path_factory: pytest.TempPathFactory, octoprint_broker: ManagedProcess
) -> Iterator[OctoPrintServer]:
    """One real OctoPrint for the whole session."""
    basedir = tmp_path_factory.mktemp("octoprint")
    port = free_port()
    mqtt_port = int(octoprint_broker.extra["port"])  # type: ignore[arg-type]
    _seed_basedir(basedir, port, mqtt_port)
    server = OctoPrintServer(basedir=basedir, port=port, mqtt_port=mqtt_port)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def octoprint(octoprint_server: OctoPrintServer) -> OctoPrintServer:
    """The session OctoPrint, running, operational and idle."""
    octoprint_server.reset()
    return octoprint_server


def gcode(moves: int, *, length_mm: float = 40.0, feed: int = 1200) -> str:
    """G-code the Virtual Printer runs in about ``moves * length_mm / (feed / 60) * 0.1`` seconds."""
    lines = ["; printfleet test file", "G90", "G28", "M104 S0", "M140 S0"]
    for i in range(moves):
        x = 10 + (length_mm if i % 2 == 0 else 0)
        lines.append(f"G1 X{x:.1f} Y10 F{feed}")
    lines.append("M84")
    return "\n".join(lines) + "\n"


@pytest.fixture()
def gcode_files(tmp_path: Path) -> dict[str, Path]:
    """``fast`` (~1.5 s on the Virtual Printer) and ``slow`` (~15 s) G-code files."""
    files = {"fast": tmp_path / "pf-fast.gcode", "slow": tmp_path / "pf-slow.gcode"}
    files["fast"].write_text(gcode(8))
    files["slow"].write_text(gcode(80))
    return files
