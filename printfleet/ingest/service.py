"""The status service the monitor runs: MQTT ingest plus REST polling, into the StateStore.

For each printer of the fleet file:

* MQTT messages below its base topic are parsed, merged into its current state and stored;
* it is polled over REST (its driver's ``state()``) when no usable MQTT arrives: at start, while the
  broker link is down, after ``silence_s`` without a message, while it is OFFLINE (the driver then also
  reconnects the serial port), and once after its OctoPrint says ``connected`` again;
* a printer without a usable driver goes OFFLINE after ``silence_s`` without a message.

Every new state goes through :meth:`StateStore.put` (one writer thread, pipelined); changed states are
also published retained on ``printfleet/printers/<id>/state``, and the dispatcher's job announcements
on ``printfleet/jobs/<id>`` (``{"job_id", "status", "at"}``, not retained). Bad input is logged once
and ignored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

import redis

from printfleet.drivers import AuthFailed, DriverError, PrinterDriver, PrinterOffline, create_driver
from printfleet.errors import ConfigError
from printfleet.events import JOBS_CHANGED_CHANNEL
from printfleet.ingest.mqtt import JOB_TOPIC, STATE_TOPIC, MqttLink, TopicRouter
from printfleet.ingest.parse import Kind, MessageError, apply_message, parse_message, unknown_state
from printfleet.state import PrinterState, PrinterStatus, StateSource, is_stale, offline_state, utcnow
from printfleet.store import PutResult, StateStore

if TYPE_CHECKING:
    from printfleet.config import FleetConfig, PrinterConfig
    from printfleet.settings import Settings

logger = logging.getLogger(__name__)

_MAX_LOG_KEYS = 2000
_BATCH_MAX = 1000


class LogOnce:
    """Logs each distinct problem once (bounded, so a flood of junk topics cannot grow memory)."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._seen: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

    def __call__(
        self, level: int, key: tuple[str, ...], msg: str, *args: object, exc_info: bool = False
    ) -> None:
        with self._lock:
            if key in self._seen:
                return
            if len(self._seen) >= _MAX_LOG_KEYS:
                key = ("suppressed",)
                if key in self._seen:
                    return
                msg, args = "too many distinct problems; not logging further ones", ()
            self._seen.add(key)
        self._log.log(level, msg, *args, exc_info=exc_info)

    def forget(self, key: tuple[str, ...]) -> None:
        """Log ``key`` again the next time it happens."""
        with self._lock:
            self._seen.discard(key)


@dataclass
class _Track:
    printer: PrinterConfig
    driver: PrinterDriver | None
    state: PrinterState
    last_mqtt_at: float = float("-inf")  # monotonic
    next_poll_at: float = 0.0
    poll_requested: bool = True
    polling: bool = False
    ending_unknown: bool = False  # a print ended without its end event; polled until the printer says how
    last_event_at: float = float("-inf")  # monotonic: when an MQTT event last changed status or job


