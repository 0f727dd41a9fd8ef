"""Shared fixtures: real redis-server and mosquitto on free loopback ports, a fresh data dir and settings.

Servers are started once per test session; tests that restart or kill one use the ``*_factory``
fixtures to get a private instance.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from printfleet.services import ManagedProcess, start_mosquitto, start_redis
from printfleet.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_CONFIG = REPO_ROOT / "configs" / "printers.yaml"
SHARED_DIR = Path(os.environ.get("PRINTFLEET_SHARED_DIR", REPO_ROOT.parent / "shared"))


def _server_factory(
    tmp_path_factory: pytest.TempPathFactory, name: str, start_fn: Callable[..., ManagedProcess]
) -> Iterator[Callable[..., ManagedProcess]]:
    started: list[ManagedProcess] = []

    def start(**kwargs: object) -> ManagedProcess:
        proc = start_fn(tmp_path_factory.mktemp(name), **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def redis_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ManagedProcess]]:
    """Start private redis-server instances (stopped at the end of the session)."""
    yield from _server_factory(tmp_path_factory, "redis", start_redis)


@pytest.fixture(scope="session")
def redis_server(redis_factory: Callable[..., ManagedProcess]) -> ManagedProcess:
    """One real redis-server for the session; ``.url`` is its URL."""
    return redis_factory(appendonly=False)


@pytest.fixture()
def redis_url(redis_server: ManagedProcess) -> Iterator[str]:
    """The session Redis's URL, flushed before each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture(scope="session")
def mosquitto_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ManagedProcess]]:
    """Start private mosquitto brokers (stopped at the end of the session)."""
    yield from _server_factory(tmp_path_factory, "mosquitto", start_mosquitto)


@pytest.fixture(scope="session")
def mqtt_broker(mosquitto_factory: Callable[..., ManagedProcess]) -> ManagedProcess:
    """One real mosquitto broker for the session; ``.url`` is ``mqtt://127.0.0.1:<port>``."""
    return mosquitto_factory(persistence=False)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """An empty data dir."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture()
def settings(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for a test: a fresh data dir (SQLite inside), the shipped fleet file, no Redis/broker."""
    for name in list(os.environ):
        if name.startswith("PRINTFLEET_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PRINTFLEET_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PRINTFLEET_CONFIG", str(SHIPPED_CONFIG))
    return Settings()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster (Debian's ``postgresql`` package) on a free loopback port."""
    import shutil
    import subprocess
    import tempfile

    import psycopg

    from printfleet.services import free_port, spawn, wait_for_port

    bindirs = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bindirs:
        pytest.fail("PostgreSQL is not installed: run scripts/setup.sh --test (apt package postgresql)")
    bindir = bindirs[-1].parent
    base = Path(tempfile.mkdtemp(prefix="printfleet-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        shutil.chown(base, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    datadir = base / "data"
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "printfleet", "-E", "UTF8",
         "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    proc = spawn(
        "postgres",
        [*run_as, str(bindir / "postgres"), "-D", str(datadir), "-p", str(port), "-k", str(base),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"],
        log_path=Path(tempfile.gettempdir()) / f"printfleet-pg-{port}.log",
    )  # fmt: skip
    try:
        wait_for_port(proc, "127.0.0.1", port, timeout_s=30)
        for _ in range(100):
            try:
                with psycopg.connect(f"host=127.0.0.1 port={port} user=printfleet dbname=postgres", autocommit=True) as c:
                    c.execute("CREATE DATABASE printfleet_test")
                break
            except psycopg.OperationalError:
                import time

                time.sleep(0.1)
        yield f"postgresql://printfleet@127.0.0.1:{port}/printfleet_test"
    finally:
        proc.stop(timeout_s=10)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """An empty database at the current schema, on SQLite and on a real PostgreSQL (dropped afterwards)."""
    from sqlalchemy import text
    from sqlmodel import SQLModel

    from printfleet import db

    url = f"sqlite:///{tmp_path / 'test.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = db.make_engine(url)
    db.upgrade(engine)
    yield engine
    if request.param == "postgresql":
        with engine.begin() as conn:
            SQLModel.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
