"""The monitor's bookkeeping: the printers table follows the fleet file and the printers' last status."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlmodel import Session, select

from printfleet import db
from printfleet.config import load_fleet
from printfleet.models import Printer
from printfleet.monitor import record_statuses, sync_printers
from printfleet.state import PrinterState, PrinterStatus, StateSource

SHIPPED = Path(__file__).resolve().parents[1] / "configs" / "printers.yaml"


def test_sync_adds_renames_and_retires_but_keeps_history(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade(engine)
    fleet = load_fleet(SHIPPED)
    with db.session_scope(engine) as session:
        assert sync_printers(session, fleet) == {"added": 4, "updated": 0, "retired": 0}
    smaller = tmp_path / "fleet.yaml"
    text = SHIPPED.read_text().replace('name: "Prusa MK3S #1"', 'name: "Lab printer 1"')
    smaller.write_text(text.split("  - id: mini-2")[0].replace("profile: profiles/", f"profile: {SHIPPED.parent}/profiles/"))
    with db.session_scope(engine) as session:
        assert sync_printers(session, load_fleet(smaller)) == {"added": 0, "updated": 1, "retired": 1}
    with db.session_scope(engine) as session:
        assert sync_printers(session, load_fleet(smaller)) == {"added": 0, "updated": 0, "retired": 0}
    with Session(engine) as session:
        rows = {p.id: p for p in session.exec(select(Printer))}
    assert rows["mk3s-1"].name == "Lab printer 1" and rows["mini-2"].in_config is False and len(rows) == 4
    engine.dispose()


def test_last_status_is_recorded_once_per_change(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 's.db'}")
    db.upgrade(engine)
    with db.session_scope(engine) as session:
        sync_printers(session, load_fleet(SHIPPED))
    seen = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)
    states = {"mk3s-1": PrinterState("mk3s-1", PrinterStatus.PRINTING, seen, StateSource.MQTT)}
    with db.session_scope(engine) as session:
        assert record_statuses(session, states) == 1
    with db.session_scope(engine) as session:
        assert record_statuses(session, states) == 0
    with Session(engine) as session:
        row = session.get(Printer, "mk3s-1")
        assert (row.status, row.status_at) == ("printing", seen)
        assert session.get(Printer, "mini-1").status == "offline"
    engine.dispose()
