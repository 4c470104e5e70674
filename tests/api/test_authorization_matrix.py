"""The authorization matrix, generated from the OpenAPI document: every operation the server
describes, called with real ids (``tests/api_world.py``), is refused to

* a key of the same customer whose access rules grant only another of its accounts (403/404);
* another customer's key with every right, on the owner's names and ids, and on its own account
  with the owner's ids (403/404), and the operations that name nothing answer it nothing of the owner;
* a key granted only ``GET``, for every other method (403);
* on ``/sms/{s}/users/{login}/…``: a key granted only another user's routes (403), another user's
  ids (404), a user of another account (404); http2sms, a user's password for that user only;

and the owner's own key is served on every one of them (so the ids are real, and a refusal above is
an ownership check, not a missing object). The operations are read from the document: a new route
is in the matrix the day it is added, and one whose path parameter has no real value in the world,
or whose body has no example here, fails until it is given one. Routes that are not signed are
listed in ``UNSIGNED`` with the reason; a route outside the document must be there too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Iterator

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from api_world import ALL_METHODS, Key, Party, World, build_world, handset, operations
from callback_sink import CallbackSink
from helpers import Server
from textos.api.auth import authenticate
from textos.config import Settings
from textos.server import build_app

UNSIGNED = {
    "GET /1.0/auth/time": "the server's clock, read before a client can sign anything (OVH's)",
    "GET /1.0/sms/rates/destinations": "public prices towards a country (OVH's are unauthenticated too)",
    "GET /1.0/sms/rates/packs": "public pack prices towards a country (OVH's are unauthenticated too)",
    "POST /1.0/auth/credential": "asks for a consumer key: the application key only; the customer grants it on /auth/ (OVH's flow)",
    "GET /auth/": "the consumer-key validation page: shows a pending key's rules to whoever holds its 48-character token",
    "POST /auth/": "validates a pending key: the customer's nic and password, through PasswordGuard",
    "GET /1.0/openapi.json": "the API's description",
    "GET /1.0/docs": "Swagger UI of that description",
    "MOUNT /1.0/docs/static": "Swagger UI's files",
    "GET /1.0/download/{token}": "a /me/document export: its 256-bit getUrl token is the credential (as OVH's)",
    "GET /1.0/pay/{orderToken}": "an order's payment page: its random token is the credential",
    "GET /cgi-bin/sms/http2sms.cgi": "http2sms: a user's login and password (test_http2sms_takes_a_users_password_for_that_user_only)",
    "POST /cgi-bin/sms/http2sms.cgi": "http2sms, as GET",
    "GET /metrics": "Prometheus scrape: counts, no customer data by name beyond metrics_max_labels accounts",
    "GET /health": "liveness",
    "GET /ready": "readiness (database, carriers)",
    "MOUNT /dashboard": "the web dashboard: its own login (customers, operators) and server-side sessions",
    "POST /_simulator/mo": "the embedded simulator's test hook: loopback callers only (tests/simulator/test_http.py)",
    "GET /_simulator/stats": "the embedded simulator's test hook: loopback callers only",
    "GET /_simulator/submits": "the embedded simulator's test hook: loopback callers only",
}
"""Every route that takes no OVH signature, and why."""

QUERY = {"wayType": "outgoing", "quantity": "100", "ptt": "4", "by": "tag"}
"""Values of required query parameters, by name."""


def _job(_: Party) -> dict[str, Any]:
    return {"message": "hi", "receivers": [handset()], "noStopClause": True, "differedPeriod": 600}


BODIES: dict[str, Callable[[Party], Any]] = {
    "POST /sms/estimate": lambda p: {"message": "hi", "noStopClause": True, "senderType": "alpha"},
    "POST /order/sms/new": lambda p: {"quantity": 100},
    "POST /order/sms/{serviceName}/credits": lambda p: {"quantity": 100},
    "POST /sms/{serviceName}/transferCredits": lambda p: {"smsAccountTarget": p.spare["other_service"], "credits": 1},
    "PUT /sms/{serviceName}": lambda p: {"description": "matrix"},
    "POST /sms/{serviceName}/jobs": _job,
    "POST /sms/{serviceName}/virtualNumbers/{number}/jobs": lambda p: {"message": "hi", "receivers": [handset()], "differedPeriod": 600},
    "POST /sms/{serviceName}/users/{login}/jobs": _job,
    "POST /sms/{serviceName}/senders": lambda p: {"sender": "Matrix"},
    "PUT /sms/{serviceName}/senders/{sender}": lambda p: {"description": "matrix"},
    "POST /sms/{serviceName}/receivers": lambda p: {"slotId": 2, "csvUrl": p.spare["csv_url"]},
    "POST /sms/{serviceName}/users/{login}/receivers": lambda p: {"slotId": 2, "csvUrl": p.spare["csv_url"]},
    "PUT /sms/{serviceName}/receivers/{slotId}": lambda p: {"description": "matrix"},
    "PUT /sms/{serviceName}/users/{login}/receivers/{slotId}": lambda p: {"description": "matrix"},
    "POST /sms/{serviceName}/receivers/{slotId}/clean": lambda p: {},
    "POST /sms/{serviceName}/users/{login}/receivers/{slotId}/clean": lambda p: {},
    "POST /sms/{serviceName}/batches": lambda p: {
        "message": "hi", "to": [handset()], "noStop": True, "name": "matrix",
        "deferred": (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat(),
    },
    "PUT /sms/{serviceName}/batches/{id}": lambda p: {"name": "matrix"},
    "POST /sms/{serviceName}/users": lambda p: {"login": "dave", "password": "davePw12"},
    "PUT /sms/{serviceName}/users/{login}": lambda p: {"ipRestrictions": []},
    "PUT /me/api/credential/{credentialId}": lambda p: {"allowedIPs": None},
}
"""A body the owner's own call is served with, for every operation that takes one."""

