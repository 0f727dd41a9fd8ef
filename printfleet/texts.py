"""Texts people see, marked for translation where they are defined and translated where they are shown.

The parts below the web (the queue, the monitor, the workers) store and raise codes, English templates and
parameters; the pages and the API render them in the reader's language through the gettext catalogs
(``printfleet/web/locales``; ``scripts/i18n.sh`` extracts every text marked with :func:`N_`). Logs and the CLI
use the English rendering (:func:`english`).

Events: a job or printer event stores ``reason_code`` (an :class:`EventCode`, or a scheduler reason as
``plan:<code>``) and ``reason_params``; :data:`EVENT_TEXTS` holds every code's English template. Parameters
are rendered by name (see :func:`plain_value`): ``*_s`` are durations in seconds, ``*_g`` grams, ``colour``
a colour name, ``source`` an estimate source; everything else is shown as it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

logger = logging.getLogger(__name__)


def N_(message: str) -> str:  # the gettext convention: mark now, translate later
    """Mark ``message`` for extraction into the catalogs; it is translated where it is shown."""
    return message


#: ``reason_code`` prefix of a scheduler reason (``printfleet.queue.policy.ReasonCode``) stored on an event
PLAN_PREFIX = "plan:"


class EventCode(StrEnum):
    """What printfleet itself says about a job or a printer (stored as ``reason_code``)."""

    # people's actions on jobs (a typed reason is stored as free text instead)
    UPLOADED = "uploaded"
    APPROVED = "approved"
    REQUEUED = "requeued"
    REQUEUED_FOR_APPROVAL = "requeued_for_approval"
    PICKED_UP = "picked_up"
    CANCELLED = "cancelled"
    # estimates
    ESTIMATE_UPDATED = "estimate_updated"
    ESTIMATE_SLICED = "estimate_sliced"
    # the workers (dispatch)
    SLICING = "slicing"
    SLICED_BEFORE = "sliced_before"
    STARTED = "started"
    START_UNKNOWN = "start_unknown"
    PRINTER_REMOVED = "printer_removed"
    PRINTER_NOT_READY = "printer_not_ready"
    START_REFUSED = "start_refused"
    PRINTER_REFUSED_FILE = "printer_refused_file"
    DISPATCH_FAILED = "dispatch_failed"
    # the monitor following a print
    RECONCILED_PRINTING = "reconciled_printing"
    DISPATCH_INTERRUPTED = "dispatch_interrupted"
    PAUSED_ON_REQUEST = "paused_on_request"
    PRINTER_PAUSED = "printer_paused"
    RESUMED_ON_REQUEST = "resumed_on_request"
    PRINTER_RESUMED = "printer_resumed"
    PRINTER_DONE = "printer_done"
    CANCELLED_ON_REQUEST = "cancelled_on_request"
    CANCELLED_ON_REQUEST_BECAUSE = "cancelled_on_request_because"
    PRINTER_ERROR = "printer_error"
    PRINTER_ERROR_UNKNOWN = "printer_error_unknown"
    PRINTER_PRINTS_OTHER_FILE = "printer_prints_other_file"
    PRINT_STOPPED = "print_stopped"
    REQUEUED_AFTER_FAILURE = "requeued_after_failure"
    REQUEUED_AFTER_FAILURE_APPROVAL = "requeued_after_failure_approval"
    # printer events (the same values as ``PrinterEventKind``)
    BED_CLEARED = "bed_cleared"
    BED_CLEARED_OF_JOB = "bed_cleared_of_job"
    MAINTENANCE_ON = "maintenance_on"
    MAINTENANCE_OFF = "maintenance_off"
    PAUSE_REQUESTED = "pause_requested"
    RESUME_REQUESTED = "resume_requested"
    CANCEL_REQUESTED = "cancel_requested"


E = EventCode

#: every event code's English template (the gettext msgid)
EVENT_TEXTS: dict[EventCode, str] = {
    E.UPLOADED: N_("uploaded %(file_name)s"),
    E.APPROVED: N_("approved"),
    E.REQUEUED: N_("put back in the queue"),
    E.REQUEUED_FOR_APPROVAL: N_("asked to print it again; waits for staff approval"),
    E.PICKED_UP: N_("picked up"),
    E.CANCELLED: N_("cancelled"),
    E.ESTIMATE_UPDATED: N_("new estimate %(source)s: %(print_time_s)s, %(filament_g)s"),
    E.ESTIMATE_SLICED: N_("sliced ahead with %(profile)s: %(print_time_s)s, %(filament_g)s"),
    E.SLICING: N_("slicing with %(profile)s"),
    E.SLICED_BEFORE: N_("already sliced for this printer"),
    E.STARTED: N_("started on %(printer)s"),
    E.START_UNKNOWN: N_("no clear answer from %(printer)s to the start; asking the printer what it does"),
    E.PRINTER_REMOVED: N_("%(printer)s is no longer in the fleet file; back in the queue"),
    E.PRINTER_NOT_READY: N_("%(printer)s was not ready; back in the queue"),
    E.START_REFUSED: N_("%(printer)s refused the start; back in the queue"),
    E.PRINTER_REFUSED_FILE: N_("%(printer)s refused the file"),
    E.DISPATCH_FAILED: N_("could not be prepared for printing: %(error)s"),
    E.RECONCILED_PRINTING: N_("the printer reports printing it (checked after an interruption)"),
    E.DISPATCH_INTERRUPTED: N_("sending it to the printer was interrupted before it started; back in the queue"),
    E.PAUSED_ON_REQUEST: N_("paused on request"),
    E.PRINTER_PAUSED: N_("the printer paused the print by itself"),
    E.RESUMED_ON_REQUEST: N_("resumed on request"),
    E.PRINTER_RESUMED: N_("the printer resumed the print"),
    E.PRINTER_DONE: N_("the printer reports the print done"),
    E.CANCELLED_ON_REQUEST: N_("cancelled on request"),
    E.CANCELLED_ON_REQUEST_BECAUSE: N_("cancelled on request: %(note)s"),
    E.PRINTER_ERROR: N_("printer error: %(error)s"),
    E.PRINTER_ERROR_UNKNOWN: N_("printer error (no details)"),
    E.PRINTER_PRINTS_OTHER_FILE: N_("the printer is printing another file (started at the printer?)"),
    E.PRINT_STOPPED: N_("the print stopped on the printer before it was done"),
    E.REQUEUED_AFTER_FAILURE: N_("back in the queue after a failed print"),
    E.REQUEUED_AFTER_FAILURE_APPROVAL: N_("back in the queue after a failed print, once staff approve"),
    E.BED_CLEARED: N_("bed of %(printer)s cleared"),
    E.BED_CLEARED_OF_JOB: N_("bed of %(printer)s cleared (job %(job_code)s taken off)"),
    E.MAINTENANCE_ON: N_("%(printer)s in maintenance"),
    E.MAINTENANCE_OFF: N_("%(printer)s back from maintenance"),
    E.PAUSE_REQUESTED: N_("pause of %(printer)s requested"),
    E.RESUME_REQUESTED: N_("resume of %(printer)s requested"),
    E.CANCEL_REQUESTED: N_("stop of the print on %(printer)s requested"),
}

#: how an estimate was made (the ``source`` parameter)
SOURCE_TEXTS: dict[str, str] = {
    "mesh": N_("from the model"),
    "gcode": N_("from the G-code"),
    "slicer": N_("from the slicer"),
}


@dataclass(frozen=True)
class CodedText:
    """Something printfleet says, as a code and parameters (JSON values), rendered where it is shown."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def template(self) -> str | None:
        """The English template of an event code (``None`` for scheduler reasons and unknown codes)."""
        try:
            return EVENT_TEXTS[EventCode(self.code)]
        except ValueError:
            return None

    def english(self) -> str:
        """The English sentence (logs, the CLI, the ``failure_reason`` column)."""
        if self.template is not None:
            return render(self.template, self.params)
        if self.code.startswith(PLAN_PREFIX):
            from printfleet.queue.policy import Reason, ReasonCode, render_reason  # the queue sits above

            try:
                return render_reason(Reason(ReasonCode(self.code[len(PLAN_PREFIX):]), self.params), now=time.time())
            except (ValueError, KeyError, TypeError):
                pass
        return self.code + (f" {self.params}" if self.params else "")

    def __str__(self) -> str:
        return self.english()


