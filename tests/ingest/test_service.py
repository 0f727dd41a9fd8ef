"""StatusService against real Mosquitto and Redis: bad input, stale messages, silence, bad REST answers."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from printfleet.config import FleetConfig, load_fleet
from printfleet.drivers import BadResponse, create_driver
from printfleet.ingest.service import StatusService
from printfleet.services import ManagedProcess
from printfleet.settings import Settings
from printfleet.state import PrinterState, PrinterStatus, StateSource
from printfleet.testing.waiting import wait_for_state as wait_for

pytestmark = pytest.mark.integration


def make_fleet(directory: Path, printers: list[str]) -> FleetConfig:
    (directory / "p.ini").write_text("; profile\n")
    path = directory / "printers.yaml"
    path.write_text(
        "printers:\n"
        + "".join(f"  - {{{p}, build_volume_mm: [200, 200, 200], profile: p.ini}}\n" for p in printers)
    )
    return load_fleet(path)


@pytest.fixture()
def publisher(mqtt_broker: ManagedProcess) -> Iterator[Callable[..., None]]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", int(mqtt_broker.extra["port"]))  # type: ignore[arg-type]
    client.loop_start()

    def publish(topic: str, payload: bytes | str | dict, *, retain: bool = False) -> None:
        body = json.dumps(payload) if isinstance(payload, dict) else payload
        client.publish(topic, body, qos=1, retain=retain).wait_for_publish(5)

    yield publish
    client.loop_stop()
    client.disconnect()


@pytest.fixture()
def mqtt_only(
    tmp_path: Path, settings: Settings, redis_url: str, mqtt_broker: ManagedProcess
) -> Iterator[StatusService]:
    """A service for two printers with MQTT only (no REST polling), silence 1.5 s."""
    fleet = make_fleet(
        tmp_path,
        [
            "id: a, name: A, driver: simulated, mqtt_base_topic: t/a/",
            "id: b, name: B, driver: simulated, mqtt_base_topic: t/b/",
        ],
    )
    cfg = settings.model_copy(update={"redis_url": redis_url, "mqtt_url": mqtt_broker.url})
    service = StatusService(fleet, cfg, poll=False, silence_s=1.5)
    service.start()
    assert service.link.wait_connected(10)
    yield service
    service.stop()


def test_bad_messages_are_logged_once_and_ignored(
    mqtt_only: StatusService, publisher: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="printfleet.ingest.service")
    now = int(time.time())
    publisher("t/a/event/PrinterStateChanged", {"state_id": "OPERATIONAL", "_timestamp": now})
    publisher("t/a/event/PrintStarted", {"path": "good.gcode", "_timestamp": now})
    get = lambda: mqtt_only.store.get("a")
    wait_for(get, lambda s: s.status is PrinterStatus.PRINTING)
    for _ in range(3):
        publisher("t/a/event/PrintDone", b"{not json")
        publisher("t/a/temperature/tool0", {"actual": "hot"})
        publisher("t/a/whatever/else", {"x": 1})
        publisher("t/zzz/event/PrintDone", {"path": "x"})  # no such printer (not even subscribed)
        publisher("t/a/mqtt", b"\xff\xfe")
        publisher("t/a/event/PrintDone", {"path": "old.gcode", "_timestamp": now - 60})  # stale
    publisher(
        "t/a/progress/printing",
        {"location": "local", "path": "good.gcode", "progress": 40, "_timestamp": now},
    )
    state = wait_for(get, lambda s: s.job is not None and s.job.fraction == 0.4)
    assert state.status is PrinterStatus.PRINTING and state.job.file_name == "good.gcode"  # type: ignore[union-attr]
    stats = mqtt_only.stats
    assert stats.malformed == 12 and stats.stale == 3
    text = caplog.text
    assert text.count("payload is not JSON") == 1
    assert text.count("unknown topic") == 1
    assert text.count("older than the current state") == 1
    # the other printer is untouched and the service still works
    publisher("t/b/event/PrintStarted", {"path": "b.gcode", "_timestamp": now})
    wait_for(lambda: mqtt_only.store.get("b"), lambda s: s.status is PrinterStatus.PRINTING)


def test_last_will_and_silence_make_offline(mqtt_only: StatusService, publisher: Callable[..., None]) -> None:
    now = int(time.time())
    publisher("t/a/event/PrinterStateChanged", {"state_id": "OPERATIONAL", "_timestamp": now})
    publisher("t/b/event/PrinterStateChanged", {"state_id": "OPERATIONAL", "_timestamp": now})
    wait_for(lambda: mqtt_only.store.get("a"), lambda s: s.status is PrinterStatus.IDLE)
    publisher("t/a/mqtt", "disconnected", retain=True)
    state = wait_for(lambda: mqtt_only.store.get("a"), lambda s: s.status is PrinterStatus.OFFLINE, 3)
    assert state.source is StateSource.MQTT
    # b says nothing more: OFFLINE after the silence timeout
    state = wait_for(lambda: mqtt_only.store.get("b"), lambda s: s.status is PrinterStatus.OFFLINE, 5)
    assert state.source is StateSource.WATCHDOG
    publisher("t/a/mqtt", b"", retain=True)  # clear the retained will


def test_older_state_never_regresses_the_store(
    mqtt_only: StatusService, publisher: Callable[..., None]
) -> None:
    now = int(time.time())
    publisher("t/a/event/PrintDone", {"path": "x.gcode", "time": 5, "_timestamp": now})
    wait_for(lambda: mqtt_only.store.get("a"), lambda s: s.status is PrinterStatus.FINISHED)
    # another process (say, a worker's REST observation) wrote something newer meanwhile
    newer = mqtt_only.store.get("a").evolve(
        status=PrinterStatus.PRINTING,  # type: ignore[union-attr]
        observed_at=mqtt_only.store.get("a").observed_at.replace(  # type: ignore[union-attr]
            year=2099
        ),
    )
    mqtt_only.store.put(newer)
    publisher("t/a/event/Error", {"error": "boom", "_timestamp": now + 1})
    time.sleep(0.5)
    assert mqtt_only.store.get("a").status is PrinterStatus.PRINTING  # type: ignore[union-attr]
    assert mqtt_only.stats.rejected_by_store >= 1


class _BadOctoPrint(BaseHTTPRequestHandler):
    mode = "html"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if type(self).mode == "html":
            body, status, ctype = b"<html><body>Captive portal</body></html>", 200, "text/html"
        else:
            body, status, ctype = b"Internal Server Error", 500, "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("mode", ["html", "500"])
def test_octoprint_answering_html_or_500(
    mode: str,
    tmp_path: Path,
    settings: Settings,
    redis_url: str,
    mqtt_broker: ManagedProcess,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = type("Handler", (_BadOctoPrint,), {"mode": mode})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("PF_BAD_KEY", "k")
    fleet = make_fleet(
        tmp_path,
        [
            (
                f"id: bad, name: Bad, driver: octoprint, url: 'http://127.0.0.1:{httpd.server_port}', "
                "api_key_env: PF_BAD_KEY, mqtt_base_topic: t/bad/, poll_interval_s: 0.2"
            )
        ],
    )
    with pytest.raises(BadResponse):
        create_driver(fleet.printers[0]).state()
    cfg = settings.model_copy(update={"redis_url": redis_url, "mqtt_url": mqtt_broker.url})
    caplog.set_level(logging.WARNING, logger="printfleet.ingest.service")
    with StatusService(fleet, cfg, silence_s=0.5) as service:
        service.store.put(
            PrinterState(
                "bad",
                PrinterStatus.IDLE,
                service.current("bad").observed_at.replace(year=2026),
                StateSource.REST,
            )
        )
        time.sleep(2.0)
        assert service.stats.polls >= 3
        assert service.store.get("bad").status is PrinterStatus.IDLE  # type: ignore[union-attr]
    httpd.shutdown()
    assert caplog.text.count("ignoring a bad answer") == 1


def test_job_changes_are_republished_on_mqtt(
    mqtt_only: StatusService, mqtt_broker: ManagedProcess, redis_url: str
) -> None:
    import redis

    from printfleet.ingest.service import JOBS_CHANGED_CHANNEL

    seen: list[tuple[str, dict]] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: seen.append((m.topic, json.loads(m.payload)))
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", int(mqtt_broker.extra["port"]))  # type: ignore[arg-type]
    client.subscribe("printfleet/jobs/#")
    client.loop_start()
    try:
        assert subscribed.wait(5)
        r = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 5
        while r.pubsub_numsub(JOBS_CHANGED_CHANNEL)[0][1] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        r.publish(JOBS_CHANGED_CHANNEL, json.dumps({"job_id": None, "status": ""}))  # ignored
        r.publish(JOBS_CHANGED_CHANNEL, json.dumps({"job_id": 7, "status": "printing"}))
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [(t, d["status"]) for t, d in seen] == [("printfleet/jobs/7", "printing")]
        r.close()
    finally:
        client.loop_stop()
        client.disconnect()


def test_redis_restart_loses_no_final_state(
    tmp_path: Path,
    settings: Settings,
    redis_factory: Callable[..., ManagedProcess],
    mqtt_broker: ManagedProcess,
    publisher: Callable[..., None],
) -> None:
    private = redis_factory(appendonly=False)
    port = int(private.extra["port"])  # type: ignore[arg-type]
    fleet = make_fleet(tmp_path, ["id: a, name: A, driver: simulated, mqtt_base_topic: r/a/"])
    cfg = settings.model_copy(update={"redis_url": private.url, "mqtt_url": mqtt_broker.url})
    with StatusService(fleet, cfg, poll=False, silence_s=60) as service:
        assert service.link.wait_connected(10)
        now = int(time.time())
        publisher("r/a/event/PrintStarted", {"path": "r.gcode", "_timestamp": now})
        wait_for(lambda: service.store.get("a"), lambda s: s.status is PrinterStatus.PRINTING)
        private.stop()
        for percent in range(1, 30):
            publisher(
                "r/a/progress/printing",
                {"location": "local", "path": "r.gcode", "progress": percent, "_timestamp": now},
            )
        time.sleep(1.5)
        redis_factory(appendonly=False, port=port)
        state = wait_for(
            lambda: _get_quietly(service, "a"),
            lambda s: s.job is not None and s.job.fraction == 0.29,
            timeout_s=10,
        )
        assert state.status is PrinterStatus.PRINTING


def _get_quietly(service: StatusService, printer_id: str) -> PrinterState | None:
    import redis

    try:
        return service.store.get(printer_id)
    except redis.RedisError:
        return None


class _OctoPrintAnswers(BaseHTTPRequestHandler):
    """A small HTTP server's handler that answers ``/api/job`` and ``/api/printer`` as OctoPrint would."""

    def log_message(self, *args: object) -> None:
        pass

    def answer(self, job: bool) -> dict:
        raise NotImplementedError

    def do_GET(self) -> None:
        body = json.dumps(self.answer(self.path.startswith("/api/job"))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def octoprint_service(
    tmp_path: Path, settings: Settings, redis_url: str, mqtt_broker: ManagedProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[type[_OctoPrintAnswers]], StatusService]]:
    """Start a status service for printer ``op`` (MQTT ``t/op/``, REST against a handler's server)."""
    servers: list[ThreadingHTTPServer] = []
    services: list[StatusService] = []
    monkeypatch.setenv("PF_OP_KEY", "k")

    def start(handler: type[_OctoPrintAnswers]) -> StatusService:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        servers.append(httpd)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        fleet = make_fleet(
            tmp_path,
            [
                (
                    f"id: op, name: OP, driver: octoprint, url: 'http://127.0.0.1:{httpd.server_port}', "
                    "api_key_env: PF_OP_KEY, mqtt_base_topic: t/op/, poll_interval_s: 60"
                )
            ],
        )
        cfg = settings.model_copy(update={"redis_url": redis_url, "mqtt_url": mqtt_broker.url})
        service = StatusService(fleet, cfg, silence_s=60)
        services.append(service)
        service.start()
        assert service.link.wait_connected(10)
        return service

    yield start
    for service in services:
        service.stop()
    for httpd in servers:
        httpd.shutdown()


