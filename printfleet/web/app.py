"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis
from fastapi import FastAPI, Request
from rq import Worker
from fastapi.responses import JSONResponse, RedirectResponse

from printfleet import __version__, db
from printfleet.runtime import alive_parts, check_broker
from printfleet.settings import Settings

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """Build the web app for ``settings`` (connections are opened at start-up, closed at shutdown)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = db.make_engine(settings.effective_database_url)
        app.state.redis = redis.Redis.from_url(
            settings.effective_redis_url, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            yield
        finally:
            app.state.redis.close()
            app.state.engine.dispose()

    app = FastAPI(title="printfleet", version=__version__, lifespan=lifespan)
    app.state.settings = settings

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        """The API documentation, until the pages exist."""
        return RedirectResponse("/docs")

    @app.get("/healthz", tags=["ops"], summary="Health of the database, Redis and the MQTT broker")
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
        body["broker"] = check_broker(*settings.mqtt_host_port)
        ok = all(body[part]["ok"] for part in ("database", "redis", "broker"))
        body["status"] = "ok" if ok else "degraded"
        return JSONResponse(body, status_code=200 if ok else 503)

    return app
