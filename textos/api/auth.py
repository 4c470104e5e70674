"""OVH authentication: application key, consumer key, timestamp window, signature, access rules.

The consumer key is found by its SHA-256 (the database and the cache hold no key in clear); the
signature is checked with the key the request sent.

Checks run in OVH's order and refuse with OVH's ``errorCode`` values, which the
official clients turn into their exception classes (``InvalidKey``,
``InvalidCredential``, ``NotGrantedCall``, …).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass
from typing import Hashable

from fastapi import Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from textos.api.errors import AuthError, BadSignature
from textos.api.auth_cache import AuthCache, Found, KnownApplication, KnownCredential, KnownCustomer
from textos.api.state import AppState, state_of
from textos.domain.access_rules import is_allowed
from textos.domain.signing import parse_timestamp, signature_accepted
from textos.services.admin import application_secret
from textos.services import credentials
from textos.services.credentials import CredentialState
from textos.storage.at_rest import key_digest
from textos.storage.models import Application, Credential, Customer, utcnow

API_PREFIX = "/1.0"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: an application acting for a customer through a consumer key."""

    application_id: int
    app_key: str
    credential_id: int
    customer_id: int
    nic: str
    rules: tuple[dict[str, str], ...]
    unchecked_version: Hashable | None = None
    """``authenticated(..., recheck=False)``: the auth version this was checked under, not asked of
    the database; a write made for this caller must first find it still current, else authenticate again."""

    @property
    def actor(self) -> str:
        return f"{self.nic} (app {self.app_key[:8]}, key #{self.credential_id})"

    def may(self, method: str, path: str) -> bool:
        return is_allowed(self.rules, method, path)


def api_path(request: Request) -> str:
    """The decoded path relative to ``/1.0``, as access rules name it."""
    path = request.scope["path"]
    return path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path


