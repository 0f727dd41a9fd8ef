"""Error answers in the reader's language: ``{"detail": <sentence>, "code": <stable id>}`` for the API, the error
page for a page; for :class:`printfleet.errors.UserError`, request validation (422), HTTP errors (unknown
address, wrong method) and an unavailable Redis. The language is the page language (see ``deps.get_lang``).
"""

from __future__ import annotations

import gettext
import http
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from printfleet.errors import NotSignedIn, UserError
from printfleet.texts import N_, render
from printfleet.web.deps import get_lang, page_user
from printfleet.web.pages import render as render_page
from printfleet.web.reasons import error_text

logger = logging.getLogger(__name__)

#: the fields people fill in on the pages, in words (other fields are named as the API names them)
FIELD_NAMES: dict[str, str] = {
    "copies": N_("copies"),
    "material": N_("material"),
    "colour": N_("colour"),
    "note": N_("note"),
    "priority": N_("priority"),
    "file": N_("file"),
    "reason": N_("reason"),
    "name": N_("name"),
    "password": N_("password"),
}

#: pydantic's error types in words (``limit``: the bound, ``expected``: the allowed values)
VALIDATION_TEXTS: dict[str, str] = {
    "missing": N_("%(field)s is missing"),
    "int_parsing": N_("%(field)s: a whole number, please"),
    "int_type": N_("%(field)s: a whole number, please"),
    "int_from_float": N_("%(field)s: a whole number, please"),
    "float_parsing": N_("%(field)s: a number, please"),
    "float_type": N_("%(field)s: a number, please"),
    "bool_parsing": N_("%(field)s: true or false, please"),
    "bool_type": N_("%(field)s: true or false, please"),
    "string_type": N_("%(field)s: text, please"),
    "greater_than_equal": N_("%(field)s: at least %(limit)s"),
    "greater_than": N_("%(field)s: more than %(limit)s"),
    "less_than_equal": N_("%(field)s: at most %(limit)s"),
    "less_than": N_("%(field)s: less than %(limit)s"),
    "string_too_long": N_("%(field)s: at most %(limit)s characters"),
    "string_too_short": N_("%(field)s: at least %(limit)s characters"),
    "too_long": N_("%(field)s: at most %(limit)s values"),
    "enum": N_("%(field)s: one of %(expected)s"),
    "literal_error": N_("%(field)s: one of %(expected)s"),
    "extra_forbidden": N_("%(field)s: unknown field"),
    "json_invalid": N_("the request body is not valid JSON"),
    "model_attributes_type": N_("the request body must be a JSON object"),
    "dict_type": N_("the request body must be a JSON object"),
    "model_type": N_("the request body must be a JSON object"),
    "list_type": N_("%(field)s: a list, please"),
}
INVALID = N_("%(field)s is not valid")
#: the request as a whole, when a problem names no field
REQUEST = N_("the request")

#: HTTP errors raised by the framework itself, in words
HTTP_TEXTS: dict[int, str] = {
    404: N_("there is nothing at %(path)s"),
    405: N_("%(path)s does not take %(method)s requests"),
}
HTTP_OTHER = N_("the request was refused (%(status)s)")
REDIS_UNAVAILABLE = N_("the queue service (Redis) is unavailable; try again in a moment")


def field_text(loc: Sequence[Any], t: gettext.NullTranslations) -> str:
    """The field a validation problem is about, in words."""
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header", "cookie")]
    if not parts or parts[0].isdigit():
        return t.gettext(REQUEST)
    name = parts[0]
    return t.gettext(FIELD_NAMES[name]) if name in FIELD_NAMES else ".".join(parts)


def validation_text(errors: Sequence[Mapping[str, Any]], t: gettext.NullTranslations) -> str:
    """What is wrong with a request, in one line (at most five problems)."""
    problems = []
    for err in errors[:5]:
        ctx = err.get("ctx") or {}
        limit = next((ctx[k] for k in ("ge", "gt", "le", "lt", "max_length", "min_length") if k in ctx), None)
        expected = ", ".join(re.findall(r"'[^']*'", str(ctx.get("expected", ""))))  # without pydantic's "or"
        params = {"field": field_text(err.get("loc", ()), t), "limit": limit, "expected": expected}
        template = VALIDATION_TEXTS.get(str(err.get("type")), INVALID)
        problems.append(render(template, params, gettext=t.gettext))
    return "; ".join(dict.fromkeys(problems))


def http_text(status: int, detail: Any, request: Request, t: gettext.NullTranslations) -> str:
    """An HTTP error the framework (or a route) raised, in words: its own phrase in ours; a detail marked with
    ``N_`` translated."""
    if isinstance(detail, str) and detail != http.HTTPStatus(status).phrase:
        return t.gettext(detail)
    template = HTTP_TEXTS.get(status, HTTP_OTHER)
    return render(template, {"path": request.url.path, "method": request.method, "status": status},
                  gettext=t.gettext)


def error_response(request: Request, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
                   extra: dict[str, Any] | None = None) -> Response:
    """The error page for a page request (GET outside ``/api``), else ``{"detail", "code"}``."""
    if not request.url.path.startswith("/api/") and request.method == "GET":
        return render_page(request, get_lang(request), "error.html", user=page_user(request), status_code=status,
                           message=detail)
    return JSONResponse({"detail": detail, "code": code, **(extra or {})}, status_code=status, headers=headers)


def user_error_response(request: Request, exc: UserError) -> Response:
    """The answer to an error a person can act on, in their language."""
    lang = get_lang(request)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotSignedIn) else None
    return error_response(request, exc.http_status, exc.code, error_text(exc, lang.t, lang.fmt), headers=headers)


def validation_response(request: Request, errors: Sequence[Mapping[str, Any]]) -> Response:
    """A 422 for a request that does not fit the API: a sentence, and where and what (no English messages)."""
    lang = get_lang(request)
    where = [{"loc": [str(p) for p in err.get("loc", ())], "type": str(err.get("type"))} for err in errors[:5]]
    return error_response(request, 422, "invalid_request", validation_text(errors, lang.t), extra={"errors": where})


def http_error_response(request: Request, status: int, detail: Any, headers: Mapping[str, str] | None) -> Response:
    """An HTTP error (unknown address, wrong method, ...) in the reader's language."""
    lang = get_lang(request)
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, f"http_{status}")
    return error_response(request, status, code, http_text(status, detail, request, lang.t),
                          headers=dict(headers) if headers else None)


def redis_unavailable_response(request: Request) -> Response:
    """503 while Redis is away."""
    lang = get_lang(request)
    return error_response(request, 503, "unavailable", lang.t.gettext(REDIS_UNAVAILABLE))