class _FinishedOctoPrint(_OctoPrintAnswers):
    """OctoPrint's answers after ``part.gcode`` printed to the end."""

    def answer(self, job: bool) -> dict:
        if job:
            return {
                "job": {"file": {"name": "part.gcode", "path": "part.gcode", "origin": "local"}},
                "progress": {"completion": 100.0, "printTime": 120, "printTimeLeft": 0},
                "state": "Operational",
            }
        return {
            "state": {"text": "Operational", "flags": {"operational": True, "printing": False, "ready": True}},
            "temperature": {"tool0": {"actual": 40.0, "target": 0.0}, "bed": {"actual": 30.0, "target": 0.0}},
        }


def test_a_print_that_ends_without_its_end_event_is_asked_about(
    octoprint_service: Callable[[type[_OctoPrintAnswers]], StatusService], publisher: Callable[..., None]
) -> None:
    # PrintDone lost (or dropped as older than a REST answer in the same second), then OPERATIONAL: the
    # service must not report IDLE (the job would be failed as "stopped"), but ask the printer, which says
    # the print finished.
    service = octoprint_service(_FinishedOctoPrint)
    get = lambda: service.store.get("op")
    wait_for(get, lambda s: s.status is PrinterStatus.FINISHED)  # the poll at start
    polls = service.stats.polls
    now = int(time.time())
    publisher("t/op/event/PrintStarted", {"path": "part.gcode", "name": "part.gcode", "_timestamp": now})
    wait_for(get, lambda s: s.status is PrinterStatus.PRINTING)
    publisher("t/op/event/PrinterStateChanged", {"state_id": "OPERATIONAL", "_timestamp": now})
    state = wait_for(get, lambda s: s.status is not PrinterStatus.PRINTING)
    assert state.status is not PrinterStatus.IDLE
    state = wait_for(get, lambda s: s.status is PrinterStatus.FINISHED)
    assert state.job is not None and state.job.file_name == "part.gcode"
    assert service.stats.polls > polls


