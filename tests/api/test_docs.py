"""The documentation page works without Internet access: Swagger UI's script, stylesheet and icon
come from the server itself, with their content types; the page names no other host."""

from __future__ import annotations

import re

import httpx

from helpers import Server

ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def test_the_docs_page_loads_everything_from_the_server(server: Server):
    page = httpx.get(f"{server.endpoint}/docs", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert re.findall(r"https?://", page.text) == [], "the page names another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {a.rsplit(".", 1)[-1] for a in assets} == {"js", "css", "png"}, assets  # the icon too
    for asset in assets:
        assert asset.startswith("/1.0/docs/static/"), asset
        answer = httpx.get(f"http://127.0.0.1:{server.port}{asset}", timeout=10)
        assert answer.status_code == 200, asset
        expected = ASSET_TYPES["." + asset.rsplit(".", 1)[-1]]
        assert answer.headers["content-type"].split(";")[0] == expected, (asset, answer.headers["content-type"])
        assert len(answer.content) > 500, asset
    assert "url: '/1.0/openapi.json'" in page.text
    assert httpx.get(f"{server.endpoint}/openapi.json", timeout=10).status_code == 200


def test_the_docs_page_asks_no_validator_service(server: Server):
    """Swagger UI would otherwise send the document's URL to validator.swagger.io and show its badge."""
    page = httpx.get(f"{server.endpoint}/docs", timeout=10).text
    assert '"validatorUrl": null' in page
