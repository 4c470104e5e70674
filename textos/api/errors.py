"""Errors in OVH's shape: ``{"class": "Client::BadRequest", "message": "..."}``, never a stack trace.

A database that cannot serve for now (``storage.outages.unavailable``: PostgreSQL away or restarting,
a SQLite disk full) is a 503 ``Server::ServiceUnavailable`` with ``Retry-After``, not a 500: the call
may simply be made again, since what it would have written did not commit (unless the connection
was lost during the commit itself, which no client of any database can tell)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from textos.domain.errors import TextosError
from textos.storage.outages import Outage, unavailable

log = logging.getLogger("textos.api")


class AuthError(TextosError):
    """A refused authentication: 403 with OVH's ``errorCode`` (``INVALID_KEY``, ``INVALID_CREDENTIAL``,
    ``NOT_CREDENTIAL``, ``NOT_GRANTED_CALL``)."""

    status = 403
    error_class = "Client::Forbidden"


class BadSignature(AuthError):
    """A request whose signature or timestamp is wrong: 400, as OVH answers ``INVALID_SIGNATURE``
    (and ``QUERY_TIME_OUT``), so python-ovh raises ``BadParametersError``."""

    status = 400
    error_class = "Client::BadRequest"


class ErrorOut(BaseModel):
    """A refusal, as the OpenAPI document describes every 4xx answer."""

    model_config = ConfigDict(extra="forbid")
    class_: str = Field(alias="class", description="`Client::BadRequest`, `Client::NotFound`, `Client::Forbidden`…")
    message: str = Field(min_length=1, description="What was refused, naming the field")
    errorCode: Annotated[str | None, WithJsonSchema({"type": "string"})] = Field(
        default=None, description="Authentication refusals only: `INVALID_KEY`, `INVALID_SIGNATURE`…")
    httpCode: Annotated[str | None, WithJsonSchema({"type": "string"})] = Field(default=None, description="With `errorCode`: `403 Forbidden`…")


RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorOut, "description": "Refused, in OVH's shape (`class`, `message`)"},
    "503": {"model": ErrorOut, "description": "The database cannot serve now (away, restarting, its disk full): "
                                              "`Server::ServiceUnavailable`, try again after `Retry-After` seconds"},
}
"""The answers every operation may give besides its own (``create_app`` declares them app-wide; FastAPI's
``422`` is never given: a validation error is a 400 here)."""


def error_response(status: int, error_class: str, message: str, error_code: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"class": error_class, "message": message}
    if error_code:
        body["errorCode"] = error_code
        body["httpCode"] = f"{status} {HTTPStatus(status).phrase}"
    return JSONResponse(body, status_code=status)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


SECRET_FIELDS = frozenset({"password"})
"""Fields whose value a refusal never shows (it would land in the client's logs)."""


def describe_validation(errors: list[dict[str, Any]]) -> str:
    """One sentence per invalid field, each naming it (a secret's value is never shown)."""
    messages = []
    for err in errors[:5]:
        field = _field_name(tuple(err.get("loc", ())))
        kind = err.get("type", "")
        if kind == "missing":
            messages.append(f"Missing parameter: {field}")
        elif kind == "extra_forbidden":
            messages.append(f"Unknown parameter: {field}")
        elif kind == "json_invalid":
            messages.append("Invalid JSON body")
        else:
            got = err.get("input")
            shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
            if field.rsplit(".", 1)[-1] in SECRET_FIELDS:
                shown = "(not shown)"
            messages.append(f"Invalid value for {field}: {shown} ({err.get('msg', 'invalid')})")
    return "; ".join(messages) or "Invalid request"


def response_for(exc: Exception) -> JSONResponse:
    """The answer to an exception raised while handling a request (OVH's shape; 500 for the unexpected)."""
    if isinstance(exc, TextosError):
        response = error_response(exc.status, exc.error_class, exc.message, exc.error_code)
        response.headers.update(exc.headers)
        return response
    if isinstance(exc, OverflowError):
        return error_response(400, "Client::BadRequest", "Invalid value: a number is out of range")
    if isinstance(exc, DataError):
        return error_response(400, "Client::BadRequest", "Invalid value: the database refused it (out of range or malformed)")
    if unavailable(exc):
        _outage.failed(exc)
        response = error_response(503, "Server::ServiceUnavailable", UNAVAILABLE_MESSAGE)
        response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
        return response
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "Server::InternalServerError::Unexpected", "Internal server error")


UNAVAILABLE_MESSAGE = "Service temporarily unavailable: the database cannot serve this request now; try again shortly"
UNAVAILABLE_RETRY_AFTER = 1
"""Seconds a client is told to wait (``Retry-After``) when the database is away: it comes back by itself."""
_outage = Outage(log, "API (calls answered 503)")
"""The process's API says an outage in a line every few seconds, not one per call answered 503."""


def install(app: FastAPI) -> None:
    """Register handlers so every refusal answers in OVH's shape."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "Client::BadRequest", describe_validation(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, "Client::NotFound", "Got an invalid (or empty) URL")
        if exc.status_code == 405:
            return error_response(405, "Client::MethodNotAllowed", "Method not allowed on this URL")
        return error_response(exc.status_code, "Client::Error", str(exc.detail))

    async def _raised(_: Request, exc: Exception) -> JSONResponse:
        return response_for(exc)

    # SQLAlchemyError: a database error is answered here, not by ServerErrorMiddleware, which would raise it
    # again to uvicorn (an "Exception in ASGI application" traceback, and the client's connection closed);
    # Exception: the 500 of ServerErrorMiddleware
    for kind in (TextosError, OverflowError, DataError, SQLAlchemyError, Exception):
        app.add_exception_handler(kind, _raised)
