"""What printfleet says, in the page's language: the scheduler's reasons, statuses, events, actors and errors.

The parts below the web store and raise codes with parameters (``printfleet.queue.policy.Reason``, the event
codes of :mod:`printfleet.texts`, :class:`printfleet.errors.UserError`); the pages and the API render them
here, so the sentences live in the gettext catalogs with everything else.
"""

from __future__ import annotations

import gettext
import logging
from collections.abc import Callable, Mapping
from typing import Any

from babel import numbers
from sqlalchemy import select
from sqlalchemy.orm import object_session
from sqlmodel import col

from printfleet.errors import UserError
from printfleet.models import Job, JobEvent, JobStatus, PrinterEvent
from printfleet.queue.policy import Reason, ReasonCode, render_reason
from printfleet.texts import EVENT_TEXTS, PLAN_PREFIX, SOURCE_TEXTS, EventCode, render
from printfleet.web.i18n import Formatter

logger = logging.getLogger(__name__)


def _hours(fmt: Formatter, seconds: float | None) -> str:
    return fmt.duration(seconds or 0.0)


def colour_name(colour: str | None, t: gettext.NullTranslations) -> str:
    """A colour from the fleet file or a job in the page's language (unknown names as they are)."""
    if not colour:
        return ""
    names = {
        "any": t.gettext("any colour"),
        "black": t.gettext("black"),
        "white": t.gettext("white"),
        "grey": t.gettext("grey"),
        "gray": t.gettext("grey"),
        "silver": t.gettext("silver"),
        "red": t.gettext("red"),
        "orange": t.gettext("orange"),
        "yellow": t.gettext("yellow"),
        "green": t.gettext("green"),
        "blue": t.gettext("blue"),
        "purple": t.gettext("purple"),
        "pink": t.gettext("pink"),
        "brown": t.gettext("brown"),
        "natural": t.gettext("natural"),
        "transparent": t.gettext("transparent"),
    }
    return names.get(colour.strip().lower(), colour)


def _what(t: gettext.NullTranslations, material: str | None, colour: str | None) -> str:
    material = material or ""
    if not colour or colour == "any":
        return material
    return t.gettext("%(colour)s %(material)s") % {"colour": colour_name(colour, t), "material": material}