def said(code: EventCode, /, **params: Any) -> CodedText:
    """An event reason, e.g. ``said(EventCode.STARTED, printer="mk3s-1")``."""
    return CodedText(code.value, params)


class _SchedulerReason(Protocol):
    """``printfleet.queue.policy.Reason`` (not imported: this module sits below the queue)."""

    @property
    def code(self) -> StrEnum: ...

    @property
    def params(self) -> Mapping[str, Any]: ...


def plan_said(reason: _SchedulerReason) -> CodedText:
    """A scheduler reason as an event reason (``plan:<code>``; rendered by ``printfleet.web.reasons``)."""
    return CodedText(PLAN_PREFIX + reason.code.value, {k: _json_value(v) for k, v in reason.params.items()})


def text_param(template: str, /, **params: Any) -> dict[str, Any]:
    """A parameter that is itself a text (translated where it is shown), e.g. ``looks_like=text_param(N_("a PNG
    image"))``."""
    return {"template": template, "params": params}


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    return value


def duration_text(seconds: float | None) -> str:
    """``1 h 05 min`` style (the same in German and English)."""
    if seconds is None:
        return "–"
    minutes = max(0, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def plain_value(name: str, value: Any) -> str:
    """A parameter in English, by its name's convention (see the module docstring)."""
    if value is None:
        return "–"
    if isinstance(value, Mapping) and "template" in value:  # a nested error (see errors.UserError.as_param)
        return render(str(value["template"]), value.get("params") or {})
    if name.endswith("_s") and isinstance(value, int | float):
        return duration_text(value)
    if name.endswith("_g") and isinstance(value, int | float):
        return f"{value:,.0f} g"
    if name == "source":
        return SOURCE_TEXTS.get(str(value), str(value))
    return str(value)


def render(
    template: str,
    params: Mapping[str, Any],
    *,
    gettext: Callable[[str], str] | None = None,
    value: Callable[[str, Any], str] = plain_value,
) -> str:
    """``template`` (translated by ``gettext``) with ``params`` rendered by ``value``.

    A missing parameter shows as ``?`` and a translation that cannot be formatted falls back to the English
    template, so that a bad catalog entry or an old row never breaks a page.
    """
    translated = gettext(template) if gettext is not None else template
    if "%(" not in template:
        return translated
    values = _Values({name: value(name, v) for name, v in params.items()})
    for candidate in (translated, template):
        try:
            return candidate % values
        except (ValueError, TypeError):
            logger.warning("text %r does not fit its parameters %s", candidate, sorted(params))
    return template


class _Values(dict[str, str]):
    """Parameters for ``%`` formatting; one that is missing (an old row, a bad call) shows as ``?``."""

    def __missing__(self, key: str) -> str:
        logger.warning("text parameter %r is missing", key)
        return "?"
