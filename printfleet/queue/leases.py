"""Leases in Redis: a printer (or job) is held by one dispatcher at a time, for a bounded time.

A lease is a redis-py :class:`~redis.lock.Lock` (``SET NX PX`` plus token-checked release/extend in Lua)
whose token can be handed from the monitor that took it to the worker that carries the dispatch out.
"""

from __future__ import annotations

import logging

import redis
from redis.exceptions import LockError

logger = logging.getLogger(__name__)

LEASE_PREFIX = "printfleet:lease:"


def printer_lease_name(printer_id: str) -> str:
    """The Redis key of a printer's dispatch lease."""
    return f"{LEASE_PREFIX}printer:{printer_id}"


class Lease:
    """A named lease with expiry, identified by a token that can travel between processes."""

    def __init__(self, client: redis.Redis, name: str, ttl_s: float, token: str | None = None) -> None:
        self.name = name
        self.ttl_s = ttl_s
        self._lock = client.lock(name, timeout=ttl_s, blocking=False, thread_local=False)
        if token is not None:
            self._lock.local.token = token.encode()

    @property
    def token(self) -> str | None:
        """The token that identifies this holder (``None`` before acquiring)."""
        raw = self._lock.local.token
        return raw.decode() if isinstance(raw, bytes) else raw

    def acquire(self) -> bool:
        """Take the lease if nobody holds it; never waits."""
        return bool(self._lock.acquire(blocking=False))

    def is_held(self) -> bool:
        """Whether this token still holds the lease (it may have expired)."""
        return bool(self.token) and self._lock.owned()

    def extend(self, ttl_s: float | None = None) -> bool:
        """Reset the expiry to ``ttl_s`` from now; False if the lease was lost."""
        try:
            return bool(self._lock.extend(ttl_s or self.ttl_s, replace_ttl=True))
        except LockError:
            return False

    def release(self) -> bool:
        """Give the lease back; False if it had already expired or passed to someone else."""
        try:
            self._lock.release()
            return True
        except LockError:
            return False
