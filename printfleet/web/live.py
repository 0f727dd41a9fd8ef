"""Live state of one web process: the printer board, the queue view and Server-Sent Events.

One task per process follows the state store's change announcements (Redis pub/sub,
:data:`printfleet.store.STATE_CHANGED_CHANNEL`) and :data:`JOBS_CHANGED_CHANNEL`; it keeps every printer's
public JSON pre-encoded (``GET /api/printers`` returns the joined bytes) and pushes each change to the
connected pages. Pages never poll the database: the queue view is recomputed once per process when a job
changes (announced, or seen by a cheap signature check every few seconds for writers that do not announce).

Each SSE client has a small mailbox keyed by printer, so a slow client gets the newest state of each
printer rather than an ever-growing backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis
import redis.asyncio as aioredis
from sqlalchemy import Engine
from sqlmodel import Session

from printfleet import db
from printfleet.config import FleetConfig, PrinterConfig
from printfleet.models import JobStatus, Printer
from printfleet.queue.dispatch import JOBS_CHANGED_CHANNEL
from printfleet.state import PrinterState, PrinterStatus, StateFormatError
from printfleet.store import STATE_CHANGED_CHANNEL, StateStore
from printfleet.web.queueview import FleetView, JobBrief, compute_view, job_signature

logger = logging.getLogger(__name__)

SIGNATURE_CHECK_S = 2.0
FORCED_REFRESH_S = 30.0
HEARTBEAT_S = 15.0
RECONNECT_S = 1.0
STOP_WAIT_S = 5.0
WALL_QUEUE_LIMIT = 40
WALL_PICKUP_LIMIT = 20


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def _temp(state: PrinterState | None, *heaters: str) -> dict[str, float | None] | None:
    if state is None:
        return None
    for heater in heaters:
        temp = state.temp(heater)
        if temp is not None:
            return {"actual": temp.actual, "target": temp.target}
    return None


def printer_public(cfg: PrinterConfig, state: PrinterState | None, row: Printer | None, job: JobBrief | None) -> dict[str, Any]:
    """What anyone may see of a printer: no address, no API key, no file or user name."""
    status = state.status.value if state is not None else PrinterStatus.OFFLINE.value
    progress = state.job.fraction if state is not None and state.job is not None else None
    remaining = state.job.remaining_s if state is not None and state.job is not None else None
    eta = state.eta if state is not None else None
    return {
        "id": cfg.id,
        "name": cfg.name,
        "status": status,
        "maintenance": bool(row.maintenance) if row is not None else False,
        "bed_clear": bool(row.bed_clear) if row is not None else True,
        "material": cfg.material,
        "colour": cfg.colour,
        "nozzle_mm": cfg.nozzle_mm,
        "build_volume_mm": list(cfg.build_volume_mm),
        "progress": progress,
        "remaining_s": remaining,
        "eta": eta.isoformat() if eta is not None else None,
        "nozzle_temp": _temp(state, "tool0", "nozzle", "tool"),
        "bed_temp": _temp(state, "bed"),
        "error": state.error if state is not None else None,
        "observed_at": state.observed_at.isoformat() if state is not None else None,
        "job": {"id": job.id, "code": job.code, "nickname": job.nickname, "status": job.status.value} if job else None,
    }


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` has passed; True when it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives as the event is set,
    and the cancelled task then runs on (the web app's shutdown waited for it forever).
    """
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True


def _encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def sse_event(event: str, data: bytes) -> bytes:
    """One Server-Sent Event (``data`` is one line of JSON)."""
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


class SseClient:
    """One connected page: the newest pending event per key, and a flag that wakes its writer."""

    __slots__ = ("pending", "wake")

    def __init__(self) -> None:
        self.pending: dict[str, bytes] = {}
        self.wake = asyncio.Event()

    def offer(self, key: str, event: bytes) -> None:
        """Queue ``event``, replacing an undelivered one with the same key."""
        self.pending[key] = event
        self.wake.set()

    def take(self) -> bytes:
        """Everything pending, in one chunk."""
        self.wake.clear()
        data = b"".join(self.pending.values())
        self.pending.clear()
        return data


