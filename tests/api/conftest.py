"""Fixtures of the API tests: the ASGI app in process, once per backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from helpers import BACKENDS
from textos.config import Settings
from textos.server import build_app


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, databases) -> Iterator[FastAPI]:  # type: ignore[no-untyped-def]
    """The app over a fresh database at the latest revision, nothing running beside it (no dispatcher, no simulator)."""
    if request.param not in BACKENDS:
        pytest.skip(f"{request.param} not selected")
    app = build_app(Settings(database_url=databases.migrated(request.param), simulator="inprocess"), dispatch=False)
    yield app
    app.state.auth_cache.close()
    app.state.textos.db.dispose()
    databases.discard(app.state.textos.db.url)
