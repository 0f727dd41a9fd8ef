"""Schemathesis against the OpenAPI spec of a running server: whatever it sends, never a 5xx."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from printfleet.services import free_port
from printfleet.settings import Settings
from printfleet.web.app import create_app
from tests.conftest import SHIPPED_CONFIG
from tests.web.conftest import Actor


@pytest.fixture()
def live_api(web_settings: Settings, actors: dict[str, Actor]) -> Iterator[str]:
    """The app served by uvicorn in a thread (lifespan and all)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(web_settings), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _spec() -> dict:
    """The OpenAPI spec, from an app built on a throw-away data dir (the spec does not depend on the data)."""
    with tempfile.TemporaryDirectory() as tmp:
        return create_app(Settings(config=SHIPPED_CONFIG, data_dir=Path(tmp))).openapi()


schema = schemathesis.openapi.from_dict(_spec())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, live_api: str, actors: dict[str, Actor]) -> None:
    for who in ("staff", "maker_b"):
        response = case.call(base_url=live_api, headers=actors[who].headers, timeout=30)
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    anonymous = case.call(base_url=live_api, timeout=30)
    assert anonymous.status_code < 500
