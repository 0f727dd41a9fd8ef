"""``printfleet worker``: an RQ worker for printfleet's queues that rides out a Redis restart.

RQ's worker quits when Redis goes away while it is busy: watching its work horse, it sends a heartbeat, gets a
connection error and gives up, then fails again registering its death. On a site with several machines one Redis
restart would take every busy worker down. Here a worker that stopped without being asked to lets its task's work
horse finish, waits until Redis answers again, and serves the queues again as a new RQ worker. What the lost
task did is settled by printfleet itself: the database is the source of truth and the monitor reconciles
dispatches whose outcome is unknown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import redis
from rq import Queue, Worker

from printfleet.runtime import connect_redis
from printfleet.settings import Settings

logger = logging.getLogger(__name__)

#: queues in the order a worker serves them: printer commands before slow slicing
QUEUE_NAMES = ("printfleet-dispatch", "printfleet-slicing", "printfleet-default")
#: waits between attempts to serve again after the worker stopped on its own
RESTART_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)


class PrintfleetWorker(Worker):
    """RQ's forking worker that remembers whether it was told to stop (SIGTERM/SIGINT)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop_signalled = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """Warm shutdown on a signal; with Redis gone, stop without telling it."""
        self.stop_signalled = True
        try:
            super().request_stop(signum, frame)
        except (redis.ConnectionError, redis.TimeoutError):
            self._stop_requested = True


def run_worker(settings: Settings, *, burst: bool = False) -> bool:
    """Serve printfleet's queues until SIGTERM (or, with ``burst``, until they are empty).

    Returns whether any task was run.

    Raises:
        ServiceUnavailable: Redis cannot be reached at start.
    """
    client = connect_redis(settings.effective_redis_url)
    import printfleet.estimate.slicer
    import printfleet.queue.tasks  # noqa: F401

    worked = False
    restarts = 0
    while True:
        queues = [Queue(name, connection=client) for name in QUEUE_NAMES]
        worker = PrintfleetWorker(queues, connection=client, name=f"printfleet.{socket.gethostname()}.{os.getpid()}"
                                  f".{restarts}")  # fmt: skip
        logger.info("worker %s serving %s", worker.name, ", ".join(QUEUE_NAMES))
        started = time.monotonic()
        try:
            worked = worker.work(burst=burst, with_scheduler=True, logging_level="WARNING") or worked
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # e.g. registering its death without Redis
            logger.warning("worker %s stopped: Redis is unavailable (%s)", worker.name, exc)
        if burst or worker.stop_signalled:
            return worked
        _reap_horse(worker)
        if not _wait_for_redis(client):
            return worked
        if time.monotonic() - started > 300:
            restarts = 0
        delay = RESTART_DELAYS_S[min(restarts, len(RESTART_DELAYS_S) - 1)]
        restarts += 1
        logger.warning("worker %s stopped without being asked to; serving again in %.0f s", worker.name, delay)
        if _sleep_unless_signalled(delay):
            return worked


def _reap_horse(worker: Worker) -> None:
    """Let the task that was running finish (its work horse is our child) before serving again."""
    pid = worker.horse_pid
    if not pid:
        return
    logger.info("waiting for the task in progress (work horse %s) to end", pid)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


@contextlib.contextmanager
def _stop_on_signal() -> Iterator[threading.Event]:
    """An event that SIGTERM or SIGINT sets while the block runs (RQ's own handlers are not active then)."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_redis(client: redis.Redis) -> bool:
    """Block until Redis answers (True), or until SIGTERM/SIGINT (False)."""
    warned = False
    with _stop_on_signal() as stop:
        while not stop.is_set():
            try:
                client.ping()
                if warned:
                    logger.info("Redis answers again")
                return True
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if not warned:
                    logger.warning("waiting for Redis to come back (%s)", exc)
                    warned = True
            stop.wait(1.0)
    return False


def _sleep_unless_signalled(delay_s: float) -> bool:
    """Sleep ``delay_s``; True when SIGTERM/SIGINT came meanwhile."""
    with _stop_on_signal() as stop:
        return stop.wait(delay_s)
