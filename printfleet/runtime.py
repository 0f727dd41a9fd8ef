"""What every long-running part needs: connections checked up front, heartbeats and a stop signal."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from typing import Any

import redis

from printfleet.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "printfleet:heartbeat:"


def connect_redis(url: str, *, timeout_s: float = 5.0) -> redis.Redis:
    """A Redis client that has answered PING.

    Raises:
        ServiceUnavailable: Redis at ``url`` cannot be reached.
    """
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, health_check_interval=30)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ValueError) as exc:
        raise ServiceUnavailable(f"PRINTFLEET_REDIS_URL={url}: cannot reach Redis ({exc})") from None
    return client


def check_broker(host: str, port: int, *, timeout_s: float = 3.0) -> dict[str, Any]:
    """Whether an MQTT broker accepts a connection (a real CONNECT/CONNACK through paho)."""
    import paho.mqtt.client as mqtt

    result: dict[str, Any] = {"ok": False, "url": f"mqtt://{host}:{port}"}
    done = threading.Event()

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, props: Any) -> None:
        result["ok"] = not reason_code.is_failure
        if reason_code.is_failure:
            result["error"] = str(reason_code)
        done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"printfleet-health-{os.getpid()}")
    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
        deadline = time.monotonic() + timeout_s
        while not done.is_set() and time.monotonic() < deadline:
            client.loop(timeout=0.1)
        if not done.is_set():
            result["error"] = "no CONNACK"
        client.disconnect()
    except OSError as exc:
        result["error"] = exc.strerror or str(exc)
    return result


def require_broker(host: str, port: int) -> None:
    """Raise if the broker cannot be reached.

    Raises:
        ServiceUnavailable: it cannot.
    """
    status = check_broker(host, port)
    if not status["ok"]:
        raise ServiceUnavailable(f"PRINTFLEET_MQTT_URL={status['url']}: cannot reach the broker ({status.get('error')})")


class Heartbeat:
    """Announces in Redis that a part (monitor, worker, web) is alive, with an expiry."""

    def __init__(self, client: redis.Redis, part: str, ttl_s: int = 15) -> None:
        self.client = client
        self.key = f"{HEARTBEAT_PREFIX}{part}:{socket.gethostname()}:{os.getpid()}"
        self.ttl_s = ttl_s

    def beat(self, **info: Any) -> None:
        """Refresh the heartbeat (errors are logged, not raised: Redis may be restarting)."""
        try:
            self.client.hset(self.key, mapping={"at": time.time(), **{k: str(v) for k, v in info.items()}})
            self.client.expire(self.key, self.ttl_s)
        except redis.exceptions.RedisError as exc:
            logger.warning("heartbeat not stored: %s", exc)

    def clear(self) -> None:
        """Remove the heartbeat on a clean stop."""
        try:
            self.client.delete(self.key)
        except redis.exceptions.RedisError:
            pass


def alive_parts(client: redis.Redis) -> dict[str, int]:
    """How many of each part have a live heartbeat, e.g. ``{"monitor": 1, "worker": 2}``."""
    counts: dict[str, int] = {}
    for key in client.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=500):
        part = key.decode().removeprefix(HEARTBEAT_PREFIX).split(":", 1)[0]
        counts[part] = counts.get(part, 0) + 1
    return counts


class StopSignal:
    """Set by SIGTERM or SIGINT; long-running loops wait on it instead of sleeping."""

    def __init__(self) -> None:
        self.event = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        logger.info("got %s, stopping", signal.Signals(signum).name)
        self.event.set()

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s``; True if stopping."""
        return self.event.wait(timeout_s)

    @property
    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self.event.is_set()
