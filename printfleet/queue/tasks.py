"""RQ tasks: the slow work a worker does for a job (slice, upload, start) and printer commands.

The rules a dispatch follows:

- It acts only while it holds the printer's lease (kept alive by a thread while it works) and only on the
  job version it was given; otherwise it stops and leaves the job to reconciliation.
- A failure *before* the start request (printer not ready, offline, slicing, upload) gives the job back to
  the queue and rests the printer for a while (growing backoff), so the dispatcher retries elsewhere.
- A definite refusal of the start (HTTP 409) does the same. Any other failure of the start request leaves the
  outcome unknown: the job stays ``uploading`` and reconciliation asks the printer what it is doing, never
  starting it blindly a second time.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Self

from printfleet.config import PrinterConfig
from printfleet.drivers import (
    AuthFailed,
    BadResponse,
    DriverError,
    PrinterBusy,
    PrinterDriver,
    PrinterOffline,
    Rejected,
    create_driver,
)
from printfleet.errors import UserError
from printfleet.files import sha256_of
from printfleet.models import FileKind, Job, JobStatus, Printer, utcnow
from printfleet.queue.context import Context
from printfleet.queue.dispatch import COOLDOWN_PREFIX, announce_jobs_changed
from printfleet.queue.jobs import JobChanged, record_event, transition
from printfleet.queue.leases import Lease, printer_lease_name
from printfleet.state import PrinterStatus
from printfleet.texts import CodedText, said
from printfleet.texts import EventCode as E

logger = logging.getLogger(__name__)

ACTOR = "system:worker"
COOLDOWN_BASE_S = 20.0
COOLDOWN_MAX_S = 600.0
IN_DISPATCH = (JobStatus.ASSIGNED, JobStatus.SLICING, JobStatus.UPLOADING)


class DispatchAborted(Exception):
    """The dispatch lost its lease or its job changed; reconciliation takes over."""


def remote_name(job: Job) -> str:
    """The file name a job's G-code gets on the printer (stable, so reconciliation can recognise it)."""
    return f"pf-{job.code}-{job.id}.gcode"


def rest_printer(ctx: Context, printer_id: str, reason: str) -> float:
    """Keep a printer out of dispatch for a growing while after a failure; returns the seconds."""
    count_key = f"printfleet:cooldown-count:{printer_id}"
    count = int(ctx.client.incr(count_key))
    ctx.client.expire(count_key, 3600)
    seconds = min(COOLDOWN_BASE_S * 2 ** (count - 1), COOLDOWN_MAX_S)
    ctx.client.set(f"{COOLDOWN_PREFIX}{printer_id}", reason[:200], px=int(seconds * 1000))
    logger.warning("printer %s rests for %.0f s: %s", printer_id, seconds, reason)
    return seconds


