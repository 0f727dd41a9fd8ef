"""The monitor: keeps the printers table in line with the fleet file, follows printer status and
(with the dispatch issue) schedules. Several monitors may run against one database and Redis.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping

import redis
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from printfleet import db
from printfleet.config import FleetConfig, load_fleet
from printfleet.errors import ServiceUnavailable
from printfleet.models import Printer, utcnow
from printfleet.runtime import Heartbeat, StopSignal, connect_redis, require_broker
from printfleet.settings import Settings
from printfleet.state import PrinterState

logger = logging.getLogger(__name__)

LOOP_INTERVAL_S = 1.0
FULL_PASS_S = 5.0


def sync_printers(session: Session, fleet: FleetConfig) -> dict[str, int]:
    """Make the printers table match the fleet file: add new printers, rename changed ones, and mark
    removed ones ``in_config=False`` (their history stays). Idempotent; safe with several monitors.

    Returns:
        counts of added, updated and retired printers.
    """
    counts = {"added": 0, "updated": 0, "retired": 0}
    rows = {p.id: p for p in session.exec(select(Printer))}
    for cfg in fleet.printers:
        row = rows.get(cfg.id)
        if row is None:
            session.add(Printer(id=cfg.id, name=cfg.name))
            counts["added"] += 1
        elif row.name != cfg.name or not row.in_config:
            row.name, row.in_config, row.updated_at = cfg.name, True, utcnow()
            session.add(row)
            counts["updated"] += 1
    configured = {p.id for p in fleet.printers}
    for row in rows.values():
        if row.id not in configured and row.in_config:
            row.in_config, row.updated_at = False, utcnow()
            session.add(row)
            counts["retired"] += 1
    return counts


def record_statuses(session: Session, states: Mapping[str, PrinterState]) -> int:
    """Keep each printer row's last seen status (the durable trace of the live state in Redis); returns how
    many rows changed."""
    changed = 0
    for row in session.exec(select(Printer)):
        state = states.get(row.id)
        if state is None or row.status == state.status.value:
            continue
        row.status, row.status_at, row.updated_at = state.status.value, state.observed_at, utcnow()
        session.add(row)
        changed += 1
    return changed


def require_schema(engine: Engine) -> None:
    """Refuse to run on a database that is not at the shipped schema.

    Raises:
        ServiceUnavailable: it is not (the message says to run ``printfleet db upgrade``).
    """
    status = db.check(engine)
    if not status["ok"]:
        reason = status.get("error") or f"schema {status.get('revision') or 'none'}, expected {status.get('head')}"
        raise ServiceUnavailable(
            f"database {db.redact_url(str(engine.url))}: {reason}; run 'printfleet db upgrade'"
        )


def run_monitor(settings: Settings) -> None:
    """Run the monitor until SIGTERM/SIGINT.

    Raises:
        ConfigError: the fleet file is invalid.
        ServiceUnavailable: the database, Redis or the broker cannot be reached.
    """
    fleet = load_fleet(settings.config, check_secrets=True)
    engine = db.make_engine(settings.effective_database_url)
    require_schema(engine)
    client = connect_redis(settings.effective_redis_url)
    require_broker(*settings.mqtt_host_port)
    stop = StopSignal()
    with db.session_scope(engine) as session:
        counts = sync_printers(session, fleet)
    logger.info("fleet %s: %d printer(s) (%s)", settings.config, len(fleet.printers), counts)

    # --- status service ---
    from printfleet.ingest.service import StatusService

    status_service = StatusService(fleet, settings)  # MQTT ingest + REST fallback -> StateStore
    status_service.start()
    # --- end status service ---

    heartbeat = Heartbeat(client, "monitor")
    loop = MonitorLoop(settings=settings, fleet=fleet, engine=engine, client=client)
    try:
        loop.run(stop, heartbeat)
    finally:
        # --- status service stop ---
        status_service.stop()
        # --- end status service stop ---
        heartbeat.clear()
        engine.dispose()
        logger.info("monitor stopped")


class MonitorLoop:
    """Follows printers and dispatches: on every announced change, and every few seconds in full."""

    def __init__(self, *, settings: Settings, fleet: FleetConfig, engine: Engine, client: redis.Redis) -> None:
        from printfleet.queue.dispatch import Dispatcher
        from printfleet.store import StateStore

        self.engine = engine
        self.client = client
        self.store = StateStore(client)
        self.dispatcher = Dispatcher(settings=settings, fleet=fleet, engine=engine, client=client, store=self.store)
        self.requeue = fleet.policy.requeue_failed
        self._redis_down = False

    def step(self, printer_ids: list[str] | None) -> None:
        """Follow the printers (all when ``None``), then plan and dispatch once."""
        from printfleet.queue.follow import follow_printers

        states = self.store.all()
        follow_printers(self.engine, self.client, states, printer_ids=printer_ids, requeue=self.requeue)
        with db.session_scope(self.engine) as session:
            record_statuses(session, states)
        self.dispatcher.run_once()

    def run(self, stop: StopSignal, heartbeat: Heartbeat) -> None:
        """Run until ``stop``; survives Redis and database outages (logged once each)."""
        from printfleet.events import JOBS_CHANGED_CHANNEL, STATE_CHANGED_CHANNEL

        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        last_full = 0.0
        while not stop.is_set:
            try:
                if not pubsub.subscribed:
                    pubsub.subscribe(STATE_CHANGED_CHANNEL, JOBS_CHANGED_CHANNEL)
                changed: set[str] = set()
                jobs_changed = False
                message = pubsub.get_message(timeout=LOOP_INTERVAL_S)
                while message is not None:
                    if message["channel"] == STATE_CHANGED_CHANNEL.encode():
                        changed.add(_printer_of(message["data"]))
                    else:
                        jobs_changed = True
                    message = pubsub.get_message(timeout=0)
                now = time.monotonic()
                if now - last_full >= FULL_PASS_S:
                    self.step(None)
                    last_full = now
                elif changed or jobs_changed:
                    self.step(sorted(changed) if changed and not jobs_changed else None)
                heartbeat.beat()
                if self._redis_down:
                    logger.info("Redis is back")
                    self._redis_down = False
            except redis.exceptions.RedisError as exc:
                if not self._redis_down:
                    logger.warning("Redis unavailable (%s); retrying", exc)
                    self._redis_down = True
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                stop.wait(1.0)
            except SQLAlchemyError as exc:
                logger.warning("database error in the monitor loop (%s); retrying", str(exc).splitlines()[0])
                stop.wait(1.0)
        pubsub.close()


def _printer_of(data: bytes | str) -> str:
    try:
        return str(json.loads(data)["printer_id"])
    except (ValueError, KeyError, TypeError):
        return ""
