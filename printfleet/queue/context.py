"""What a task or the monitor needs, built once from the settings: fleet, database, Redis, state store, files."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import redis
from sqlalchemy import Engine

from printfleet import db
from printfleet.config import FleetConfig, load_fleet
from printfleet.files import FileStore
from printfleet.runtime import connect_redis
from printfleet.settings import Settings, load_settings
from printfleet.store import StateStore


@dataclass
class Context:
    """Connections for one process (an RQ work horse, the monitor, a test)."""

    settings: Settings
    fleet: FleetConfig
    engine: Engine
    client: redis.Redis

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Context:
        """Build it from ``settings`` (default: the environment).

        Raises:
            ConfigError: the fleet file is invalid.
            ServiceUnavailable: Redis cannot be reached.
        """
        settings = settings or load_settings()
        fleet = load_fleet(settings.config, check_secrets=True)
        return cls(
            settings=settings,
            fleet=fleet,
            engine=db.make_engine(settings.effective_database_url),
            client=connect_redis(settings.effective_redis_url),
        )

    @cached_property
    def store(self) -> StateStore:
        """The printer state store on this Redis."""
        return StateStore(self.client)

    @cached_property
    def files(self) -> FileStore:
        """The file store in the data dir."""
        return FileStore(self.settings.data_dir.resolve())

    def close(self) -> None:
        """Release connections."""
        self.client.close()
        self.engine.dispose()