class LeaseKeeper:
    """Renews a lease every third of its lifetime while a dispatch works; notes when it is lost."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.lease.ttl_s / 3):
            if not self.lease.extend():
                self.lost.set()
                return

    def check(self) -> None:
        """Raise if the lease was lost.

        Raises:
            DispatchAborted: it was.
        """
        if self.lost.is_set() or not self.lease.extend():
            self.lost.set()
            raise DispatchAborted(f"lease {self.lease.name} lost")


def dispatch_job(job_id: int, printer_id: str, version: int, lease_token: str) -> str:
    """Slice (if needed), upload and start job ``job_id`` on ``printer_id``; returns what happened."""
    ctx = Context.from_settings()
    try:
        return _dispatch(ctx, job_id, printer_id, version, lease_token)
    finally:
        ctx.close()


def _give_back(ctx: Context, job_id: int, reason: CodedText) -> None:
    from printfleet import db

    try:
        with db.session_scope(ctx.engine) as session:
            transition(
                session, job_id, JobStatus.QUEUED, actor=ACTOR, reason=reason, expected=IN_DISPATCH, printer_id=None
            )
    except JobChanged as exc:
        logger.info("job %s not given back: %s", job_id, exc)
    announce_jobs_changed(ctx.client, job_id, JobStatus.QUEUED.value)


def _fail(ctx: Context, job_id: int, reason: CodedText) -> None:
    from printfleet import db

    try:
        with db.session_scope(ctx.engine) as session:
            transition(
                session, job_id, JobStatus.FAILED, actor=ACTOR, reason=reason, expected=IN_DISPATCH,
                failure_reason=reason.english()[:500],
            )  # fmt: skip
    except JobChanged as exc:
        logger.info("job %s not failed: %s", job_id, exc)
    announce_jobs_changed(ctx.client, job_id, JobStatus.FAILED.value)


def _dispatch(ctx: Context, job_id: int, printer_id: str, version: int, token: str) -> str:
    from printfleet import db

    lease = Lease(ctx.client, printer_lease_name(printer_id), ctx.settings.dispatch_lease_s, token=token)
    if not lease.extend() and not lease.acquire():
        # It expired while the task waited, and someone else holds the printer now.
        logger.warning("job %s: %s is leased by another dispatch; leaving the job to reconciliation", job_id, printer_id)
        return "lease lost"
    try:
        with db.session_scope(ctx.engine) as session:
            job = session.get(Job, job_id)
            if job is None or job.status is not JobStatus.ASSIGNED or job.version != version:
                return "stale"
        try:
            cfg = ctx.fleet.printer(printer_id)
        except KeyError:
            _give_back(ctx, job_id, said(E.PRINTER_REMOVED, printer=printer_id))
            return "printer removed"
        driver = create_driver(cfg, ctx.settings)
        try:
            with LeaseKeeper(lease) as keeper:
                return _carry_out(ctx, driver, cfg, job, keeper)
        finally:
            driver.close()
    except DispatchAborted as exc:
        logger.warning("job %s: dispatch stopped (%s); reconciliation takes over", job_id, exc)
        return "aborted"
    finally:
        lease.release()


def _carry_out(ctx: Context, driver: PrinterDriver, cfg: PrinterConfig, job: Job, keeper: LeaseKeeper) -> str:
    from printfleet import db

    job_id = job.id
    assert job_id is not None
    try:
        state = driver.state()
        if state.status not in (PrinterStatus.IDLE, PrinterStatus.FINISHED):
            raise PrinterBusy(cfg.id, f"it is {state.status.value}")
        gcode = _prepare_gcode(ctx, job, cfg, keeper)
        keeper.check()
        name = remote_name(job)
        with db.session_scope(ctx.engine) as session:
            transition(
                session, job_id, JobStatus.UPLOADING, actor=ACTOR, expected=[JobStatus.ASSIGNED, JobStatus.SLICING],
                remote_file_name=name, gcode_sha256=sha256_of(gcode), **_slicer_figures(job, gcode),
            )  # fmt: skip
        driver.upload(gcode, name)
        keeper.check()
    except JobChanged as exc:
        logger.info("job %s changed during dispatch: %s", job_id, exc)
        return "changed"
    except (PrinterBusy, PrinterOffline, BadResponse, AuthFailed) as exc:
        rest_s = rest_printer(ctx, cfg.id, exc.detail)
        _give_back(ctx, job_id, said(E.PRINTER_NOT_READY, printer=cfg.id, rest_s=rest_s, detail=exc.detail))
        return "given back"
    except Rejected as exc:
        _fail(ctx, job_id, said(E.PRINTER_REFUSED_FILE, printer=cfg.id, detail=exc.detail))
        return "failed"
    except UserError as exc:
        _fail(ctx, job_id, said(E.DISPATCH_FAILED, error=exc.for_person(job.file_name).as_param()))
        return "failed"

    try:
        driver.start(name)
    except PrinterBusy as exc:
        rest_s = rest_printer(ctx, cfg.id, exc.detail)
        _give_back(ctx, job_id, said(E.START_REFUSED, printer=cfg.id, rest_s=rest_s, detail=exc.detail))
        return "refused"
    except DriverError as exc:
        # The request may or may not have reached the printer: never retry blindly.
        logger.warning("job %s: start on %s has an unknown outcome (%s); reconciliation will ask the printer",
                       job_id, cfg.id, exc)  # fmt: skip
        with db.session_scope(ctx.engine) as session:
            row = session.get(Job, job_id)
            if row is not None:
                record_event(session, row, actor=ACTOR, kind="start_unknown",
                             reason=said(E.START_UNKNOWN, printer=cfg.id, detail=exc.detail))
        return "unknown"

    try:
        with db.session_scope(ctx.engine) as session:
            row = session.get(Job, job_id)
            transition(
                session, job_id, JobStatus.PRINTING, actor=ACTOR, expected=[JobStatus.UPLOADING],
                reason=said(E.STARTED, printer=cfg.id), attempts=(row.attempts if row else 0) + 1,
            )  # fmt: skip
            printer = session.get(Printer, cfg.id)
            if printer is not None:
                printer.bed_clear = False  # whatever happens now, someone checks the bed before the next job
                printer.updated_at = utcnow()
                session.add(printer)
    except JobChanged:
        logger.warning("job %s was cancelled while it started on %s; cancelling the print", job_id, cfg.id)
        try:
            driver.cancel()
        except DriverError as exc:
            logger.error("job %s: could not cancel on %s: %s", job_id, cfg.id, exc)
        return "cancelled"
    ctx.client.delete(f"printfleet:cooldown-count:{cfg.id}")
    try:
        ctx.store.put(driver.state())
    except DriverError:
        pass
    announce_jobs_changed(ctx.client, job_id, JobStatus.PRINTING.value, printer_id=cfg.id)
    return "printing"


def _slicer_figures(job: Job, gcode: Path) -> dict[str, object]:
    """The slicer's own figures for sliced G-code, to replace the mesh estimate (kept in the event trail)."""
    if job.file_kind is not FileKind.STL:
        return {}
    from printfleet.estimate.slicer import read_summary

    print_time_s, filament_mm, filament_g = read_summary(gcode)
    if print_time_s is None:
        return {}
    return {"est_print_time_s": print_time_s, "est_filament_mm": filament_mm, "est_filament_g": filament_g,
            "est_source": "slicer"}  # fmt: skip


