"""``/docs`` works without internet: Swagger UI comes from the installed package, not a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def test_docs_load_everything_from_the_site(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    sources += re.findall(r"""url:\s*["']([^"']+)["']""", page.text)
    assert sources, page.text
    for source in sources:
        assert source.startswith("/"), f"{source} is not served by printfleet"
        assert client.get(source).status_code == 200, source
    assert "swagger-ui-bundle.js" in page.text
    assert client.get("/redoc").status_code == 404
