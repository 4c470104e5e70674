"""Watching the API: the query id on every answer, request timing, ``/metrics``, ``/health``, ``/ready``.

``RequestMiddleware`` (outermost) gives each request OVH's query id (``X-Ovh-Queryid``, also the
request id of its log lines: ``observability.logs``), times it into
``textos_http_request_duration_seconds`` by route template, and with ``--log-format json`` logs one
access line. It touches no database: the database-derived gauges are computed when ``/metrics`` is
scraped (``services.metrics``).
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import REGISTRY, CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textos.api.state import state_of
from textos.observability import instruments
from textos.observability.logs import request_id
from textos.services.metrics import DatabaseCollector
from textos.storage import gauges

access_log = logging.getLogger("textos.access")

METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
"""Methods named in the method label; any other is ``other`` (a client chooses the method)."""
UNMATCHED = "<unmatched>"
"""The route label of requests no route answers (404s): raw paths would make the label set unbounded."""
HIDDEN = "[hidden]"
"""What the access log writes instead of a bearer token in a path."""


class _QueryIds:
    """Query ids: a random prefix per process (drawn again in a forked child), then a counter; cheaper
    than 8 fresh random bytes per request, and as distinct in bug reports."""

    def __init__(self) -> None:
        self.restart()
        os.register_at_fork(after_in_child=self.restart)

    def restart(self) -> None:
        self.prefix = f"TX.{secrets.token_hex(4)}"
        self.numbers = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.numbers) & 0xFFFFFFFF:08x}"


query_ids = _QueryIds()


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/1.0/sms/{serviceName}/jobs``), never the raw path.

    FastAPI leaves the included router's own route in ``scope["route"]``, whose path lacks the
    prefix it was included with (``/1.0``, a constant): that is the part of the raw path before
    what the route matched."""
    route = scope.get("route")
    if route is None:
        return scope.get("textos.route") or UNMATCHED
    path_format = getattr(route, "path", None)
    regex = getattr(route, "path_regex", None)
    if path_format is None or regex is None:
        return UNMATCHED
    path: str = scope["path"]
    start = 0
    while start != -1:
        if regex.match(path[start:]):
            return path[:start] + path_format
        start = path.find("/", start + 1)
    return path_format


def logged_path(scope: Scope) -> str:
    """The request's path as the access log writes it: a path parameter named ``token`` or
    ``…Token`` is a bearer link (``/1.0/download/{token}``, ``/1.0/pay/{orderToken}``), whoever holds
    the URL gets what it opens, so its value is written ``[hidden]``."""
    path: str = scope["path"]
    for name, value in (scope.get("path_params") or {}).items():
        if name.lower().endswith("token") and isinstance(value, str) and value:
            path = path.replace(value, HIDDEN)
    return path


class RequestMiddleware:
    """Adds OVH's ``X-Ovh-Queryid`` header to every answer (handy in bug reports), names the request
    by it in log lines, and times it by route template."""

    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log
        self._timers: dict[tuple[Any, ...], Any] = {}
        """Histogram children by (route's id: routes live as long as the app, first path segment, method, status): bounded as the labels are
        (the first segment only where a route matched: the route's own, or a static prefix like ``/1.0``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query_id = query_ids.next()
        header = query_id.encode()
        token = request_id.set(query_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-ovh-queryid", header))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            if method not in METHODS:
                method = "other"  # a client chooses the method: the label set stays bounded
            route = scope.get("route")
            path: str = scope["path"]
            # One dict lookup on the hot path: the timer of (route, its prefix, method, status), made once
            key = (id(route), path[: path.find("/", 1)] if route is not None else scope.get("textos.route"), method, status)
            timer = self._timers.get(key)
            if timer is None:
                timer = self._timers[key] = instruments.http_request_seconds.labels(
                    method, route_template(scope), str(status),
                )
            timer.observe(elapsed)
            if self.access_log:
                template = route_template(scope)
                access_log.info(
                    "%s %s %d", method, template, status,
                    extra={"method": method, "route": template, "path": logged_path(scope), "status": status,
                           "duration_ms": round(elapsed * 1000, 3)},
                )
            request_id.reset(token)


router = APIRouter(include_in_schema=False)


class _Everything:
    """The process's instruments (or, in multiprocess mode, every worker's, added up)."""

    def collect(self) -> Any:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return registry.collect()
        return REGISTRY.collect()


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text format: the instruments, then the gauges read from the database now."""
    state = state_of(request)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Everything())  # type: ignore[arg-type]
    registry.register(DatabaseCollector(state.db, state.settings.metrics_max_labels))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    """``ready`` or ``unavailable``."""
    database: bool
    carriers: dict[str, bool] | None
    """Each carrier of this process's dispatcher and whether it is bound; none when delivery runs elsewhere."""


@router.get("/health", response_model=Health)
def health() -> Health:
    """The process is alive (and answering)."""
    return Health(status="ok")


@router.get("/ready", response_model=Readiness)
def ready(request: Request) -> JSONResponse:
    """200 when the database answers and (if this process delivers) at least one carrier is bound; 503 otherwise."""
    state = state_of(request)
    try:
        with state.db.read() as s:
            database = gauges.reachable(s)
    except Exception:  # noqa: BLE001 - unreachable is the answer
        database = False
    carriers = state.carriers()
    ok = database and (carriers is None or any(carriers.values()))
    body = Readiness(status="ready" if ok else "unavailable", database=database, carriers=carriers)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
