"""``printfleet worker`` against a real Redis that goes away while the worker is busy."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from rq import Queue

from printfleet.queue.worker import QUEUE_NAMES
from printfleet.services import ManagedProcess, spawn, start_redis

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _start_worker(tmp_path: Path, redis_url: str) -> ManagedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTFLEET_")}
    env.update(PRINTFLEET_REDIS_URL=redis_url, PRINTFLEET_DATA_DIR=str(tmp_path / "data"),
               PRINTFLEET_CONFIG=str(REPO_ROOT / "configs" / "printers.yaml"))  # fmt: skip
    return spawn("worker", [sys.executable, "-m", "printfleet", "worker"], env=env, log_path=tmp_path / "worker.log")


def _busy_horse_running(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=1)
        return any(int(client.zcard(f"rq:wip:{name}") or 0) for name in QUEUE_NAMES)
    except redis.RedisError:
        return False


def test_a_busy_worker_rides_out_a_redis_restart(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    redis_dir = tmp_path_factory.mktemp("redis-worker")
    server = start_redis(redis_dir, appendonly=True)
    port = int(server.extra["port"])  # type: ignore[arg-type]
    worker = _start_worker(tmp_path, server.url)
    try:
        client = redis.Redis.from_url(server.url)
        Queue(QUEUE_NAMES[-1], connection=client).enqueue("time.sleep", 3, job_timeout=60)
        _wait(lambda: _busy_horse_running(server.url), 30, "the worker to start the task")
        server.kill()  # Redis goes away while the task runs, and stays away until it has ended
        time.sleep(8.0)
        assert worker.is_running(), f"the worker exited while Redis was down:\n{worker.log_tail(30)}"
        server = start_redis(redis_dir, port=port, appendonly=True)
        time.sleep(3.0)
        assert worker.is_running(), f"the worker exited after Redis came back:\n{worker.log_tail(30)}"
        marker = tmp_path / "served-after-restart"
        client = redis.Redis.from_url(server.url)
        Queue(QUEUE_NAMES[-1], connection=client).enqueue(marker.touch)
        _wait(marker.exists, 30, "the worker to serve a task after the restart")
    finally:
        worker.stop()
        server.stop()
