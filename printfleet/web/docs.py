"""``/docs``: the API's interactive documentation, with Swagger UI served from its Python package.

FastAPI's default page loads Swagger UI from a CDN, which leaves ``/docs`` blank on a site without internet.
The ``swagger-ui-bundle`` package carries the same files; they are served under ``/static/swagger-ui``.
"""

from __future__ import annotations

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static/swagger-ui"


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets from the installed package (the app is created with ``docs_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def read_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
        )