#: /api/job while part.gcode prints, and while nothing is selected
PRINTING_PART = {
    "job": {"file": {"name": "part.gcode", "path": "part.gcode", "origin": "local"}},
    "progress": {"completion": 10.0, "printTime": 12, "printTimeLeft": 100},
    "state": "Printing",
}
NOTHING_SELECTED = {"job": {"file": {"name": None}}, "progress": {"completion": None}, "state": "Operational"}


class _SlowThenPrintingOctoPrint(_OctoPrintAnswers):
    """The first /api/job answer is slow and from before a print started; later ones show it printing."""

    answered_jobs = 0

    def answer(self, job: bool) -> dict:
        cls = type(self)
        if not job:
            return {"state": {"text": "Printing" if cls.answered_jobs > 1 else "Operational", "flags": {}}}
        cls.answered_jobs += 1
        if cls.answered_jobs == 1:
            time.sleep(1.5)  # a loaded machine: the answer comes back after the print started
            return NOTHING_SELECTED
        return PRINTING_PART


def test_an_answer_from_before_a_print_started_does_not_undo_it(
    octoprint_service: Callable[[type[_OctoPrintAnswers]], StatusService], publisher: Callable[..., None]
) -> None:
    # The poll is asked before PrintStarted arrives and answered after: "Operational, nothing selected".
    # Applied, it would undo the print (and the job would be failed as stopped once its grace ran out).
    handler = type("Handler", (_SlowThenPrintingOctoPrint,), {"answered_jobs": 0})
    service = octoprint_service(handler)
    time.sleep(0.3)  # the start-up poll is out, waiting for its slow answer
    assert handler.answered_jobs == 1
    publisher("t/op/event/PrintStarted", {"path": "part.gcode", "name": "part.gcode", "_timestamp": int(time.time())})
    get = lambda: service.store.get("op")
    wait_for(get, lambda s: s.status is PrinterStatus.PRINTING)
    wait_for(lambda: service.current("op"), lambda s: handler.answered_jobs >= 2, timeout_s=5)
    time.sleep(0.5)
    state = service.store.get("op")
    assert state is not None and state.status is PrinterStatus.PRINTING
    assert state.job is not None and state.job.file_name == "part.gcode"


