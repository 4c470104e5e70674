"""``/auth``: server time, consumer-key requests and their validation page, the current credential."""

from __future__ import annotations

import html
import time
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from textos.api.auth import API_PREFIX, Caller, application_only, authenticate
from textos.api.deps import public_base
from textos.api.schemas import VOID, AccessRuleOut, ApiCredentialOut, CredentialRequest, CredentialStatus, Out
from textos.api.state import state_of
from textos.services import credentials
from textos.storage.models import Application, Credential

router = APIRouter(tags=["auth"])

class CredentialRequested(Out):
    """``auth.ApiCredentialRequest``: the new key, to be validated at ``validationUrl``."""

    consumerKey: str
    state: CredentialStatus
    validationUrl: str


class Details(Out):
    """``auth.Details``: who is calling."""

    account: str
    allowedRoutes: list[AccessRuleOut] | None
    description: str | None
    identities: list[str]
    method: Literal["account", "oauth2_client_credentials", "provider", "user"]
    roles: list[str] | None
    user: str | None


TIME_PATH = f"{API_PREFIX}/auth/time"


def server_time() -> bytes:
    """``GET /auth/time``'s answer: the server's time in whole seconds since the epoch, as JSON."""
    return str(int(time.time())).encode()


@router.get("/auth/time", response_model=int, summary="Server time (unauthenticated)")
async def auth_time() -> Response:
    """With a query string (refused: ``api/query_params.py``); without one, ``ServerTime`` answers first."""
    return Response(server_time(), media_type="application/json")


class ServerTime:
    """Answers ``GET /1.0/auth/time`` (without a query string) in front of FastAPI (``api.app.TextosAPI``):
    a clock every client reads before signing, the cheapest answer the server can give."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != TIME_PATH or scope["method"] != "GET" or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        scope["textos.route"] = TIME_PATH  # no router saw it: the route template of its timing (api/observability.py)
        body = server_time()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


@router.post("/auth/credential", summary="Request a new consumer key", response_model=CredentialRequested)
def request_credential(body: CredentialRequest, request: Request, app: Application = Depends(application_only)) -> dict:
    st = state_of(request)
    with st.db.session() as session:
        issued = credentials.create_credential(
            session, app.app_key, None, [r.model_dump() for r in body.accessRules],
            validated=False, allowed_ips=body.allowedIPs, redirection=body.redirection,
        )
    base = public_base(request)
    return {
        "consumerKey": issued.consumer_key,
        "state": credentials.CredentialState.PENDING,
        "validationUrl": f"{base}/auth/?{urlencode({'credentialToken': issued.validation_token})}",
    }


@router.get("/auth/currentCredential", summary="The credential of this call (auth.ApiCredential)", response_model=ApiCredentialOut)
def current_credential(request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return credentials.credential_view(session, caller.credential_id)


@router.get("/auth/details", summary="Who is calling", response_model=Details)
async def details(caller: Caller = Depends(authenticate)) -> dict:
    return {
        "account": caller.nic,
        "allowedRoutes": list(caller.rules),
        "description": None,
        "identities": [f"urn:v1:eu:identity:account:{caller.nic}"],
        "method": "account",
        "roles": [],
        "user": None,
    }


@router.post("/auth/logout", summary="Expire the consumer key of this call", response_model=VOID)
def logout(request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        credentials.expire(session, caller.credential_id)


validation_router = APIRouter(include_in_schema=False)

# The form posts to ``./`` (``/auth/`` without the query string): the token travels in the form, and
# ``POST /auth/`` declares no query parameter (api/query_params.py refuses undeclared ones).
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Textos — authorise an application</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}
code{{background:#eee;padding:0 .2rem}}label{{display:block;margin:.6rem 0}}.error{{color:#a00}}</style></head><body>
<h1>Authorise “{app}”</h1>{description}<p>This application asks for these rights on your account:</p>
<ul id="rules">{rules}</ul>{ips}{redirection}
{error}<form method="post" action="./"><input type="hidden" name="credentialToken" value="{token}">
<label>Account (nic) <input name="nic" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<label>Validity <select name="validity">{validities}</select></label>
<button name="decision" value="accept">Authorise</button>
<button name="decision" value="refuse" formnovalidate>Refuse</button>
</form></body></html>"""


def _page(cred: Credential, app: Application, token: str, error: str = "") -> str:
    """The validation page of a pending key: who asks, for which rules and addresses, for how long."""
    e = html.escape
    rules = "".join(f"<li><code>{e(r['method'])} {e(r['path'])}</code></li>" for r in cred.rules)
    ips = "" if not cred.allowed_ips else (
        "<p>Only from these addresses: " + ", ".join(f"<code>{e(ip)}</code>" for ip in cred.allowed_ips) + "</p>"
    )
    redirection = "" if not cred.redirection else f'<p id="redirection">Then you go to <code>{e(cred.redirection)}</code></p>'
    validities = "".join(
        f'<option value="{key}"{" selected" if key == credentials.DEFAULT_VALIDITY else ""}>{label}</option>'
        for key, label in credentials.VALIDITY_LABELS.items()
    )
    return _PAGE.format(
        app=e(app.name or app.app_key), description=f"<p>{e(app.description)}</p>" if app.description else "",
        rules=rules, ips=ips, redirection=redirection, token=e(token), validities=validities, error=f'<p class="error">{e(error)}</p>' if error else "",
    )


@validation_router.get("/auth/", response_class=HTMLResponse)
def validation_page(request: Request, credentialToken: str) -> HTMLResponse:
    with state_of(request).db.read() as session:
        cred, app = credentials.pending(session, credentialToken)
        return HTMLResponse(_page(cred, app, credentialToken))


@validation_router.post("/auth/", response_class=HTMLResponse)
async def validate(  # type: ignore[no-untyped-def]
    request: Request,
    credentialToken: str = Form(...),
    nic: str = Form(""),
    password: str = Form(""),
    decision: str = Form("accept"),
    validity: str = Form(credentials.DEFAULT_VALIDITY),
):
    st, address = state_of(request), request.client.host if request.client else None

    def work() -> tuple[str, str | None]:
        return credentials.decide(
            st.db, st.password_guard, credentialToken, accept=decision != "refuse", nic=nic, password=password, address=address,
            validity=validity,
        )

    def again() -> str:
        with st.db.read() as session:
            cred, app = credentials.pending(session, credentialToken)
            return _page(cred, app, credentialToken, "Wrong account or password.")

    outcome, redirection = await run_in_threadpool(work)
    if outcome == credentials.BAD_LOGIN:
        return HTMLResponse(await run_in_threadpool(again), status_code=403)
    if redirection:
        return RedirectResponse(redirection, status_code=303)
    return HTMLResponse(f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Textos</title></head><body>'
                        f'<p id="outcome">Access {outcome}. You can close this page.</p></body></html>')
