"""The one place printer states go: the newest :class:`PrinterState` per printer, in Redis.

Every source (MQTT ingest, REST polling, a worker that just asked its driver) calls :meth:`StateStore.put`.
One Lua script per state compares it with the stored one, so that an older observation never replaces
a newer one even when several processes write, stores it, and announces real changes (status, job,
temperatures, error; not a mere new ``observed_at``) on the Redis channel :data:`STATE_CHANGED_CHANNEL`
with the state's JSON as the message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Any

import redis

from printfleet.events import STATE_CHANGED_CHANNEL
from printfleet.state import PrinterState, StateFormatError

logger = logging.getLogger(__name__)

_STATES_KEY = "printfleet:printer_state"
_TS_KEY = "printfleet:printer_state_ts"
_SIG_KEY = "printfleet:printer_state_sig"

# KEYS: states, timestamps, signatures. ARGV: id, ts, json, signature, channel.
# Stale rule = printfleet.state.is_stale: older whole second; within one second only when both are precise.
_PUT_SCRIPT = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
local new_ts = tonumber(ARGV[2])
if old then
  local old_ts = tonumber(old)
  local nf, of = math.floor(new_ts), math.floor(old_ts)
  if nf < of then return 0 end
  if nf == of and new_ts ~= nf and old_ts ~= of and new_ts < old_ts then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[4] then return 1 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[3])
return 2
"""


class PutResult(StrEnum):
    """What :meth:`StateStore.put` did."""

    STALE = "stale"  # older than the stored state: ignored
    STORED = "stored"  # stored, same content as before: not announced
    CHANGED = "changed"  # stored and announced


_RESULTS = {0: PutResult.STALE, 1: PutResult.STORED, 2: PutResult.CHANGED}


class StateStore:
    """Latest printer states in Redis, with change announcements.

    Args:
        client: a Redis client (``decode_responses`` either way).
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._script = client.register_script(_PUT_SCRIPT)
        self._bad_logged: set[str] = set()

    @classmethod
    def from_url(cls, url: str) -> StateStore:
        """A store on the Redis at ``url``."""
        return cls(redis.Redis.from_url(url, socket_timeout=5, health_check_interval=30))

    def _args(self, state: PrinterState, encoded: str | None = None) -> list[Any]:
        return [
            state.printer_id,
            repr(state.observed_ts),
            encoded or state.to_json(),
            state.content_key(),
            STATE_CHANGED_CHANNEL,
        ]

    def put(self, state: PrinterState) -> PutResult:
        """Store ``state`` unless a newer one is stored; announce it if its content changed.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        code = self._script(keys=[_STATES_KEY, _TS_KEY, _SIG_KEY], args=self._args(state))
        return _RESULTS[int(code)]

    def put_many(
        self, states: Iterable[PrinterState], *, encoded: list[str] | None = None
    ) -> list[PutResult]:
        """:meth:`put` for several states, in order, in one round trip.

        Args:
            states: the states.
            encoded: their ``to_json()``, if the caller has it already.

        Raises:
            redis.RedisError: Redis is unreachable.
        """
        states = list(states)
        if not states:
            return []
        pipe = self.client.pipeline(transaction=False)
        for index, state in enumerate(states):
            args = self._args(state, encoded[index] if encoded is not None else None)
            self._script(keys=[_STATES_KEY, _TS_KEY, _SIG_KEY], args=args, client=pipe)
        return [_RESULTS[int(code)] for code in pipe.execute()]

    def _decode(self, printer_id: str, raw: bytes | str | None) -> PrinterState | None:
        if raw is None:
            return None
        try:
            return PrinterState.from_json(raw)
        except StateFormatError as exc:
            if printer_id not in self._bad_logged:
                self._bad_logged.add(printer_id)
                logger.warning("stored state of printer %s is unreadable, ignoring it: %s", printer_id, exc)
            return None

    def get(self, printer_id: str) -> PrinterState | None:
        """The newest state of one printer, or ``None``."""
        return self._decode(printer_id, self.client.hget(_STATES_KEY, printer_id))

    def all(self) -> dict[str, PrinterState]:
        """The newest state of every printer with one."""
        result: dict[str, PrinterState] = {}
        for key, raw in self.client.hgetall(_STATES_KEY).items():
            printer_id = key.decode() if isinstance(key, bytes) else str(key)
            state = self._decode(printer_id, raw)
            if state is not None:
                result[printer_id] = state
        return result

    def delete(self, printer_id: str) -> None:
        """Forget a printer's state (e.g. when it leaves the fleet)."""
        pipe = self.client.pipeline()
        for key in (_STATES_KEY, _TS_KEY, _SIG_KEY):
            pipe.hdel(key, printer_id)
        pipe.execute()

    def changes(self, timeout_s: float | None = None) -> Iterator[PrinterState]:
        """Follow announced changes (blocking). Stops after ``timeout_s`` without one, if given.

        The subscription starts when the generator is first advanced; close it to unsubscribe.
        """
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(STATE_CHANGED_CHANNEL)
        last_at = time.monotonic()
        try:
            while True:
                message = pubsub.get_message(timeout=min(timeout_s, 1.0) if timeout_s is not None else 1.0)
                if message is None:  # nothing yet, or the subscribe confirmation
                    if timeout_s is not None and time.monotonic() - last_at >= timeout_s:
                        return
                    continue
                last_at = time.monotonic()
                try:
                    yield PrinterState.from_json(message["data"])
                except StateFormatError as exc:
                    logger.warning("ignoring an unreadable state announcement: %s", exc)
        finally:
            pubsub.close()

    def close(self) -> None:
        """Close the Redis connections."""
        self.client.close()
