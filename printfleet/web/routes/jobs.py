"""``/api/uploads`` and ``/api/jobs``: upload, estimate, confirm, list, detail and the job actions.

Makers see and act on their own jobs only (someone else's job is "not found", so ids reveal nothing);
staff and admins see and act on all.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse
from sqlmodel import Session, col, func, select

from printfleet.config import FleetConfig
from printfleet.errors import Forbidden, UserError
from printfleet.files import FileStore, StoredFile
from printfleet.models import FileKind, Job, JobStatus, Printer, User
from printfleet.queue import actions
from printfleet.queue import jobs as job_service
from printfleet.queue.dispatch import announce_jobs_changed
from printfleet.queue.jobs import JobNotFound, job_changed, job_not_found
from printfleet.queue.lifecycle import ENDED
from printfleet.queue.policy import QueuedJob, Reason, UserInfo, needs_approval
from printfleet.queue.rules import site_rules
from printfleet.queue.tasks import enqueue_slice_ahead
from printfleet.texts import N_, plan_said
from printfleet.web.deps import (
    CurrentUser,
    FleetDep,
    HubDep,
    Lang,
    LangDep,
    SessionDep,
    SettingsDep,
    is_staff,
)
from printfleet.web.estimating import (
    UploadEstimate,
    canonical_colour,
    estimate_options,
    job_fits,
    no_fit_message,
    no_fit_text,
    sliced_for_text,
)
from printfleet.web.present import job_public
from printfleet.web.preview import ensure_preview
from printfleet.web.queueview import default_material
from printfleet.web.reasons import reason_text
from printfleet.web.schemas import (
    ErrorPublic,
    EstimatePublic,
    JobAction,
    JobCreated,
    JobPublic,
    JobsPublic,
    UploadPublic,
)
from printfleet.web.uploads import Draft, UploadNotFound, forget_draft, load_draft, save_draft, store_upload

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["jobs"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 404, 409, 413, 422)
}


#: a job id in a path: database ids are 32-bit
JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the job's id")]


class BadOption(UserError):
    """A job option is not acceptable."""

    code = "bad_option"


def _estimate_public(estimate: UploadEstimate, fleet: FleetConfig, lang: Lang, approval: Reason | None) -> EstimatePublic:
    names = {p.id: p.name for p in fleet.printers}
    return EstimatePublic(
        print_time_s=estimate.print_time_s,
        filament_g=estimate.filament_g,
        filament_mm=estimate.filament_mm,
        source=estimate.source,
        bbox_mm=estimate.bbox_mm,
        fits=estimate.fits,
        fit_names=[names.get(p, p) for p in estimate.fits],
        cost=estimate.cost,
        currency=estimate.currency if estimate.cost is not None else None,
        copies=estimate.copies,
        part_mm=estimate.part_mm,
        material=estimate.material,
        sliced_for=sliced_for_text(estimate.sliced_for, lang.t, lang.fmt) if estimate.sliced_for else None,
        no_fit=no_fit_text(estimate, lang.t, lang.fmt),
        approval=reason_text(approval, lang.t, lang.fmt, time.time()) if approval is not None else None,
    )


def _approval(session: Session, fleet: FleetConfig, user: User, estimate: UploadEstimate) -> Reason | None:
    """Why a job with this estimate (all copies) would wait for staff approval, or ``None``."""
    return needs_approval(
        QueuedJob(
            id="new", user=user.name, submitted_at=0.0, est_print_s=estimate.print_time_s or 0.0,
            filament_g=estimate.filament_g or 0.0, material=estimate.material or default_material(fleet),
        ),
        site_rules(fleet),
        UserInfo(name=user.name, is_staff=is_staff(user), completed_jobs=_completed_jobs(session, user)),
    )


class NoPrinterFits(UserError):
    """No printer of the fleet can print this: a template of ``estimating.NO_FIT_TEXTS`` and its parameters
    (:func:`printfleet.web.estimating.no_fit_message`)."""

    code = "no_printer_fits"

    def __init__(self, message: tuple[str, dict[str, str]]) -> None:
        super().__init__(message[0], **message[1])


def _gcode_material_conflict(estimate: UploadEstimate, material: str | None) -> None:
    """Refuse a material other than the one a G-code was sliced for."""
    own = (estimate.sliced_for or {}).get("filament_type")
    if own and material and material.strip().upper() != own:
        raise BadOption(N_("This G-code was sliced for %(sliced)s, not %(material)s; it can only print with "
                           "%(sliced)s."), code="gcode_material", sliced=own, material=material.strip().upper())


def check_options(
    fleet: FleetConfig, user: User, *, material: str | None, colour: str | None, copies: int, note: str,
    priority: int,
) -> tuple[str | None, str | None]:
    """Normalised material and colour (a colour named in any of the pages' languages, e.g. ``schwarz``, as the
    fleet file names it).

    Raises:
        BadOption: unknown material, a priority from a maker, or a value out of range.
    """
    materials = sorted({p.material for p in fleet.printers})
    if material is not None and material.strip():
        material = material.strip().upper()
        if material not in materials:
            raise BadOption(N_("material %(material)s: this site prints %(materials)s"), code="unknown_material",
                            material=material, materials=", ".join(materials) or "–")
    else:
        material = None
    if colour is not None:
        colour = colour.strip().lower() or None
        if colour is not None and (len(colour) > 30 or not all(c.isalnum() or c in " -" for c in colour)):
            raise BadOption(N_("colour: a plain colour name, at most 30 letters"), code="bad_colour")
        colour = canonical_colour(fleet, colour) if colour is not None else None
    if not 1 <= copies <= 100:
        raise BadOption(N_("copies: between 1 and 100"), code="bad_copies")
    if len(note) > 1000:
        raise BadOption(N_("note: at most 1000 characters"), code="bad_note")
    if priority != 0 and not is_staff(user):
        raise BadOption(N_("priority: only staff can set a priority"), code="priority_staff_only")
    if not -100 <= priority <= 100:
        raise BadOption(N_("priority: between -100 and 100"), code="bad_priority")
    return material, (None if colour == "any" else colour)


def visible_job(session: Session, job_id: int, user: User) -> tuple[Job, User]:
    """A job the user may see, with its owner.

    Raises:
        JobNotFound: no such job, or a maker asking for someone else's.
    """
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or (not is_staff(user) and job.owner_id != user.id):
        raise job_not_found(job_id)
    owner = session.get(User, job.owner_id)
    assert owner is not None
    return job, owner


def _completed_jobs(session: Session, user: User) -> int:
    return session.exec(
        select(func.count()).where(Job.owner_id == user.id, col(Job.status).in_([JobStatus.DONE, JobStatus.COLLECTED]))
    ).one()


@router.post("/uploads", status_code=201, response_model=UploadPublic, responses=ERRORS, summary="Upload a file")
def create_upload(
    request: Request,
    session: SessionDep,
    lang: LangDep,
    user: CurrentUser,
    settings: SettingsDep,
    fleet: FleetDep,
    file: Annotated[UploadFile, File(description="an .stl model or a .gcode file")],
    material: Annotated[str | None, Form(max_length=30)] = None,
    colour: Annotated[str | None, Form(max_length=30)] = None,
    copies: Annotated[int, Form(ge=1, le=100)] = 1,
) -> Any:
    """Store and estimate a file (all ``copies`` on one plate) and render its preview; change the options with
    ``POST /api/uploads/{upload_id}/estimate``, confirm it with ``POST /api/jobs`` (``upload_id``)."""
    material, colour = check_options(fleet, user, material=material, colour=colour, copies=copies, note="",
                                     priority=0)  # fmt: skip
    stored, name, kind, single = store_upload(
        settings.data_dir, file.file, file_name=file.filename or "", fleet=fleet,
        max_bytes=settings.max_upload_mb * 1_000_000, material=material, colour=colour,
    )
    estimate = estimate_options(stored.path, kind, fleet, settings.data_dir, material=material, colour=colour,
                                copies=copies, max_bytes=settings.max_upload_mb * 1_000_000, known=single)  # fmt: skip
    draft = save_draft(request.app.state.redis, owner_id=user.id, stored=stored, file_name=name, kind=kind,  # type: ignore[arg-type]
                       estimate=estimate)
    return _upload_public(session, settings, fleet, user, lang, draft)


@router.post("/uploads/{upload_id}/estimate", response_model=UploadPublic, responses=ERRORS,
             summary="Estimate an upload with other options")
def update_upload_estimate(
    request: Request,
    upload_id: str,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    fleet: FleetDep,
    lang: LangDep,
    material: Annotated[str | None, Form(max_length=30)] = None,
    colour: Annotated[str | None, Form(max_length=30)] = None,
    copies: Annotated[int, Form(ge=1, le=100)] = 1,
) -> Any:
    """The estimate of one of your uploads with another material, colour or number of copies. The answer has a
    new ``upload_id`` (the old one is gone)."""
    material, colour = check_options(fleet, user, material=material, colour=colour, copies=copies, note="",
                                     priority=0)  # fmt: skip
    client = request.app.state.redis
    draft = load_draft(client, upload_id, user.id)  # type: ignore[arg-type]
    path = FileStore(settings.data_dir).upload_path(draft.sha256, draft.suffix)
    estimate = estimate_options(path, draft.file_kind, fleet, settings.data_dir, material=material, colour=colour,
                                copies=copies, max_bytes=settings.max_upload_mb * 1_000_000,
                                known=draft.estimate)  # fmt: skip
    stored = StoredFile(sha256=draft.sha256, path=path, size=draft.file_size)
    fresh = save_draft(client, owner_id=user.id, stored=stored, file_name=draft.file_name,  # type: ignore[arg-type]
                       kind=draft.file_kind, estimate=estimate)
    forget_draft(client, upload_id)
    return _upload_public(session, settings, fleet, user, lang, fresh)


def _upload_public(session: Session, settings: Any, fleet: FleetConfig, user: User, lang: Lang, draft: Draft) -> UploadPublic:
    estimate = draft.estimate
    if draft.file_kind is FileKind.STL:
        preview_sha = estimate.plate_sha256 or draft.sha256
        ensure_preview(settings.data_dir, preview_sha, FileStore(settings.data_dir).upload_path(preview_sha, ".stl"))
    return UploadPublic(
        upload_id=draft.upload_id,
        file_name=draft.file_name,
        file_kind=draft.file_kind,
        file_size=draft.file_size,
        estimate=_estimate_public(estimate, fleet, lang, _approval(session, fleet, user, estimate)),
        preview_url=f"/api/uploads/{draft.upload_id}/preview.png" if draft.file_kind is FileKind.STL else None,
        warnings=estimate.warnings,
    )


@router.get("/uploads/{upload_id}/preview.png", response_class=FileResponse, responses=ERRORS,
            summary="Preview image of an upload")
def read_upload_preview(request: Request, upload_id: str, user: CurrentUser, settings: SettingsDep) -> Any:
    """The server-rendered preview of one of your uploads (PNG; copies: the plate)."""
    draft = load_draft(request.app.state.redis, upload_id, user.id)  # type: ignore[arg-type]
    sha = draft.estimate.plate_sha256 or draft.sha256
    return _preview_response(settings.data_dir, sha, ".stl" if draft.estimate.plate_sha256 else draft.suffix,
                             draft.file_kind)  # fmt: skip


def _preview_response(data_dir: Any, sha256: str, suffix: str, kind: FileKind) -> FileResponse:
    if kind is not FileKind.STL:
        raise JobNotFound(N_("G-code files have no preview"), code="no_preview")
    path = ensure_preview(data_dir, sha256, FileStore(data_dir).upload_path(sha256, suffix))
    if path is None:
        raise JobNotFound(N_("there is no preview of this file"), code="no_preview")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


@router.post("/jobs", status_code=201, response_model=JobCreated, responses=ERRORS, summary="Create a job")
def create_job(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    fleet: FleetDep,
    hub: HubDep,
    lang: LangDep,
    file: Annotated[UploadFile | None, File(description="an .stl or .gcode file (or give upload_id)")] = None,
    upload_id: Annotated[str | None, Form(max_length=64, description="from POST /api/uploads")] = None,
    material: Annotated[str | None, Form(max_length=30)] = None,
    colour: Annotated[str | None, Form(max_length=30)] = None,
    copies: Annotated[int, Form(ge=1, le=100)] = 1,
    note: Annotated[str, Form(max_length=1000)] = "",
    priority: Annotated[int, Form(ge=-100, le=100)] = 0,
) -> Any:
    """Queue a print: upload the file here, or confirm an earlier upload by its ``upload_id``.

    The job goes to the queue, or to the staff approval inbox when the site's rules say so.
    """
    material, colour = check_options(fleet, user, material=material, colour=colour, copies=copies, note=note,
                                     priority=priority)
    redis_client = request.app.state.redis
    max_bytes = settings.max_upload_mb * 1_000_000
    if (file is None) == (upload_id is None):
        raise BadOption(N_("send either a file or an upload_id"), code="file_or_upload")
    if file is not None:
        stored, name, kind, known = store_upload(
            settings.data_dir, file.file, file_name=file.filename or "", fleet=fleet,
            max_bytes=max_bytes, material=material, colour=colour,
        )
        sha, size, path = stored.sha256, stored.size, stored.path
    else:
        draft = load_draft(redis_client, upload_id or "", user.id)  # type: ignore[arg-type]
        name, kind, known, sha, size = draft.file_name, draft.file_kind, draft.estimate, draft.sha256, draft.file_size
        path = FileStore(settings.data_dir).upload_path(sha, draft.suffix)
    _gcode_material_conflict(known, material)
    estimate = estimate_options(path, kind, fleet, settings.data_dir, material=material, colour=colour,
                                copies=copies, max_bytes=max_bytes, known=known)  # fmt: skip
    why = no_fit_message(estimate, lang.t, lang.fmt)
    if why is not None:
        raise NoPrinterFits(why)
    if estimate.plate_sha256 is not None:  # the copies on one plate are what is sliced and printed
        sha, size = estimate.plate_sha256, estimate.plate_size or size
    approval = _approval(session, fleet, user, estimate)
    job = job_service.create_job(
        session,
        owner=user,
        file_name=name,
        file_sha256=sha,
        file_kind=kind,
        file_size=size,
        needs_approval=plan_said(approval) if approval is not None else None,
        material=estimate.material,
        colour=colour,
        copies=copies,
        note=note,
        priority=priority,
        est_print_time_s=estimate.print_time_s,
        est_filament_g=estimate.filament_g,
        est_filament_mm=estimate.filament_mm,
        est_source=estimate.source.split(":")[0][:16] if estimate.source else None,
        bbox_mm=estimate.bbox_mm,
        nozzle_mm=estimate.nozzle_mm,
    )
    session.commit()
    if upload_id:
        forget_draft(redis_client, upload_id)
    announce_jobs_changed(redis_client, job.id)
    if kind is FileKind.STL:
        enqueue_slice_ahead(redis_client, job.id)  # the slicer's exact figure follows; the G-code waits for dispatch
    result = job_public(job, user, hub.fresh_view(session), lang.t, lang.fmt, fleet=fleet,
                        fits=job_fits(fleet, settings.data_dir, job))  # fmt: skip
    return JobCreated(**result.model_dump())


@router.get("/jobs", response_model=JobsPublic, responses=ERRORS, summary="List jobs")
def read_jobs(
    session: SessionDep,
    user: CurrentUser,
    hub: HubDep,
    lang: LangDep,
    fleet: FleetDep,
    settings: SettingsDep,
    status: Annotated[list[JobStatus] | None, Query(description="only jobs in these states")] = None,
    active: Annotated[bool | None, Query(description="true: not ended; false: ended")] = None,
    mine: Annotated[bool, Query(description="staff: only your own jobs")] = False,
    code: Annotated[str | None, Query(max_length=12)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    """Your jobs (staff: everybody's), newest first."""
    query = select(Job, User).join(User, col(User.id) == Job.owner_id)
    if not is_staff(user) or mine:
        query = query.where(Job.owner_id == user.id)
    if status:
        query = query.where(col(Job.status).in_(status))
    if active is not None:
        ended = col(Job.status).in_(list(ENDED))
        query = query.where(~ended if active else ended)
    if code:
        query = query.where(Job.code == code.strip().upper())
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Job.id).desc()).offset(offset).limit(limit)).all()
    view = hub.view
    return JobsPublic(data=[job_public(job, owner, view, lang.t, lang.fmt, fleet=fleet,
                                       fits=job_fits(fleet, settings.data_dir, job)) for job, owner in rows],
                      count=total)  # fmt: skip