def reason_text(reason: Reason, t: gettext.NullTranslations, fmt: Formatter, now: float) -> str:
    """One sentence a member understands, in the language of ``t``."""
    p: dict[str, Any] = dict(reason.params)
    c = reason.code
    start = p.get("start_at")
    when = ""
    if start is not None:
        when = " " + t.gettext("(expected start %(when)s)") % {"when": fmt.when(start, now)}
    if c is ReasonCode.START_LOADED:
        return t.gettext("starting on %(printer)s, which has %(what)s loaded") % {
            "printer": p.get("printer", ""), "what": _what(t, p.get("material"), p.get("colour"))}
    if c is ReasonCode.START_SWAP:
        return t.gettext("starting on %(printer)s after staff load %(material)s") % {
            "printer": p.get("printer", ""), "material": p.get("material", "")}
    if c is ReasonCode.SITE_CLOSED:
        return t.gettext("the makerspace is closed; starts when it opens") + when
    if c is ReasonCode.WOULD_RUN_PAST_CLOSING:
        return t.gettext("too long to finish before closing; starts on the next opening day") + when
    if c is ReasonCode.WAITING_FOR_PRINTER:
        text = t.gettext("waiting for a free printer with %(what)s") % {"what": _what(t, p.get("material"), p.get("colour"))}
        ahead = int(p.get("ahead") or 0)
        if ahead:
            text += " " + t.ngettext("(%(num)d job ahead)", "(%(num)d jobs ahead)", ahead) % {"num": ahead}
        return text + when
    if c is ReasonCode.FAIR_SHARE:
        return t.gettext("members who printed less recently go first (you used %(used)s in the last %(window)s)") % {
            "used": _hours(fmt, p.get("used_s")), "window": _hours(fmt, p.get("window_s"))} + when
    if c is ReasonCode.PRIORITY_AHEAD:
        return t.gettext("higher-priority jobs go first") + when
    if c is ReasonCode.OWN_JOB_PRINTING:
        return t.gettext("your other job is printing (at most %(max)s at once)") % {"max": p.get("max_jobs", "?")} + when
    if c is ReasonCode.DAILY_LIMIT:
        return t.gettext("you reached today's limit of %(limit)s of printing") % {"limit": _hours(fmt, p.get("limit_s"))} + when
    if c is ReasonCode.WEEKLY_LIMIT:
        return t.gettext("you reached this week's limit of %(limit)s of printing") % {
            "limit": _hours(fmt, p.get("limit_s"))} + when
    if c is ReasonCode.BED_NOT_CLEAR:
        return t.gettext("waiting for someone to clear the bed of %(printer)s") % {"printer": p.get("printer", "")} + when
    if c is ReasonCode.HEATUP_STAGGER:
        return t.gettext("waiting a few minutes so that not too many printers heat up at once") + when
    if c is ReasonCode.OVERNIGHT_START:
        return t.gettext("prints overnight and finishes before the space opens, so printers stay free this evening") + when
    if c is ReasonCode.ONLY_PRINTER:
        text = t.gettext("waiting for %(printer)s, the only printer here that can take it (%(what)s)") % {
            "printer": p.get("printer", ""), "what": _what(t, p.get("material"), p.get("colour"))}
        if p.get("first"):
            text += t.gettext("; it goes first there")
        return text + when
    if c is ReasonCode.LONG_JOB_SHARE:
        return t.gettext("other members are waiting and your long prints already use most printers") + when
    if c is ReasonCode.AWAITING_APPROVAL:
        return t.gettext("waiting for staff approval")
    if c is ReasonCode.REJECTED:
        return t.gettext("staff did not approve this job")
    if c is ReasonCode.NO_PRINTER_FITS:
        need = p.get("need")
        if need == "size":
            x, y, z = (float(v) for v in p.get("bbox_mm", (0, 0, 0)))
            return t.gettext("no printer here is big enough for %(size)s mm") % {"size": f"{x:.0f} × {y:.0f} × {z:.0f}"}
        if need == "nozzle":
            return t.gettext("no printer here has a %(nozzle)s mm nozzle") % {"nozzle": p.get("nozzle_mm")}
        if need == "material":
            return t.gettext("no printer here prints %(material)s") % {"material": p.get("material", "")}
        if need == "colour":
            return t.gettext("no printer here has %(what)s") % {"what": _what(t, p.get("material"), p.get("colour"))}
        if need == "tags":
            return t.gettext("no printer here has all of: %(tags)s") % {"tags": ", ".join(p.get("tags", ()))}
        return t.gettext("no single printer meets all requirements")
    if c is ReasonCode.PRINTERS_UNAVAILABLE:
        return t.gettext("every printer that could take it is offline or in maintenance")
    if c is ReasonCode.TOO_LONG_FOR_OPENING_HOURS:
        return t.gettext("too long to finish within opening hours; ask staff")
    if c is ReasonCode.EXCEEDS_LIMIT:
        return t.gettext("longer than the limit of %(limit)s; ask staff") % {"limit": _hours(fmt, p.get("limit_s"))}
    if c is ReasonCode.APPROVAL_LONG:
        return t.gettext("prints longer than %(limit)s need staff approval") % {"limit": _hours(fmt, p.get("limit_s"))}
    if c is ReasonCode.APPROVAL_HEAVY:
        return t.gettext("prints over %(limit)s g of filament need staff approval") % {
            "limit": fmt.number(p.get("limit_g"))}
    if c is ReasonCode.APPROVAL_MATERIAL:
        return t.gettext("%(material)s prints need staff approval") % {"material": p.get("material", "")}
    if c is ReasonCode.APPROVAL_NEW_MEMBER:
        return t.gettext("your first %(num)s prints need staff approval") % {"num": p.get("needed", "?")}
    logger.warning("no translation for reason %s yet; using the scheduler's English", c)
    try:
        return render_reason(reason, tz=fmt.tz, now=now)
    except Exception:  # noqa: BLE001 - parameters the renderer does not expect
        return str(c.value)


