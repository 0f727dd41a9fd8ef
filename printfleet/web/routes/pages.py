"""The pages: landing, sign-in, the maker's upload and jobs, the staff console, the wall and ``/j/{code}``.

Pages render on the server; a little plain JavaScript (``static/app.js``) uploads with a progress bar,
posts the actions to the JSON API with the CSRF token, and follows ``/events`` (SSE) for live updates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated
from urllib.parse import quote, urlencode, urlsplit

import redis
import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from markupsafe import Markup
from sqlmodel import col, select

from printfleet import db
from printfleet.accounts import verify_password
from printfleet.errors import Forbidden, UserError
from printfleet.models import Job, JobStatus, User
from printfleet.queue.actions import printer_not_found
from printfleet.queue.history import history
from printfleet.queue.lifecycle import ENDED, ON_PRINTER
from printfleet.texts import N_
from printfleet.web.auth import SESSION_COOKIE, SESSION_MAX_AGE_S
from printfleet.web.cards import VARIANTS as CARD_VARIANTS
from printfleet.web.cards import wall_grid
from printfleet.web.deps import (
    FleetDep,
    HubDep,
    LangDep,
    OptionalUser,
    SessionDep,
    SettingsDep,
    get_optional_user,
    is_staff,
)
from printfleet.web.estimating import job_fits, loaded_colours
from printfleet.web.i18n import LANG_COOKIE, normalise_locale
from printfleet.web.live import StreamFilter
from printfleet.web.pages import render
from printfleet.web.present import job_public
from printfleet.web.queueview import loaded_materials
from printfleet.web.reasons import colour_name
from printfleet.web.routes.jobs import JobId, clears_bed, visible_job
from printfleet.web.schemas import JobPublic

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

#: failed sign-ins per name within the window before further attempts are refused (429)
MAX_LOGIN_FAILURES = 10
LOGIN_FAIL_WINDOW_S = 15 * 60
LOGIN_FAIL_KEY = "printfleet:web:login-failures:"
#: a job page shows the job's whole history (a long print with pauses and requeues has a few dozen entries)
JOB_HISTORY_LIMIT = 1000


def _safe_next(value: str | None, default: str = "/") -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("/login?next=" + quote(request.url.path), status_code=303)


def _home(user: User) -> str:
    return "/staff" if is_staff(user) else "/me"


@router.get("/")
def read_index(request: Request, user: OptionalUser, lang: LangDep) -> Response:
    """Landing page: signed-in people go to their page."""
    if user is not None:
        return RedirectResponse(_home(user), status_code=303)
    return render(request, lang, "index.html", user=None)


@router.get("/login")
def read_login(request: Request, user: OptionalUser, lang: LangDep, next: str | None = None) -> Response:
    """The sign-in form."""
    if user is not None:
        return RedirectResponse(_safe_next(next, _home(user)), status_code=303)
    return render(request, lang, "login.html", user=None, next=_safe_next(next, ""), error=None, name="")


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    lang: LangDep,
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Check the password and set the session cookie."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise Forbidden(N_("signing in from another site is refused"), code="foreign_origin")
    client = request.app.state.redis
    fail_key = LOGIN_FAIL_KEY + name.strip().lower()[:64]
    try:
        failures = int(client.get(fail_key) or 0)
    except redis.RedisError:
        failures = 0
    if failures >= MAX_LOGIN_FAILURES:
        return render(request, lang, "login.html", user=None, next=_safe_next(next, ""), name=name[:64],
                      error=lang.t.gettext("Too many failed attempts; try again in a few minutes."), status_code=429)
    user = session.exec(select(User).where(User.name == name.strip())).first() if name.strip() else None
    if user is None or not user.is_active or not verify_password(user, password):
        logger.info("failed sign-in for %r", name[:64])
        try:
            client.pipeline().incr(fail_key).expire(fail_key, LOGIN_FAIL_WINDOW_S).execute()
        except redis.RedisError:
            pass
        return render(request, lang, "login.html", user=None, next=_safe_next(next, ""), name=name[:64],
                      error=lang.t.gettext("Wrong name or password."), status_code=401)
    try:
        client.delete(fail_key)
    except redis.RedisError:
        pass
    value, _ = request.app.state.sessions.dump(user.id, user.password_hash)
    response = RedirectResponse(_safe_next(next, _home(user)), status_code=303)
    response.set_cookie(SESSION_COOKIE, value, max_age=SESSION_MAX_AGE_S, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")
    logger.info("%s signed in", user.name)
    return response


@router.post("/logout")
def logout(request: Request, user: OptionalUser) -> Response:
    """End the session (needs the CSRF token like every form)."""
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang")
def set_language(set: Annotated[str, Query(max_length=10)], next: Annotated[str, Query(max_length=500)] = "/") -> Response:
    """Switch the page language (kept in a cookie for a year)."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    code = normalise_locale(set)
    if code is not None:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return response