@router.get("/jobs/{job_id}", response_model=JobPublic, responses=ERRORS, summary="Read a job")
def read_job(job_id: JobId, session: SessionDep, user: CurrentUser, hub: HubDep, lang: LangDep, fleet: FleetDep,
             settings: SettingsDep) -> Any:
    """A job with its estimate (which printers can take it, cost), printer, queue position, estimated start and
    why it waits."""
    job, owner = visible_job(session, job_id, user)
    return job_public(job, owner, hub.view, lang.t, lang.fmt, fleet=fleet, fits=job_fits(fleet, settings.data_dir, job))


@router.get("/jobs/{job_id}/preview.png", response_class=FileResponse, responses=ERRORS,
            summary="Preview image of a job's model")
def read_job_preview(job_id: JobId, session: SessionDep, user: CurrentUser, settings: SettingsDep) -> Any:
    """The server-rendered preview of the job's STL (PNG)."""
    job, _ = visible_job(session, job_id, user)
    return _preview_response(settings.data_dir, job.file_sha256, ".stl", job.file_kind)


def _checked(session: Session, job_id: int, user: User, body: JobAction | None, verb: str,
             staff_only: bool = False) -> tuple[Job, User, JobAction]:
    body = body or JobAction()
    job, owner = visible_job(session, job_id, user)
    if staff_only and not is_staff(user):
        raise Forbidden(N_("only staff can do this"), code="staff_only")
    if body.expected_version is not None and job.version != body.expected_version:
        raise job_changed(job_id)
    return job, owner, body


