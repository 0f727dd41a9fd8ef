"""The live hub's background tasks: they stop when the app shuts down, whatever they were waiting on."""

from __future__ import annotations

import asyncio

import pytest

from printfleet import db
from printfleet.config import load_fleet
from printfleet.settings import Settings
from printfleet.web.live import LiveHub, wait_event


async def _follow(event: asyncio.Event, woken: list[int]) -> None:
    """Wait for the event again and again, as the hub's refresher does."""
    while True:
        if await wait_event(event, 10.0):
            event.clear()
            woken.append(1)


@pytest.mark.parametrize("steps_between", [0, 1, 2, 3])
def test_a_cancellation_that_comes_as_the_event_is_set_stops_the_waiter(steps_between: int) -> None:
    # asyncio.wait_for on Python 3.11 swallows the cancellation for 0-2 steps here, and the task runs on
    async def scenario() -> bool:
        event, woken = asyncio.Event(), []
        task = asyncio.create_task(_follow(event, woken))
        for _ in range(3):
            await asyncio.sleep(0)
        event.set()
        for _ in range(steps_between):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1.0)
        task.cancel()
        return bool(done)

    assert asyncio.run(scenario())


def test_wait_event_reports_a_timeout_and_a_set_event() -> None:
    async def scenario() -> tuple[bool, bool]:
        event = asyncio.Event()
        timed_out = await wait_event(event, 0.01)
        event.set()
        return timed_out, await wait_event(event, 0.01)

    assert asyncio.run(scenario()) == (False, True)


def test_the_hub_stops_when_a_change_arrives_as_it_stops(web_settings: Settings) -> None:
    engine = db.make_engine(web_settings.effective_database_url)
    hub = LiveHub(load_fleet(web_settings.config), engine, web_settings.effective_redis_url)

    async def scenario() -> list[bool]:
        await hub.start()
        tasks = list(hub._tasks)
        for _ in range(5):
            await asyncio.sleep(0)
        hub._view_dirty.set()  # a job changed just as the app shuts down
        await hub.stop()
        return [task.done() for task in tasks]

    try:
        assert asyncio.run(scenario()) == [True, True]
    finally:
        engine.dispose()
