"""OctoPrint-MQTT messages -> state changes, including every kind of bad input (pure)."""

from __future__ import annotations

import json

import pytest

from printfleet.ingest.mqtt import TopicRouter
from printfleet.ingest.parse import Kind, MessageError, apply_message, parse_message, unknown_state
from printfleet.state import JobProgress, PrinterState, PrinterStatus, StateSource

NOW = 1_790_000_000.0


def msg(subtopic: str, payload: object, ts: float = NOW):
    raw = payload if isinstance(payload, bytes) else json.dumps({"_timestamp": int(ts), **payload}).encode()  # type: ignore[dict-item]
    return parse_message(subtopic, raw, ts)


def run(state: PrinterState, *messages) -> PrinterState:
    for m in messages:
        new = apply_message(state, m)
        state = new if new is not None else state
    return state


def test_print_life_cycle() -> None:
    state = unknown_state("p1")
    state = run(
        state, msg("event/PrinterStateChanged", {"state_id": "OPERATIONAL", "state_string": "Operational"})
    )
    assert state.status is PrinterStatus.IDLE and state.source is StateSource.MQTT
    state = run(state, msg("event/PrintStarted", {"name": "a.gcode", "path": "a.gcode", "origin": "local"}))
    assert state.status is PrinterStatus.PRINTING and state.job == JobProgress("a.gcode", 0.0, 0.0, None)
    state = run(
        state, msg("progress/printing", {"location": "local", "path": "a.gcode", "progress": 25}, NOW + 10)
    )
    assert state.job is not None and state.job.fraction == 0.25
    assert state.job.elapsed_s == pytest.approx(10.0) and state.job.remaining_s == pytest.approx(30.0)
    state = run(state, msg("event/PrintPaused", {"path": "a.gcode"}, NOW + 12))
    assert state.status is PrinterStatus.PAUSED
    state = run(state, msg("event/PrintResumed", {"path": "a.gcode"}, NOW + 20))
    assert state.status is PrinterStatus.PRINTING
    assert state.job is not None and state.job.elapsed_s == pytest.approx(12.0)  # paused time does not count
    state = run(state, msg("temperature/tool0", {"actual": 214.9, "target": 215.0}, NOW + 21))
    assert state.temp("tool0") is not None and state.temp("tool0").actual == 214.9  # type: ignore[union-attr]
    state = run(state, msg("event/PrintDone", {"path": "a.gcode", "time": 42.5}, NOW + 30))
    assert state.status is PrinterStatus.FINISHED and state.job == JobProgress("a.gcode", 1.0, 42.5, 0.0)
    state = run(state, msg("event/PrinterStateChanged", {"state_id": "OPERATIONAL"}, NOW + 30))
    assert state.status is PrinterStatus.FINISHED  # still: nothing new was selected
    # starting the next file: no IDLE or job-less PRINTING in between
    state = run(state, msg("event/FileSelected", {"path": "b.gcode"}, NOW + 40))
    assert state.status is PrinterStatus.FINISHED
    state = run(state, msg("event/PrinterStateChanged", {"state_id": "PRINTING"}, NOW + 40))
    assert state.status is PrinterStatus.FINISHED
    state = run(state, msg("event/PrintStarted", {"path": "b.gcode"}, NOW + 40))
    assert (
        state.status is PrinterStatus.PRINTING and state.job is not None and state.job.file_name == "b.gcode"
    )
    state = run(
        state,
        msg("event/PrintCancelled", {"path": "b.gcode"}, NOW + 41),
        msg("event/PrinterStateChanged", {"state_id": "OPERATIONAL"}, NOW + 41),
    )
    assert state.status is PrinterStatus.IDLE and state.job is None


def test_cancel_is_busy_until_operational() -> None:
    state = run(unknown_state("p1"), msg("event/PrintStarted", {"path": "a.gcode"}))
    state = run(state, msg("event/PrintCancelling", {"path": "a.gcode"}))
    assert state.status is PrinterStatus.BUSY
    state = run(
        state,
        msg("event/PrintCancelled", {"path": "a.gcode", "reason": "cancelled"}),
        msg("event/PrintFailed", {"path": "a.gcode", "reason": "cancelled"}),
    )
    assert state.status is PrinterStatus.BUSY and state.job is None
    state = run(state, msg("event/PrinterStateChanged", {"state_id": "OPERATIONAL"}))
    assert state.status is PrinterStatus.IDLE