def _answer(session: Session, job: Job, owner: User, hub: Any, lang: Any) -> JobPublic:
    session.commit()
    session.refresh(job)
    return job_public(job, owner, hub.view, lang.t, lang.fmt)


ActionBody = Annotated[JobAction | None, Body()]


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic, responses=ERRORS, summary="Cancel a job")
def cancel_job(request: Request, job_id: JobId, session: SessionDep, user: CurrentUser, hub: HubDep, lang: LangDep,
               body: ActionBody = None) -> Any:
    """Cancel your job (staff: any job). A print in progress is stopped on the printer first; the job ends as
    cancelled when the printer reports it stopped."""
    job, owner, body = _checked(session, job_id, user, body, "cancel")
    job = actions.cancel_job(session, request.app.state.redis, job_id, actor=user.name, reason=body.reason)
    return _answer(session, job, owner, hub, lang)


@router.post("/jobs/{job_id}/approve", response_model=JobPublic, responses=ERRORS, summary="Approve a job")
def approve_job(request: Request, job_id: JobId, session: SessionDep, user: CurrentUser, hub: HubDep, lang: LangDep,
                body: ActionBody = None) -> Any:
    """Staff: let a job that waits for approval into the queue."""
    job, owner, body = _checked(session, job_id, user, body, "approve", staff_only=True)
    job = actions.approve_job(session, request.app.state.redis, job_id, actor=user.name, reason=body.reason)
    return _answer(session, job, owner, hub, lang)


