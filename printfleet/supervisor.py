"""``printfleet up``: one command that runs a whole one-machine site.

It applies the database migrations, starts private ``redis-server`` and ``mosquitto`` processes when
``PRINTFLEET_REDIS_URL`` / ``PRINTFLEET_MQTT_URL`` are unset, then runs the parts (simulated printers if
the fleet has any, monitor, worker, web) as child processes, restarts a part that crashes, and stops
everything on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from printfleet import db
from printfleet.config import DriverName, load_fleet
from printfleet.errors import ServiceUnavailable
from printfleet.runtime import StopSignal, connect_redis, require_broker
from printfleet.services import ManagedProcess, spawn, start_mosquitto, start_redis
from printfleet.settings import Settings

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 30.0
RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
STABLE_AFTER_S = 60.0

console = Console(stderr=True)


@dataclass
class Part:
    """A printfleet part run as a child process, restarted with backoff when it dies."""

    name: str
    argv: list[str]
    proc: ManagedProcess | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start_at: float = 0.0
    history: list[float] = field(default_factory=list)

    def start(self, env: dict[str, str]) -> None:
        """Start (or restart) the child."""
        self.proc = spawn(self.name, self.argv, env=env, log_path=None, inherit_output=True)
        self.started_at = time.monotonic()


def _part_argv(command: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "printfleet", command, *args]


def _wait_healthy(url: str, parts: list[Part], stop: StopSignal, timeout_s: float) -> dict[str, object]:
    """Poll ``/healthz`` until it answers 200.

    Raises:
        ServiceUnavailable: a part exited or the web app did not become healthy in time.
    """
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while time.monotonic() < deadline and not stop.is_set:
        for part in parts:
            if part.proc is not None and not part.proc.is_running():
                raise ServiceUnavailable(f"{part.name} exited with code {part.proc.popen.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}: {exc.read()[:200].decode(errors='replace')}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(getattr(exc, "reason", exc))
        stop.wait(0.2)
    if stop.is_set:
        return {}
    raise ServiceUnavailable(f"{url} not healthy within {timeout_s:.0f} s ({last_error})")


def run_up(settings: Settings, *, host: str, port: int) -> int:
    """Run the whole site until SIGTERM/SIGINT; return the exit code.

    Raises:
        ConfigError: the fleet file or data dir is unusable (nothing is started then).
        ServiceUnavailable: a server cannot be started or reached.
    """
    started_at = time.monotonic()
    data_dir = settings.ensure_data_dir()
    fleet = load_fleet(settings.config, check_secrets=True)
    if settings.redis_url is not None:
        connect_redis(settings.redis_url).close()
    if settings.mqtt_url is not None:
        require_broker(*settings.mqtt_host_port)
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    engine.dispose()

    stop = StopSignal()
    servers: list[ManagedProcess] = []
    parts: list[Part] = []
    env = dict(os.environ)
    env["PRINTFLEET_CONFIG"] = str(Path(settings.config).resolve())
    env["PRINTFLEET_DATA_DIR"] = str(data_dir)
    try:
        if settings.redis_url is None:
            redis_proc = start_redis(data_dir / "redis", port=6379)
            servers.append(redis_proc)
            env["PRINTFLEET_REDIS_URL"] = redis_proc.url
            logger.info("started private redis-server at %s (AOF in %s)", redis_proc.url, data_dir / "redis")
        if settings.mqtt_url is None:
            broker = start_mosquitto(data_dir / "mosquitto", port=1883)
            servers.append(broker)
            env["PRINTFLEET_MQTT_URL"] = broker.url
            logger.info("started private mosquitto at %s", broker.url)

        if any(p.driver is DriverName.SIMULATED for p in fleet.printers):
            parts.append(Part("sim", _part_argv("sim")))
        parts.append(Part("monitor", _part_argv("monitor")))
        parts.append(Part("worker", _part_argv("worker")))
        parts.append(Part("web", _part_argv("web", "--host", host, "--port", str(port))))
        for part in parts:
            part.start(env)

        probe_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        health = _wait_healthy(f"http://{probe_host}:{port}/healthz", parts, stop, STARTUP_TIMEOUT_S)
        if health:
            took = time.monotonic() - started_at
            names = [s.name for s in servers] + [p.name for p in parts]
            console.print(
                f"[bold green]printfleet is up[/] at http://{probe_host}:{port}/ in {took:.1f} s "
                f"({', '.join(names)}); Ctrl-C stops it."
            )
            if not _has_users(settings):
                console.print(
                    "No users yet: create an admin with  [bold].venv/bin/printfleet users add NAME --role admin[/]"
                )
        _supervise(parts, env, stop)
        return 0
    finally:
        if servers or parts:
            _stop_all(parts, servers)
            logger.info("stopped after %.1f s", time.monotonic() - started_at)


def _has_users(settings: Settings) -> bool:
    from sqlmodel import Session, select

    from printfleet.models import User

    engine = db.make_engine(settings.effective_database_url)
    try:
        with Session(engine) as session:
            return session.exec(select(User.id)).first() is not None
    finally:
        engine.dispose()


def _supervise(parts: list[Part], env: dict[str, str], stop: StopSignal) -> None:
    """Restart parts that die, with backoff, until a stop is requested."""
    while not stop.wait(0.5):
        now = time.monotonic()
        for part in parts:
            if part.proc is None or part.proc.is_running():
                if part.proc is not None and now - part.started_at > STABLE_AFTER_S:
                    part.restarts = 0
                continue
            if part.next_start_at == 0.0:
                delay = RESTART_BACKOFF_S[min(part.restarts, len(RESTART_BACKOFF_S) - 1)]
                part.next_start_at = now + delay
                logger.warning(
                    "%s exited with code %s; restarting in %.0f s", part.name, part.proc.popen.returncode, delay
                )
            elif now >= part.next_start_at:
                part.restarts += 1
                part.next_start_at = 0.0
                part.start(env)


def _stop_all(parts: list[Part], servers: list[ManagedProcess]) -> None:
    """Stop the parts (web first), then the servers they use."""
    for part in reversed(parts):
        if part.proc is not None and part.proc.is_running():
            part.proc.signal_group(15)
    for part in reversed(parts):
        if part.proc is not None:
            part.proc.stop(timeout_s=5)
    for server in reversed(servers):
        server.stop(timeout_s=5)
