"""``printfleet sim``: many simulated OctoPrint printers in one process, over HTTP and MQTT.

REST: ``<url>/printers/<id>/api/...`` (the OctoPrint subset printfleet's driver uses, plus
``GET /api/files`` with print records and ``POST /api/printer/command``). Simulator control:
``POST <url>/printers/<id>/sim/fault`` with ``{"kind": "error"|"offline"|"online"|"refuse_start"|"disconnect",
"at_fraction": 0.5, "count": 1, "duration_s": 10}`` and ``GET <url>/sim/printers``.
MQTT: each printer publishes under its base topic in the OctoPrint-MQTT layout.

Times: the clock runs ``speed`` times faster; ``printTime``/``printTimeLeft`` and MQTT ``time`` are in
simulated seconds (what a real printer printing that file would report), ``_timestamp`` is wall time.

One process, one HTTP server (a thread per request), one MQTT connection, one clock thread. Since one
MQTT connection has one last will, a killed simulator leaves its printers to the status service's
silence timeout; an orderly stop publishes ``disconnected`` for each printer.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from printfleet.sim.printer import Fault, Publish, SimError, SimFile, SimPrinter

if TYPE_CHECKING:
    from printfleet.config import FleetConfig

logger = logging.getLogger(__name__)

TICK_S = 0.1
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


class SimFleet:
    """The simulated printers and their clock; thread-safe through one lock."""

    def __init__(
        self,
        printers: dict[str, SimPrinter],
        base_topics: dict[str, str],
        *,
        mqtt_host_port: tuple[str, int] | None = None,
        temp_interval_s: float = 5.0,
        state_file: Path | None = None,
    ) -> None:
        self.printers = printers
        self.base_topics = base_topics
        self.lock = threading.RLock()
        self.temp_interval_s = temp_interval_s
        self.state_file = state_file
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mqtt: mqtt.Client | None = None
        self._mqtt_host_port = mqtt_host_port
        self._mqtt_up = threading.Event()
        self._broker_down_logged = False
        self.load_records()

    # ------------------------------------------------------------ records

    def load_records(self) -> None:
        """Read the file records kept by an earlier run."""
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            data = json.loads(self.state_file.read_text())
            for printer_id, files in data.items():
                if printer_id in self.printers:
                    self.printers[printer_id].files = {f["name"]: SimFile.from_record(f) for f in files}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring simulator records in %s: %s", self.state_file, exc)

    def save_records(self) -> None:
        """Write the file records if any changed."""
        if self.state_file is None:
            return
        with self.lock:
            if not any(p.dirty for p in self.printers.values()):
                return
            data = {pid: [f.to_record() for f in p.files.values()] for pid, p in self.printers.items()}
            for printer in self.printers.values():
                printer.dirty = False
        tmp = self.state_file.with_suffix(".tmp")
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data))
            tmp.replace(self.state_file)
        except OSError as exc:
            logger.warning("cannot save simulator records to %s: %s", self.state_file, exc)

    # ------------------------------------------------------------ MQTT

    def _publish(self, printer_id: str, messages: list[Publish]) -> None:
        client = self._mqtt
        if client is None or not messages:
            return
        base = self.base_topics[printer_id]
        now = int(time.time())
        for subtopic, payload, retain in messages:
            if isinstance(payload, dict):
                body = json.dumps({**payload, "_timestamp": now})
                client.publish(base + subtopic, body, qos=0, retain=retain)
            else:
                client.publish(base + subtopic, payload, qos=1, retain=retain)

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason_code: object, properties: object
    ) -> None:
        if getattr(reason_code, "is_failure", False):
            logger.warning("broker refused the simulator: %s", reason_code)
            return
        self._mqtt_up.set()
        if self._broker_down_logged:
            logger.info("broker reached; publishing printer status")
        self._broker_down_logged = False
        with self.lock:
            for printer_id, printer in self.printers.items():
                if printer.host_up:
                    self._publish(
                        printer_id,
                        [
                            ("mqtt", "connected", True),
                            ("progress/printing", {"location": "", "path": "", "progress": 0}, True),
                            *printer.temperature_messages(),
                        ],
                    )

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        if not self._broker_down_logged:
            self._broker_down_logged = True
            host, port = self._mqtt_host_port or ("?", 0)
            logger.warning("cannot reach the broker %s:%s; serving REST only until it is there", host, port)

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Connect to the broker (if any) and start the clock."""
        if self._mqtt_host_port is not None:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"printfleet-sim-{id(self):x}")
            client.on_connect = self._on_connect
            client.on_connect_fail = self._on_connect_fail
            client.reconnect_delay_set(1, 5)
            client.max_queued_messages_set(100_000)
            client.connect_async(*self._mqtt_host_port, keepalive=15)
            client.loop_start()
            self._mqtt = client
        self._thread = threading.Thread(target=self._run, name="sim-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Say ``disconnected`` for every printer, stop the clock and save the records."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        client = self._mqtt
        if client is not None:
            infos = []
            for printer_id, printer in self.printers.items():
                if printer.host_up:
                    infos.append(
                        client.publish(
                            self.base_topics[printer_id] + "mqtt", "disconnected", qos=1, retain=True
                        )
                    )
            for info in infos[-1:]:
                try:
                    info.wait_for_publish(2)
                except (RuntimeError, ValueError):
                    pass
            client.disconnect()
            client.loop_stop()
        self.save_records()

    def _run(self) -> None:
        last = time.monotonic()
        next_temps = last
        next_save = last + 2.0
        while not self._stop.wait(TICK_S):
            now = time.monotonic()
            elapsed, last = now - last, now
            send_temps = now >= next_temps
            if send_temps:
                next_temps = now + self.temp_interval_s
            with self.lock:
                for printer_id, printer in self.printers.items():
                    printer.tick(elapsed, now)
                    out = printer.drain()
                    if send_temps and printer.host_up and printer.operational:
                        out.extend(printer.temperature_messages())
                    self._publish(printer_id, out)
            if now >= next_save:
                next_save = now + 2.0
                self.save_records()

    def flush(self, printer_id: str) -> None:
        """Publish what a command produced right away (called with the lock held)."""
        self._publish(printer_id, self.printers[printer_id].drain())


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    # ------------------------------------------------------------ plumbing

    def _send(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_UPLOAD_BYTES:
            raise SimError(413, "file too large")
        return self.rfile.read(length) if length else b""

    def _json(self) -> dict[str, Any]:
        try:
            data = json.loads(self._body() or b"{}")
        except ValueError:
            raise SimError(400, "Malformed JSON body") from None
        if not isinstance(data, dict):
            raise SimError(400, "Malformed JSON body")
        return data

    def _multipart(self) -> dict[str, tuple[str | None, bytes]]:
        content_type = self.headers.get("Content-Type", "")
        if "multipart/form-data" not in content_type:
            raise SimError(400, "No file to upload and no folder to create")
        raw = b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + self._body()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
        return fields

    def _route(self, method: str) -> None:
        path = urlsplit(self.path).path
        try:
            if path == "/sim/printers" and method == "GET":
                self._send(200, self.server.fleet_overview())
                return
            parts = path.split("/", 3)  # '', 'printers', id, rest
            if len(parts) < 4 or parts[1] != "printers":
                raise SimError(404, "Not found")
            printer_id, rest = parts[2], "/" + parts[3]
            printer = self.server.fleet.printers.get(printer_id)
            if printer is None:
                raise SimError(404, f"no simulated printer {printer_id!r}")
            with self.server.fleet.lock:
                if rest == "/sim/fault" and method == "POST":
                    try:
                        fault = Fault.from_dict(self._json())
                    except (ValueError, TypeError) as exc:
                        raise SimError(400, f"bad fault: {exc}") from None
                    printer.add_fault(fault, time.monotonic())
                    self.server.fleet.flush(printer_id)
                    self._send(204)
                    return
                printer.check_reachable()
                printer.check_key(self.headers.get("X-Api-Key"))
                status, body = self._api(printer, method, rest)
                self.server.fleet.flush(printer_id)
            self._send(status, body)
        except SimError as exc:
            self._send(exc.status, {"error": exc.message})
        except (ConnectionError, TimeoutError):
            pass
        except Exception:  # a simulator bug must not look like a dead host
            logger.exception("simulator error on %s %s", method, path)
            self._send(500, {"error": "simulator error"})

    def _api(self, printer: SimPrinter, method: str, rest: str) -> tuple[int, Any]:
        if method == "GET":
            if rest == "/api/version":
                return 200, {"api": "0.1", "server": "1.11.8", "text": "OctoPrint 1.11.8 (printfleet sim)"}
            if rest == "/api/job":
                return 200, printer.job_json()
            if rest == "/api/printer":
                return 200, printer.printer_json()
            if rest == "/api/connection":
                return 200, printer.connection_json()
            if rest in ("/api/files", "/api/files/local"):
                return 200, printer.files_json()
            if rest.startswith("/api/files/local/"):
                return 200, printer.file_json(unquote(rest.removeprefix("/api/files/local/")))
        elif method == "POST":
            if rest == "/api/files/local":
                fields = self._multipart()
                if "file" not in fields:
                    raise SimError(400, "No file to upload and no folder to create")
                filename, data = fields["file"]
                answer = printer.upload(filename or "upload.gcode", data)
                flag = lambda key: fields.get(key, (None, b"false"))[1].strip().lower() in (b"true", b"1")
                name = answer["files"]["local"]["name"]
                if flag("select") or flag("print"):
                    printer.select(name, start=flag("print"))
                    answer["effectiveSelect"], answer["effectivePrint"] = True, flag("print")
                return 201, answer
            if rest.startswith("/api/files/local/"):
                data = self._json()
                if data.get("command") != "select":
                    raise SimError(400, "Unknown command")
                printer.select(unquote(rest.removeprefix("/api/files/local/")), start=bool(data.get("print")))
                return 204, None
            if rest == "/api/job":
                data = self._json()
                command = data.get("command")
                if command == "start":
                    printer.start()
                elif command == "cancel":
                    printer.cancel()
                elif command == "pause":
                    printer.pause(str(data.get("action", "toggle")))
                else:
                    raise SimError(400, "Unknown command")
                return 204, None
            if rest == "/api/connection":
                command = self._json().get("command")
                if command == "connect":
                    printer.connect()
                elif command == "disconnect":
                    printer.disconnect()
                else:
                    raise SimError(400, "Unknown command")
                return 204, None
            if rest == "/api/printer/command":
                data = self._json()
                commands = data.get("commands") or [data.get("command", "")]
                for command in commands:
                    printer.gcode(str(command))
                return 204, None
        elif method == "DELETE" and rest.startswith("/api/files/local/"):
            printer.delete(unquote(rest.removeprefix("/api/files/local/")))
            return 204, None
        raise SimError(404, "Not found")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fleet: SimFleet) -> None:
        super().__init__(address, _Handler)
        self.fleet = fleet

    def fleet_overview(self) -> dict[str, Any]:
        with self.fleet.lock:
            return {
                "printers": [
                    {
                        "id": pid,
                        "state": p.state,
                        "host_up": p.host_up,
                        "selected": p.selected,
                        "completion": p.completion,
                        "base_topic": self.fleet.base_topics[pid],
                    }
                    for pid, p in self.fleet.printers.items()
                ]
            }


class SimServer:
    """The simulator: HTTP server + clock + MQTT publisher for the simulated printers of a fleet."""

    def __init__(
        self,
        fleet: FleetConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        speed: float = 1.0,
        mqtt_host_port: tuple[str, int] | None = None,
        temp_interval_s: float = 5.0,
        state_file: Path | None = None,
        printer_ids: list[str] | None = None,
    ) -> None:
        printers: dict[str, SimPrinter] = {}
        topics: dict[str, str] = {}
        for cfg in fleet.printers:
            if cfg.driver.value != "simulated" or (printer_ids is not None and cfg.id not in printer_ids):
                continue
            key = cfg.api_key()
            printers[cfg.id] = SimPrinter(
                cfg.id, speed=speed, api_key=key.get_secret_value() if key else None
            )
            topics[cfg.id] = cfg.base_topic
        self.fleet = SimFleet(
            printers,
            topics,
            mqtt_host_port=mqtt_host_port,
            temp_interval_s=temp_interval_s,
            state_file=state_file,
        )
        self.httpd = _Server((host, port), self.fleet)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL (``PRINTFLEET_SIM_URL`` for the drivers)."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add_fault(self, printer_id: str, fault: Fault) -> None:
        """Apply or schedule a fault on one printer."""
        with self.fleet.lock:
            self.fleet.printers[printer_id].add_fault(fault, time.monotonic())
            self.fleet.flush(printer_id)

    def start(self) -> None:
        """Serve in background threads."""
        self.fleet.start()
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="sim-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, publish ``disconnected``, save records."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.fleet.stop()
