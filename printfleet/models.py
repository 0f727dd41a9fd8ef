"""The durable record: users, printers (runtime state), jobs and their append-only event trail.

The database is the source of truth for jobs; Redis only carries work and live state. Stored states are
``str`` enums so that rows read well in SQL and survive renames of Python names.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, String, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use an aware one (printfleet.models.utcnow())")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class StrEnumType(TypeDecorator[StrEnum]):
    """A ``str`` enum stored by its value in a plain VARCHAR (no native enum types to migrate)."""

    impl = String(24)
    cache_ok = True

    def __init__(self, enum_cls: type[StrEnum]) -> None:
        super().__init__()
        self.enum_cls = enum_cls

    def process_bind_param(self, value: StrEnum | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum_cls(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum_cls(value)


class Role(StrEnum):
    """What a user may do: makers their own jobs, staff everything in the fleet, admins also users."""

    MAKER = "maker"
    STAFF = "staff"
    ADMIN = "admin"


class JobStatus(StrEnum):
    """Where a job is in its life. See ``printfleet.queue.lifecycle`` for the allowed transitions."""

    UPLOADED = "uploaded"
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    SLICING = "slicing"
    UPLOADING = "uploading"
    PRINTING = "printing"
    PAUSED = "paused"
    DONE = "done"
    COLLECTED = "collected"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class FileKind(StrEnum):
    """What the maker uploaded."""

    STL = "stl"
    GCODE = "gcode"


class User(SQLModel, table=True):
    """A person who uses printfleet."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64, description="login name")
    display_name: str = Field(default="", max_length=120)
    nickname: str = Field(default="", max_length=40, description="shown on the wall screen instead of the name")
    role: Role = Field(default=Role.MAKER, sa_type=StrEnumType(Role))
    password_hash: str | None = Field(default=None, max_length=255)
    is_active: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token for the API. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=64)
    token_sha256: str = Field(unique=True, max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class Printer(SQLModel, table=True):
    """A printer's runtime record. What it *is* lives in the fleet file; this row is what it is *doing*."""

    __tablename__ = "printers"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=80)
    status: str = Field(default="offline", max_length=16, description="last PrinterStatus seen")
    status_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    bed_clear: bool = Field(default=True, description="False after a print until someone confirms the bed is clear")
    bed_cleared_by: str | None = Field(default=None, max_length=64)
    bed_cleared_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    maintenance: bool = False
    maintenance_reason: str | None = Field(default=None, max_length=200)
    in_config: bool = Field(default=True, description="False once removed from the fleet file; history stays")
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Job(SQLModel, table=True):
    """One print a maker asked for."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_priority_created", "status", "priority", "created_at"),
        UniqueConstraint("code", name="uq_jobs_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=12, description="short public code, e.g. for /j/{code} and the wall screen")
    owner_id: int = Field(foreign_key="users.id", index=True)
    status: JobStatus = Field(default=JobStatus.UPLOADED, sa_type=StrEnumType(JobStatus))
    version: int = Field(default=0, description="bumped on every transition; compare-and-set guard")

    file_name: str = Field(max_length=255, description="the name the maker gave the file (display only)")
    file_sha256: str = Field(max_length=64, index=True, description="content address of the stored upload")
    file_kind: FileKind = Field(sa_type=StrEnumType(FileKind))
    file_size: int = Field(ge=0)

    material: str | None = Field(default=None, max_length=30)
    colour: str | None = Field(default=None, max_length=30)
    copies: int = Field(default=1, ge=1, le=100)
    note: str = Field(default="", max_length=1000)
    priority: int = Field(default=0)

    est_print_time_s: float | None = None
    est_filament_g: float | None = None
    est_filament_mm: float | None = None
    est_source: str | None = Field(default=None, max_length=16, description="mesh | gcode | slicer")
    bbox_mm: list[float] | None = Field(default=None, sa_column=Column(JSON))
    nozzle_mm: float | None = Field(default=None, description="the nozzle pre-sliced G-code was made for")

    printer_id: str | None = Field(default=None, max_length=64, foreign_key="printers.id", index=True)
    gcode_sha256: str | None = Field(default=None, max_length=64)
    remote_file_name: str | None = Field(default=None, max_length=255)

    actual_print_time_s: float | None = None
    actual_filament_mm: float | None = None
    failure_reason: str | None = Field(default=None, max_length=500)
    attempts: int = Field(default=0, ge=0)

    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    queued_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class JobEvent(SQLModel, table=True):
    """One entry of a job's append-only trail: what happened, when, by whom and why."""

    __tablename__ = "job_events"
    __table_args__ = (
        # statistics count and time the transitions of a period from this index alone
        Index("ix_job_events_to_status_at", "to_status", "at", "job_id", "printer_id", "kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id", index=True, ondelete="CASCADE")
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=64, description="user name, or system:<part> for printfleet itself")
    kind: str = Field(max_length=32, description="transition, note, estimate, ...")
    from_status: JobStatus | None = Field(default=None, sa_type=StrEnumType(JobStatus))
    to_status: JobStatus | None = Field(default=None, sa_type=StrEnumType(JobStatus))
    printer_id: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="", max_length=500, description="free text a person typed (or, in old rows, English)")
    reason_code: str | None = Field(default=None, max_length=48,
                                    description="what printfleet itself says, rendered in the reader's language")
    reason_params: dict[str, Any] | None = Field(default=None, sa_column=Column("reason_params", JSON))
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class PrinterEventKind(StrEnum):
    """What happened to a printer that people did (or printfleet decided), apart from its jobs."""

    BED_CLEARED = "bed_cleared"
    MAINTENANCE_ON = "maintenance_on"
    MAINTENANCE_OFF = "maintenance_off"
    PAUSE_REQUESTED = "pause_requested"
    RESUME_REQUESTED = "resume_requested"
    CANCEL_REQUESTED = "cancel_requested"


class PrinterEvent(SQLModel, table=True):
    """One entry of a printer's append-only trail: bed cleared, maintenance on/off, commands people sent."""

    __tablename__ = "printer_events"

    id: int | None = Field(default=None, primary_key=True)
    printer_id: str = Field(foreign_key="printers.id", index=True, max_length=64)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=64, description="user name, or system:<part> for printfleet itself")
    kind: PrinterEventKind = Field(sa_type=StrEnumType(PrinterEventKind))
    job_id: int | None = Field(default=None, foreign_key="jobs.id", index=True,
                               description="the job concerned (e.g. the print taken off the bed)")
    reason: str = Field(default="", max_length=500, description="free text a person typed")
    reason_code: str | None = Field(default=None, max_length=48)
    reason_params: dict[str, Any] | None = Field(default=None, sa_column=Column("reason_params", JSON))
