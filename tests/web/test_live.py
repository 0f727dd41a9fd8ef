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
        assert asyncio.run(scenario()) == [True, True, True]  # listen, read cards, plan
    finally:
        engine.dispose()


@pytest.mark.integration
def test_a_large_fleet_plans_its_queue_in_a_process_of_its_own(web_settings: Settings, monkeypatch) -> None:
    from printfleet.accounts import add_user
    from printfleet.models import FileKind, Job, JobStatus, Printer
    from printfleet.web import live

    monkeypatch.setattr(live, "PLAN_IN_CHILD_FROM", 1)  # the shipped fleet has 4 printers
    engine = db.make_engine(web_settings.effective_database_url)
    fleet = load_fleet(web_settings.config)
    with db.session_scope(engine) as session:
        for printer in fleet.printers:
            session.add(Printer(id=printer.id, name=printer.name))
        owner = add_user(session, name="ada", password="correct horse battery", nickname="Ada")
        session.flush()
        session.add(Job(code="QUEUE", owner_id=owner.id, status=JobStatus.QUEUED, file_name="a.stl",
                        file_sha256="0" * 64, file_kind=FileKind.STL, file_size=1, material="TPU"))
    hub = LiveHub(fleet, engine, web_settings.effective_redis_url)

    async def scenario() -> tuple[bool, list[str], int, list[str]]:
        await hub.start()
        try:
            in_child = hub._planner_pool is not None
            await hub.refresh_view()  # in the planning process
            planned = [brief.code for brief in hub.view.queue]
            hub._planner_pool.shutdown()  # the planning process is gone: this process plans
            hub.view.queue.clear()
            await hub.refresh_view()
            return in_child, planned, len(hub.view.printer_rows), [brief.code for brief in hub.view.queue]
        finally:
            await hub.stop()

    try:
        in_child, planned, rows, replanned = asyncio.run(scenario())
    finally:
        engine.dispose()
    assert in_child and planned == ["QUEUE"] and rows == 4  # the queue from there, the printers from here
    assert hub.view.queue[0].reason is not None  # why it waits came back with it
    assert replanned == ["QUEUE"] and hub._planner_pool is None