class LiveHub:
    """Printer board, queue view and SSE fan-out of one web process."""

    def __init__(self, fleet: FleetConfig, engine: Engine, redis_url: str) -> None:
        self.fleet = fleet
        self.engine = engine
        self.redis_url = redis_url
        self.configs = {p.id: p for p in fleet.printers}
        self.states: dict[str, PrinterState] = {}
        self.view = FleetView(now=time.time())
        self.clients: set[SseClient] = set()
        self.connected = False
        self.dispatch_latency_observer: Callable[[float], None] | None = None
        self._public: dict[str, dict[str, Any]] = {}
        self._fragments: dict[str, bytes] = {}
        self._body: bytes | None = None
        self._jobs_payload = b"{}"
        self._view_dirty = asyncio.Event()
        self._signature: tuple[object, ...] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._printing_seen: set[int] = set()
        for printer_id in self.configs:
            self._set_printer(printer_id)
        self._jobs_payload = _encode(self._jobs_public())

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Load the current states and jobs, then follow changes in the background."""
        self._loop = asyncio.get_running_loop()
        await self._resync_states()
        await self.refresh_view()
        self._tasks = [
            asyncio.create_task(self._listen(), name="printfleet-web-listen"),
            asyncio.create_task(self._refresher(), name="printfleet-web-refresh"),
        ]

    async def stop(self) -> None:
        """Stop following changes (waits at most STOP_WAIT_S for the background tasks to end)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=STOP_WAIT_S)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    logger.warning("background task %s had failed: %s", task.get_name(), task.exception())
            for task in pending:
                logger.warning("background task %s did not stop within %.0f s", task.get_name(), STOP_WAIT_S)
        self._tasks = []

    # ------------------------------------------------------------------ printers

    def _set_printer(self, printer_id: str) -> bytes | None:
        """Rebuild one printer's public form; return its encoding when it changed."""
        cfg = self.configs.get(printer_id)
        if cfg is None:
            return None
        public = printer_public(cfg, self.states.get(printer_id), self.view.printer_rows.get(printer_id),
                                self.view.on_printer.get(printer_id))
        if self._public.get(printer_id) == public:
            return None
        self._public[printer_id] = public
        encoded = _encode(public)
        self._fragments[printer_id] = encoded
        self._body = None
        return encoded

    def printers_body(self) -> bytes:
        """``GET /api/printers``: the public list, encoded once per change."""
        body = self._body
        if body is None:
            body = b"[" + b",".join(self._fragments[p] for p in self.configs) + b"]"
            self._body = body
        return body

    def printer(self, printer_id: str) -> dict[str, Any] | None:
        """One printer's public form."""
        return self._public.get(printer_id)

    def printers(self) -> list[dict[str, Any]]:
        """Every printer's public form, in fleet order."""
        return [self._public[p] for p in self.configs]

    def on_state(self, state: PrinterState) -> None:
        """Take an announced state: update the board and tell the pages."""
        if state.printer_id not in self.configs:
            return
        old = self.states.get(state.printer_id)
        if old is not None and state.observed_at < old.observed_at:
            return
        self.states[state.printer_id] = state
        encoded = self._set_printer(state.printer_id)
        if encoded is not None:
            self.broadcast("p:" + state.printer_id, sse_event("printer", encoded))
        if old is None or old.status != state.status:
            self._view_dirty.set()

    # ------------------------------------------------------------------ jobs

    def mark_jobs_changed(self) -> None:
        """Recompute the queue view soon (this process changed a job); callable from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._view_dirty.set()
        else:
            loop.call_soon_threadsafe(self._view_dirty.set)

    def fresh_view(self, session: Session) -> FleetView:
        """A queue view computed now, in the caller's session (for a response that must include a new job)."""
        return compute_view(session, self.fleet, dict(self.states))

    async def refresh_view(self) -> None:
        """Recompute the queue view from the database and push what changed."""
        states = dict(self.states)
        try:
            view, signature = await asyncio.to_thread(self._compute, states)
        except Exception as exc:  # noqa: BLE001 - database briefly unavailable: keep the last view
            logger.warning("could not refresh the queue view: %s", exc)
            return
        self._signature = signature
        self._observe_dispatch(view)
        self.view = view
        for printer_id in self.configs:
            encoded = self._set_printer(printer_id)
            if encoded is not None:
                self.broadcast("p:" + printer_id, sse_event("printer", encoded))
        payload = _encode(self._jobs_public())
        if payload != self._jobs_payload:
            self._jobs_payload = payload
            self.broadcast("jobs", sse_event("jobs", payload))

    def _compute(self, states: dict[str, PrinterState]) -> tuple[FleetView, tuple[object, ...]]:
        with db.session_scope(self.engine) as session:
            return compute_view(session, self.fleet, states), job_signature(session)

    def _signature_now(self) -> tuple[object, ...]:
        with db.session_scope(self.engine) as session:
            return job_signature(session)

    def _observe_dispatch(self, view: FleetView) -> None:
        seen = set()
        for brief in view.on_printer.values():
            if brief.status is JobStatus.PRINTING:
                seen.add(brief.id)
                if (brief.id not in self._printing_seen and brief.started_at and brief.queued_at
                        and self.dispatch_latency_observer is not None and self._signature is not None):
                    self.dispatch_latency_observer(max(0.0, brief.started_at - brief.queued_at))
        self._printing_seen = seen

    def _jobs_public(self) -> dict[str, Any]:
        view = self.view
        names = {p.id: p.name for p in self.fleet.printers}
        codes: dict[str, dict[str, Any]] = {}
        for brief in view.by_id.values():
            codes[brief.code] = {
                "status": brief.status.value,
                "position": brief.position,
                "start_at": _iso(brief.start_at),
                "printer": names.get(brief.printer_id or "") if brief.status is not JobStatus.QUEUED else None,
            }
        return {
            "queue": [
                {"code": b.code, "nickname": b.nickname, "position": b.position, "start_at": _iso(b.start_at)}
                for b in view.queue[:WALL_QUEUE_LIMIT]
            ],
            "queue_length": len(view.queue),
            "approvals": len(view.approvals),
            "pickup": [
                {"code": b.code, "nickname": b.nickname, "printer": names.get(b.printer_id or "", "")}
                for b in view.pickup[:WALL_PICKUP_LIMIT]
            ],
            "codes": codes,
        }

    def jobs_payload(self) -> bytes:
        """The wall's jobs part (queue, pickup, status by code), encoded."""
        return self._jobs_payload

    # ------------------------------------------------------------------ SSE

    def broadcast(self, key: str, event: bytes) -> None:
        """Offer an event to every connected page."""
        for client in self.clients:
            client.offer(key, event)

    def snapshot(self) -> bytes:
        """Everything a page needs on (re)connecting."""
        parts = [sse_event("printer", self._fragments[p]) for p in self.configs]
        parts.append(sse_event("jobs", self._jobs_payload))
        return b"".join(parts)

    async def stream(self) -> AsyncIterator[bytes]:
        """One client's event stream: a snapshot, then changes, with heartbeats."""
        client = SseClient()
        self.clients.add(client)
        try:
            yield b"retry: 2000\n\n" + self.snapshot()
            while True:
                if not await wait_event(client.wake, HEARTBEAT_S):
                    yield b": ping\n\n"
                    continue
                yield client.take()
        finally:
            self.clients.discard(client)

    # ------------------------------------------------------------------ background tasks

    async def _resync_states(self) -> None:
        try:
            states = await asyncio.to_thread(self._read_states)
        except (redis.RedisError, OSError) as exc:
            logger.warning("could not read printer states from Redis: %s", exc)
            return
        for state in states.values():
            self.on_state(state)

    def _read_states(self) -> dict[str, PrinterState]:
        store = StateStore.from_url(self.redis_url)
        try:
            return store.all()
        finally:
            store.close()

    async def _listen(self) -> None:
        warned = False
        while True:
            client = aioredis.from_url(self.redis_url, socket_connect_timeout=2, health_check_interval=10)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(STATE_CHANGED_CHANNEL, JOBS_CHANGED_CHANNEL)
                self.connected = True
                if warned:
                    logger.info("following printer and job changes again")
                    warned = False
                await self._resync_states()
                self._view_dirty.set()
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        continue
                    channel = message["channel"]
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    if channel == JOBS_CHANGED_CHANNEL:
                        self._view_dirty.set()
                        continue
                    try:
                        self.on_state(PrinterState.from_json(message["data"]))
                    except StateFormatError as exc:
                        logger.warning("ignoring an unreadable state announcement: %s", exc)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                self.connected = False
                if not warned:
                    logger.warning("lost the Redis subscription (%s); retrying every %.0f s", exc, RECONNECT_S)
                    warned = True
                await asyncio.sleep(RECONNECT_S)
            finally:
                with contextlib.suppress(Exception):  # closing a broken connection
                    await pubsub.aclose()
                    await client.aclose()

    async def _refresher(self) -> None:
        last_full = time.monotonic()
        while True:
            if await wait_event(self._view_dirty, SIGNATURE_CHECK_S):
                await asyncio.sleep(0.05)  # let a burst of changes settle
                self._view_dirty.clear()
                await self.refresh_view()
                last_full = time.monotonic()
                continue
            try:
                if time.monotonic() - last_full > FORCED_REFRESH_S:
                    await self.refresh_view()
                    last_full = time.monotonic()
                    continue
                signature = await asyncio.to_thread(self._signature_now)
                if signature != self._signature:
                    await self.refresh_view()
                    last_full = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - checked again in a moment
                logger.debug("signature check failed: %s", exc)
