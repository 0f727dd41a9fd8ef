"""``printfleet up`` end to end: private servers, all parts, /healthz, clean stop, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import redis

from printfleet.services import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


def _get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _children(pid: int, *, recursive: bool = True) -> list[tuple[psutil.Process, str]]:
    """Live descendants of ``pid`` with their command lines (zombies and vanished ones left out)."""
    found = []
    for child in psutil.Process(pid).children(recursive=recursive):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                found.append((child, " ".join(child.cmdline())))
        except psutil.Error:
            pass
    return found


def _listening_port(process: psutil.Process) -> int:
    return next(c.laddr.port for c in process.net_connections() if c.status == "LISTEN")


class UpProcess(subprocess.Popen[str]):
    """``printfleet up`` with its output collected by a thread (so the pipe never fills up)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.stdout is not None
        for line in self.stdout:
            self.lines.append(line)

    def output(self) -> str:
        """Everything printed so far."""
        return "".join(self.lines)

    def wait_for_output(self, text: str, timeout_s: float) -> None:
        """Wait until ``text`` has been printed."""
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            assert time.monotonic() < deadline, f"{text!r} not printed: {self.output()}"
            time.sleep(0.05)

    def finish(self, timeout_s: float) -> str:
        """Wait for the exit and the end of the output."""
        self.wait(timeout_s)
        self._reader.join(5)
        return self.output()


def _start_up(tmp_path: Path, config: Path, port: int, extra_env: dict[str, str] | None = None) -> UpProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTFLEET_")}
    env.update({"PRINTFLEET_DATA_DIR": str(tmp_path / "data"), "PRINTFLEET_CONFIG": str(config)})
    env.update(extra_env or {})
    return UpProcess(
        [sys.executable, "-m", "printfleet", "up", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO_ROOT,
    )  # fmt: skip


def _wait_healthy(proc: UpProcess, url: str, timeout_s: float) -> tuple[float, dict]:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        assert proc.poll() is None, proc.finish(5)
        try:
            status, body = _get_json(url)
            if status == 200:
                return time.monotonic() - started, body
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    pytest.fail(f"{url} not healthy within {timeout_s} s: {proc.finish(10)}")


def _stop_and_check_no_orphans(proc: UpProcess) -> str:
    family = [p for p, _ in _children(proc.pid)]
    names = {p.name() for p in family}
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    output = proc.finish(20)
    stop_s = time.monotonic() - started
    assert proc.returncode == 0, output
    assert stop_s < 10, f"stopping took {stop_s:.1f} s"
    _gone, alive = psutil.wait_procs(family, timeout=3)
    assert not alive, f"left behind: {[(p.pid, p.name()) for p in alive]} (had {names})"
    return output


def test_up_runs_everything_and_stops_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text("site: {name: Test lab, timezone: Europe/Berlin}\nprinters: []\n")
    port = free_port()
    proc = _start_up(tmp_path, config, port)
    took_s, body = _wait_healthy(proc, f"http://127.0.0.1:{port}/healthz", timeout_s=15)
    proc.wait_for_output("printfleet is up", timeout_s=5)
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["redis"]["ok"] and body["broker"]["ok"]
    assert body["redis"]["parts"]["worker"] >= 0
    cmdlines = [c for _, c in _children(proc.pid)]
    assert any("redis-server" in c for c in cmdlines) and any("mosquitto" in c for c in cmdlines)
    for part in ("monitor", "worker", "web"):
        assert any(f"printfleet {part}" in c for c in cmdlines), cmdlines
    assert (tmp_path / "data" / "redis" / "appendonlydir").is_dir()  # AOF on
    output = _stop_and_check_no_orphans(proc)
    assert "Traceback" not in output
    print(f"up healthy after {took_s:.1f} s")


def test_up_restarts_a_crashed_part_and_keeps_the_queue_across_restarts(tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text("printers: []\n")
    port = free_port()
    proc = _start_up(tmp_path, config, port)
    _wait_healthy(proc, f"http://127.0.0.1:{port}/healthz", timeout_s=15)
    proc.wait_for_output("printfleet is up", timeout_s=10)  # a part dying before this is a failed start-up
    family = _children(proc.pid)
    redis_port = _listening_port(next(p for p, c in family if "redis-server" in c))
    client = redis.Redis(port=redis_port)
    client.rpush("printfleet-test:queue", "job-1")
    monitor = next(p for p, c in family if "printfleet monitor" in c)
    monitor.kill()
    deadline = time.monotonic() + 30  # restart backoff is 1 s; the rest is slack for a loaded machine
    while time.monotonic() < deadline:
        monitors = [p for p, c in _children(proc.pid, recursive=False) if "printfleet monitor" in c]
        if monitors and monitors[0].pid != monitor.pid:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"monitor was not restarted: {proc.output()}")
    client.close()
    time.sleep(1.2)  # appendfsync everysec
    _stop_and_check_no_orphans(proc)
    proc = _start_up(tmp_path, config, port)
    _wait_healthy(proc, f"http://127.0.0.1:{port}/healthz", timeout_s=15)
    redis_port = _listening_port(next(p for p, c in _children(proc.pid) if "redis-server" in c))
    assert redis.Redis(port=redis_port).lrange("printfleet-test:queue", 0, -1) == [b"job-1"]
    _stop_and_check_no_orphans(proc)


def test_healthz_is_503_when_the_broker_is_gone(tmp_path: Path, redis_url: str, mosquitto_factory) -> None:
    broker = mosquitto_factory(persistence=False)
    config = tmp_path / "fleet.yaml"
    config.write_text("printers: []\n")
    port = free_port()
    proc = _start_up(tmp_path, config, port, {"PRINTFLEET_REDIS_URL": redis_url, "PRINTFLEET_MQTT_URL": broker.url})
    _wait_healthy(proc, f"http://127.0.0.1:{port}/healthz", timeout_s=15)
    broker.stop()
    status, body = _get_json(f"http://127.0.0.1:{port}/healthz")
    assert status == 503 and body["status"] == "degraded"
    assert body["broker"]["ok"] is False and body["redis"]["ok"] is True
    assert not any("redis-server" in c for _, c in _children(proc.pid))  # used the given servers
    proc.send_signal(signal.SIGTERM)
    proc.finish(20)


def test_up_with_the_shipped_simulated_fleet(tmp_path: Path) -> None:
    """The README's run command: the shipped fleet, healthy within 15 s, printers reporting, clean stop."""
    from printfleet.store import StateStore

    port = free_port()
    proc = _start_up(tmp_path, REPO_ROOT / "configs" / "printers.yaml", port)
    took_s, body = _wait_healthy(proc, f"http://127.0.0.1:{port}/healthz", timeout_s=15)
    assert body["status"] == "ok"
    cmdlines = [c for _, c in _children(proc.pid)]
    assert any("printfleet sim" in c for c in cmdlines), cmdlines
    redis_port = _listening_port(next(p for p, c in _children(proc.pid) if "redis-server" in c))
    store = StateStore(redis.Redis(port=redis_port))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(store.all()) < 4:
        time.sleep(0.2)
    states = store.all()
    assert sorted(states) == ["mini-1", "mini-2", "mk3s-1", "mk3s-2"]
    assert {s.status.value for s in states.values()} == {"idle"}
    store.close()
    _stop_and_check_no_orphans(proc)
    print(f"up with the shipped fleet healthy after {took_s:.1f} s")