@router.get("/me")
def read_my_page(request: Request, session: SessionDep, user: OptionalUser, lang: LangDep, hub: HubDep,
                 fleet: FleetDep, settings: SettingsDep) -> Response:
    """Upload a file and follow your jobs."""
    if user is None:
        return _login_redirect(request)
    rows = session.exec(select(Job).where(Job.owner_id == user.id).order_by(col(Job.id).desc()).limit(50)).all()
    jobs = [job_public(job, user, hub.view, lang.t, lang.fmt) for job in rows]
    materials = loaded_materials(fleet)
    colours = {m: [{"value": c, "name": colour_name(c, lang.t)} for c in loaded_colours(fleet, m)] for m in materials}
    return render(request, lang, "me.html", user=user, jobs=jobs, materials=materials, colours=colours,
                  max_upload_mb=settings.max_upload_mb)


@router.get("/me/jobs/{job_id}")
def read_my_job(request: Request, job_id: JobId, session: SessionDep, user: OptionalUser, lang: LangDep, hub: HubDep,
                fleet: FleetDep, settings: SettingsDep) -> Response:
    """One job: estimate (all copies, which printers can take it, cost), preview, status, actions and history."""
    if user is None:
        return _login_redirect(request)
    job, owner = visible_job(session, job_id, user)
    public = job_public(job, owner, hub.view, lang.t, lang.fmt, fleet=fleet, fits=job_fits(fleet, settings.data_dir, job))
    printer_name = next((p.name for p in fleet.printers if p.id == job.printer_id), job.printer_id)
    picking_up_clears = job.status is JobStatus.DONE and clears_bed(session, fleet, job)
    return render(request, lang, "job.html", user=user, job=public, owner=owner,
                  events=history(session, job_id=job.id, limit=JOB_HISTORY_LIMIT),
                  can_approve=is_staff(user), clears_bed=printer_name if picking_up_clears else None,
                  printer_name=printer_name)


@router.get("/staff")
def read_staff_console(request: Request, session: SessionDep, user: OptionalUser, lang: LangDep, hub: HubDep,
                       fleet: FleetDep) -> Response:
    """Printer cards, approval inbox, queue, prints ready for pickup and recent history (jobs and printers)."""
    if user is None:
        return _login_redirect(request)
    if not is_staff(user):
        return render(request, lang, "error.html", user=user, status_code=403,
                      message=lang.t.gettext("This page is for staff."))
    inbox = session.exec(
        select(Job, User).join(User, col(User.id) == Job.owner_id)
        .where(Job.status == JobStatus.AWAITING_APPROVAL).order_by(col(Job.id))
    ).all()
    def public(rows: Sequence[tuple[Job, User]]) -> list[tuple[JobPublic, User]]:
        return [(job_public(job, owner, hub.view, lang.t, lang.fmt, fleet=fleet), owner) for job, owner in rows]

    inbox_public = public(inbox)
    active = session.exec(
        select(Job, User).join(User, col(User.id) == Job.owner_id)
        .where(col(Job.status).not_in(list(ENDED) + [JobStatus.AWAITING_APPROVAL]))
        .order_by(col(Job.id))
    ).all()
    active_public = public(active)
    active_public.sort(key=lambda item: (item[0].queue_position is None, item[0].queue_position or 0, item[0].id))
    pickup = session.exec(
        select(Job, User).join(User, col(User.id) == Job.owner_id)
        .where(Job.status == JobStatus.DONE).order_by(col(Job.finished_at).desc()).limit(50)
    ).all()
    printer_names = {p.id: p.name for p in fleet.printers}
    return render(request, lang, "staff.html", user=user, inbox=inbox_public,
                  printer_cards=Markup("".join(hub.cards_html(lang.code, "staff"))),
                  active=active_public, pickup=public(pickup), history=history(session, limit=30),
                  printer_names=printer_names)


