"""The ASGI application: OVH-compatible routes under ``/1.0``, OpenAPI beside them."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Callable

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from textos import __version__
from textos.api import docs, errors, http2sms, observability
from textos.api.routes import (
    accounts, auth, batches, billing, blacklists, callbacks, documents, incoming, jobs, me, outgoing, rates, receivers, reports,
    senders, user_scope, users, virtual_numbers,
)
from textos.api.auth_cache import AuthCache
from textos.services.credentials import UseNotes
from textos.api.onthefly import OnTheFlyJobs
from textos.api.body_limit import BodyLimitMiddleware
from textos.api.routes.auth import ServerTime
from textos.api.query_params import refuse_unknown_query
from textos.api.state import AppState
from textos.storage.auth_version import Versions

API_PREFIX = "/1.0"


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class TextosAPI(FastAPI):
    """FastAPI behind a front: every request first passes the query id and timing
    (``observability.RequestMiddleware``) and the body limit, then the two requests clients make
    most (a job with listed receivers, ``api.onthefly``; ``GET /auth/time``) are answered there,
    before FastAPI's own middleware stack (error handling, telemetry, routing: most of ``GET /auth/time``'s
    CPU, a tenth of the POST's);
    every other request goes on to FastAPI unchanged."""

    front: ASGIApp
    """The chain in front of ``stack`` (``create_app`` builds it)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self.front(scope, receive, send)

    async def stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own handling: its middleware stack, routing, dependencies, error handlers."""
        await super().__call__(scope, receive, send)


def create_app(state: AppState, *, lifespan: Lifespan | None = None) -> TextosAPI:
    """Build the API around ``state``; what runs beside it (dispatcher, simulator) is the
    composition root's ``lifespan``."""
    app = TextosAPI(
        title="Textos SMS API",
        version=__version__,
        description="Self-hosted SMS platform, wire-compatible with the OVHcloud SMS API (/1.0/sms).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # docs.install: Swagger UI without a CDN
        redoc_url=None,
        lifespan=lifespan,
        responses=errors.RESPONSES,  # every refusal in OVH's shape; no 422
        dependencies=[Depends(refuse_unknown_query)],  # every route, before its own parameters and authentication
        # Textos exports no OpenTelemetry: FastAPI 0.163 would otherwise ask the global
        # providers on every request (about a fifth of a small request's time).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.textos = state
    app.state.auth_cache = AuthCache(Versions(state.db.url))
    app.state.key_uses = UseNotes()  # when this process last wrote each key's lastUse
    errors.install(app)
    # virtual_numbers before accounts: /sms/virtualNumbers is not an account's /sms/{serviceName}
    for module in (
        auth, rates, billing, virtual_numbers, accounts, jobs, outgoing, incoming, blacklists, senders, receivers, batches, callbacks,
        users, user_scope, documents, reports, me,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(auth.validation_router)
    app.include_router(observability.router)  # /metrics, /health, /ready: outside /1.0, unsigned
    app.router.routes.append(http2sms.route)  # OVH's legacy URL, outside /1.0, unsigned, answering in its own formats
    docs.install(app, f"{API_PREFIX}/docs")
    app.front = observability.RequestMiddleware(
        BodyLimitMiddleware(OnTheFlyJobs(ServerTime(app.stack)), max_bytes=state.settings.max_body_bytes),
        access_log=state.settings.log_format == "json",
    )
    return app
