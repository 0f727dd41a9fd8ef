"""The FastAPI application: ``create_app(settings)``.

JSON API under ``/api`` (OpenAPI docs at ``/docs``), server-rendered pages, Server-Sent Events at
``/events``, ``/healthz`` and Prometheus ``/metrics``. Errors a person can act on
(:class:`printfleet.errors.UserError`), invalid requests and HTTP errors become 4xx answers with a JSON
``detail`` in the reader's language and a stable ``code`` (an error page for pages; see ``web.errors``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request as StarletteRequest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from printfleet import __version__, db
from printfleet.config import load_fleet
from printfleet.errors import UserError
from printfleet.files import too_large
from printfleet.settings import Settings
from printfleet.web.auth import SessionCodec, load_secret
from printfleet.web.docs import install_docs
from printfleet.web.errors import (
    http_error_response,
    redis_unavailable_response,
    user_error_response,
    validation_response,
)
from printfleet.web.live import LiveHub
from printfleet.web.routes import jobs, ops, pages, printers, queue, stats

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
#: requests whose bodies may be large (uploads); everything else is limited to SMALL_BODY_BYTES
UPLOAD_PATHS = frozenset({"/api/uploads", "/api/jobs"})
SMALL_BODY_BYTES = 1_000_000
FORM_OVERHEAD_BYTES = 64 * 1024


def status_for(exc: UserError) -> int:
    """The HTTP status of an error a person can act on (each error class says its own)."""
    return exc.http_status


class BodyLimit:
    """Refuse request bodies over a limit while they stream in (413), before they reach the disk in full."""

    def __init__(self, app: ASGIApp, upload_bytes: int) -> None:
        self.app = app
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope["path"] in UPLOAD_PATHS else SMALL_BODY_BYTES
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await self._refuse(scope, send, limit)
                    return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, limit: int) -> None:
        from printfleet.web.deps import get_lang
        from printfleet.web.reasons import error_text

        error = too_large(limit - (FORM_OVERHEAD_BYTES if scope["path"] in UPLOAD_PATHS else 0),
                          upload=scope["path"] in UPLOAD_PATHS)
        lang = get_lang(StarletteRequest(scope))  # type: ignore[arg-type]
        body = json.dumps({"detail": error_text(error, lang.t, lang.fmt), "code": error.code}).encode()
        await send({"type": "http.response.start", "status": error.http_status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings) -> FastAPI:
    """Build the web app for ``settings`` (connections are opened at start-up, closed at shutdown)."""
    fleet = load_fleet(settings.config)
    settings.ensure_data_dir()
    engine = db.make_engine(settings.effective_database_url)
    hub = LiveHub(fleet, engine, settings.effective_redis_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = redis.Redis.from_url(
            settings.effective_redis_url, socket_connect_timeout=2, socket_timeout=2
        )
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            app.state.redis.close()
            engine.dispose()

    app = FastAPI(
        title="printfleet",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
        description="Fleet manager and job queue for makerspace 3D printers. Authenticate with "
        "`Authorization: Bearer <token>` (`printfleet tokens create`).",
    )
    app.state.settings = settings
    app.state.fleet = fleet
    app.state.engine = engine
    app.state.hub = hub
    app.state.sessions = SessionCodec(load_secret(settings.data_dir))
    app.state.metrics = ops.make_registry(hub)
    app.state.today = stats.TodayBoard(engine, fleet, hub)

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> Response:
        return user_error_response(request, exc)

    @app.exception_handler(redis.RedisError)
    async def redis_error(request: Request, exc: redis.RedisError) -> Response:
        logger.warning("Redis is unavailable: %s", exc)
        return redis_unavailable_response(request)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return validation_response(request, exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return http_error_response(request, exc.status_code, exc.detail, exc.headers)

    app.include_router(ops.router)
    app.include_router(jobs.router)
    app.include_router(printers.router)
    app.include_router(queue.router)
    app.include_router(pages.router)
    app.include_router(stats.router)
    install_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodyLimit, upload_bytes=settings.max_upload_mb * 1_000_000 + FORM_OVERHEAD_BYTES)
    return app


__all__: list[Any] = ["create_app", "status_for"]
