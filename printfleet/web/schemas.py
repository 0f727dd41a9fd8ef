"""Shapes of the JSON API (requests and responses), in the Base/Create/Public style of the models."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from printfleet.models import FileKind, JobStatus


class EstimatePublic(BaseModel):
    """The estimator's figures for a print: all its copies together (one plate)."""

    print_time_s: float | None = Field(description="estimated print time (seconds), all copies")
    filament_g: float | None = Field(description="all copies")
    filament_mm: float | None
    source: str | None = Field(description="mesh | gcode:<slicer> | slicer")
    bbox_mm: list[float] | None = Field(description="bounding box x, y, z of what is printed (copies: the plate)")
    cost: float | None = Field(default=None, description="when the site sets prices")
    currency: str | None = Field(default=None, description="of the cost, e.g. EUR")
    fits: list[str] = Field(default_factory=list, description="ids of the printers that can print it")
    fit_names: list[str] = Field(default_factory=list, description="names of those printers")
    copies: int = Field(default=1, description="copies printed together on one plate")
    part_mm: list[float] | None = Field(default=None, description="one copy's size x, y, z")
    material: str | None = Field(default=None, description="what it prints with (a G-code: its own filament)")
    sliced_for: str | None = Field(default=None, description="a G-code: the printer, filament and nozzle it was made for")
    no_fit: str | None = Field(default=None, description="why no printer here can print it, in the reader's language")
    approval: str | None = Field(default=None, description="why the job will wait for staff approval, if it will")


class UploadPublic(BaseModel):
    """A stored upload, estimated and previewed, not yet a job (confirm it with POST /api/jobs)."""

    upload_id: str
    file_name: str
    file_kind: FileKind
    file_size: int
    estimate: EstimatePublic
    preview_url: str | None
    warnings: list[str] = Field(default_factory=list)


class JobPublic(BaseModel):
    """A job as its owner and staff see it."""

    id: int
    code: str
    status: JobStatus
    owner: str
    file_name: str
    file_kind: FileKind
    file_size: int
    material: str | None
    colour: str | None
    copies: int
    note: str
    priority: int
    estimate: EstimatePublic
    printer_id: str | None
    queue_position: int | None = Field(description="1 = next; only while queued")
    estimated_start: dt.datetime | None
    reason: str = Field(description="in plain words, why the job waits (or what it is doing)")
    reason_code: str | None
    failure_reason: str | None
    version: int
    created_at: dt.datetime
    queued_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    preview_url: str | None
    public_url: str


class JobCreated(JobPublic):
    """A new job."""


class JobsPublic(BaseModel):
    """A list of jobs."""

    data: list[JobPublic]
    count: int


class JobAction(BaseModel):
    """Optional details of a job action."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)
    expected_version: int | None = Field(default=None, ge=0, le=2**31 - 1, description="refuse (409) if the job changed since")


class QueueEntryPublic(BaseModel):
    """One job in the queue, in the order the scheduler will serve it."""

    position: int | None
    code: str
    nickname: str
    status: JobStatus
    estimated_start: dt.datetime | None
    reason: str
    reason_code: str | None
    id: int | None = Field(default=None, description="only for your own jobs (staff: all)")


class QueuePublic(BaseModel):
    """The queue and the approval inbox."""

    data: list[QueueEntryPublic]
    count: int
    awaiting_approval: int


class TempPublic(BaseModel):
    """A heater's temperatures (°C)."""

    actual: float | None
    target: float | None


class PrinterJobPublic(BaseModel):
    """The job a printer card shows (public part): on the printer, or done and still on its bed."""

    id: int
    code: str
    nickname: str
    status: JobStatus


class PrinterPublic(BaseModel):
    """A printer's card (``printfleet.web.cards``). Never contains addresses, API keys, file or user names."""

    id: str
    name: str
    status: str = Field(description="what the printer reports: offline | idle | busy | printing | paused | "
                        "finished | error")
    state: str = Field(description="what its card says, bed and maintenance included: printing | paused | starting | "
                       "busy | bed_not_clear | free | maintenance | error | offline")
    maintenance: bool
    bed_clear: bool
    material: str
    colour: str
    nozzle_mm: float
    build_volume_mm: list[float]
    progress: float | None = Field(description="0..1")
    remaining_s: float | None
    eta: dt.datetime | None
    nozzle_temp: TempPublic | None
    bed_temp: TempPublic | None
    error: str | None
    observed_at: dt.datetime | None
    job: PrinterJobPublic | None
    actions: list[str] = Field(description="what staff may do now: pause | resume | cancel | bed_clear | "
                               "maintenance_on | maintenance_off")


class MaintenanceIn(BaseModel):
    """Take a printer out of dispatch (or back in)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    reason: str = Field(default="", max_length=200)


class PrinterCancelIn(BaseModel):
    """Stop the print on a printer."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=200)


class PrinterActionResult(BaseModel):
    """What a printer action did."""

    printer_id: str
    action: str
    ok: bool
    detail: str = ""


class ErrorPublic(BaseModel):
    """An error: ``detail`` says what is wrong."""

    detail: str