def signed_url(request: Request, public_url: str | None) -> str:
    """The URL exactly as the client called it (raw path and query), on the public base."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    if public_url:
        base = public_url.rstrip("/")
    else:
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        base = f"{request.scope.get('scheme', 'http')}://{host}"  # request.url's scheme, without building the URL
    return base + path + (f"?{query}" if query else "")


def application_from_headers(request: Request, session) -> Application:  # type: ignore[no-untyped-def]
    app_key = request.headers.get("x-ovh-application")
    if not app_key:
        raise AuthError("Invalid application key: X-Ovh-Application header is missing", error_code="INVALID_KEY")
    app = session.scalar(select(Application).where(Application.app_key == app_key))
    if app is None or app.status not in ("active", "trusted"):
        raise AuthError("Invalid application key", error_code="INVALID_KEY")
    return app


def _check_ip(allowed: tuple[str, ...] | None, client: str | None) -> bool:
    """The client is in one of the key's ``allowedIPs`` (none: any client). Blocks are checked
    when a key is made; one stored before that check and meaning nothing grants nothing."""
    if not allowed:
        return True
    try:
        addr = ipaddress.ip_address(client or "")
    except ValueError:
        return False
    for block in allowed:
        try:
            if addr in ipaddress.ip_network(block, strict=False):
                return True
        except ValueError:
            continue
    return False


def auth_cache_of(request: Request) -> AuthCache:
    return request.app.state.auth_cache


def _lookup(st: AppState, request: Request, consumer_key_hash: str | None) -> Found:
    """The application (its secret opened), consumer key (found by its digest) and customer of a request, from the database."""
    with st.db.read() as session:
        app = application_from_headers(request, session)
        if not consumer_key_hash:
            raise AuthError("You must login first: X-Ovh-Consumer header is missing", error_code="NOT_CREDENTIAL")
        cred = session.scalar(select(Credential).where(Credential.consumer_key_hash == consumer_key_hash))
        customer = session.get(Customer, cred.customer_id) if cred and cred.customer_id else None
        return (
            KnownApplication.of(app, application_secret(session, app)),
            None if cred is None else KnownCredential.of(cred),
            None if customer is None else KnownCustomer.of(customer),
        )


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


async def authenticate(request: Request) -> Caller:
    """FastAPI dependency of every signed route."""
    return await authenticated(request, await request.body())


async def authenticated(request: Request, raw_body: bytes, *, recheck: bool = True) -> Caller:
    """The caller of ``request``, whose body (already read: ``api.onthefly``) is ``raw_body``.

    ``recheck=False``: from memory as last known, without asking whether anything changed
    (SQLite: that is a query); the caller's ``unchecked_version`` is then set, and whoever
    acts for it checks that version where it writes (``services.accept_writer``)."""
    st = state_of(request)
    body = raw_body.decode("utf-8", errors="replace")
    cache = auth_cache_of(request)
    unchecked = None if recheck else cache.unasked_version()
    version = cache.version() if unchecked is None else unchecked
    headers = dict(reversed(request.scope["headers"]))  # read once; the first of a repeated name, as Request.headers reads it
    app_key, ck = _header(headers, b"x-ovh-application"), _header(headers, b"x-ovh-consumer")
    ck_hash = key_digest(ck) if ck else None  # the one digest of this request: keys are known by it
    found = cache.get(app_key, ck_hash) if app_key and ck_hash and version is not None else None
    if found is None:
        found = await run_in_threadpool(_lookup, st, request, ck_hash)
        if app_key and ck_hash:
            cache.put(version, app_key, ck_hash, found)
    app, cred, customer = found
    if cred is None or cred.application_id != app.id:
        raise AuthError("Invalid credential: this consumer key does not exist for this application", error_code="INVALID_CREDENTIAL")
    if cred.state != CredentialState.VALIDATED or customer is None:
        raise AuthError(f"Invalid credential: this consumer key is {cred.state}", error_code="INVALID_CREDENTIAL")
    if cred.expires_at is not None and cred.expires_at < utcnow():
        raise AuthError("Invalid credential: this consumer key has expired", error_code="INVALID_CREDENTIAL")
    timestamp = _header(headers, b"x-ovh-timestamp") or ""
    moment = parse_timestamp(timestamp)
    if moment is None:
        raise BadSignature("Invalid signature: X-Ovh-Timestamp header is missing or not a number", error_code="INVALID_SIGNATURE")
    if abs(moment - int(time.time())) > st.settings.time_window:
        raise BadSignature("Query out of time: X-Ovh-Timestamp is outside the allowed window (see GET /auth/time)", error_code="QUERY_TIME_OUT")
    given = _header(headers, b"x-ovh-signature") or ""
    if not signature_accepted(given, app.app_secret, ck or "", request.method, signed_url(request, st.settings.public_url), body, timestamp):
        raise BadSignature("Invalid signature", error_code="INVALID_SIGNATURE")
    if not _check_ip(cred.allowed_ips, request.client.host if request.client else None):
        raise AuthError("This call has not been granted from this IP address", error_code="NOT_GRANTED_CALL")
    path = api_path(request)
    if not is_allowed(cred.rules, request.method, path):
        raise AuthError(f"This call has not been granted: {request.method} {path}", error_code="NOT_GRANTED_CALL")
    uses: credentials.UseNotes = request.app.state.key_uses  # lastUse: at most one write a minute per key, off the request's path
    if uses.due(cred.id, time.monotonic()):
        asyncio.get_running_loop().run_in_executor(None, credentials.note_use, st.db, cred.id)
    return Caller(app.id, app.app_key, cred.id, customer.id, customer.nic, cred.rules, unchecked)


async def application_only(request: Request) -> Application:
    """Dependency of calls that need only ``X-Ovh-Application`` (``POST /auth/credential``)."""
    st = state_of(request)

    def lookup() -> Application:
        with st.db.read() as session:
            return application_from_headers(request, session)

    return await run_in_threadpool(lookup)