@dataclass
class IngestStats:
    """Counters, for tests and the benchmark."""

    messages: int = 0
    applied: int = 0
    unchanged: int = 0
    stale: int = 0
    malformed: int = 0
    unrouted: int = 0
    polls: int = 0
    stored: int = 0
    changed: int = 0
    rejected_by_store: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class StatusService:
    """Follows every printer of a fleet into a :class:`StateStore`.

    Args:
        fleet: the fleet file.
        settings: broker URL, Redis URL, ``sim_url`` and ``status_silence_s``.
        store: the store to use (default: one on ``settings.effective_redis_url``).
        silence_s: override ``settings.status_silence_s``.
        drivers: drivers by printer id (default: :func:`create_driver` for each printer).
        publish_states: publish changed states on ``printfleet/printers/<id>/state``.
        poll: poll over REST at all (off for pure-MQTT tests and the benchmark).
    """

    def __init__(
        self,
        fleet: FleetConfig,
        settings: Settings,
        *,
        store: StateStore | None = None,
        silence_s: float | None = None,
        drivers: dict[str, PrinterDriver] | None = None,
        publish_states: bool = True,
        poll: bool = True,
        poll_workers: int = 16,
    ) -> None:
        self.fleet = fleet
        self.settings = settings
        self._own_store = store is None
        self.store = store or StateStore.from_url(settings.effective_redis_url)
        self.silence_s = silence_s if silence_s is not None else settings.status_silence_s
        self.publish_states = publish_states
        self.poll_enabled = poll
        self.stats = IngestStats()
        self._log_once = LogOnce(logger)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._queue: queue.SimpleQueue[PrinterState | None] = queue.SimpleQueue()
        self._tracks: dict[str, _Track] = {}
        for printer in fleet.printers:
            driver = (drivers or {}).get(printer.id)
            if driver is None and drivers is None and poll:
                driver = self._make_driver(printer)
            self._tracks[printer.id] = _Track(printer, driver, unknown_state(printer.id))
        self.router = TopicRouter({p.base_topic: p.id for p in fleet.printers})
        host, port = settings.mqtt_host_port
        self.link = MqttLink(
            host,
            port,
            filters=self.router.filters,
            on_message=self._on_message,
            on_connection=self._on_connection,
        )
        self._threads: list[threading.Thread] = []
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, poll_workers), thread_name_prefix="status-poll"
        )
        self.on_stored: Callable[[PrinterState, PutResult], None] | None = None

    def _make_driver(self, printer: PrinterConfig) -> PrinterDriver | None:
        try:
            return create_driver(printer, self.settings)
        except ConfigError as exc:
            logger.error("printer %s: no REST polling: %s", printer.id, exc)
            return None

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Load the stored states, connect to the broker and start polling (returns at once)."""
        try:
            stored = self.store.all()
        except redis.RedisError as exc:
            logger.warning("cannot read stored states (%s); starting from nothing", exc)
            stored = {}
        for printer_id, track in self._tracks.items():
            if printer_id in stored:
                track.state = stored[printer_id]
        self._threads = [
            threading.Thread(target=self._writer_loop, name="status-writer", daemon=True),
            threading.Thread(target=self._poller_loop, name="status-poller", daemon=True),
        ]
        if self.publish_states:
            self._threads.append(
                threading.Thread(target=self._jobs_bridge_loop, name="status-jobs", daemon=True)
            )
        for thread in self._threads:
            thread.start()
        self.link.start()
        logger.info(
            "status service: %d printer(s), broker %s:%s, silence %.0f s",
            len(self._tracks),
            self.link.host,
            self.link.port,
            self.silence_s,
        )

    def stop(self) -> None:
        """Stop following; publishes ``printfleet/status offline``."""
        self._stop.set()
        self.link.stop()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._executor.shutdown(wait=False, cancel_futures=True)
        for track in self._tracks.values():
            if track.driver is not None:
                track.driver.close()
        if self._own_store:
            self.store.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def current(self, printer_id: str) -> PrinterState:
        """This service's latest state of a printer (what it last gave the store)."""
        with self._lock:
            return self._tracks[printer_id].state

    # ------------------------------------------------------------ MQTT (paho's network thread)

    def _on_connection(self, up: bool) -> None:
        if up:
            with self._lock:
                for track in self._tracks.values():
                    track.poll_requested = True  # catch up with what happened while the link was down

    def _malformed(self, printer_id: str, subtopic: str, exc: MessageError) -> None:
        self.stats.malformed += 1
        self._log_once(logging.WARNING, ("malformed", printer_id, subtopic), "printer %s: ignoring %s", printer_id, exc)

    def _on_message(self, topic: str, payload: bytes, received_ts: float) -> None:
        self.stats.messages += 1
        routed = self.router.route(topic)
        if routed is None:
            self.stats.unrouted += 1
            self._log_once(
                logging.WARNING,
                ("unrouted", topic),
                "ignoring message on %s: no printer has that base topic",
                topic,
            )
            return
        printer_id, subtopic = routed
        try:
            message = parse_message(subtopic, payload, received_ts)
        except MessageError as exc:
            self._malformed(printer_id, subtopic, exc)
            return
        if message is None:
            return
        with self._lock:
            track = self._tracks[printer_id]
            if is_stale(message.ts, track.state.observed_ts):
                self.stats.stale += 1
                self._log_once(
                    logging.INFO,
                    ("stale", printer_id, subtopic),
                    "printer %s: ignoring %s older than the current state",
                    printer_id,
                    subtopic,
                )
                return
            track.last_mqtt_at = time.monotonic()
            if message.kind is Kind.WILL and message.payload == "connected":
                track.poll_requested = True
            try:
                new = apply_message(track.state, message)
            except MessageError as exc:
                self._malformed(printer_id, subtopic, exc)
                return
            if new is None:
                self.stats.unchanged += 1
                return
            if (
                new.status is PrinterStatus.IDLE
                and track.state.status in (PrinterStatus.PRINTING, PrinterStatus.PAUSED)
                and track.driver is not None
                and self.poll_enabled
            ):
                # The print ended without its end event: lost, or dropped as older than a REST answer
                # stamped in the same second. Finished or stopped, only the printer can say: BUSY (which
                # nothing acts on) until a REST poll does.
                new = dataclasses.replace(new, status=PrinterStatus.BUSY, job=track.state.job)
                track.poll_requested = track.ending_unknown = True
            elif new.status is not PrinterStatus.BUSY:
                track.ending_unknown = False
            if message.kind is Kind.EVENT and (new.status, new.job) != (track.state.status, track.state.job):
                track.last_event_at = time.monotonic()
            track.state = new
            self.stats.applied += 1
        self._queue.put(new)

    # ------------------------------------------------------------ store writer

    def _writer_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < _BATCH_MAX:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._write(batch)
                    return
                batch.append(nxt)
            self._write(batch)

    def _write(self, batch: list[PrinterState]) -> None:
        while True:
            encoded = [state.to_json() for state in batch]
            try:
                results = self.store.put_many(batch, encoded=encoded)
                break
            except redis.RedisError as exc:
                self._log_once(logging.ERROR, ("redis",), "cannot store printer states (%s); retrying", exc)
                if self._stop.wait(1.0):
                    return
                # while Redis is away, keep one pending state per printer (the newest), not a backlog
                pending = dict.fromkeys(s.printer_id for s in batch)
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        return
                    pending[item.printer_id] = None
                with self._lock:
                    batch = [self._tracks[pid].state for pid in pending]
        self._log_once.forget(("redis",))
        for state, body, result in zip(batch, encoded, results):
            if result is PutResult.STALE:
                self.stats.rejected_by_store += 1
                continue
            self.stats.stored += 1
            if result is PutResult.CHANGED:
                self.stats.changed += 1
                if self.publish_states:
                    self.link.publish(STATE_TOPIC.format(printer_id=state.printer_id), body, retain=True)
            if self.on_stored is not None:
                self.on_stored(state, result)

    # ------------------------------------------------------------ job changes -> MQTT

    def _jobs_bridge_loop(self) -> None:
        """Republish the dispatcher's job announcements (Redis) on ``printfleet/jobs/<id>``."""
        while not self._stop.is_set():
            pubsub = self.store.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(JOBS_CHANGED_CHANNEL)
                self._log_once.forget(("jobs-bridge",))
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is None:
                        continue
                    try:
                        data = json.loads(message["data"])
                        job_id = int(data["job_id"])
                    except (ValueError, TypeError, KeyError):
                        continue  # e.g. a "something changed" announcement without a job id
                    self._ask_after_start(data.get("printer_id"))
                    self.link.publish(
                        JOB_TOPIC.format(job_id=job_id),
                        json.dumps(
                            {"job_id": job_id, "status": data.get("status"), "at": utcnow().isoformat()}
                        ),
                    )
            except redis.RedisError as exc:
                self._log_once(
                    logging.WARNING,
                    ("jobs-bridge",),
                    "job changes are not republished on MQTT (%s); retrying",
                    exc,
                )
                self._stop.wait(1.0)
            finally:
                try:
                    pubsub.close()
                except redis.RedisError:
                    pass

    def _ask_after_start(self, printer_id: object) -> None:
        """A print was started on ``printer_id``: poll it now (its PrintStarted event may never come)."""
        with self._lock:
            track = self._tracks.get(printer_id) if isinstance(printer_id, str) else None
            if track is not None and track.driver is not None and self.poll_enabled:
                track.poll_requested = True

    # ------------------------------------------------------------ polling

    def _poller_loop(self) -> None:
        while not self._stop.wait(0.2):
            now = time.monotonic()
            due: list[_Track] = []
            silenced: list[PrinterState] = []
            with self._lock:
                link_up = self.link.connected
                for track in self._tracks.values():
                    silent = not link_up or now - track.last_mqtt_at > self.silence_s
                    if track.driver is None or not self.poll_enabled:
                        if (
                            silent
                            and track.last_mqtt_at > float("-inf")
                            and track.state.status is not PrinterStatus.OFFLINE
                        ):
                            track.state = offline_state(
                                track.printer.id,
                                observed_at=utcnow(),
                                source=StateSource.WATCHDOG,
                                reason=f"no status for {self.silence_s:.0f} s",
                            )
                            silenced.append(track.state)
                        continue
                    if track.polling:
                        continue
                    wanted = silent or track.state.status is PrinterStatus.OFFLINE or track.ending_unknown
                    if track.poll_requested or (wanted and now >= track.next_poll_at):
                        track.polling, track.poll_requested = True, False
                        track.next_poll_at = now + track.printer.poll_interval_s
                        due.append(track)
            for state in silenced:
                self._queue.put(state)
            for track in due:
                self._executor.submit(self._poll, track)

    def _poll(self, track: _Track) -> None:
        assert track.driver is not None
        printer_id = track.printer.id
        state: PrinterState | None = None
        asked_at = time.monotonic()
        try:
            state = track.driver.state()
            self._log_once.forget(("poll", printer_id))
        except PrinterOffline as exc:
            state = offline_state(
                printer_id, observed_at=utcnow(), source=StateSource.REST, reason=exc.detail
            )
        except AuthFailed as exc:
            self._log_once(logging.ERROR, ("poll", printer_id), "printer %s: %s", printer_id, exc.detail)
            state = offline_state(
                printer_id, observed_at=utcnow(), source=StateSource.REST, reason="API key rejected"
            )
        except DriverError as exc:
            self._log_once(
                logging.WARNING,
                ("poll", printer_id),
                "printer %s: ignoring a bad answer: %s",
                printer_id,
                exc.detail,
            )
        except Exception:  # noqa: BLE001 - a driver bug must not stop the polling
            self._log_once(
                logging.ERROR,
                ("poll-bug", printer_id),
                "printer %s: polling failed",
                printer_id,
                exc_info=True,
            )
        finally:
            self.stats.polls += 1
            track.polling = False
        if state is None:
            return
        with self._lock:
            if is_stale(state.observed_ts, track.state.observed_ts):
                return
            if track.last_event_at > asked_at:
                # An event (a print starting, say) arrived while the printer was being asked: the answer may
                # be from before it, and whole-second MQTT stamps cannot tell. Ask again instead.
                track.poll_requested = True
                return
            if state.status is not PrinterStatus.BUSY:
                track.ending_unknown = False
            track.state = state
        self._queue.put(state)


def start_status_service(fleet: FleetConfig, settings: Settings) -> StatusService:
    """Create and start the service (what the monitor calls)."""
    service = StatusService(fleet, settings)
    service.start()
    return service