def test_error_and_offline() -> None:
    state = run(unknown_state("p1"), msg("event/PrintStarted", {"path": "a.gcode"}))
    state = run(
        state,
        msg("event/Error", {"error": "Thermal Runaway"}),
        msg(
            "event/PrinterStateChanged",
            {"state_id": "CLOSED_WITH_ERROR", "state_string": "Offline after error"},
        ),
    )
    assert state.status is PrinterStatus.ERROR and state.error == "Thermal Runaway" and state.job is None
    state = run(state, msg("event/Disconnected", {}))
    assert state.status is PrinterStatus.OFFLINE and state.error is None
    will = parse_message("mqtt", b"disconnected", NOW + 5)
    assert will is not None and will.kind is Kind.WILL
    state = run(run(unknown_state("p1"), msg("event/PrinterStateChanged", {"state_id": "OPERATIONAL"})), will)
    assert state.status is PrinterStatus.OFFLINE and "last will" in (state.error or "")
    assert apply_message(state, parse_message("mqtt", b"connected", NOW + 6)) is None  # type: ignore[arg-type]


def test_progress_without_print_and_reset_change_nothing() -> None:
    idle = run(unknown_state("p1"), msg("event/PrinterStateChanged", {"state_id": "OPERATIONAL"}))
    assert (
        apply_message(
            idle, msg("progress/printing", {"location": "local", "path": "a.gcode", "progress": 50})
        )
        is None
    )
    assert apply_message(idle, msg("progress/printing", {"location": "", "path": "", "progress": 0})) is None
    assert apply_message(idle, msg("event/ZChange", {"new": 0.3, "old": None})) is None
    assert apply_message(idle, msg("progress/slicing", {"progress": 3})) is None


def test_ignored_families() -> None:
    assert parse_message("metadata/foo", b"raw", NOW) is None


@pytest.mark.parametrize(
    ("subtopic", "payload"),
    [
        ("event/PrintStarted", b"not json"),
        ("event/PrintStarted", b"[1, 2]"),
        ("event/PrintStarted", b"\xff\xfe"),
        ("temperature/tool0", b'{"actual": "hot"}'),
        ("temperature/tool0", b'{"actual": NaN}'),
        ("temperature/tool0", b'{"foo": 1}'),
        ("progress/printing", b'{"path": "a.gcode"}'),
        ("progress/printing", b'{"progress": 5}'),
        ("event/PrinterStateChanged", b'{"state_string": "x"}'),
        ("event/PrintStarted", b'{"_timestamp": "yesterday"}'),
        ("event/PrintStarted", b'{"_timestamp": -5}'),
        ("event/PrintDone", b'{"time": 3}'),
        ("mqtt", b"maybe"),
        ("unknown/thing", b"{}"),
        ("event", b"{}"),
        ("event/a/b", b"{}"),
        ("", b"{}"),
    ],
)
def test_bad_input_is_a_message_error(subtopic: str, payload: bytes) -> None:
    state = run(unknown_state("p1"), msg("event/PrintStarted", {"path": "a.gcode"}))
    with pytest.raises(MessageError):
        message = parse_message(subtopic, payload, NOW)
        assert message is not None
        apply_message(state, message)


def test_future_timestamp_is_replaced_by_receive_time() -> None:
    m = parse_message(
        "event/PrintStarted", json.dumps({"_timestamp": NOW + 86400, "path": "a"}).encode(), NOW
    )
    assert m is not None and m.ts == NOW


def test_router_longest_base_wins() -> None:
    router = TopicRouter({"octoPrint/": "a", "octoPrint/mk3s-3/": "b", "octoprint/": "c"})
    assert router.route("octoPrint/event/PrintDone") == ("a", "event/PrintDone")
    assert router.route("octoPrint/mk3s-3/event/PrintDone") == ("b", "event/PrintDone")
    assert router.route("octoprint/mqtt") == ("c", "mqtt")
    assert router.route("elsewhere/event/x") is None
    assert router.route("nobase") is None
    assert router.filters == ["octoPrint/#", "octoPrint/mk3s-3/#", "octoprint/#"]
