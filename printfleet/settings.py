"""Process settings from ``PRINTFLEET_*`` environment variables.

The fleet (printers, site rules) lives in the YAML file named by ``PRINTFLEET_CONFIG``; this module
only holds what differs between processes and machines: where the data, database, Redis and broker are.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from printfleet.errors import ConfigError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_SIM_URL = "http://127.0.0.1:8765"


class Settings(BaseSettings):
    """Settings for one printfleet process.

    ``redis_url`` and ``mqtt_url`` are ``None`` when unset: ``printfleet up`` then starts private
    servers; the single-part commands fall back to the standard local ports.
    """

    model_config = SettingsConfigDict(env_prefix="PRINTFLEET_", env_ignore_empty=True, extra="ignore")

    config: Path = Field(default=Path("configs/printers.yaml"), description="fleet file")
    data_dir: Path = Field(default=Path("data"), description="uploads, sliced files, SQLite, private servers")
    database_url: str | None = None
    redis_url: str | None = None
    mqtt_url: str | None = None
    max_upload_mb: int = Field(default=200, gt=0)
    dispatch_lease_s: float = Field(
        default=120.0, gt=0, le=3600, description="how long a dispatch may hold a printer without renewing"
    )
    log_level: str = "INFO"
    sim_url: str = Field(
        default=DEFAULT_SIM_URL, description="where `printfleet sim` serves the simulated printers (REST)"
    )
    status_silence_s: float = Field(
        default=15.0, gt=0, description="MQTT silence after which a printer's status is polled over REST"
    )

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(f"must start with redis:// (got {value!r})")
        return value

    @field_validator("sim_url")
    @classmethod
    def _check_sim_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"must look like http://host:port (got {value!r})")
        return value.rstrip("/")

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"mqtt", "tcp"} or not parts.hostname:
                raise ValueError(f"must look like mqtt://host:port (got {value!r})")
        return value

    @cached_property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'printfleet.db').resolve()}"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file in use (``None`` with another database)."""
        if self.database_url:
            return None
        return (self.data_dir / "printfleet.db").resolve()

    def database_origin(self) -> str:
        """Where the database choice comes from, for messages: which variable, or the default."""
        if self.database_url:
            return "from PRINTFLEET_DATABASE_URL"
        if "data_dir" in self.model_fields_set:
            return "in PRINTFLEET_DATA_DIR"
        return (
            "PRINTFLEET_DATA_DIR is not set, so ./data of the current directory is used; set PRINTFLEET_DATA_DIR to "
            "printfleet's data directory (the one `printfleet up` uses) or PRINTFLEET_DATABASE_URL"
        )

    @property
    def effective_redis_url(self) -> str:
        """The Redis URL, defaulting to the standard local port."""
        return self.redis_url or DEFAULT_REDIS_URL

    @property
    def effective_mqtt_url(self) -> str:
        """The broker URL, defaulting to the standard local port."""
        return self.mqtt_url or DEFAULT_MQTT_URL

    @property
    def mqtt_host_port(self) -> tuple[str, int]:
        """Host and port of the broker."""
        parts = urlsplit(self.effective_mqtt_url)
        return parts.hostname or "127.0.0.1", parts.port or 1883

    def ensure_data_dir(self) -> Path:
        """Create the data dir if needed and check that it is writable.

        Raises:
            ConfigError: the directory cannot be created or written.
        """
        path = self.data_dir.resolve()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"PRINTFLEET_DATA_DIR={path}: cannot create it ({exc.strerror})") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"PRINTFLEET_DATA_DIR={path}: not writable")
        return path


def load_settings() -> Settings:
    """Read the settings from the environment.

    Raises:
        ConfigError: a variable has a malformed value (the message names it).
    """
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "PRINTFLEET_" + str(err["loc"][0]).upper() if err["loc"] else "PRINTFLEET_*"
        raise ConfigError(f"{name}: {err['msg']}") from None