def status_text(status: str, t: gettext.NullTranslations) -> str:
    """A job or printer status word in the page's language."""
    words = {
        "uploaded": t.gettext("uploaded"),
        "awaiting_approval": t.gettext("awaiting approval"),
        "queued": t.gettext("queued"),
        "assigned": t.gettext("assigned"),
        "slicing": t.gettext("slicing"),
        "uploading": t.gettext("sending to printer"),
        "printing": t.gettext("printing"),
        "paused": t.gettext("paused"),
        "done": t.gettext("ready for pickup"),
        "collected": t.gettext("collected"),
        "failed": t.gettext("failed"),
        "cancelled": t.gettext("cancelled"),
        "rejected": t.gettext("rejected"),
        "offline": t.gettext("offline"),
        "idle": t.gettext("idle"),
        "busy": t.gettext("busy"),
        "finished": t.gettext("finished, bed not cleared"),
        "error": t.gettext("error"),
        "maintenance": t.gettext("maintenance"),
    }
    return words.get(status, status)


def failure_text(job: Job, t: gettext.NullTranslations, fmt: Formatter) -> str | None:
    """Why a failed job failed, in the reader's language: from the event that failed it (its code), else the
    stored English ``failure_reason`` (rows from before event codes, or a job not attached to a session)."""
    if job.status is not JobStatus.FAILED:
        return job.failure_reason
    session = object_session(job)
    if session is None or job.id is None:
        return job.failure_reason
    event = session.execute(
        select(JobEvent).where(JobEvent.job_id == job.id, JobEvent.to_status == JobStatus.FAILED)
        .order_by(col(JobEvent.id).desc()).limit(1)
    ).scalar_one_or_none()
    if event is None or not event.reason_code:
        return job.failure_reason
    return coded_text(event.reason_code, event.reason_params, t, fmt)


def reason_for_state(status: str, failure_reason: str | None, t: gettext.NullTranslations) -> str:
    """Plain words for a job that is not waiting in the queue."""
    if status == "awaiting_approval":
        return t.gettext("waiting for staff approval")
    if status in ("assigned", "slicing", "uploading"):
        return t.gettext("a printer has been picked; the print starts shortly")
    if status == "printing":
        return t.gettext("printing now")
    if status == "paused":
        return t.gettext("the print is paused")
    if status == "done":
        return t.gettext("finished; ready for pickup")
    if status == "failed":
        return t.gettext("the print failed") + (f": {failure_reason}" if failure_reason else "")
    if status == "cancelled":
        return t.gettext("cancelled")
    if status == "rejected":
        return t.gettext("staff did not approve this job")
    if status == "collected":
        return t.gettext("collected")
    return ""


def value_renderer(t: gettext.NullTranslations, fmt: Formatter) -> Callable[[str, Any], str]:
    """Renders a text's parameter in the page's language, by the naming convention of :mod:`printfleet.texts`."""

    def value(name: str, v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, Mapping) and "template" in v:  # a nested error
            return render(str(v["template"]), v.get("params") or {}, gettext=t.gettext, value=value)
        if isinstance(v, bool):
            return str(v)
        if isinstance(v, int | float):
            if name.endswith("_s"):
                return fmt.duration(v)
            if name.endswith("_g"):
                return f"{fmt.number(v)} g"
            if name.endswith("_at"):
                return fmt.when(v)
            if isinstance(v, float):
                return numbers.format_decimal(v, format="#,##0.##", locale=fmt.locale)
            return str(v)
        if name == "colour":
            return colour_name(str(v), t)
        if name == "source" and v in SOURCE_TEXTS:
            return t.gettext(SOURCE_TEXTS[v])
        if name.endswith("status"):
            return status_text(str(v), t)
        if name.endswith("_mm") and isinstance(v, list | tuple):
            return " × ".join(numbers.format_decimal(float(x), format="#,##0.#", locale=fmt.locale) for x in v)
        return str(v)

    return value


