"""The FastAPI application: ``create_app(settings)``.

JSON API under ``/api`` (OpenAPI docs at ``/docs``), server-rendered pages, Server-Sent Events at
``/events``, ``/healthz`` and Prometheus ``/metrics``. Errors a person can act on
(:class:`printfleet.errors.UserError`) become 4xx responses with a JSON ``detail``.
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
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from printfleet import __version__, db
from printfleet.config import load_fleet
from printfleet.errors import UserError
from printfleet.files import UploadTooLarge
from printfleet.queue.jobs import JobChanged, JobNotFound
from printfleet.queue.lifecycle import IllegalTransition
from printfleet.settings import Settings
from printfleet.web.actions import PrinterActionRefused, PrinterNotFound
from printfleet.web.auth import SessionCodec, load_secret
from printfleet.web.docs import install_docs
from printfleet.web.live import LiveHub
from printfleet.web.routes import jobs, ops, pages, printers, queue, stats
from printfleet.web.uploads import UnsupportedFile, UploadNotFound

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
#: requests whose bodies may be large (uploads); everything else is limited to SMALL_BODY_BYTES
UPLOAD_PATHS = frozenset({"/api/uploads", "/api/jobs"})
SMALL_BODY_BYTES = 1_000_000
FORM_OVERHEAD_BYTES = 64 * 1024


def status_for(exc: UserError) -> int:
    """The HTTP status of an error a person can act on."""
    if isinstance(exc, JobNotFound | UploadNotFound | PrinterNotFound):
        return 404
    if isinstance(exc, IllegalTransition | JobChanged | PrinterActionRefused):
        return 409
    if isinstance(exc, UploadTooLarge):
        return 413
    if isinstance(exc, UnsupportedFile):
        return 415
    return 422


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
                    await self._refuse(send, limit)
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
            await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = json.dumps({"detail": f"request body is larger than the limit of {limit / 1e6:.0f} MB"}).encode()
        await send({"type": "http.response.start", "status": 413,
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
        status = status_for(exc)
        if not request.url.path.startswith("/api/") and request.method == "GET":
            from printfleet.web.deps import get_lang
            from printfleet.web.pages import render

            return render(request, get_lang(request), "error.html", user=None, status_code=status, message=str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(redis.RedisError)
    async def redis_error(request: Request, exc: redis.RedisError) -> Response:
        logger.warning("Redis is unavailable: %s", exc)
        return JSONResponse({"detail": "Redis is unavailable; try again in a moment"}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path"))
            problems.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(problems), "errors": json.loads(json.dumps(exc.errors()[:5], default=str))},
                            status_code=422)

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
