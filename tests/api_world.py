"""A customer holding one of everything the API names, on a real server: a real value for every path
parameter of the OpenAPI document (jobs, outgoing, incoming, slots, batches, users, callbacks, tasks,
documents, blacklists, senders, virtual numbers, orders, applications, keys), and raw signed calls.

``build_world(server)`` makes it; ``World.path_values`` says which value each path parameter takes
(keyed by the path template up to that parameter, so a new route whose parameter has no value here
is told so instead of being skipped). Used by ``tests/api/test_authorization_matrix.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import httpx

from callback_sink import CallbackSink
from helpers import Server, Tenant, wait_until
from textos.domain.signing import sign
from textos.services import admin, credentials
from textos.storage.db import Database

ALL_METHODS = ("GET", "POST", "PUT", "DELETE")
CSV = b"number;name\n+33611000001;Ana\n+33611000002;Bo\n"


def handset() -> str:
    return f"+3361{secrets.randbelow(10**7):07d}"


@dataclass(frozen=True)
class Key:
    """An application and a consumer key: signed calls as the ``ovh`` client makes them."""

    server: Server
    app_key: str
    app_secret: str
    consumer_key: str
    nic: str
    rules: tuple[str, ...] = tuple(f"{m} /*" for m in ALL_METHODS)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30), compare=False, repr=False)

    def call(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> httpx.Response:
        """``method`` on ``/1.0{path}``, signed; the answer, whatever it is."""
        url = httpx.URL(f"http://127.0.0.1:{self.server.port}/1.0{path}", params=query or None)
        data = "" if body is None else json.dumps(body)
        now = str(int(time.time()))
        headers = {
            "X-Ovh-Application": self.app_key, "X-Ovh-Consumer": self.consumer_key, "X-Ovh-Timestamp": now,
            "X-Ovh-Signature": sign(self.app_secret, self.consumer_key, method, str(url), data, now),
            "Content-Type": "application/json",
        }
        return self.http.request(method, url, content=data or None, headers=headers)

    def ok(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        answer = self.call(method, path, body, query)
        assert answer.status_code == 200, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json()

    def with_rules(self, rules: list[str] | tuple[str, ...]) -> "Key":
        """Another consumer key of this application and customer, granted ``rules`` (``"GET /sms/*"``)."""
        args = [a for rule in rules for a in ("--rule", rule)]
        ck = self.server.cli("credential", "create", "--app", self.app_key, "--nic", self.nic, *args)["consumerKey"]
        return Key(self.server, self.app_key, self.app_secret, ck, self.nic, tuple(rules))

    def fresh(self) -> "Key":
        """Another key with the same rules (for a call that spends its key)."""
        return self.with_rules(self.rules)


def key_of(tenant: Tenant) -> Key:
    return Key(tenant.server, tenant.app_key, tenant.app_secret, tenant.consumer_key, tenant.nic)


@dataclass
class Party:
    """A customer as the matrix sees it: its key with every right, its names and ids."""

    tenant: Tenant
    key: Key
    values: dict[str, Any]
    """The value of each path parameter, by the path template up to it (``/sms/{serviceName}/jobs/{id}``)."""
    spare: dict[str, Any] = field(default_factory=dict)
    """Other names: a document URL, alice's password, another account of the customer, another user…"""

    @property
    def nic(self) -> str:
        return self.tenant.nic

    @property
    def service(self) -> str:
        return self.tenant.service

    def path_values(self, template: str) -> dict[str, str]:
        """``{param: value}`` for every parameter of ``template`` (``/1.0`` excluded); KeyError names
        the first parameter this world has no value for."""
        found: dict[str, str] = {}
        for match in re.finditer(r"\{(\w+)\}", template):
            prefix = template[: match.end()]
            if prefix not in self.values:
                raise KeyError(f"no real value for {match.group(0)} in {prefix}: give one in tests/api_world.py")
            found[match.group(1)] = str(self.values[prefix])
        return found

    def fill(self, template: str) -> str:
        values = self.path_values(template)
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def _wait_ids(key: Key, path: str, what: str, timeout: float = 20) -> list[Any]:
    return wait_until(lambda: key.ok("GET", path) or None, timeout=timeout, what=what)


