"""The API documentation page (Swagger UI), served with its assets: it works without Internet access.

FastAPI's own page loads Swagger UI from a CDN. Here its script, stylesheet and icon come
from the installed ``fastapi-swagger`` package (a pinned dependency that follows Swagger
UI's releases), served under ``{prefix}/docs/static``; the page names no other host.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = files("fastapi_swagger.resources")
SCRIPT, STYLESHEET, ICON = "swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"


def install(app: FastAPI, docs_url: str) -> None:
    """Serve Swagger UI at ``docs_url`` (the app is built with ``docs_url=None``) and its assets below it."""
    static_url = f"{docs_url}/static"
    app.mount(static_url, StaticFiles(directory=str(ASSETS)), name="docs-static")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        assert app.openapi_url is not None
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{static_url}/{SCRIPT}",
            swagger_css_url=f"{root}{static_url}/{STYLESHEET}",
            swagger_favicon_url=f"{root}{static_url}/{ICON}",
            # Swagger UI would otherwise ask validator.swagger.io about the document.
            swagger_ui_parameters={"validatorUrl": None},
        )

    # a plain Starlette route, like FastAPI's own docs page: not an API operation, so the API's
    # rules for operations (unknown query parameters refused) do not apply to it
    app.add_route(docs_url, swagger_ui, include_in_schema=False)
