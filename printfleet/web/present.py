"""Jobs and the queue in their API shapes, with reasons in the reader's language."""

from __future__ import annotations

import datetime as dt
import gettext

from sqlalchemy.orm import object_session
from sqlmodel import col, select

from printfleet.config import FleetConfig, PrinterConfig
from printfleet.models import Job, JobEvent, JobStatus, User
from printfleet.queue.policy import ReasonCode
from printfleet.web.i18n import Formatter
from printfleet.web.queueview import FleetView, JobBrief
from printfleet.web.reasons import event_reason, failure_text, reason_for_state, reason_text
from printfleet.web.schemas import EstimatePublic, JobPublic, QueueEntryPublic


def _dt(ts: float | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)


def approval_reason(job: Job, t: gettext.NullTranslations, fmt: Formatter) -> str | None:
    """Why a job waits for staff approval (the rule, or a person's words), from the event that put it in the
    inbox; ``None`` when none was recorded or the job is not attached to a session."""
    session = object_session(job)
    if session is None or job.id is None:
        return None
    event = session.execute(
        select(JobEvent).where(JobEvent.job_id == job.id, JobEvent.to_status == JobStatus.AWAITING_APPROVAL)
        .order_by(col(JobEvent.id).desc()).limit(1)
    ).scalar_one_or_none()
    return (event_reason(event, t, fmt) or None) if event is not None else None


def job_reason(job: Job, brief: JobBrief | None, t: gettext.NullTranslations, fmt: Formatter, now: float) -> tuple[str, str | None]:
    """The plain-words reason and its code for a job."""
    if job.status is JobStatus.AWAITING_APPROVAL:
        why = approval_reason(job, t, fmt)
        if why is not None:
            return f"{t.gettext('waiting for staff approval')}: {why}", ReasonCode.AWAITING_APPROVAL.value
    if brief is not None and brief.reason is not None and job.status in (JobStatus.QUEUED, JobStatus.AWAITING_APPROVAL):
        return reason_text(brief.reason, t, fmt, now), brief.reason.code.value
    if job.status is JobStatus.QUEUED:
        return t.gettext("waiting for a printer"), None
    return reason_for_state(job.status.value, failure_text(job, t, fmt), t), None


def job_public(job: Job, owner: User, view: FleetView, t: gettext.NullTranslations, fmt: Formatter, *,
               fleet: FleetConfig | None = None, fits: list[PrinterConfig] | None = None) -> JobPublic:
    """A job for its owner or staff; ``fits`` (the printers it can print on, see
    :func:`printfleet.web.estimating.job_fits`) and the cost (with ``fleet``) where the caller gives them."""
    brief = view.brief(job.id) if job.id is not None else None
    reason, code = job_reason(job, brief, t, fmt, view.now)
    waiting = job.status is JobStatus.QUEUED and brief is not None
    cost = fleet.site.cost_of(job.est_filament_g, job.est_print_time_s) if fleet is not None else None
    return JobPublic(
        id=job.id,  # type: ignore[arg-type]
        code=job.code,
        status=job.status,
        owner=owner.name,
        file_name=job.file_name,
        file_kind=job.file_kind,
        file_size=job.file_size,
        material=job.material,
        colour=job.colour,
        copies=job.copies,
        note=job.note,
        priority=job.priority,
        estimate=EstimatePublic(
            print_time_s=job.est_print_time_s,
            filament_g=job.est_filament_g,
            filament_mm=job.est_filament_mm,
            source=job.est_source,
            bbox_mm=job.bbox_mm,
            cost=cost,
            currency=fleet.site.currency if cost is not None and fleet is not None else None,
            fits=[p.id for p in fits or ()],
            fit_names=[p.name for p in fits or ()],
            copies=job.copies,
            material=job.material,
        ),
        printer_id=job.printer_id,
        queue_position=brief.position if waiting else None,  # type: ignore[union-attr]
        estimated_start=_dt(brief.start_at) if waiting else None,  # type: ignore[union-attr]
        reason=reason,
        reason_code=code,
        failure_reason=job.failure_reason,
        version=job.version,
        created_at=job.created_at,
        queued_at=job.queued_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        preview_url=f"/api/jobs/{job.id}/preview.png" if job.file_kind.value == "stl" else None,
        public_url=f"/j/{job.code}",
    )


def queue_entries(view: FleetView, t: gettext.NullTranslations, fmt: Formatter, *, viewer: User | None,
                  staff: bool) -> list[QueueEntryPublic]:
    """The queue (then the approval inbox), with ids only where the viewer may see them."""
    entries = []
    for brief in [*view.queue, *view.approvals]:
        reason = reason_text(brief.reason, t, fmt, view.now) if brief.reason is not None else t.gettext("waiting for a printer")
        mine = staff or (viewer is not None and viewer.id == brief.owner_id)
        entries.append(
            QueueEntryPublic(
                position=brief.position,
                code=brief.code,
                nickname=brief.nickname,
                status=brief.status,
                estimated_start=_dt(brief.start_at),
                reason=reason,
                reason_code=brief.reason.code.value if brief.reason is not None else None,
                id=brief.id if mine else None,
            )
        )
    return entries