def _spare_keys(server: Server, nic: str) -> dict[str, int]:
    """An application to delete, and a key (of another application) to change and delete."""
    db = Database(server.database_url)
    try:
        with db.session() as session:
            doomed = admin.create_application(session, "to delete", "", nic)
            kept = admin.create_application(session, "kept", "", nic)
            cred = credentials.create_credential(session, kept.app_key, nic, ["GET /*"]).credential
            return {"doomed_app": doomed.application.id, "credential": cred.id, "credential_app": cred.application_id}
    finally:
        db.dispose()


def _number() -> str:
    return f"+3376{secrets.randbelow(10**7):07d}"


def build_party(server: Server, documents: CallbackSink, *, full: bool = True) -> Party:
    """A customer with two accounts; the first holds one of every object (``full``) or the few whose
    names another customer might reuse (a user ``alice``, a slot 1, a virtual number)."""
    tenant = server.tenant(credits=10_000)
    key = key_of(tenant)
    s = tenant.service
    number = _number()
    server.cli("number", "add", "--service", s, "--number", number)
    alice_password = f"alice{secrets.randbelow(1000):03d}"
    key.ok("POST", f"/sms/{s}/users", {"login": "alice", "password": alice_password})
    key.ok("POST", f"/sms/{s}/receivers", {"slotId": 1, "csvUrl": documents.url("/list.csv")})
    key.ok("POST", f"/sms/{s}/users/alice/receivers", {"slotId": 1, "csvUrl": documents.url("/list.csv")})
    base = {
        "/sms/{serviceName}": s,
        "/order/sms/{serviceName}": s,
        "/sms/{serviceName}/users/{login}": "alice",
        "/sms/{serviceName}/virtualNumbers/{number}": number,
        "/sms/virtualNumbers/{number}": number,
        "/sms/{serviceName}/receivers/{slotId}": 1,
        "/sms/{serviceName}/users/{login}/receivers/{slotId}": 1,
        "/sms/{serviceName}/reports/tags/{tag}": "authz",  # a name, not an object: anyone may use it
    }
    party = Party(tenant, key, base, {"csv_url": documents.url("/list.csv"), "alice_password": alice_password})
    if full:
        _fill(party, server, documents)
    return party


