"""Database engine, sessions and schema migrations (Alembic).

SQLite (the default) runs with WAL, foreign keys and a busy timeout so that several processes on one
machine can share it; PostgreSQL is used through ``PRINTFLEET_DATABASE_URL``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlmodel import Session, create_engine

from printfleet.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with printfleet's connection settings.

    Raises:
        ServiceUnavailable: the URL is malformed or names a driver that is not installed.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise ServiceUnavailable(f"PRINTFLEET_DATABASE_URL: cannot use {redact_url(url)} ({exc})") from None
    return engine


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to log)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<malformed URL>"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision``.

    Raises:
        ServiceUnavailable: the database cannot be reached.
    """
    try:
        command.upgrade(_alembic_config(engine), revision)
    except DBAPIError as exc:
        first_line = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        raise ServiceUnavailable(f"database {redact_url(str(engine.url))}: {first_line}") from None


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (``None`` for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this version of printfleet ships."""
    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()  # type: ignore[arg-type]


def check(engine: Engine) -> dict[str, Any]:
    """Health of the database: reachable, and at the shipped schema revision."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        return {"ok": False, "error": str(getattr(exc, "orig", exc)).splitlines()[0]}
    head = head_revision()
    return {"ok": revision == head, "revision": revision, "head": head}
