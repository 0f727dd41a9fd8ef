"""The broker link of the status service (paho-mqtt 2.x, VERSION2 callbacks).

One client subscribes ``<base_topic>#`` of every printer, routes each message to its printer by the
longest matching base topic, survives broker restarts (paho reconnects; we resubscribe in
``on_connect``) and publishes printfleet's own topics (``printfleet/...``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt

logger = logging.getLogger(__name__)

#: printfleet's own topics
STATE_TOPIC = "printfleet/printers/{printer_id}/state"
JOB_TOPIC = "printfleet/jobs/{job_id}"
STATUS_TOPIC = "printfleet/status"


class TopicRouter:
    """Maps a topic to (printer id, subtopic) by the longest base topic it starts with."""

    def __init__(self, bases: dict[str, str]) -> None:
        """Args: bases: base topic (ending in ``/``) -> printer id."""
        self._bases = dict(bases)

    @property
    def filters(self) -> list[str]:
        """The subscriptions that cover every printer."""
        return sorted(base + "#" for base in self._bases)

    def route(self, topic: str) -> tuple[str, str] | None:
        """``(printer_id, subtopic)``, or ``None`` when no printer's base topic matches."""
        end = len(topic)
        while end > 0:
            end = topic.rfind("/", 0, end)
            if end < 0:
                return None
            printer_id = self._bases.get(topic[: end + 1])
            if printer_id is not None:
                return printer_id, topic[end + 1 :]
        return None


MessageHandler = Callable[[str, bytes, float], None]


class MqttLink:
    """A paho client that keeps its subscriptions across reconnects.

    Args:
        host, port: the broker.
        filters: topic filters to (re)subscribe on every connect.
        on_message: ``(topic, payload, received_ts)``, called on paho's network thread.
        on_connection: called with True/False when the broker link comes up or goes down.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        filters: Iterable[str],
        on_message: MessageHandler,
        on_connection: Callable[[bool], None] | None = None,
        client_id: str | None = None,
        keepalive_s: int = 15,
    ) -> None:
        self.host, self.port = host, port
        self.filters = list(filters)
        self._on_message_cb = on_message
        self._on_connection_cb = on_connection
        self._keepalive_s = keepalive_s
        self._connected = threading.Event()
        self._down_logged = False
        client_id = client_id or f"printfleet-status-{socket.gethostname()}-{os.getpid()}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        self.client.will_set(STATUS_TOPIC, "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.max_inflight_messages_set(100)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    @property
    def connected(self) -> bool:
        """Whether the broker link is up."""
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the link is up; whether it is."""
        return self._connected.wait(timeout_s)

    def start(self) -> None:
        """Connect in the background (retrying until the broker is there) and start the network thread."""
        self.client.connect_async(self.host, self.port, keepalive=self._keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        """Say ``offline``, disconnect and stop the network thread."""
        if self.connected:
            info = self.client.publish(STATUS_TOPIC, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()

    def publish(self, topic: str, payload: str | bytes, *, retain: bool = False, qos: int = 0) -> None:
        """Publish if connected (dropped otherwise: retained states are republished on change)."""
        if self.connected:
            self.client.publish(topic, payload, qos=qos, retain=retain)

    # ------------------------------------------------------------ paho callbacks (network thread)

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason_code: object, properties: object
    ) -> None:
        if getattr(reason_code, "is_failure", False):
            logger.warning("broker %s:%s refused the connection: %s", self.host, self.port, reason_code)
            return
        if self.filters:
            client.subscribe([(topic, 1) for topic in self.filters])
        client.publish(STATUS_TOPIC, "online", qos=1, retain=True)
        self._connected.set()
        if self._down_logged:
            logger.info(
                "broker %s:%s is back; resubscribed %d topic filter(s)",
                self.host,
                self.port,
                len(self.filters),
            )
        self._down_logged = False
        if self._on_connection_cb:
            self._on_connection_cb(True)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason_code: object, properties: object
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if not self._down_logged:
            self._down_logged = True
            logger.warning(
                "lost the broker %s:%s (%s); reconnecting, polling printers meanwhile",
                self.host,
                self.port,
                reason_code,
            )
        if was_connected and self._on_connection_cb:
            self._on_connection_cb(False)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        received_ts = time.time()
        try:
            self._on_message_cb(message.topic, message.payload, received_ts)
        except Exception:  # never let one message kill the network thread
            logger.exception("error handling a message on %s", message.topic)
