"""The monitor: keeps the printers table in line with the fleet file, follows printer status and
(with the dispatch issue) schedules. Several monitors may run against one database and Redis.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlmodel import Session, select

from printfleet import db
from printfleet.config import FleetConfig, load_fleet
from printfleet.errors import ServiceUnavailable
from printfleet.models import Printer, utcnow
from printfleet.runtime import Heartbeat, StopSignal, connect_redis, require_broker
from printfleet.settings import Settings

logger = logging.getLogger(__name__)

LOOP_INTERVAL_S = 2.0


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
    try:
        while not stop.is_set:
            heartbeat.beat(printers=len(fleet.printers))
            stop.wait(LOOP_INTERVAL_S)
    finally:
        # --- status service stop ---
        status_service.stop()
        # --- end status service stop ---
        heartbeat.clear()
        engine.dispose()
        logger.info("monitor stopped")