OWNER_ANSWERS = {"GET /sms/{serviceName}/users/{login}/outgoing/{id}/hlr": 404}
"""Operations whose answer to their owner is not a 200: this server does no HLR lookups."""

SPENT_KEY = {"POST /auth/logout"}
"""Operations that spend the key they are called with: each call gets a fresh key of the same rules."""

BODY_NAMES = {"POST /sms/{serviceName}/transferCredits"}
"""Operations whose body names another object (the target account): another customer's key is
refused it on its own account too, when the body names the owner's."""


# --- the document and the world -------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(server: Server) -> Iterator[World]:
    with CallbackSink() as documents:
        yield build_world(server, documents)


@pytest.fixture(scope="module")
def signed(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    """``(METHOD, path relative to /1.0, operation)`` of every signed operation of the document."""
    document = httpx.get(f"http://127.0.0.1:{world.server.port}/1.0/openapi.json", timeout=30).json()
    found = []
    for method, path, operation in operations(document):
        if f"{method} {path}" in UNSIGNED:
            continue
        assert path.startswith("/1.0/"), f"{method} {path} is outside /1.0: sign it, or list it in UNSIGNED with the reason"
        found.append((method, path.removeprefix("/1.0"), operation))
    assert len(found) > 100, len(found)
    return found


def _query(method: str, path: str, operation: dict[str, Any]) -> dict[str, str]:
    wanted = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and p.get("required")]
    missing = [name for name in wanted if name not in QUERY]
    assert not missing, f"{method} {path}: give a value for the required query parameter(s) {missing} in QUERY"
    return {name: QUERY[name] for name in wanted}


def _body(method: str, path: str, operation: dict[str, Any], party: Party) -> Any:
    name = f"{method} {path}"
    if "requestBody" not in operation:
        assert name not in BODIES, f"{name} takes no body: remove it from BODIES"
        return None
    assert name in BODIES, f"{name} takes a body: give one its owner is served with in BODIES"
    return BODIES[name](party)


def _call(key: Key, method: str, template: str, operation: dict[str, Any], values: Party, *,
          path: str | None = None, body_of: Party | None = None) -> httpx.Response:
    """``method template`` with ``values``'s path values (or ``path``) and ``body_of``'s body (else ``values``'s)."""
    if f"{method} {template}" in SPENT_KEY:
        key = key.fresh()
    return key.call(method, path or values.fill(template), _body(method, template, operation, body_of or values),
                    _query(method, template, operation))


def _refusal(answer: httpx.Response, allowed: tuple[int, ...] = (403, 404)) -> str | None:
    """Why ``answer`` is not a refusal in OVH's shape with one of ``allowed`` (None when it is)."""
    if answer.status_code not in allowed:
        return f"{answer.status_code} {answer.text[:200]}"
    try:
        data = answer.json()
    except ValueError:
        return f"{answer.status_code} not JSON: {answer.text[:200]}"
    if not (isinstance(data, dict) and isinstance(data.get("class"), str) and data.get("message")):
        return f"{answer.status_code} not in OVH's shape: {answer.text[:200]}"
    return None