class _StartedLaterOctoPrint(_OctoPrintAnswers):
    """Operational until ``started`` is set, then printing ``part.gcode``."""

    started = False

    def answer(self, job: bool) -> dict:
        printing = type(self).started
        if not job:
            return {"state": {"text": "Printing" if printing else "Operational", "flags": {}}}
        if not printing:
            return NOTHING_SELECTED
        return PRINTING_PART


def test_a_started_print_is_asked_about_without_waiting_for_its_event(
    octoprint_service: Callable[[type[_OctoPrintAnswers]], StatusService], redis_url: str
) -> None:
    # The worker announces the start; the PrintStarted event is lost. The service asks the printer at once
    # (silence here is 60 s, so nothing else would make it ask).
    import redis

    from printfleet.queue.dispatch import announce_jobs_changed

    handler = type("Handler", (_StartedLaterOctoPrint,), {"started": False})
    service = octoprint_service(handler)
    get = lambda: service.store.get("op")
    wait_for(get, lambda s: s.status is PrinterStatus.IDLE)  # the poll at start
    handler.started = True
    client = redis.Redis.from_url(redis_url)
    try:
        announce_jobs_changed(client, 7, "printing", printer_id="op")
    finally:
        client.close()
    state = wait_for(get, lambda s: s.status is PrinterStatus.PRINTING, timeout_s=5)
    assert state.job is not None and state.job.file_name == "part.gcode"
