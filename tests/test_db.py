"""The database layer on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from printfleet import db
from printfleet.errors import ServiceUnavailable
from printfleet.models import FileKind, Job, JobEvent, JobStatus, Printer, Role, User


@pytest.fixture()
def engine(migrated_engine: Engine) -> Engine:
    """A migrated database of each kind, empty."""
    return migrated_engine


def _job(owner_id: int, **kw: object) -> Job:
    fields: dict[str, object] = {
        "code": "K7QX", "owner_id": owner_id, "file_name": "cube.stl", "file_sha256": "a" * 64, "file_kind": FileKind.STL, "file_size": 84
    }
    fields.update(kw)
    return Job(**fields)  # type: ignore[arg-type]


def test_upgrade_reaches_head_and_check_reports_it(engine: Engine) -> None:
    status = db.check(engine)
    assert status == {"ok": True, "revision": db.head_revision(), "head": db.head_revision()}


def test_rows_round_trip_with_enums_and_aware_times(engine: Engine) -> None:
    started = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with db.session_scope(engine) as session:
        user = User(name="ada", role=Role.STAFF)
        session.add(user)
        session.add(Printer(id="mk3s-1", name="MK3S"))
        session.flush()
        job = _job(user.id, status=JobStatus.PRINTING, printer_id="mk3s-1", started_at=started, bbox_mm=[20.0, 20, 10])
        session.add(job)
        session.flush()
        session.add(JobEvent(job_id=job.id, actor="ada", kind="transition", to_status=JobStatus.PRINTING))
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        assert job.status is JobStatus.PRINTING
        assert job.started_at == started and job.started_at.tzinfo is not None
        assert job.bbox_mm == [20.0, 20.0, 10.0]
        assert session.exec(select(User)).one().role is Role.STAFF
        raw = session.execute(text("SELECT status FROM jobs")).scalar_one()
        assert raw == "printing"  # stored by value, readable in SQL


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), db.session_scope(engine) as session:
        session.add(_job(owner_id=999))


def test_upgrade_again_keeps_the_queue(engine: Engine) -> None:
    with db.session_scope(engine) as session:
        user = User(name="bo")
        session.add(user)
        session.flush()
        session.add(_job(user.id, status=JobStatus.QUEUED))
    db.upgrade(engine)
    with Session(engine) as session:
        assert session.exec(select(Job.status)).all() == [JobStatus.QUEUED]


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    eng = db.make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with eng.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    eng.dispose()


def test_unreachable_database_is_a_one_line_error() -> None:
    eng = db.make_engine("postgresql://nobody:secret@127.0.0.1:1/none")
    with pytest.raises(ServiceUnavailable) as err:
        db.upgrade(eng)
    assert "secret" not in str(err.value)
    assert "\n" not in str(err.value)
    assert db.check(eng)["ok"] is False


def test_malformed_database_url_is_a_user_error() -> None:
    with pytest.raises(ServiceUnavailable, match="PRINTFLEET_DATABASE_URL"):
        db.make_engine("nosuchdb://x")


def test_migrations_match_the_models(engine: Engine) -> None:
    """A model change without its migration fails here (schema drift)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []


def test_a_site_upgrading_from_the_first_schema_keeps_its_queue(tmp_path: Path) -> None:
    eng = db.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    db.upgrade(eng, "0001")
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO users (name, display_name, nickname, role, is_active, created_at) "
                          "VALUES ('ada', '', 'A', 'maker', 1, '2026-01-01 10:00:00')"))  # fmt: skip
        conn.execute(text(
            "INSERT INTO jobs (code, owner_id, status, version, file_name, file_sha256, file_kind, file_size, copies,"
            " note, priority, attempts, created_at, updated_at) VALUES ('OLD01', 1, 'queued', 1, 'a.stl', :sha, 'stl',"
            " 10, 1, '', 0, 0, '2026-01-01 10:00:00', '2026-01-01 10:00:00')"
        ), {"sha": "e" * 64})  # fmt: skip
    db.upgrade(eng)
    with Session(eng) as session:
        job = session.exec(select(Job)).one()
        assert (job.code, job.status, job.nozzle_mm) == ("OLD01", JobStatus.QUEUED, None)
    assert db.check(eng)["ok"]
    eng.dispose()