@router.get("/wall")
def read_wall(request: Request, lang: LangDep, hub: HubDep, fleet: FleetDep) -> Response:
    """The kiosk screen: printer cards, queue with estimated starts, ready for pickup. No personal data.

    The QR code leads to ``site.public_url`` + ``/j`` when the site sets one (else to the address this page
    was opened at)."""
    lookup = (fleet.site.public_url or str(request.base_url).rstrip("/")) + "/j"
    cards = hub.cards_html(lang.code, "wall")
    return render(request, lang, "wall.html", user=None, cards=Markup("".join(cards)), grid=wall_grid(len(cards)),
                  lists=hub.wall_lists(lang.code), lookup_url=lookup, qr_svg=Markup(_qr_svg(lookup)),
                  events_url="/events?" + urlencode({"lang": lang.code, "variant": "wall"}))


@lru_cache(maxsize=8)
def _qr_svg(url: str) -> str:
    return segno.make(url, error="m").svg_inline(scale=5, dark="#0e1620", light="#ffffff", border=3)


@router.get("/j")
def read_job_lookup(request: Request, lang: LangDep, code: Annotated[str | None, Query(max_length=12)] = None) -> Response:
    """Type a job code (the wall's QR code leads here)."""
    if code and code.strip():
        return RedirectResponse("/j/" + quote(code.strip().upper()), status_code=303)
    return render(request, lang, "job_lookup.html", user=None)


@router.get("/j/{code}")
def read_public_job(request: Request, code: str, session: SessionDep, lang: LangDep, hub: HubDep,
                    fleet: FleetDep) -> Response:
    """A job's status for anyone with its code, following it live: its place in the queue, then the card of
    the printer it is on (progress, expected finish). No file or user name."""
    job = session.exec(select(Job).where(Job.code == code.strip().upper()[:12])).first()
    if job is None:
        return render(request, lang, "error.html", user=None, status_code=404,
                      message=lang.t.gettext("There is no job with the code %(code)s.") % {"code": code[:12]})
    owner = session.get(User, job.owner_id)
    nickname = (owner.nickname if owner else "") or "?"
    public = job_public(job, owner, hub.view, lang.t, lang.fmt)  # type: ignore[arg-type]
    on_printer = job.printer_id in hub.configs and (job.status in ON_PRINTER or job.status is JobStatus.DONE)
    printer_id = job.printer_id if on_printer else None
    printer_name = next((p.name for p in fleet.printers if p.id == job.printer_id), None)
    query = {"lang": lang.code, "variant": "wall", "code": job.code}
    if printer_id is not None:
        query["printer"] = printer_id
    return render(request, lang, "public_job.html", user=None, job=public, nickname=nickname,
                  card=hub.card_html(printer_id, lang.code, "wall") if printer_id is not None else None,
                  printer_name=printer_name, events_url="/events?" + urlencode(query))


@router.get("/events")
async def read_events(
    request: Request,
    hub: HubDep,
    lang: LangDep,
    variant: Annotated[str | None, Query(max_length=8, description="wall | staff: cards as HTML too")] = None,
    printer: Annotated[str | None, Query(max_length=64, description="only this printer's card")] = None,
    code: Annotated[str | None, Query(max_length=12, description="only this job")] = None,
) -> StreamingResponse:
    """Server-Sent Events: ``printer`` (one printer's card: its JSON as in ``/api/printers``, with ``variant``
    also its HTML fragment in the page's language as ``html``), ``jobs`` (queue, pickup, status by code; with
    ``code`` that job only) and, for the wall, ``lists`` (its queue and pickup lists as HTML)."""
    if variant is not None and variant not in CARD_VARIANTS:
        raise UserError(N_("variant: one of %(variants)s"), code="bad_variant", variants=", ".join(CARD_VARIANTS))
    if printer is not None and printer not in hub.configs:
        raise printer_not_found(printer)
    if variant == "staff":
        with db.session_scope(request.app.state.engine) as session:  # not the request's: a stream runs for hours
            if not is_staff(await get_optional_user(request, session)):
                raise Forbidden(N_("only staff can do this"), code="staff_only")
    stream_filter = StreamFilter(lang=lang.code, variant=variant, printer=printer,
                                 code=code.strip().upper() if code else None)
    return StreamingResponse(
        hub.stream(stream_filter),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
