"""The scheduler's structured reasons (``printfleet.queue.policy.Reason``) in the page's language.

The policy renders English itself (``render_reason``); the pages and the API translate from the code and
parameters here, so the sentences live in the gettext catalogs with everything else.
"""

from __future__ import annotations

import gettext
import logging
from typing import Any

from printfleet.queue.policy import Reason, ReasonCode, render_reason
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
        return t.gettext("starting on %(printer)s") % {"printer": p.get("printer", "")}
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


