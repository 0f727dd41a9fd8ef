"""Jinja2 templates with gettext (one environment per language) and the context every page gets."""

from __future__ import annotations

import datetime as dt
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from printfleet.models import User
from printfleet.web.auth import CSRF_FIELD
from printfleet.web.deps import Lang, cookie_session, is_staff
from printfleet.web.i18n import SUPPORTED_LOCALES, translations
from printfleet.web.reasons import actor_text, colour_name, event_text, status_text

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).with_name("templates")


@lru_cache(maxsize=4)
def environment(locale: str) -> Environment:
    """The template environment for one language."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["tojson_attr"] = lambda v: Markup(json.dumps(v, ensure_ascii=False))
    return env


def render(request: Request, lang: Lang, template: str, *, user: User | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """Render a page in the visitor's language."""
    session = cookie_session(request)
    fleet = request.app.state.fleet
    t = lang.t
    base: dict[str, Any] = {
        "request": request,
        "lang": lang.code,
        "languages": SUPPORTED_LOCALES,
        "fmt": lang.fmt,
        "user": user,
        "is_staff": is_staff(user),
        "csrf_token": session.csrf if session is not None and user is not None else "",
        "csrf_field": CSRF_FIELD,
        "site": fleet.site,
        "status_text": lambda s: status_text(str(getattr(s, "value", s)), t),
        "colour_name": lambda c: colour_name(c, t),
        "event_text": lambda e: event_text(e, t, lang.fmt),
        "actor_text": lambda a: actor_text(a, t),
        "now": dt.datetime.now(dt.UTC),
        "path": request.url.path,
    }
    base.update(context)
    html = environment(lang.code).get_template(template).render(base)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Language"] = lang.code
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    return response