def _fails(findings: list[str]) -> None:
    assert not findings, f"{len(findings)} operation(s) not refused:\n" + "\n".join(findings)


# --- every route is signed or listed --------------------------------------------------------------


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, bool | None]]:
    """``("METHOD path", signed)`` of every route of an app (``MOUNT path`` for a mounted app);
    ``signed``: the route depends on ``api.auth.authenticate`` (None: not a FastAPI route)."""
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            yield from _routes(route.original_router.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Mount):
            yield f"MOUNT {prefix}{route.path}", None
        else:
            signed = authenticate in _calls(route.dependant) if isinstance(route, APIRoute) else None
            for method in sorted(set(route.methods) - {"HEAD"}):
                yield f"{method} {prefix}{route.path}", signed


def _calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def test_every_route_is_signed_and_described_or_listed_unsigned_with_its_reason(tmp_path):
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path}/t.db", simulator="inprocess"), dispatch=False)
    try:
        described = {f"{method} {path}" for method, path, _ in operations(app.openapi())}
        routes = dict(_routes(app.routes))
        unlisted = [name for name, signed in routes.items() if name not in UNSIGNED and not (signed and name in described)]
        assert not unlisted, f"routes neither signed and in the OpenAPI document nor listed in UNSIGNED: {unlisted}"
        listed_but_signed = [name for name in UNSIGNED if routes.get(name)]
        assert not listed_but_signed, f"UNSIGNED lists signed routes: {listed_but_signed}"
        stale = [name for name in UNSIGNED if name not in routes]
        assert not stale, f"UNSIGNED names routes that do not exist: {stale}"
    finally:
        app.state.auth_cache.close()
        app.state.textos.db.dispose()


# --- (a) a key granted only another account of the same customer -----------------------------------


def test_a_key_granted_only_another_account_is_refused_on_every_operation(world: World, signed):
    owner = world.owner
    other = owner.spare["other_service"]
    key = owner.key.with_rules([f"{m} /sms/{other}/*" for m in ALL_METHODS])
    assert key.ok("GET", f"/sms/{other}")["name"] == other  # the key works where it is granted
    findings = []
    for method, template, operation in signed:
        answer = _call(key, method, template, operation, owner)
        if (why := _refusal(answer, (403,))) is not None:
            findings.append(f"{method} {template}: {why}")
    _fails(findings)


# --- another customer's key ------------------------------------------------------------------------


def _mixed(world: World) -> Party:
    """The intruder's own account, user, slot and number, holding the owner's ids."""
    owner, intruder = world.owner, world.intruder
    return Party(intruder.tenant, intruder.key, {**owner.values, **intruder.values}, {**owner.spare, **intruder.spare})


def test_another_customers_key_reaches_nothing_of_the_owners(world: World, signed):
    owner, intruder = world.owner, world.intruder
    mixed = _mixed(world)
    findings, shown = [], []
    for method, template, operation in signed:
        name = f"{method} {template}"
        if not owner.path_values(template):  # names nothing: answers about the caller only
            answer = _call(intruder.key, method, template, operation, intruder)
            if answer.status_code >= 500:
                findings.append(f"{name}: {answer.status_code} {answer.text[:200]}")
            shown += [f"{name} shows {what}" for what in _shown(owner, template, answer)]
            continue
        answer = _call(intruder.key, method, template, operation, owner)
        if (why := _refusal(answer)) is not None:
            findings.append(f"{name} on the owner's: {why}")
        path = mixed.fill(template)
        if path != _own_path(intruder, template) or name in BODY_NAMES:
            answer = _call(intruder.key, method, template, operation, mixed, path=path, body_of=owner)
            if (why := _refusal(answer)) is not None:
                findings.append(f"{name} on its own account with the owner's ids ({path}): {why}")
    _fails(findings)
    assert not shown, shown


def _own_path(intruder: Party, template: str) -> str | None:
    """``template`` with the intruder's own values only (None when it lacks one)."""
    try:
        return intruder.fill(template)
    except KeyError:
        return None


