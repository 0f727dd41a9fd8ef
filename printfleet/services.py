"""Private server processes (redis-server, mosquitto) and child-process handling.

``printfleet up`` uses these to run a one-machine site without any system service; the test fixtures
use the same functions to start real servers on free loopback ports.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from printfleet.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1

#: binary -> Debian package that provides it
PACKAGES = {
    "redis-server": "redis-server",
    "mosquitto": "mosquitto",
    "prusa-slicer": "prusa-slicer",
    "chromium": "chromium",
}


def require_binary(name: str) -> str:
    """The path of an executable, or a one-line error naming the package to install.

    Raises:
        ServiceUnavailable: it is not on PATH.
    """
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        package = PACKAGES.get(name, name)
        raise ServiceUnavailable(f"{name} not found; install it with: sudo apt-get install {package}")
    return path


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, and lead a process group of its own."""
    os.setpgrp()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:  # pragma: no cover - not glibc
            pass


@dataclass
class ManagedProcess:
    """A child process in its own process group, stopped with its whole group."""

    name: str
    popen: subprocess.Popen[bytes]
    url: str = ""
    log_path: Path | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        """The child's pid (also its process group id)."""
        return self.popen.pid

    def is_running(self) -> bool:
        """Whether the child has not exited."""
        return self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the child's whole process group."""
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM the group, wait up to ``timeout_s``, then SIGKILL; return the exit code."""
        if self.is_running():
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %.0f s; killing it", self.name, timeout_s)
                self.signal_group(signal.SIGKILL)
                self.popen.wait(5)
        # reap anything else left in the group (e.g. forked RQ work horses)
        self.signal_group(signal.SIGKILL)
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL the group at once (for fault-injection tests)."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait(5)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the child's log, for error messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def spawn(
    name: str,
    argv: list[str],
    *,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    inherit_output: bool = False,
) -> ManagedProcess:
    """Start ``argv`` in its own process group; it dies with this process.

    Output goes to ``log_path``, or to this process's stdout/stderr with ``inherit_output``, else nowhere.

    Raises:
        ServiceUnavailable: it cannot be started.
    """
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=None if inherit_output else log,
            stderr=None if inherit_output else subprocess.STDOUT,
            env=env,
            cwd=cwd,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only setpgrp and prctl
        )
    except OSError as exc:
        raise ServiceUnavailable(f"cannot start {name} ({argv[0]}): {exc.strerror}") from None
    finally:
        if log_path:
            log.close()  # type: ignore[union-attr]
    return ManagedProcess(name=name, popen=popen, log_path=log_path)


def wait_for_port(proc: ManagedProcess | None, host: str, port: int, timeout_s: float = 10.0) -> None:
    """Wait until ``host:port`` accepts connections.

    Raises:
        ServiceUnavailable: the process exited or the port did not open in time.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and not proc.is_running():
            tail = proc.log_tail(5)
            raise ServiceUnavailable(
                f"{proc.name} exited with code {proc.popen.returncode}" + (f": {tail.splitlines()[-1]}" if tail else "")
            )
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    name = proc.name if proc else f"{host}:{port}"
    raise ServiceUnavailable(f"{name} did not open {host}:{port} within {timeout_s:.0f} s")


def _pick_port(preferred: int | None) -> int:
    if preferred is not None and port_is_free(preferred):
        return preferred
    return free_port()


def start_redis(
    directory: Path, *, port: int | None = None, appendonly: bool = True, timeout_s: float = 10.0
) -> ManagedProcess:
    """Start a private ``redis-server`` on 127.0.0.1 keeping its files (AOF) in ``directory``.

    Args:
        directory: where the AOF and log go (created).
        port: the port to use if free (default: any free port).
        appendonly: keep an append-only file so a restart loses no queue.

    Raises:
        ServiceUnavailable: redis-server is missing or does not come up.
    """
    binary = require_binary("redis-server")
    directory.mkdir(parents=True, exist_ok=True)
    port = _pick_port(port)
    argv = [
        binary,
        "--bind", LOOPBACK,
        "--port", str(port),
        "--dir", str(directory),
        "--appendonly", "yes" if appendonly else "no",
        "--appendfsync", "everysec",
        "--save", "",
        "--daemonize", "no",
        "--protected-mode", "yes",
        "--loglevel", "warning",
    ]  # fmt: skip
    proc = spawn("redis-server", argv, log_path=directory / "redis.log")
    proc.url = f"redis://{LOOPBACK}:{port}/0"
    proc.extra["port"] = port
    wait_for_port(proc, LOOPBACK, port, timeout_s)
    _wait_redis_loaded(proc, timeout_s)
    return proc


def _wait_redis_loaded(proc: ManagedProcess, timeout_s: float) -> None:
    """Wait until Redis has loaded its AOF and answers PING."""
    import redis

    client = redis.Redis.from_url(proc.url, socket_timeout=1)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                client.ping()
                return
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                if not proc.is_running():
                    raise ServiceUnavailable(f"redis-server exited: {proc.log_tail(3)}") from None
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"redis-server at {proc.url} did not answer within {timeout_s:.0f} s")
            time.sleep(0.05)
    finally:
        client.close()


def start_mosquitto(
    directory: Path, *, port: int | None = None, persistence: bool = True, timeout_s: float = 10.0
) -> ManagedProcess:
    """Start a private ``mosquitto`` broker on 127.0.0.1 with its config and data in ``directory``.

    Raises:
        ServiceUnavailable: mosquitto is missing or does not come up.
    """
    binary = require_binary("mosquitto")
    directory.mkdir(parents=True, exist_ok=True)
    port = _pick_port(port)
    conf = directory / "mosquitto.conf"
    lines = [
        f"listener {port} {LOOPBACK}",
        "allow_anonymous true",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {directory}/",
        "max_queued_messages 100000",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]
    if os.geteuid() == 0:
        lines.append("user root")  # else mosquitto drops to user 'mosquitto' and cannot write `directory`
    conf.write_text("\n".join(lines) + "\n")
    proc = spawn("mosquitto", [binary, "-c", str(conf)], log_path=directory / "mosquitto.log")
    proc.url = f"mqtt://{LOOPBACK}:{port}"
    proc.extra["port"] = port
    wait_for_port(proc, LOOPBACK, port, timeout_s)
    return proc
