"""The on-the-fly fast path: ``POST /1.0/sms/{serviceName}/jobs`` with a ``receivers`` list.

The cookbook's first flow (one SMS per request, all day long) is the API's hottest
route. FastAPI's per-request machinery (middleware stack, routing, dependency solving,
response encoding) cost about as much as the job itself, so this ASGI app, in front of
FastAPI (``api.app.TextosAPI``: only the query id and timing and the body limit come
first), answers that one request shape directly, with the same parts the route uses: the
same body model (``schemas.JobCreate``, so validation and the OpenAPI document stay one
rule), the same authentication (``auth.authenticated``, given the body it read), the same
conversion (``routes.jobs.to_send_request``/``report_view``), the same accept writer and
the same error shapes. Anything else, including a job from a receivers document or slot
and any request with a query string (which the route's rule on query parameters,
``api/query_params.py``, answers), goes on to FastAPI (the body is handed on unchanged).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_json
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textos.api.auth import Caller, authenticated
from textos.api.errors import AuthError, response_for
from textos.api.routes.jobs import report_view, to_send_request
from textos.api.schemas import JobCreate
from textos.api.state import state_of
from textos.services.accept_writer import StaleAuthentication

__all__ = ["OnTheFlyJobs"]

_JOBS_PATH = re.compile(r"^/1\.0/sms/([^/]+)/jobs$")
ROUTE = "/1.0/sms/{serviceName}/jobs"
"""The template of the path this answers (the jobs route's)."""
_HEADERS = [(b"content-type", b"application/json")]


class OnTheFlyJobs:
    """Answers ``POST /1.0/sms/{s}/jobs`` with listed receivers; passes every other request on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = _JOBS_PATH.match(scope["path"])
        if match is None or scope.get("query_string"):  # a query string: the route's rules (api/query_params.py) answer
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        try:
            job: JobCreate | None = JobCreate.model_validate_json(body)
        except ValidationError:
            job = None
        if job is None or job.receiversDocumentUrl or job.receiversSlotId or job.receivers is None:
            # Not this request shape (or not valid): FastAPI's route answers, refusals included,
            # in the order it checks (authentication first).
            await self.app(scope, _replay(body, receive), send)
            return
        scope["textos.route"] = ROUTE  # no router saw it: the route template of its timing (api/observability.py)
        request = Request(scope, receive)
        writer = state_of(request).accept_writer
        try:
            caller = await _from_memory(request, body)
            send_request = to_send_request(job)
            try:
                report = await writer.accept(caller.customer_id, match.group(1), send_request, actor=caller.actor,
                                             auth_version=caller.unchecked_version)
            except StaleAuthentication:  # a credential or an application changed: ask the database
                caller = await authenticated(request, body)
                report = await writer.accept(caller.customer_id, match.group(1), send_request, actor=caller.actor)
        except Exception as exc:  # noqa: BLE001 - answered as FastAPI's handlers would (errors.response_for)
            await response_for(exc)(scope, receive, send)
            return
        await _send_json(send, report_view(report))


async def _from_memory(request: Request, body: bytes) -> Caller:
    """The caller as authentication last knew the keys, without asking whether they changed
    (``recheck=False``: the accept writer checks that in its transaction); a refusal there may be
    out of date, so it is only given once the database has been asked."""
    try:
        return await authenticated(request, body, recheck=False)
    except AuthError:
        return await authenticated(request, body)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the body already read on once, then is the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send: Send, content: Any) -> None:
    payload = to_json(content)  # the bytes FastAPI's JSONResponse writes (compact, UTF-8), a quarter of the cost
    await send({"type": "http.response.start", "status": 200,
                "headers": [*_HEADERS, (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