def _shown(owner: Party, template: str, answer: httpx.Response) -> list[str]:
    """The owner's names (nic, accounts, numbers, sender, batch and document ids) in ``answer``, and
    the owner's ids of the collection ``template`` lists (``/me/order`` → its ``orderId``)."""
    names = {str(v) for v in owner.values.values() if isinstance(v, str) and len(v) >= 5}
    names |= {owner.nic, owner.spare["other_service"]}
    shown = [name for name in names if name in answer.text]
    listed = answer.json() if answer.status_code == 200 else None
    if isinstance(listed, list):
        ids = [v for prefix, v in owner.values.items() if prefix.startswith(template + "/{") and prefix.count("{") == 1]
        shown += [f"id {v}" for v in ids if v in listed]
    return shown


# --- (b) a key granted only GET --------------------------------------------------------------------


def test_a_key_granted_only_get_is_refused_every_other_method(world: World, signed):
    owner = world.owner
    key = owner.key.with_rules(["GET /*"])
    findings = []
    for method, template, operation in signed:
        if method == "GET":
            continue
        answer = _call(key, method, template, operation, owner)
        if (why := _refusal(answer, (403,))) is not None or answer.json().get("errorCode") != "NOT_GRANTED_CALL":
            findings.append(f"{method} {template}: {why or answer.text[:200]}")
    _fails(findings)


# --- (c) a user's routes ---------------------------------------------------------------------------

USER = "/sms/{serviceName}/users/{login}"


def _as_user(party: Party, login: str) -> Party:
    return Party(party.tenant, party.key, {**party.values, USER: login}, party.spare)


def test_a_users_routes_refuse_another_users_key_ids_and_a_user_of_another_account(world: World, signed):
    owner = world.owner
    s = owner.service
    alices = owner.key.with_rules([f"{m} /sms/{s}/users/alice/*" for m in ALL_METHODS] + [f"GET /sms/{s}/users/alice"])
    bob, carol = _as_user(owner, owner.spare["second_user"]), _as_user(owner, owner.spare["user_of_other_account"])
    user_scoped = [(m, t, o) for m, t, o in signed if t.startswith(USER)]
    assert len(user_scoped) >= 20, len(user_scoped)
    findings = []
    for method, template, operation in user_scoped:
        name = f"{method} {template}"
        if (why := _refusal(_call(alices, method, template, operation, bob), (403,))) is not None:
            findings.append(f"{name}, alice's key on bob: {why}")
        if method == "GET" and _call(alices, method, template, operation, owner).status_code == 403:
            findings.append(f"{name}: alice's key is refused on alice's own")
        if template != USER and template.count("{") > 2:  # an id below the user: alice's, asked as bob
            if (why := _refusal(_call(owner.key, method, template, operation, bob), (404,))) is not None:
                findings.append(f"{name}, alice's id under bob: {why}")
        if (why := _refusal(_call(owner.key, method, template, operation, carol), (404,))) is not None:
            findings.append(f"{name}, a user of another account: {why}")
    _fails(findings)


def test_http2sms_takes_a_users_password_for_that_user_only(world: World):
    owner = world.owner
    url = f"http://127.0.0.1:{world.server.port}/cgi-bin/sms/http2sms.cgi"

    def send(account: str, login: str, password: str) -> dict[str, Any]:
        return httpx.get(url, params={"account": account, "login": login, "password": password, "to": handset(),
                                      "message": "hi", "noStop": "1", "contentType": "application/json"}).json()

    password = owner.spare["alice_password"]
    assert password != world.intruder.spare["alice_password"]
    assert send(owner.service, "alice", password)["status"] == 100
    assert send(owner.service, "bob", password)["status"] == 401  # alice's password, bob's login
    assert send(owner.spare["other_service"], "alice", password)["status"] == 401  # alice is not a user of that account
    assert send(world.intruder.service, "alice", password)["status"] == 401  # another customer's alice


# --- the owner is served everywhere (last: it spends what it deletes) -------------------------------


def _owner_order(entry: tuple[str, str, dict[str, Any]]) -> tuple[int, int]:
    method, template, _ = entry
    if method == "DELETE":
        return 3, -template.count("/")  # the deepest first: a user's slots before the user
    return {"GET": 0, "PUT": 1, "POST": 2}[method], 0


def test_the_owner_is_served_on_every_operation(world: World, signed):
    owner = world.owner
    findings = []
    for method, template, operation in sorted(signed, key=_owner_order):
        name = f"{method} {template}"
        answer = _call(owner.key, method, template, operation, owner)
        if answer.status_code != OWNER_ANSWERS.get(name, 200):
            findings.append(f"{name}: {answer.status_code} {answer.text[:200]}")
    assert not findings, "the owner was not served:\n" + "\n".join(findings)
