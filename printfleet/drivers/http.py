"""The HTTP boundary shared by the OctoPrint and simulated drivers.

A ``requests.Session`` that turns transport failures and non-2xx answers into printfleet's typed
driver errors, before any library (octorest) sees them, and gives every request a timeout.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from printfleet.drivers.base import (
    AuthFailed,
    BadResponse,
    DriverError,
    PrinterBusy,
    PrinterOffline,
    Rejected,
)

logger = logging.getLogger(__name__)

#: (connect, read) seconds
DEFAULT_TIMEOUT_S: tuple[float, float] = (3.05, 30.0)
_MAX_DETAIL = 160


def describe_body(response: requests.Response) -> str:
    """A short, safe description of an error answer: OctoPrint's ``error`` text, or what kind of body it was."""
    content_type = response.headers.get("Content-Type", "")
    if "html" in content_type or response.text.lstrip().startswith("<"):
        return "an HTML page"
    try:
        data = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return repr(text[:_MAX_DETAIL]) if text else "an empty body"
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"][:_MAX_DETAIL]
    return json.dumps(data)[:_MAX_DETAIL]


def raise_for_answer(printer_id: str, method: str, path: str, response: requests.Response) -> None:
    """Raise the typed error for a non-2xx (or HTML) answer.

    Raises:
        AuthFailed: 401/403, or OctoPrint's CSRF 400 for a POST with an unknown key.
        PrinterBusy: 409.
        PrinterOffline: 502/503/504 (a proxy in front of a dead host).
        Rejected: other 4xx.
        BadResponse: other 5xx, or HTML where JSON was expected.
    """
    code = response.status_code
    what = f"{method} {path}"
    if 200 <= code < 300:
        content_type = response.headers.get("Content-Type", "")
        if code == 200 and "html" in content_type and "/api/" in path:
            raise BadResponse(printer_id, f"{what} answered an HTML page, not JSON (is the URL right?)")
        return
    if code in (401, 403):
        raise AuthFailed(printer_id, f"{what}: API key rejected ({code})")
    detail = describe_body(response)
    if code == 400 and "CSRF" in detail:
        # OctoPrint 1.11 treats a request with an unknown key as a browser session without a CSRF token
        raise AuthFailed(printer_id, f"{what}: API key rejected (400, CSRF)")
    if code == 409:
        raise PrinterBusy(printer_id, f"{what}: {detail} (409)")
    if code in (502, 503, 504):
        raise PrinterOffline(printer_id, f"{what}: host unavailable ({code})")
    if 400 <= code < 500:
        raise Rejected(printer_id, f"{what}: {detail} ({code})")
    raise BadResponse(printer_id, f"{what}: {detail} ({code})")


class DriverSession(requests.Session):
    """A session whose requests time out and fail with driver errors only."""

    def __init__(self, printer_id: str, *, timeout_s: tuple[float, float] = DEFAULT_TIMEOUT_S) -> None:
        super().__init__()
        self.printer_id = printer_id
        self.timeout_s = timeout_s
        self.trust_env = False  # no proxies or netrc from the environment for printer traffic

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send a request; see :func:`raise_for_answer` for the errors.

        Raises:
            PrinterOffline: connection refused, reset or timed out.
            DriverError: any other transport failure.
        """
        kwargs.setdefault("timeout", self.timeout_s)
        method_s = method.decode() if isinstance(method, bytes) else str(method)
        path = requests.utils.urlparse(url.decode() if isinstance(url, bytes) else str(url)).path
        try:
            response = super().request(method, url, *args, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise PrinterOffline(self.printer_id, f"{method_s} {path}: {_short_reason(exc)}") from None
        except requests.RequestException as exc:
            raise DriverError(self.printer_id, f"{method_s} {path}: {type(exc).__name__}") from None
        raise_for_answer(self.printer_id, method_s, path, response)
        return response


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    for marker in (
        "Connection refused",
        "timed out",
        "Read timed out",
        "Connection reset",
        "Name or service not known",
        "Remote end closed connection",
        "No route to host",
    ):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
