"""A single-file OctoPrint plugin for the tests: publishes in the OctoPrint-MQTT plugin's topic layout.

Copied into ``<basedir>/plugins/`` by the test fixture. Layout (see shared notes): ``event/<Event>``
(not retained), ``progress/printing`` (retained), ``temperature/<heater>`` (retained) and the retained
``mqtt`` connected/disconnected last will (QoS 1). Every JSON payload carries ``_timestamp``.
"""

from __future__ import annotations

import json
import os
import threading
import time

import octoprint.plugin
import paho.mqtt.client as mqtt
from octoprint.printer import PrinterCallback


class _TemperatureCallback(PrinterCallback):
    def __init__(self, plugin: PrintfleetMqttPlugin) -> None:
        self._plugin = plugin
        self._last: dict[str, tuple[float | None, float | None]] = {}

    def on_printer_add_temperature(self, data):
        stamp = data.get("time", time.time())
        for heater, reading in data.items():
            if heater == "time" or not isinstance(reading, dict):
                continue
            actual, target = reading.get("actual"), reading.get("target")
            if not actual and not target:
                continue
            last = self._last.get(heater)
            if (
                last is not None
                and abs((last[0] or 0) - (actual or 0)) < 0.1
                and abs((last[1] or 0) - (target or 0)) < 0.1
            ):
                continue
            self._last[heater] = (actual, target)
            self._plugin.publish(
                f"temperature/{heater}",
                {"actual": actual, "target": target, "_timestamp": int(stamp)},
                retain=True,
            )


class PrintfleetMqttPlugin(
    octoprint.plugin.SettingsPlugin,
    octoprint.plugin.StartupPlugin,
    octoprint.plugin.ShutdownPlugin,
    octoprint.plugin.EventHandlerPlugin,
    octoprint.plugin.ProgressPlugin,
):
    def __init__(self) -> None:
        self._client: mqtt.Client | None = None
        self._base = "octoPrint/"
        self._lock = threading.Lock()

    def get_settings_defaults(self):
        return {"host": None, "port": 1883, "baseTopic": "octoPrint/"}

    def on_after_startup(self):
        host = self._settings.get(["host"])
        if not host:
            self._logger.warning("no broker host configured; not publishing")
            return
        port = int(self._settings.get(["port"]))
        self._base = self._settings.get(["baseTopic"])
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"octoprint-test-{os.getpid()}")
        client.will_set(self._base + "mqtt", "disconnected", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.reconnect_delay_set(1, 2)
        client.connect_async(host, port, keepalive=10)
        client.loop_start()
        self._client = client
        self._printer.register_callback(_TemperatureCallback(self))

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        client.publish(self._base + "mqtt", "connected", qos=1, retain=True)
        self.publish("progress/printing", {"location": "", "path": "", "progress": 0}, retain=True)

    def publish(self, subtopic: str, payload: dict, *, retain: bool = False) -> None:
        if self._client is None:
            return
        payload.setdefault("_timestamp", int(time.time()))
        self._client.publish(self._base + subtopic, json.dumps(payload, default=str), qos=0, retain=retain)

    def on_event(self, event, payload):
        data = dict(payload or {})
        data["_event"] = event
        self.publish(f"event/{event}", data, retain=event in ("ZChange", "FirmwareData"))

    def on_print_progress(self, storage, path, progress):
        self.publish(
            "progress/printing", {"location": storage, "path": path, "progress": progress}, retain=True
        )

    def on_shutdown(self):
        if self._client is None:
            return
        info = self._client.publish(self._base + "mqtt", "disconnected", qos=1, retain=True)
        try:
            info.wait_for_publish(1)
        except (RuntimeError, ValueError):
            pass
        self._client.disconnect()
        self._client.loop_stop()


__plugin_name__ = "printfleet MQTT (tests)"
__plugin_version__ = "0.1"
__plugin_pythoncompat__ = ">=3.7,<4"
__plugin_implementation__ = PrintfleetMqttPlugin()
