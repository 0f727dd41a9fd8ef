"""Events, actors and errors in the reader's language (``printfleet.web.reasons``)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from printfleet.errors import UserError
from printfleet.models import JobEvent, JobStatus, PrinterEvent, PrinterEventKind
from printfleet.queue.policy import Reason, ReasonCode
from printfleet.texts import N_, EventCode, plan_said, said
from printfleet.web.i18n import Formatter, translations
from printfleet.web.reasons import actor_text, error_text, event_reason, event_text

DE = translations("de")
EN = translations("en")
FMT_DE = Formatter("de_DE", ZoneInfo("Europe/Berlin"))
FMT_EN = Formatter("en_GB", ZoneInfo("Europe/Berlin"))
AT = dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC)


def _job_event(reason=None, **fields) -> JobEvent:
    coded = reason if reason is not None and not isinstance(reason, str) else None
    return JobEvent(job_id=1, at=AT, actor=fields.pop("actor", "system:monitor"), kind=fields.pop("kind", "transition"),
                    reason=reason if isinstance(reason, str) else "",
                    reason_code=coded.code if coded else None, reason_params=coded.params if coded else None,
                    **fields)  # fmt: skip


def test_a_transition_reads_as_the_change_and_its_reason() -> None:
    event = _job_event(said(EventCode.PRINTER_DONE), from_status=JobStatus.PRINTING, to_status=JobStatus.DONE)
    assert event_text(event, DE, FMT_DE) == "druckt → zum Abholen bereit: der Drucker meldet den Druck als fertig"
    assert event_text(event, EN, FMT_EN) == "printing → ready for pickup: the printer reports the print done"
    assert event_reason(event, DE, FMT_DE) == "der Drucker meldet den Druck als fertig"


def test_the_dispatchers_reason_is_the_schedulers_in_the_readers_language() -> None:
    reason = plan_said(Reason(ReasonCode.START_LOADED, {"printer": "mk3s-1", "material": "PLA", "colour": "black"}))
    event = _job_event(reason, from_status=JobStatus.QUEUED, to_status=JobStatus.ASSIGNED, actor="system:dispatcher")
    assert event_reason(event, EN, FMT_EN) == "starting on mk3s-1, which has black PLA loaded"
    assert event_reason(event, DE, FMT_DE) == "startet auf mk3s-1, dort ist PLA in schwarz eingelegt"
    assert reason.english() == "starting on mk3s-1, which has black PLA loaded"  # the log's words


def test_parameters_are_rendered_in_the_readers_conventions() -> None:
    event = _job_event(said(EventCode.ESTIMATE_SLICED, profile="mk3s.ini", print_time_s=5460.0, filament_g=1234.4),
                       kind="estimate")  # fmt: skip
    assert event_text(event, DE, FMT_DE) == "vorab gesliced mit mk3s.ini: 1 h 31 min, 1.234 g"
    assert event_text(event, EN, FMT_EN) == "sliced ahead with mk3s.ini: 1 h 31 min, 1,234 g"
    estimate = _job_event(said(EventCode.ESTIMATE_UPDATED, source="slicer", print_time_s=60, filament_g=2),
                          kind="estimate")  # fmt: skip
    assert event_text(estimate, DE, FMT_DE) == "neue Schätzung vom Slicer: 1 min, 2 g"


def test_a_typed_reason_stays_as_typed_and_old_rows_still_show() -> None:
    rejected = _job_event("too big; split it", from_status=JobStatus.AWAITING_APPROVAL, to_status=JobStatus.REJECTED,
                          actor="staff-bo")  # fmt: skip
    assert event_text(rejected, DE, FMT_DE) == "wartet auf Freigabe → abgelehnt: too big; split it"
    old = _job_event("reconciled: the printer reports printing it", from_status=JobStatus.UPLOADING,
                     to_status=JobStatus.PRINTING)  # fmt: skip
    assert event_reason(old, DE, FMT_DE) == "reconciled: the printer reports printing it"
    created = _job_event("cube.stl", kind="created", to_status=JobStatus.UPLOADED, actor="ada")
    assert event_text(created, DE, FMT_DE) == "hochgeladen: cube.stl"
    unknown = _job_event(kind="something_new")
    assert event_text(unknown, DE, FMT_DE) == "something_new"


@pytest.mark.parametrize("kind", list(PrinterEventKind))
def test_every_printer_event_kind_has_words_with_or_without_a_code(kind: PrinterEventKind) -> None:
    bare = PrinterEvent(printer_id="mk3s-1", at=AT, actor="staff-bo", kind=kind)
    de, en = event_text(bare, DE, FMT_DE), event_text(bare, EN, FMT_EN)
    assert "mk3s-1" in de and "mk3s-1" in en and de != en


def test_a_bed_clear_names_the_job_taken_off_and_maintenance_keeps_the_typed_reason() -> None:
    cleared = PrinterEvent(printer_id="mk3s-1", at=AT, actor="ada", kind=PrinterEventKind.BED_CLEARED,
                           reason_code=EventCode.BED_CLEARED_OF_JOB, reason_params={"printer": "mk3s-1", "job_code": "K7QXH"})
    assert event_text(cleared, DE, FMT_DE) == "Druckbett von mk3s-1 geräumt (Auftrag K7QXH abgenommen)"
    maintenance = PrinterEvent(printer_id="mini-1", at=AT, actor="staff-bo", kind=PrinterEventKind.MAINTENANCE_ON,
                               reason="nozzle clog", reason_code=EventCode.MAINTENANCE_ON,
                               reason_params={"printer": "mini-1"})  # fmt: skip
    assert event_text(maintenance, DE, FMT_DE) == "mini-1 ist in Wartung: nozzle clog"


def test_actors() -> None:
    assert actor_text("staff-bo", DE) == "staff-bo"
    assert actor_text("system:monitor", DE) == "printfleet (Druckerüberwachung)"
    assert actor_text("system:monitor", EN) == "printfleet (printer monitor)"
    for actor in ("system:worker", "system:intake", "system:dispatcher"):
        assert actor_text(actor, DE) != actor_text(actor, EN) and "system:" not in actor_text(actor, DE)
    assert actor_text("system:sim", DE) == "printfleet (sim)"


def test_an_event_nests_an_error_and_renders_it_in_the_readers_language() -> None:
    error = UserError(N_("job %(job_id)s does not exist"), job_id=7)
    event = _job_event(said(EventCode.DISPATCH_FAILED, error=error.as_param()), from_status=JobStatus.SLICING,
                       to_status=JobStatus.FAILED, actor="system:worker")  # fmt: skip
    assert event_reason(event, DE, FMT_DE) == "konnte nicht für den Druck vorbereitet werden: Auftrag 7 gibt es nicht"
    assert error_text(error, DE, FMT_DE) == "Auftrag 7 gibt es nicht"
    assert str(error) == "job 7 does not exist"


def test_a_bad_translation_or_missing_parameter_never_breaks_a_page() -> None:
    event = _job_event(said(EventCode.STARTED), from_status=JobStatus.UPLOADING, to_status=JobStatus.PRINTING)
    assert event_reason(event, DE, FMT_DE) == "gestartet auf ?"  # a row without its parameter
    unknown = _job_event(reason=said(EventCode.STARTED, printer="x")).model_copy(update={"reason_code": "gone"})
    assert event_reason(unknown, DE, FMT_DE) == "gone"
