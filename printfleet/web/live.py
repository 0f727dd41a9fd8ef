"""Live state of one web process: the printer cards, the queue view and Server-Sent Events.

One task per process follows the state store's change announcements (Redis pub/sub,
:data:`printfleet.store.STATE_CHANGED_CHANNEL`) and :data:`JOBS_CHANGED_CHANNEL`. For every printer it keeps
the card (:func:`printfleet.web.cards.printer_card`), its JSON pre-encoded (``GET /api/printers`` returns the
joined bytes) and its HTML fragment per language and variant, rendered when what the card shows changed and
only for the languages and variants pages use; each change goes to the connected pages. Pages never poll the
database: the queue view is recomputed once per process when a job changes (announced, or seen by a cheap
signature check every few seconds for writers that do not announce).

Each SSE client has a small mailbox keyed by printer, so a slow client gets the newest card of each printer
rather than an ever-growing backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import multiprocessing
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import redis
import redis.asyncio as aioredis
from markupsafe import Markup
from sqlalchemy import Engine
from sqlmodel import Session, select

from printfleet import db
from printfleet.config import FleetConfig
from printfleet.models import JobStatus, Printer
from printfleet.queue.dispatch import JOBS_CHANGED_CHANNEL
from printfleet.queue.policy import Reason
from printfleet.state import PrinterState, StateFormatError
from printfleet.store import STATE_CHANGED_CHANNEL, StateStore
from printfleet.web.cards import (
    PrinterCard,
    card_language,
    newest_pickup,
    printer_card,
    render_card,
    shows_the_same,
)
from printfleet.web.queueview import FleetView, JobBrief, compute_view, job_signature

logger = logging.getLogger(__name__)

SIGNATURE_CHECK_S = 2.0
FORCED_REFRESH_S = 30.0
#: the queue (positions, expected starts) is planned again at most this often; the cards follow at once
PLAN_MIN_INTERVAL_S = 2.0
#: announcements (``status``, without a job) that change only printer rows: the cards read just those
ROW_CHANGES = frozenset({"bed_clear", "maintenance"})
#: fleets this large plan their queue view in a process of their own (it holds the GIL for a second at 1,000)
PLAN_IN_CHILD_FROM = 200
#: how old a reading no card shows may be in ``GET /api/printers`` (what the cards show is never behind)
READINGS_MAX_AGE_S = 1.0
HEARTBEAT_S = 15.0
RECONNECT_S = 1.0
STOP_WAIT_S = 5.0
WALL_QUEUE_LIMIT = 40
WALL_PICKUP_LIMIT = 20


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


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


@dataclass(frozen=True)
class StreamFilter:
    """What one page follows.

    ``variant`` ``None``: printer events carry the card's JSON only; ``wall``/``staff``: also its HTML fragment
    in ``lang`` (and the wall gets its queue and pickup lists as HTML, ``lists``, instead of ``jobs``).
    ``printer``: that printer's events only. ``code``: the ``jobs`` event holds that job only, and printer
    events come only for ``printer`` (none without it).
    """

    lang: str = "en"
    variant: str | None = None
    printer: str | None = None
    code: str | None = None

    def wants(self, printer_id: str) -> bool:
        """Whether printer events of ``printer_id`` go to this page."""
        if self.printer is not None:
            return printer_id == self.printer
        return self.code is None


class SseClient:
    """One connected page: the newest pending event per key, and a flag that wakes its writer."""

    __slots__ = ("filter", "pending", "wake")

    def __init__(self, stream_filter: StreamFilter | None = None) -> None:
        self.filter = stream_filter or StreamFilter()
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
    """Printer cards, queue view and SSE fan-out of one web process."""

    def __init__(self, fleet: FleetConfig, engine: Engine, redis_url: str) -> None:
        self.fleet = fleet
        self.engine = engine
        self.redis_url = redis_url
        self.configs = {p.id: p for p in fleet.printers}
        self.states: dict[str, PrinterState] = {}
        self.view = FleetView(now=time.time())
        self.clients: set[SseClient] = set()
        self._groups: dict[tuple[str, str | None], set[SseClient]] = {}
        self.connected = False
        self.dispatch_latency_observer: Callable[[float], None] | None = None
        self.cards: dict[str, PrinterCard] = {}
        self._public: dict[str, dict[str, Any] | None] = {}  # None: changed, encoded again when asked for
        self._json: dict[str, bytes | None] = {}
        self._html: dict[tuple[str, str], dict[str, tuple[tuple[object, ...], Markup]]] = {}
        self._sent: dict[tuple[str, str | None], dict[str, tuple[object, ...]]] = {}  # what each page group shows
        self._stale: set[str] = set()  # cards whose JSON lags their state by readings the card does not show
        self._body: bytes | None = None  # None: a card changed
        self._body_at = 0.0
        self._readings_at = 0.0  # when a reading no card shows last came in
        self._pickup: dict[str, JobBrief] = {}
        self._jobs: dict[str, Any] = {}
        self._jobs_payload = b"{}"
        self._lists: dict[str, bytes] = {}
        self._lists_html: dict[str, dict[str, Markup]] = {}
        self._view_dirty = asyncio.Event()  # jobs or printer rows changed: read them again, then plan
        self._plan_due = asyncio.Event()  # the queue should be planned again (at most every PLAN_MIN_INTERVAL_S)
        self._planner_pool: ProcessPoolExecutor | None = None
        self._jobs_dirty = True  # False: only printer rows changed since the cards were last read
        self._reads = 0  # database reads started; a view applies only over older ones
        self._applied = 0
        self._signature: tuple[object, ...] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._printing_seen: set[int] = set()
        now = time.time()
        for printer_id in self.configs:
            self._set_card(printer_id, now)
        self._set_jobs()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Load the current states and jobs, then follow changes in the background."""
        self._loop = asyncio.get_running_loop()
        await self._resync_states()
        await self.refresh_view()
        if len(self.configs) >= PLAN_IN_CHILD_FROM and not multiprocessing.current_process().daemon:
            self._planner_pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_planner,
                initargs=(self.fleet, self.engine.url.render_as_string(hide_password=False)),
            )  # fmt: skip
        self._tasks = [
            asyncio.create_task(self._listen(), name="printfleet-web-listen"),
            asyncio.create_task(self._refresher(), name="printfleet-web-refresh"),
            asyncio.create_task(self._planner(), name="printfleet-web-plan"),
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
        if self._planner_pool is not None:
            self._planner_pool.shutdown(wait=False, cancel_futures=True)
            self._planner_pool = None

    # ------------------------------------------------------------------ printer cards

    def _set_card(self, printer_id: str, now: float) -> bool:
        """Derive one printer's card again; True when it changed."""
        cfg = self.configs.get(printer_id)
        if cfg is None:
            return False
        self._stale.discard(printer_id)
        view = self.view
        card = printer_card(cfg, self.states.get(printer_id), row=view.printer_rows.get(printer_id),
                            job=view.on_printer.get(printer_id), pickup=self._pickup.get(printer_id), now=now)
        if self.cards.get(printer_id) == card:
            return False
        self.cards[printer_id] = card
        self._public[printer_id] = None
        self._json[printer_id] = None
        self._body = None
        return True

    def card_html(self, printer_id: str, lang: str, variant: str) -> Markup:
        """One printer's card fragment, rendered again only when what it shows changed."""
        cache = self._html.get((lang, variant))
        if cache is None:
            cache = self._html[(lang, variant)] = {}
        card = self.cards[printer_id]
        key = card.display_key()
        hit = cache.get(printer_id)
        if hit is not None and hit[0] == key:
            return hit[1]
        html = render_card(card, lang, variant, self.fleet.site, now=time.time())
        cache[printer_id] = (key, html)
        return html

    def cards_html(self, lang: str, variant: str) -> list[Markup]:
        """Every printer's card fragment, in fleet order (the wall and the staff console)."""
        return [self.card_html(printer_id, lang, variant) for printer_id in self.configs]

    def printers_body(self) -> bytes:
        """``GET /api/printers``: every card's JSON, encoded once per change; readings the cards do not show
        (a tenth of a degree) are at most READINGS_MAX_AGE_S old in it (a thousand printers send that many a
        second)."""
        body = self._body
        now = time.monotonic()
        if body is None or (self._readings_at > self._body_at and now - self._body_at > READINGS_MAX_AGE_S):
            body = b"[" + b",".join(self.printer_json(p) for p in self.configs) + b"]"
            self._body, self._body_at = body, now
        return body

    def printer_json(self, printer_id: str) -> bytes:
        """One printer's card, encoded (as in :meth:`printers_body`)."""
        encoded = self._json.get(printer_id)
        if encoded is None:
            encoded = self._json[printer_id] = _encode(self._public_of(printer_id))
        return encoded

    def _public_of(self, printer_id: str) -> dict[str, Any]:
        if printer_id in self._stale:
            self._set_card(printer_id, time.time())  # shows the same: nothing to push
        public = self._public.get(printer_id)
        if public is None:
            public = self._public[printer_id] = self.cards[printer_id].public()
        return public

    def printer(self, printer_id: str) -> dict[str, Any] | None:
        """One printer's card as JSON."""
        return self._public_of(printer_id) if printer_id in self.cards else None

    def printers(self) -> list[dict[str, Any]]:
        """Every printer's card as JSON, in fleet order."""
        return [self._public_of(p) for p in self.configs]

    def _printer_event(self, printer_id: str, lang: str, variant: str | None) -> bytes:
        encoded = self.printer_json(printer_id)
        if variant is None:
            return sse_event("printer", encoded)
        html = self.card_html(printer_id, lang, variant)
        return sse_event("printer", encoded[:-1] + b',"html":' + _encode(str(html)) + b"}")

    def _push_cards(self, printer_ids: list[str]) -> None:
        """Send changed cards to the pages that follow them, when what the card shows changed (each fragment
        rendered once per language and variant)."""
        if not printer_ids:
            return
        for (lang, variant), clients in self._groups.items():
            sent = self._sent.setdefault((lang, variant), {})
            for printer_id in printer_ids:
                if not any(client.filter.wants(printer_id) for client in clients):
                    sent.pop(printer_id, None)  # nobody here has it; whoever comes gets it in their snapshot
                    continue
                key = self.cards[printer_id].display_key()
                if sent.get(printer_id) == key:
                    continue
                sent[printer_id] = key
                event = self._printer_event(printer_id, lang, variant)
                for client in clients:
                    if client.filter.wants(printer_id):
                        client.offer("p:" + printer_id, event)

    def on_state(self, state: PrinterState) -> None:
        """Take an announced state: update the card and tell the pages."""
        if state.printer_id not in self.configs:
            return
        old = self.states.get(state.printer_id)
        if old is not None and state.observed_at < old.observed_at:
            return
        self.states[state.printer_id] = state
        card = self.cards.get(state.printer_id)
        if card is not None and shows_the_same(card, old, state):
            self._stale.add(state.printer_id)  # its JSON is derived again when asked for
            self._public[state.printer_id] = self._json[state.printer_id] = None
            self._readings_at = time.monotonic()
            return
        if self._set_card(state.printer_id, time.time()):
            self._push_cards([state.printer_id])
        if old is None or old.status != state.status:
            self._plan_due.set()  # start estimates depend on what printers do

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
            self._jobs_changed()
        else:
            loop.call_soon_threadsafe(self._jobs_changed)

    def _jobs_changed(self) -> None:
        self._jobs_dirty = True
        self._view_dirty.set()

    def _note_change(self, data: bytes | str) -> None:
        """An announcement on the jobs channel: a bed cleared or maintenance changes only printer rows."""
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not (isinstance(message, dict) and message.get("job_id") is None and message.get("status") in ROW_CHANGES):
            self._jobs_dirty = True
        self._view_dirty.set()

    def fresh_view(self, session: Session) -> FleetView:
        """A queue view computed now, in the caller's session (for a response that must include a new job)."""
        return compute_view(session, self.fleet, dict(self.states))

    async def refresh_view(self) -> None:
        """Read the jobs and plan the queue, then push what changed (planning 1,000 printers takes a second)."""
        await self._refresh(plan_queue=True)

    async def refresh_cards(self) -> None:
        """Read the printer rows, the jobs on the printers and those ready for pickup (not the queue), then push
        what changed: fast, so a finished print reaches the screens at once."""
        await self._refresh(plan_queue=False)

    async def refresh_rows(self) -> None:
        """Read only the printer rows (a bed cleared, maintenance on or off), then push what changed."""
        await self._refresh(plan_queue=False, rows_only=True)

    async def _refresh(self, *, plan_queue: bool, rows_only: bool = False) -> None:
        self._reads += 1
        read = self._reads
        states = dict(self.states)
        pool = self._planner_pool if plan_queue else None
        if pool is not None:
            try:
                queue, approvals, signature = await asyncio.get_running_loop().run_in_executor(
                    pool, _plan_in_child, states)
            except Exception as exc:  # noqa: BLE001 - whatever broke it, this process can plan itself
                logger.warning("planning in a process of its own failed (%s); planning here from now on", exc)
                self._planner_pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                pool = None
        try:
            if pool is not None:
                view = FleetView(now=time.time(), queue=queue, approvals=approvals)
            elif rows_only:
                rows, signature = await asyncio.to_thread(self._read_rows)
                current = self.view
                view = FleetView(now=time.time(), on_printer=current.on_printer, pickup=current.pickup,
                                 printer_rows=rows, status_counts=current.status_counts)
            else:
                view, signature = await asyncio.to_thread(self._compute, states, plan_queue)
        except Exception as exc:  # noqa: BLE001 - database briefly unavailable: keep the last view
            logger.warning("could not refresh the queue view: %s", exc)
            return
        fresher = read > self._applied
        if not fresher and not plan_queue:
            return  # a newer read is already shown
        if fresher:
            self._applied = read
            self._signature = signature
        printers = view if fresher and pool is None else self.view  # the planning process reads no printers
        self.view = _merged(printers=printers, queue=view if plan_queue else self.view)
        if plan_queue:
            self._observe_dispatch(self.view)
        self._pickup = newest_pickup(self.view.pickup)
        now = time.time()
        self._push_cards([printer_id for printer_id in self.configs if self._set_card(printer_id, now)])
        if self._set_jobs():
            self._push_jobs()

    def _read_rows(self) -> tuple[dict[str, Printer], tuple[object, ...]]:
        with db.session_scope(self.engine) as session:
            return {row.id: row for row in session.exec(select(Printer))}, job_signature(session)

    def _compute(self, states: dict[str, PrinterState], plan_queue: bool) -> tuple[FleetView, tuple[object, ...]]:
        with db.session_scope(self.engine) as session:
            return compute_view(session, self.fleet, states, plan_queue=plan_queue), job_signature(session)

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
                "printer_id": brief.printer_id if brief.status is not JobStatus.QUEUED else None,
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

    def _set_jobs(self) -> bool:
        """Rebuild the jobs part from the view; True when it changed."""
        jobs = self._jobs_public()
        payload = _encode(jobs)
        if payload == self._jobs_payload:
            return False
        self._jobs, self._jobs_payload = jobs, payload
        self._lists, self._lists_html = {}, {}
        return True

    def jobs_payload(self) -> bytes:
        """The jobs part (queue, pickup, status by code), encoded."""
        return self._jobs_payload

    def _job_payload(self, code: str) -> bytes:
        return _encode({"codes": {code: self._jobs["codes"].get(code)}})

    def wall_lists(self, lang: str) -> dict[str, Markup]:
        """The wall's queue and pickup lists as HTML in one language (rendered once per change)."""
        lists = self._lists_html.get(lang)
        if lists is None:
            language = card_language(lang, self.fleet.site)
            macros = language.template.environment.get_template("_wall_lists.html").module
            view = self.view
            names = {p.id: p.name for p in self.fleet.printers}
            lists = self._lists_html[lang] = {
                "queue": Markup(macros.queue(view.queue[:WALL_QUEUE_LIMIT], len(view.queue), language.fmt,
                                             time.time())),
                "pickup": Markup(macros.pickup(view.pickup[:WALL_PICKUP_LIMIT], names)),
            }
        return lists

    def _lists_payload(self, lang: str) -> bytes:
        payload = self._lists.get(lang)
        if payload is None:
            payload = self._lists[lang] = _encode({k: str(v) for k, v in self.wall_lists(lang).items()})
        return payload

    def _jobs_event(self, client: SseClient) -> bytes:
        flt = client.filter
        if flt.code is not None:
            return sse_event("jobs", self._job_payload(flt.code))
        if flt.variant == "wall":
            return sse_event("lists", self._lists_payload(flt.lang))
        return sse_event("jobs", self._jobs_payload)

    def _push_jobs(self) -> None:
        for client in self.clients:
            client.offer("jobs", self._jobs_event(client))

    # ------------------------------------------------------------------ SSE

    def broadcast(self, key: str, event: bytes) -> None:
        """Offer an event to every connected page."""
        for client in self.clients:
            client.offer(key, event)

    def snapshot(self, stream_filter: StreamFilter | None = None) -> bytes:
        """Everything a page needs on (re)connecting."""
        client = SseClient(stream_filter)
        flt = client.filter
        sent = self._sent.setdefault((flt.lang, flt.variant), {})
        parts = []
        for printer_id in self.configs:
            if flt.wants(printer_id):
                parts.append(self._printer_event(printer_id, flt.lang, flt.variant))
                sent[printer_id] = self.cards[printer_id].display_key()
        parts.append(self._jobs_event(client))
        return b"".join(parts)

    async def stream(self, stream_filter: StreamFilter | None = None) -> AsyncIterator[bytes]:
        """One client's event stream: a snapshot, then changes, with heartbeats."""
        client = SseClient(stream_filter)
        group_key = (client.filter.lang, client.filter.variant)
        self.clients.add(client)
        self._groups.setdefault(group_key, set()).add(client)
        try:
            yield b"retry: 2000\n\n" + self.snapshot(client.filter)
            while True:
                if not await wait_event(client.wake, HEARTBEAT_S):
                    yield b": ping\n\n"
                    continue
                yield client.take()
        finally:
            self.clients.discard(client)
            group = self._groups.get(group_key)
            if group is not None:
                group.discard(client)
                if not group:
                    del self._groups[group_key]

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
                        self._note_change(message["data"])
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
        """Read the cards' rows and jobs on every announced change, at once (then plan the queue)."""
        while True:
            await self._view_dirty.wait()
            await asyncio.sleep(0.02)  # let a burst of changes settle
            self._view_dirty.clear()
            jobs, self._jobs_dirty = self._jobs_dirty, False
            await (self.refresh_cards() if jobs else self.refresh_rows())
            self._plan_due.set()

    async def _planner(self) -> None:
        """Plan the queue when due, at most every PLAN_MIN_INTERVAL_S and at least every FORCED_REFRESH_S (not
        in the card refresher's way: planning 1,000 printers takes a second, in a process of its own); check
        the database's signature when nothing was announced for a while."""
        last_plan = time.monotonic()
        while True:
            if await wait_event(self._plan_due, SIGNATURE_CHECK_S):
                await asyncio.sleep(max(0.0, last_plan + PLAN_MIN_INTERVAL_S - time.monotonic()))
                self._plan_due.clear()
                await self.refresh_view()
                last_plan = time.monotonic()
                continue
            try:
                if time.monotonic() - last_plan > FORCED_REFRESH_S:
                    self._plan_due.set()
                    continue
                signature = await asyncio.to_thread(self._signature_now)
                if signature != self._signature:
                    self._jobs_changed()  # a writer that does not announce
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - checked again in a moment
                logger.debug("signature check failed: %s", exc)


_PLANNER: tuple[FleetConfig, Engine] | None = None


def _start_planner(fleet: FleetConfig, database_url: str) -> None:
    """In the planning process: the fleet and a database engine of its own."""
    global _PLANNER
    _PLANNER = (fleet, db.make_engine(database_url))


def _plan_in_child(states: dict[str, PrinterState]) -> tuple[list[JobBrief], list[JobBrief], tuple[object, ...]]:
    """In the planning process: the queue and the approval inbox, planned, and the database's signature."""
    assert _PLANNER is not None, "_start_planner runs first"
    fleet, engine = _PLANNER
    with db.session_scope(engine) as session:
        view = compute_view(session, fleet, states)
        signature = job_signature(session)
    return [_portable(b) for b in view.queue], [_portable(b) for b in view.approvals], signature


def _portable(brief: JobBrief) -> JobBrief:
    """A brief that pickles (a reason's parameters may be a read-only mapping)."""
    if brief.reason is None:
        return brief
    return replace(brief, reason=Reason(brief.reason.code, dict(brief.reason.params)))


def _merged(*, printers: FleetView, queue: FleetView) -> FleetView:
    """A view with the printer rows, jobs on printers and pickup of ``printers`` and the planned queue of
    ``queue`` (the two are read at different rates)."""
    placed = [*printers.on_printer.values(), *printers.pickup]
    taken = {brief.id for brief in placed}  # started or done since the queue was planned
    waiting = [brief for brief in queue.queue if brief.id not in taken]
    by_id = {brief.id: brief for brief in [*waiting, *queue.approvals]}
    by_id.update({brief.id: brief for brief in placed})
    return FleetView(now=max(printers.now, queue.now), queue=waiting, approvals=queue.approvals,
                     on_printer=printers.on_printer, pickup=printers.pickup, printer_rows=printers.printer_rows,
                     status_counts=printers.status_counts, by_id=by_id)
