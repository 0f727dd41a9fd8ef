"""PrinterState: JSON round trip, staleness rule, REST answer parsing (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from printfleet.drivers.octoprint_parse import ParseError, state_from_api, status_from_text
from printfleet.state import (
    JobProgress,
    PrinterState,
    PrinterStatus,
    StateFormatError,
    StateSource,
    Temperature,
    is_stale,
)

AT = dt.datetime(2026, 11, 28, 12, 0, 0, 250000, tzinfo=dt.UTC)


def sample() -> PrinterState:
    return PrinterState(
        "mk3s-1",
        PrinterStatus.PRINTING,
        AT,
        StateSource.MQTT,
        job=JobProgress("benchy.gcode", 0.5, 600.0, 600.0),
        temps=(Temperature("bed", 60.0, 60.0), Temperature("tool0", 214.8, 215.0)),
    )


def test_json_round_trip() -> None:
    state = sample()
    again = PrinterState.from_json(state.to_json())
    assert again == state
    assert again.eta == AT + dt.timedelta(seconds=600)
    assert again.temp("tool0") == Temperature("tool0", 214.8, 215.0)


def test_content_key_ignores_time_and_source() -> None:
    a = sample()
    b = a.evolve(observed_at=AT + dt.timedelta(seconds=5), source=StateSource.REST)
    assert a.content_key() == b.content_key() and a.same_content(b)
    assert a.content_key() != a.evolve(status=PrinterStatus.PAUSED).content_key()


def test_naive_time_refused() -> None:
    with pytest.raises(ValueError):
        PrinterState("x", PrinterStatus.IDLE, dt.datetime(2026, 1, 1), StateSource.REST)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "{}",
        '{"printer_id": "x", "status": "melting", "observed_at": "2026-11-28T12:00:00+00:00"}',
        '{"printer_id": "x", "status": "idle", "observed_at": "yesterday"}',
        '{"printer_id": "x", "status": "idle", "observed_at": "2026-11-28T12:00:00"}',
        '{"printer_id": "x", "status": "idle", "observed_at": "2026-11-28T12:00:00+00:00", "temps": [{"heater": "b", "actual": "hot"}]}',
        '{"printer_id": "x", "status": "idle", "observed_at": "2026-11-28T12:00:00+00:00", "job": {"fraction": 1}}',
    ],
)
def test_bad_json_is_a_format_error(text: str) -> None:
    with pytest.raises(StateFormatError):
        PrinterState.from_json(text)


def test_staleness_in_whole_seconds() -> None:
    assert is_stale(99.0, 100.4)  # an older second
    assert not is_stale(100.0, 100.4)  # OctoPrint-MQTT's whole-second stamp of the same second
    assert not is_stale(100.5, 100.4)
    assert is_stale(100.3, 100.4)  # two precise stamps compare exactly
    assert not is_stale(101, 100.9)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Operational", PrinterStatus.IDLE),
        ("Printing", PrinterStatus.PRINTING),
        ("Printing from SD", PrinterStatus.PRINTING),
        ("Pausing", PrinterStatus.BUSY),
        ("Paused", PrinterStatus.PAUSED),
        ("Cancelling", PrinterStatus.BUSY),
        ("Offline", PrinterStatus.OFFLINE),
        ("Offline after error", PrinterStatus.ERROR),
        ("Error: Thermal Runaway", PrinterStatus.ERROR),
        ("Opening serial connection", PrinterStatus.BUSY),
        ("Something new", PrinterStatus.BUSY),
    ],
)
def test_octoprint_state_strings(text: str, status: PrinterStatus) -> None:
    assert status_from_text(text) is status


def job_answer(state: str, completion: float | None, name: str | None = "a.gcode") -> dict:
    return {
        "state": state,
        "job": {"file": {"name": name, "path": name, "origin": "local"}},
        "progress": {"completion": completion, "printTime": 10 if completion else None, "printTimeLeft": 5},
    }


def test_rest_finished_idle_and_printing() -> None:
    printer = {
        "state": {"text": "Operational"},
        "temperature": {"tool0": {"actual": 21.3, "target": 0.0}, "bed": {"actual": None, "target": None}},
    }
    done = state_from_api(
        "p", job_json=job_answer("Operational", 100.0), printer_json=printer, observed_at=AT
    )
    assert done.status is PrinterStatus.FINISHED and done.job == JobProgress("a.gcode", 1.0, 10.0, 0.0)
    assert done.temps == (Temperature("tool0", 21.3, 0.0),)
    cancelled = state_from_api("p", job_json=job_answer("Operational", None), observed_at=AT)
    assert cancelled.status is PrinterStatus.IDLE and cancelled.job is None
    printing = state_from_api("p", job_json=job_answer("Printing", 42.0), observed_at=AT)
    assert printing.job == JobProgress("a.gcode", 0.42, 10.0, 5.0)
    error = state_from_api(
        "p", job_json={**job_answer("Offline after error", None), "error": "Thermal Runaway"}, observed_at=AT
    )
    assert error.status is PrinterStatus.ERROR and error.error == "Thermal Runaway" and error.job is None


@pytest.mark.parametrize("answer", [None, [], "<html>", {"state": 3}, {"job": {}}])
def test_rest_garbage_is_a_parse_error(answer: object) -> None:
    with pytest.raises(ParseError):
        state_from_api("p", job_json=answer, observed_at=AT)


def test_rest_odd_fields_are_tolerated() -> None:
    odd = {"state": "Printing", "job": {"file": "nope"}, "progress": {"completion": "x"}}
    state = state_from_api("p", job_json=odd, printer_json={"temperature": {"tool0": "hot"}}, observed_at=AT)
    assert state.status is PrinterStatus.PRINTING and state.job is None and state.temps == ()
