"""``Annotated`` dependencies, so that route signatures read like data.

``SessionDep`` is a committing database session; ``CurrentUser`` any signed-in user (401 otherwise);
``StaffUser`` staff or admin (403 otherwise). Cookie-authenticated unsafe requests must carry the CSRF
token (403 otherwise); bearer-token requests need none. The refusals are :class:`printfleet.errors.UserError`
subclasses, answered in the reader's language by the app's error handlers.
"""

from __future__ import annotations

import gettext
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from printfleet import db
from printfleet.accounts import user_for_token
from printfleet.config import FleetConfig
from printfleet.errors import Forbidden, NotSignedIn
from printfleet.models import Role, User
from printfleet.settings import Settings
from printfleet.texts import N_
from printfleet.web.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    SessionData,
    bearer_token,
    csrf_matches,
    password_fingerprint,
)
from printfleet.web.i18n import (
    LANG_COOKIE,
    Formatter,
    format_locale,
    normalise_locale,
    pick_locale,
    translations,
)
from printfleet.web.live import LiveHub

logger = logging.getLogger(__name__)


def get_session(request: Request) -> Iterator[Session]:
    """A session that commits when the route returns and rolls back when it raises."""
    with db.session_scope(request.app.state.engine) as session:
        yield session


def get_settings(request: Request) -> Settings:
    """The process settings."""
    return request.app.state.settings


def get_fleet(request: Request) -> FleetConfig:
    """The fleet file, as loaded at start-up."""
    return request.app.state.fleet


def get_hub(request: Request) -> LiveHub:
    """The live state of this web process (printer board, queue view, SSE clients)."""
    return request.app.state.hub


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
FleetDep = Annotated[FleetConfig, Depends(get_fleet)]
HubDep = Annotated[LiveHub, Depends(get_hub)]


def cookie_session(request: Request) -> SessionData | None:
    """The signed session of the request's cookie, if any (cached on the request)."""
    if not hasattr(request.state, "pf_cookie_session"):
        request.state.pf_cookie_session = request.app.state.sessions.load(request.cookies.get(SESSION_COOKIE))
    return request.state.pf_cookie_session


async def _check_csrf(request: Request, session_data: SessionData) -> None:
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if not csrf_matches(session_data.csrf, given):
        raise Forbidden(N_("this form has expired or came from another site; reload the page and try again "
                           "(missing or wrong CSRF token: send the X-CSRF-Token header)"), code="csrf")


bearer_scheme = HTTPBearer(auto_error=False, description="an API token from `printfleet tokens create`")


async def get_optional_user(
    request: Request,
    session: SessionDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)] = None,
) -> User | None:
    """The user behind a bearer token or the session cookie, or ``None`` for an anonymous request.

    Raises:
        NotSignedIn: 401 for an invalid bearer token; Forbidden: 403 for a cookie request without its CSRF token.
    """
    token = bearer_token(request.headers.get("authorization"))
    if token is not None:
        user = user_for_token(session, token)
        if user is None:
            raise NotSignedIn(N_("this API token is invalid or revoked"), code="bad_token")
        return user
    data = cookie_session(request)
    if data is None:
        return None
    user = session.get(User, data.user_id)
    if user is None or not user.is_active or password_fingerprint(user.password_hash) != data.pw:
        return None
    await _check_csrf(request, data)
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def page_user(request: Request) -> User | None:
    """Who is signed in with the session cookie, for a page rendered outside a route (an error page), so its
    header shows them as signed in; ``None`` when nobody is or the database cannot say."""
    data = cookie_session(request)
    if data is None:
        return None
    try:
        with Session(request.app.state.engine) as session:
            user = session.get(User, data.user_id)
            if user is None or not user.is_active or password_fingerprint(user.password_hash) != data.pw:
                return None
            session.expunge(user)
            return user
    except SQLAlchemyError:
        logger.warning("could not look up the signed-in user for an error page", exc_info=True)
        return None


def get_current_user(user: OptionalUser) -> User:
    """The signed-in user.

    Raises:
        NotSignedIn: 401 when nobody is signed in.
    """
    if user is None:
        raise NotSignedIn(N_("sign in first (session cookie or 'Authorization: Bearer <token>')"))
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def is_staff(user: User | None) -> bool:
    """Whether the user runs the fleet (staff or admin)."""
    return user is not None and user.role in (Role.STAFF, Role.ADMIN)


def get_staff_user(user: CurrentUser) -> User:
    """A staff member or admin.

    Raises:
        Forbidden: 403 for makers.
    """
    if not is_staff(user):
        raise Forbidden(N_("only staff can do this"), code="staff_only")
    return user


StaffUser = Annotated[User, Depends(get_staff_user)]


@dataclass(frozen=True)
class Lang:
    """The reader's language: its code, gettext catalog and formatter (site timezone)."""

    code: str
    t: gettext.NullTranslations
    fmt: Formatter


def get_lang(request: Request) -> Lang:
    """The reader's language, as the pages pick it: ``?lang=``, else the language cookie (the visitor's choice
    on a page), else (API requests) ``Accept-Language``, else the site default. Error answers use it too."""
    fleet: FleetConfig = request.app.state.fleet
    query = request.query_params.get("lang")
    chosen = normalise_locale(request.cookies.get(LANG_COOKIE))
    default = fleet.site.locale
    if chosen is None and request.url.path.startswith("/api/"):
        accept = request.headers.get("accept-language", "")
        chosen = normalise_locale(accept.split(",")[0].split(";")[0].strip() if accept else None)
    code = pick_locale(query, chosen, default)
    return Lang(code=code, t=translations(code), fmt=Formatter(format_locale(code, default), fleet.site.tz))


LangDep = Annotated[Lang, Depends(get_lang)]