def _prepare_gcode(ctx: Context, job: Job, cfg: PrinterConfig, keeper: LeaseKeeper) -> Path:
    """The G-code to send: the upload itself, or the model sliced with the printer's profile (cached)."""
    from printfleet import db

    if job.file_kind is FileKind.GCODE:
        return ctx.files.upload_path(job.file_sha256, ".gcode")
    cached = ctx.files.sliced_path(job.file_sha256, sha256_of(cfg.profile))
    with db.session_scope(ctx.engine) as session:
        transition(session, job.id, JobStatus.SLICING, actor=ACTOR, expected=[JobStatus.ASSIGNED],  # type: ignore[arg-type]
                   reason=said(E.SLICED_BEFORE) if cached.exists() else said(E.SLICING, profile=cfg.profile.name))  # fmt: skip
    if not cached.exists():
        slice_to_cache(ctx, ctx.files.upload_path(job.file_sha256, ".stl"), cfg.profile, cached)
    keeper.check()
    return cached


def slice_to_cache(ctx: Context, model: Path, profile: Path, cached: Path) -> Path:
    """Slice ``model`` with ``profile`` into the cache (atomically; concurrent slicers are harmless)."""
    from printfleet.estimate.slicer import slice_model

    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = ctx.files.new_temp_path(".gcode")
    try:
        slice_model(model, profile, tmp)
        os.replace(tmp, cached)
    finally:
        tmp.unlink(missing_ok=True)
    return cached


