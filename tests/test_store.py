"""StateStore against a real redis-server: newest wins, changes are announced once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import redis

from printfleet.state import PrinterState, PrinterStatus, StateSource, Temperature
from printfleet.store import STATE_CHANGED_CHANNEL, PutResult, StateStore

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)


def state(
    status: PrinterStatus, seconds: float, *, printer_id: str = "p1", temp: float = 21.0
) -> PrinterState:
    return PrinterState(
        printer_id,
        status,
        T0 + dt.timedelta(seconds=seconds),
        StateSource.MQTT,
        temps=(Temperature("tool0", temp, 0.0),),
    )


@pytest.fixture()
def store(redis_url: str) -> StateStore:
    s = StateStore.from_url(redis_url)
    yield s
    s.close()


def test_put_get_all(store: StateStore) -> None:
    assert store.get("p1") is None
    assert store.put(state(PrinterStatus.IDLE, 0)) is PutResult.CHANGED
    assert store.put(state(PrinterStatus.IDLE, 1)) is PutResult.STORED  # same content, newer time
    assert store.get("p1") == state(PrinterStatus.IDLE, 1)
    store.put(state(PrinterStatus.PRINTING, 1, printer_id="p2"))
    assert set(store.all()) == {"p1", "p2"}
    store.delete("p2")
    assert set(store.all()) == {"p1"}


def test_older_never_replaces_newer(store: StateStore) -> None:
    store.put(state(PrinterStatus.FINISHED, 10.5))
    assert store.put(state(PrinterStatus.PRINTING, 9.0)) is PutResult.STALE  # an older second
    assert store.put(state(PrinterStatus.PRINTING, 10.2)) is PutResult.STALE  # both precise: exact
    assert store.get("p1").status is PrinterStatus.FINISHED  # type: ignore[union-attr]
    # a whole-second MQTT stamp of the same second is not older
    assert store.put(state(PrinterStatus.IDLE, 10.0)) is PutResult.CHANGED


def test_put_many_in_order_and_announcements(store: StateStore, redis_url: str) -> None:
    received: list[PrinterState] = []
    ready = threading.Event()

    def follow() -> None:
        follower = StateStore.from_url(redis_url)
        gen = follower.changes(timeout_s=1.5)
        ready.set()
        received.extend(gen)
        follower.close()

    thread = threading.Thread(target=follow)
    thread.start()
    ready.wait()
    client = redis.Redis.from_url(redis_url)
    while client.pubsub_numsub(STATE_CHANGED_CHANNEL)[0][1] == 0:
        pass
    results = store.put_many(
        [state(PrinterStatus.PRINTING, 1, temp=t) for t in (20.0, 21.0, 21.0)]
        + [state(PrinterStatus.IDLE, 0.5)]
    )
    assert results == [PutResult.CHANGED, PutResult.CHANGED, PutResult.STORED, PutResult.STALE]
    thread.join()
    assert [s.temp("tool0").actual for s in received] == [20.0, 21.0]  # type: ignore[union-attr]
    client.close()


def test_unreadable_stored_state_is_ignored(store: StateStore, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hset("printfleet:printer_state", "junk", "not json")
    store.put(state(PrinterStatus.IDLE, 0))
    assert store.get("junk") is None
    assert set(store.all()) == {"p1"}
    client.close()