@router.post("/jobs/{job_id}/reject", response_model=JobPublic, responses=ERRORS, summary="Reject a job")
def reject_job(request: Request, job_id: JobId, session: SessionDep, user: CurrentUser, hub: HubDep, lang: LangDep,
               body: ActionBody = None) -> Any:
    """Staff: refuse a job that waits for approval, with a reason the maker can act on."""
    job, owner, body = _checked(session, job_id, user, body, "reject", staff_only=True)
    job = actions.reject_job(session, request.app.state.redis, job_id, actor=user.name, reason=body.reason)
    return _answer(session, job, owner, hub, lang)


@router.post("/jobs/{job_id}/requeue", response_model=JobPublic, responses=ERRORS, summary="Requeue a job")
def requeue_job(request: Request, job_id: JobId, session: SessionDep, user: CurrentUser, hub: HubDep, lang: LangDep,
                body: ActionBody = None) -> Any:
    """Put a failed or cancelled job back at its place: staff straight into the queue, makers via approval."""
    job, owner, body = _checked(session, job_id, user, body, "requeue")
    client = request.app.state.redis
    job = actions.requeue_job(session, client, job_id, actor=user.name, reason=body.reason,
                              needs_approval=not is_staff(user))  # fmt: skip
    session.commit()
    return _answer(session, job, owner, hub, lang)


