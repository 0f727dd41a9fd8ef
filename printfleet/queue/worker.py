"""``printfleet worker``: an RQ worker for printfleet's queues."""

from __future__ import annotations

import logging
import os
import socket

from rq import Queue, Worker

from printfleet.runtime import connect_redis
from printfleet.settings import Settings

logger = logging.getLogger(__name__)

#: queues in the order a worker serves them: printer commands before slow slicing
QUEUE_NAMES = ("printfleet-dispatch", "printfleet-slicing", "printfleet-default")


def run_worker(settings: Settings, *, burst: bool = False) -> bool:
    """Serve printfleet's queues until SIGTERM (or, with ``burst``, until they are empty).

    Raises:
        ServiceUnavailable: Redis cannot be reached.
    """
    client = connect_redis(settings.effective_redis_url)
    import printfleet.estimate.slicer
    import printfleet.queue.tasks  # noqa: F401

    queues = [Queue(name, connection=client) for name in QUEUE_NAMES]
    worker = Worker(queues, connection=client, name=f"printfleet.{socket.gethostname()}.{os.getpid()}")
    logger.info("worker %s serving %s", worker.name, ", ".join(QUEUE_NAMES))
    return worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