def _fill(party: Party, server: Server, documents: CallbackSink) -> None:
    key, s, v = party.key, party.service, party.values
    number = v["/sms/{serviceName}/virtualNumbers/{number}"]
    other = server.cli("account", "create", "--nic", party.nic, "--credits", "100")["serviceName"]
    key.ok("POST", f"/sms/{s}/users", {"login": "bob", "password": "bobPw123"})
    key.ok("POST", f"/sms/{other}/users", {"login": "carol", "password": "carolPw1"})
    key.ok("POST", f"/sms/{s}/senders", {"sender": "AuthzCo"})
    key.ok("PUT", f"/sms/{s}", {"callBack": documents.url("/dlr")})
    pending = {"differedPeriod": 600, "message": "later"}

    job = key.ok("POST", f"/sms/{s}/jobs", {**pending, "noStopClause": True, "receivers": [handset()]})["ids"][0]
    sent = key.ok("POST", f"/sms/{s}/jobs", {"message": "now", "noStopClause": True, "receivers": [handset(), handset()],
                                           "tag": "authz"})["ids"]
    stop = f"+336993{secrets.randbelow(10**5):05d}"
    key.ok("POST", f"/sms/{s}/jobs", {"message": "offer", "receivers": [stop]})
    vn = f"/sms/{s}/virtualNumbers/{number}"
    vn_job = key.ok("POST", f"{vn}/jobs", {**pending, "receivers": [handset()]})["ids"][0]
    vn_sent = key.ok("POST", f"{vn}/jobs", {"message": "from the number", "receivers": [handset()]})["ids"][0]
    alice = f"/sms/{s}/users/alice"
    alice_job = key.ok("POST", f"{alice}/jobs", {**pending, "noStopClause": True, "receivers": [handset()]})["ids"][0]
    replier = handset()
    alice_sent = key.ok("POST", f"{alice}/jobs", {"message": "answer me", "noStopClause": True, "senderForResponse": True,
                                                  "receivers": [replier]})["ids"][0]
    party.tenant.wait_final([*sent, vn_sent, alice_sent])
    mo = f"http://127.0.0.1:{server.port}/_simulator/mo"
    for text in ("one", "two"):
        assert httpx.post(mo, json={"sender": handset(), "receiver": number[1:], "text": text}).status_code == 200
    assert httpx.post(mo, json={"sender": replier, "replyToLast": True, "text": "yes"}).status_code == 200
    incoming = wait_until(lambda: sorted(ids) if len(ids := key.ok("GET", f"{vn}/incoming")) == 2 else None,
                          what="the two messages to the number")
    alice_incoming = _wait_ids(key, f"{alice}/incoming", "the reply to alice")[0]
    blacklisted = _wait_ids(key, f"/sms/{s}/blacklists", "the STOP")[0]
    deferred = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()
    batch = key.ok("POST", f"/sms/{s}/batches", {"message": "campaign", "to": [handset()], "noStop": True, "deferred": deferred,
                                                 "name": "b"})["id"]
    task = key.ok("POST", f"/sms/{s}/receivers/1/clean", {})["taskId"]
    callback = _wait_ids(key, f"/sms/{s}/callbacks", "a callback event")[0]
    document = key.ok("GET", f"/sms/{s}/document", query={"wayType": "outgoing"})
    order = key.ok("POST", f"/order/sms/{s}/credits", {"quantity": 100})["orderId"]
    spare = _spare_keys(server, party.nic)
    v.update({
        "/sms/{serviceName}/jobs/{id}": job,
        "/sms/{serviceName}/outgoing/{id}": sent[0],
        "/sms/{serviceName}/incoming/{id}": incoming[0],
        "/sms/{serviceName}/blacklists/{number}": blacklisted,
        "/sms/{serviceName}/senders/{sender}": "AuthzCo",
        "/sms/{serviceName}/task/{taskId}": task,
        "/sms/{serviceName}/batches/{id}": batch,
        "/sms/{serviceName}/reports/batches/{id}": batch,
        "/sms/{serviceName}/callbacks/{id}": callback,
        "/sms/{serviceName}/virtualNumbers/{number}/jobs/{id}": vn_job,
        "/sms/{serviceName}/virtualNumbers/{number}/outgoing/{id}": vn_sent,
        "/sms/{serviceName}/virtualNumbers/{number}/incoming/{id}": incoming[1],
        "/sms/{serviceName}/users/{login}/jobs/{id}": alice_job,
        "/sms/{serviceName}/users/{login}/outgoing/{id}": alice_sent,
        "/sms/{serviceName}/users/{login}/incoming/{id}": alice_incoming,
        "/me/document/{id}": document,
        "/me/order/{orderId}": order,
        "/me/api/application/{applicationId}": spare["doomed_app"],
        "/me/api/credential/{credentialId}": spare["credential"],
    })
    party.spare.update({"other_service": other, "outgoing_second": sent[1], "user_of_other_account": "carol",
                        "second_user": "bob", "credential_app": spare["credential_app"]})


@dataclass
class World:
    """The victim (one of everything) and another customer (``intruder``) with the same user name,
    slot id and a virtual number of its own."""

    server: Server
    documents: CallbackSink
    owner: Party
    intruder: Party


def build_world(server: Server, documents: CallbackSink) -> World:
    """The world on ``server``; ``documents`` serves its receivers document and hears its callbacks."""
    documents.body = CSV
    owner = build_party(server, documents)
    intruder = build_party(server, documents, full=False)
    return World(server, documents, owner, intruder)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(METHOD, path, operation)`` of every operation of an OpenAPI document."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method.upper() in ALL_METHODS:
                yield method.upper(), path, operation