def latest_job_on(session: Session, printer_id: str) -> Job | None:
    """The job a printer printed (or started) last."""
    return session.exec(
        select(Job).where(Job.printer_id == printer_id, col(Job.started_at).is_not(None))
        .order_by(col(Job.started_at).desc(), col(Job.id).desc()).limit(1)
    ).first()


@router.post("/jobs/{job_id}/collected", response_model=JobPublic, responses=ERRORS,
             summary="Mark a job as collected")
def collect_job(request: Request, job_id: JobId, session: SessionDep, user: CurrentUser, hub: HubDep, lang: LangDep,
                fleet: FleetDep, body: ActionBody = None) -> Any:
    """The print was picked up (its owner or staff). When it was the last print on its printer, taking it off
    also confirms that printer's bed is clear (the owner of a printer's last print or staff may do that)."""
    job, owner, body = _checked(session, job_id, user, body, "mark collected")
    client = request.app.state.redis
    job = actions.collect_job(session, client, job_id, actor=user.name)
    if job.printer_id is not None and clears_bed(session, fleet, job):
        try:
            actions.clear_bed(session, client, job.printer_id, actor=user.name)
        except UserError as exc:  # something else is on that printer now: the pickup stands on its own
            logger.info("job %s picked up; the bed of %s stays as it is: %s", job.id, job.printer_id, exc)
    return _answer(session, job, owner, hub, lang)


def clears_bed(session: Session, fleet: FleetConfig, job: Job) -> bool:
    """Whether taking ``job`` off its printer leaves that printer's bed clear: it was the printer's last print,
    nothing is on the printer now, and nobody has confirmed the bed clear yet."""
    if job.printer_id is None or not any(p.id == job.printer_id for p in fleet.printers):
        return False
    row = session.get(Printer, job.printer_id)
    latest = latest_job_on(session, job.printer_id)
    return row is not None and not row.bed_clear and latest is not None and latest.id == job.id


__all__ = ["UploadNotFound", "router"]