def fitting_profiles(ctx: Context, job: Job) -> list[Path]:
    """The distinct slicer profiles of the printers a job could print on (material, then size with rotation)."""
    from printfleet.estimate.fit import fits_volume

    bbox = job.bbox_mm or [0.0, 0.0, 0.0]
    hull = [[0.0, 0.0], [bbox[0], 0.0], [bbox[0], bbox[1]], [0.0, bbox[1]]]
    import numpy as np

    profiles: list[Path] = []
    for cfg in ctx.fleet.printers:
        if job.material and job.material.upper() not in ("ANY", cfg.material):
            continue
        if not fits_volume(np.asarray(hull, float), float(bbox[2]), tuple(cfg.build_volume_mm)):
            continue
        if cfg.profile not in profiles:
            profiles.append(cfg.profile)
    return profiles


def slice_ahead(job_id: int) -> str:
    """Slice a new model for every profile it could print with, so the maker sees the slicer's exact figure
    soon and the dispatch later finds the G-code ready. Enqueued on the slicing queue when a job is created."""
    from printfleet import db
    from printfleet.estimate.slicer import read_summary

    ctx = Context.from_settings()
    try:
        with db.session_scope(ctx.engine) as session:
            job = session.get(Job, job_id)
            if job is None or job.file_kind is not FileKind.STL or job.status not in (
                JobStatus.QUEUED, JobStatus.AWAITING_APPROVAL,
            ):  # fmt: skip
                return "nothing to do"
        model = ctx.files.upload_path(job.file_sha256, ".stl")
        figures: list[tuple[Path, tuple[float | None, float | None, float | None]]] = []
        for profile in fitting_profiles(ctx, job):
            cached = ctx.files.sliced_path(job.file_sha256, sha256_of(profile))
            if not cached.exists():
                slice_to_cache(ctx, model, profile, cached)
            figures.append((profile, read_summary(cached)))
        if not figures or figures[0][1][0] is None:
            return "no fitting profile"
        profile, (print_time_s, filament_mm, filament_g) = figures[0]
        with db.session_scope(ctx.engine) as session:
            job = session.get(Job, job_id)
            if job is not None and job.est_source != "slicer":
                before = {"print_time_s": job.est_print_time_s, "filament_g": job.est_filament_g, "source": job.est_source}
                job.est_print_time_s, job.est_filament_mm, job.est_filament_g = print_time_s, filament_mm, filament_g
                job.est_source, job.updated_at = "slicer", utcnow()
                session.add(job)
                record_event(session, job, actor=ACTOR, kind="estimate",
                             reason=said(E.ESTIMATE_SLICED, profile=profile.name, print_time_s=print_time_s,
                                         filament_g=filament_g),
                             data={"before": before, "profiles": {p.name: list(f) for p, f in figures}})  # fmt: skip
        announce_jobs_changed(ctx.client, job_id, "estimate")
        return f"sliced for {len(figures)} profile(s)"
    finally:
        ctx.close()


def enqueue_slice_ahead(client: object, job_id: int) -> None:
    """Queue :func:`slice_ahead` for a new job (on the slicing queue, behind printer commands)."""
    from rq import Queue

    from printfleet.queue.worker import QUEUE_NAMES

    Queue(QUEUE_NAMES[1], connection=client).enqueue(  # type: ignore[arg-type]
        slice_ahead, job_id, job_id=f"slice-ahead-{job_id}", job_timeout=1800, result_ttl=3600,
        failure_ttl=7 * 24 * 3600, description=f"slice job {job_id} ahead",
    )  # fmt: skip


def printer_command(printer_id: str, command: str, actor: str) -> str:
    """Carry out ``pause``, ``resume`` or ``cancel`` on a printer (enqueued by pages and the API)."""
    ctx = Context.from_settings()
    try:
        cfg = ctx.fleet.printer(printer_id)
        driver = create_driver(cfg, ctx.settings)
        try:
            getattr(driver, {"pause": "pause", "resume": "resume", "cancel": "cancel"}[command])()
            logger.info("printer %s: %s by %s", printer_id, command, actor)
            try:
                ctx.store.put(driver.state())
            except DriverError:
                pass
        finally:
            driver.close()
        return "done"
    finally:
        ctx.close()