def coded_text(code: str, params: Mapping[str, Any] | None, t: gettext.NullTranslations, fmt: Formatter,
               *, now: float | None = None) -> str:
    """An event code (or ``plan:<scheduler reason>``) with its parameters, in the language of ``t``."""
    params = params or {}
    if code.startswith(PLAN_PREFIX):
        try:
            reason_code = ReasonCode(code[len(PLAN_PREFIX):])
        except ValueError:
            logger.warning("unknown scheduler reason %r", code)
            return code[len(PLAN_PREFIX):]
        return reason_text(Reason(reason_code, dict(params)), t, fmt, now if now is not None else 0.0)
    try:
        template = EVENT_TEXTS[EventCode(code)]
    except ValueError:
        logger.warning("no text for event code %r", code)
        return code
    return render(template, params, gettext=t.gettext, value=value_renderer(t, fmt))


def event_reason(event: JobEvent | PrinterEvent, t: gettext.NullTranslations, fmt: Formatter) -> str:
    """What printfleet said about an event (its code), and what the person typed, in the reader's language;
    ``""`` when neither was recorded. Old rows (English text only) show as they are."""
    parts = []
    if event.reason_code:
        parts.append(coded_text(event.reason_code, event.reason_params, t, fmt, now=event.at.timestamp()))
    elif isinstance(event, PrinterEvent):
        parts.append(coded_text(event.kind.value, {"printer": event.printer_id}, t, fmt))
    if event.reason:
        parts.append(event.reason)
    return ": ".join(parts)


def event_text(event: JobEvent | PrinterEvent, t: gettext.NullTranslations, fmt: Formatter) -> str:
    """One history line in the reader's language (without time and actor), e.g. ``queued → printing: started
    on mk3s-1`` or ``bed of mk3s-1 cleared (job K7QXH taken off)``."""
    said = event_reason(event, t, fmt)
    if isinstance(event, PrinterEvent):
        return said
    if event.kind == "transition" and event.to_status is not None:
        change = status_text(event.to_status.value, t)
        if event.from_status is not None:
            change = f"{status_text(event.from_status.value, t)} → {change}"
        return f"{change}: {said}" if said else change
    if event.reason_code:
        return said
    words = {  # old rows: the kind in words, then the English they stored
        "created": t.gettext("uploaded"),
        "estimate": t.gettext("new estimate"),
        "cancel_requested": t.gettext("cancel requested"),
        "start_unknown": t.gettext("start not confirmed"),
    }
    kind = words.get(event.kind, event.kind)
    return f"{kind}: {said}" if said else kind


#: printfleet's own parts, as they appear in the history
SYSTEM_ACTORS = ("system:monitor", "system:worker", "system:intake", "system:dispatcher")


def actor_text(actor: str, t: gettext.NullTranslations) -> str:
    """Who did something: a user name as it is, printfleet's parts (``system:*``) in words."""
    if not actor.startswith("system:"):
        return actor
    words = {
        "system:monitor": t.gettext("printfleet (printer monitor)"),
        "system:worker": t.gettext("printfleet (print sender)"),
        "system:intake": t.gettext("printfleet (upload check)"),
        "system:dispatcher": t.gettext("printfleet (scheduler)"),
    }
    return words.get(actor) or f"printfleet ({actor.removeprefix('system:')})"  # a part without words yet


def error_text(exc: UserError, t: gettext.NullTranslations, fmt: Formatter) -> str:
    """An error a person can act on, in the language of ``t``."""
    return render(exc.template, exc.params, gettext=t.gettext, value=value_renderer(t, fmt))
