"""``/healthz`` and Prometheus ``/metrics``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from rq import Worker

from printfleet import __version__, db
from printfleet.runtime import alive_parts, check_broker
from printfleet.web.live import LiveHub

logger = logging.getLogger(__name__)

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="Health of the database, Redis and the MQTT broker")
def healthz(request: Request) -> JSONResponse:
    """200 when the database, Redis and the broker all answer; 503 with the failing part otherwise."""
    state = request.app.state
    body: dict[str, Any] = {"version": __version__}
    body["database"] = db.check(state.engine)
    try:
        state.redis.ping()
        parts = alive_parts(state.redis)
        parts["worker"] = Worker.count(connection=state.redis)
        body["redis"] = {"ok": True, "parts": parts}
    except redis.exceptions.RedisError as exc:
        body["redis"] = {"ok": False, "error": str(exc)}
    body["broker"] = check_broker(*state.settings.mqtt_host_port)
    ok = all(body[part]["ok"] for part in ("database", "redis", "broker"))
    body["status"] = "ok" if ok else "degraded"
    return JSONResponse(body, status_code=200 if ok else 503)


class FleetCollector:
    """Gauges read from the web process's live view at scrape time (no database query per scrape)."""

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Printers by state, queue length, jobs by status."""
        printers = GaugeMetricFamily("printfleet_printers", "Printers by state", labels=["state"])
        counts: dict[str, int] = {}
        for printer in self.hub.printers():
            state = "maintenance" if printer["maintenance"] else printer["status"]
            counts[state] = counts.get(state, 0) + 1
        for state in ("offline", "idle", "busy", "printing", "paused", "finished", "error", "maintenance"):
            printers.add_metric([state], counts.get(state, 0))
        yield printers
        queue = GaugeMetricFamily("printfleet_queue_length", "Jobs waiting for a printer", labels=["kind"])
        queue.add_metric(["queued"], len(self.hub.view.queue))
        queue.add_metric(["awaiting_approval"], len(self.hub.view.approvals))
        yield queue
        jobs = GaugeMetricFamily("printfleet_jobs", "Jobs by status (outcomes: done, collected, failed, cancelled, "
                                 "rejected)", labels=["status"])
        for status, count in sorted(self.hub.view.status_counts.items()):
            jobs.add_metric([status], count)
        yield jobs
        live = GaugeMetricFamily("printfleet_web_sse_clients", "Connected live pages")
        live.add_metric([], len(self.hub.clients))
        yield live


def make_registry(hub: LiveHub) -> CollectorRegistry:
    """A registry for one app: fleet gauges and the dispatch latency histogram."""
    registry = CollectorRegistry()
    registry.register(FleetCollector(hub))  # type: ignore[arg-type]
    latency = Histogram(
        "printfleet_dispatch_latency_seconds",
        "Queued until the printer reported printing (jobs seen starting by this web process)",
        buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
        registry=registry,
    )
    hub.dispatch_latency_observer = latency.observe
    return registry


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def read_metrics(request: Request) -> Response:
    """Printers by state, queue length, jobs by status, dispatch latency (Prometheus text format)."""
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
