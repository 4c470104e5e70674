"""Real objects for generated inputs: the jobs, outgoing and incoming SMS, blacklisted numbers,
senders, slots, tasks, batches, callback events, users, virtual numbers, orders, documents and
keys of one tenant, so that the path parameters of generated cases name objects that exist.

``Objects.path_parameters(path, method, count)`` gives sets of path parameters for an operation:
the tenant's shared objects for most operations; for an operation that destroys what it names
(``DELETE``, cancelling a batch) ``count`` objects made for it alone, so that no other operation
loses the objects it reads. Everything is made through the API (the tenant's ``ovh`` client), the
embedded simulator (incoming SMS and STOPs) and the admin commands (virtual numbers), as a
customer and an operator would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from callback_sink import CallbackSink
from helpers import Server, Tenant, wait_until
from textos.domain.clock import utcnow
from textos.services import admin, credentials
from textos.storage.db import Database

CSV = b"number;name\n+33612000001;Ana\n+33612000002;Bo\nnot-a-number;Cy\n+33612000001;Ana\n"
"""The receivers document slots are made from: two receivers, an invalid row and a duplicate."""
LOGIN = "fuzzer"
FAR = 60 * 24 * 300
"""``differedPeriod`` of jobs that must stay pending: 300 days."""

Params = dict[str, Any]


def mobile() -> str:
    """A random mainland French mobile (never a prefix the simulator scripts)."""
    return f"+3361{secrets.randbelow(10**7):07d}"


@dataclass
class Objects:
    server: Server
    tenant: Tenant
    sink: CallbackSink
    db: Database
    number: str = ""
    """The tenant's virtual number."""
    shared: dict[str, Params] = field(default_factory=dict)
    """The objects every non-destructive operation names, by kind."""
    next_slot: dict[str, int] = field(default_factory=lambda: {"": 1, LOGIN: 1})
    """The next free slot of the account (``""``) and of the user: each has nine."""

    @property
    def service(self) -> str:
        return self.tenant.service

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        client = self.tenant.client
        return {"GET": client.get, "POST": client.post, "PUT": client.put, "DELETE": client.delete}[method](path, **kwargs)

    # --- making objects -------------------------------------------------------------------------

    def setup(self) -> None:
        """A key of its own (generated cases may log theirs out), the account's callbacks pointing at
        the sink, and the shared objects (one of each kind)."""
        with self.db.session() as session:
            rules = [f"{method} /*" for method in ("GET", "POST", "PUT", "DELETE")]
            key = credentials.create_credential(session, self.tenant.app_key, self.tenant.nic, rules).consumer_key
        client = self.server.client(self.tenant.app_key, self.tenant.app_secret, key)
        self.tenant = dataclasses.replace(self.tenant, consumer_key=key, client=client)
        self.sink.body = CSV
        self.api("PUT", f"/sms/{self.service}", callBack=self.sink.url("/dlr"), stopCallBack=self.sink.url("/stop"))
        self.number = mobile()
        self.server.cli("number", "add", "--service", self.service, "--number", self.number)
        self.api("POST", f"/sms/{self.service}/users", login=LOGIN, password="fuzz1234")
        for kind in KINDS:
            self.shared[kind] = KINDS[kind](self, 1)[0]

    def _job(self, base: str, count: int, *, pending: bool, **extra: Any) -> list[int]:
        receivers = [mobile() for _ in range(count)]
        body: dict[str, Any] = {"message": "generated inputs", "receivers": receivers, **extra}
        if "/virtualNumbers/" not in base:  # a virtual number's job has no STOP clause to leave out
            body.setdefault("noStopClause", True)
        if pending:
            body["differedPeriod"] = FAR
        ids = self.api("POST", f"{base}/jobs", **body)["ids"]
        assert len(ids) == count, ids
        if not pending:
            self.tenant.wait_final(ids, timeout=60)
        return ids

    def _mo(self, sender: str, text: str, **where: Any) -> None:
        answer = httpx.post(f"http://127.0.0.1:{self.server.port}/_simulator/mo", json={"sender": sender, "text": text, **where}, timeout=30)
        assert answer.status_code == 200, answer.text

    def _new_ids(self, path: str, before: set[Any], count: int) -> list[Any]:
        def grown() -> list[Any] | None:
            now = [i for i in self.api("GET", path) if i not in before]
            return now if len(now) >= count else None

        return wait_until(grown, timeout=60, what=f"{count} new in {path}")[:count]

    def pending(self, count: int, base: str = "", **extra: Any) -> list[Params]:
        return [{"id": i} for i in self._job(base or f"/sms/{self.service}", count, pending=True, **extra)]

    def sent(self, count: int, base: str = "", **extra: Any) -> list[Params]:
        return [{"id": i} for i in self._job(base or f"/sms/{self.service}", count, pending=False, **extra)]

    def incoming(self, count: int) -> list[Params]:
        path = f"/sms/{self.service}/virtualNumbers/{self.number}/incoming"
        before = set(self.api("GET", path))
        for _ in range(count):
            self._mo(mobile(), "a reply", receiver=self.number.lstrip("+"))
        return [{"id": i} for i in self._new_ids(path, before, count)]

    def user_incoming(self, count: int) -> list[Params]:
        """Replies to the user's messages (each to a conversation's short number)."""
        path = f"/sms/{self.service}/users/{LOGIN}/incoming"
        before = set(self.api("GET", path))
        for _ in range(count):
            receiver = mobile()
            self._job(f"/sms/{self.service}/users/{LOGIN}", 1, pending=False, senderForResponse=True, receivers=[receiver])
            self._mo(receiver, "an answer", replyToLast=True)
        return [{"id": i} for i in self._new_ids(path, before, count)]

    def blacklisted(self, count: int) -> list[Params]:
        path = f"/sms/{self.service}/blacklists"
        before = set(self.api("GET", path))
        for _ in range(count):
            self._mo(mobile(), "STOP", receiver=self.number.lstrip("+"))
        return [{"number": n} for n in self._new_ids(path, before, count)]

    def senders(self, count: int) -> list[Params]:
        return [{"sender": self.api("POST", f"/sms/{self.service}/senders", sender=f"Gen{secrets.token_hex(4)}")} for _ in range(count)]

    def slots(self, count: int, login: str = "") -> list[Params]:
        """Slots of the account (or of the user ``login``) while free ones are left: nine each."""
        base = f"/sms/{self.service}" + (f"/users/{login}" if login else "")
        made = []
        for slot in range(self.next_slot[login], min(self.next_slot[login] + count, 10)):
            made.append({"slotId": self.api("POST", f"{base}/receivers", slotId=slot, csvUrl=self.sink.url("/receivers.csv"))["slotId"]})
        self.next_slot[login] += len(made)
        return made or [{"slotId": 9}]

    def tasks(self, count: int) -> list[Params]:
        slot = self.shared["slot"]["slotId"]
        return [{"taskId": self.api("POST", f"/sms/{self.service}/receivers/{slot}/clean", priceOnly=True)["taskId"]} for _ in range(count)]

    def batches(self, count: int, **extra: Any) -> list[Params]:
        """Batches of one SMS each: ended (their SMS delivered), or deferred (``extra``) and pending."""
        made = [self.api("POST", f"/sms/{self.service}/batches", message="generated inputs", to=[mobile()], name="gen", noStop=True,
                         **extra)["id"] for _ in range(count)]
        if not extra:
            wait_until(lambda: all(self.api("GET", f"/sms/{self.service}/batches/{b}")["status"] == "COMPLETED" for b in made),
                       timeout=60, what="batches completed")
        return [{"id": b} for b in made]

    def callbacks(self, count: int) -> list[Params]:
        ids = wait_until(lambda: self.api("GET", f"/sms/{self.service}/callbacks") or None, timeout=60, what="callback events")
        return [{"id": ids[i % len(ids)]} for i in range(count)]

    def users(self, count: int) -> list[Params]:
        made = []
        for _ in range(count):
            login = f"gen-{secrets.token_hex(4)}"
            self.api("POST", f"/sms/{self.service}/users", login=login, password="fuzz1234")
            made.append({"login": login})
        return made

    def orders(self, count: int) -> list[Params]:
        return [{"orderId": self.api("POST", f"/order/sms/{self.service}/credits", quantity=100)["orderId"]} for _ in range(count)]

    def documents(self, count: int) -> list[Params]:
        return [{"id": self.api("GET", f"/sms/{self.service}/document", wayType="outgoing")} for _ in range(count)]

    def applications(self, count: int) -> list[Params]:
        return [self._spare_key() for _ in range(count)]

    def _spare_key(self) -> Params:
        """An application and a key of the tenant's that cases may change and delete (never the
        key and application the cases are signed with)."""
        with self.db.session() as session:
            app_key = admin.create_application(session, "spare", "", self.tenant.nic).app_key
            cred = credentials.create_credential(session, app_key, self.tenant.nic, ["GET /*"]).credential
            return {"applicationId": cred.application_id, "credentialId": cred.id}

    def slot_request(self, login: str = "") -> Params:
        slot = min(self.next_slot[login], 9)
        self.next_slot[login] += 1
        return {"body": {"slotId": slot, "csvUrl": self.sink.url("/receivers.csv")}}

    def other_account(self) -> str:
        """Another account of the tenant's customer: credits may go there."""
        return self.server.cli("account", "create", "--nic", self.tenant.nic, "--credits", "0")["serviceName"]

    def valid_request(self, method: str, path: str) -> Params | None:
        """The query and body of a request ``method path`` serves (``None``: nothing to give, or
        the generated ones are served already), made when asked: a new sender, user, slot…"""
        make = VALID.get(f"{method.upper()} {path.removeprefix('/1.0')}")
        return None if make is None else make(self)

    # --- naming them ----------------------------------------------------------------------------

    def path_parameters(self, path: str, method: str, count: int) -> list[Params]:
        """Sets of path parameters naming real objects for ``method path`` (``/1.0/…``): fresh ones
        (``count``) for an operation that destroys what it names, else the shared ones."""
        relative = path.removeprefix("/1.0")
        named = {"serviceName": self.service, "login": LOGIN, "number": self.number}
        for pattern, kind in ROUTES:
            if re.fullmatch(pattern, relative):
                sets = KINDS[kind](self, count) if destroys(method, relative) else [self.shared[kind]]
                return [{k: v for k, v in {**named, **found}.items() if f"{{{k}}}" in path} for found in sets]
        return [{k: v for k, v in named.items() if f"{{{k}}}" in path}]


def destroys(method: str, path: str) -> bool:
    """The operation deletes (or cancels) the object its path names."""
    return method.upper() == "DELETE" or path.endswith("/cancel")


ACCOUNT = "/sms/{serviceName}"
USER = ACCOUNT + "/users/{login}"
NUMBER = ACCOUNT + "/virtualNumbers/{number}"

KINDS: dict[str, Callable[[Objects, int], list[Params]]] = {
    "job": lambda o, n: o.pending(n),
    "outgoing": lambda o, n: o.sent(n),
    "incoming": lambda o, n: o.incoming(n),
    "blacklist": lambda o, n: o.blacklisted(n),
    "sender": lambda o, n: o.senders(n),
    "slot": lambda o, n: o.slots(n),
    "task": lambda o, n: o.tasks(n),
    "batch": lambda o, n: o.batches(n),
    "deferred_batch": lambda o, n: o.batches(n, deferred=(utcnow() + dt.timedelta(days=300)).isoformat() + "Z"),
    "callback": lambda o, n: o.callbacks(n),
    "user": lambda o, n: o.users(n),
    "user_job": lambda o, n: o.pending(n, f"/sms/{o.service}/users/{LOGIN}"),
    "user_outgoing": lambda o, n: o.sent(n, f"/sms/{o.service}/users/{LOGIN}"),
    "user_incoming": lambda o, n: o.user_incoming(n),
    "user_slot": lambda o, n: o.slots(n, LOGIN),
    "number_job": lambda o, n: o.pending(n, f"/sms/{o.service}/virtualNumbers/{o.number}"),
    "number_outgoing": lambda o, n: o.sent(n, f"/sms/{o.service}/virtualNumbers/{o.number}"),
    "number_incoming": lambda o, n: o.incoming(n),
    "order": lambda o, n: o.orders(n),
    "document": lambda o, n: o.documents(n),
    "key": lambda o, n: o.applications(n),
}
"""How to make ``n`` objects of each kind (the shared one: ``n`` = 1, made first)."""

ROUTES: list[tuple[str, str]] = [
    (re.escape(USER) + r"/jobs/\{id\}", "user_job"),
    (re.escape(USER) + r"/outgoing/\{id\}(/hlr)?", "user_outgoing"),
    (re.escape(USER) + r"/incoming/\{id\}", "user_incoming"),
    (re.escape(USER) + r"/receivers/\{slotId\}(/.*)?", "user_slot"),
    (re.escape(USER), "user"),
    (re.escape(NUMBER) + r"/jobs/\{id\}", "number_job"),
    (re.escape(NUMBER) + r"/outgoing/\{id\}", "number_outgoing"),
    (re.escape(NUMBER) + r"/incoming/\{id\}", "number_incoming"),
    (re.escape(ACCOUNT) + r"/jobs/\{id\}", "job"),
    (re.escape(ACCOUNT) + r"/outgoing/\{id\}", "outgoing"),
    (re.escape(ACCOUNT) + r"/incoming/\{id\}", "incoming"),
    (re.escape(ACCOUNT) + r"/blacklists/\{number\}", "blacklist"),
    (re.escape(ACCOUNT) + r"/senders/\{sender\}", "sender"),
    (re.escape(ACCOUNT) + r"/receivers/\{slotId\}(/.*)?", "slot"),
    (re.escape(ACCOUNT) + r"/task/\{taskId\}", "task"),
    (re.escape(ACCOUNT) + r"/batches/\{id\}/cancel", "deferred_batch"),
    (re.escape(ACCOUNT) + r"/batches/\{id\}(/.*)?", "batch"),
    (re.escape(ACCOUNT) + r"/reports/batches/\{id\}", "batch"),
    (re.escape(ACCOUNT) + r"/callbacks/\{id\}(/.*)?", "callback"),
    (r"/me/order/\{orderId\}(/.*)?", "order"),
    (r"/me/document/\{id\}", "document"),
    (r"/me/api/(application/\{applicationId\}|credential/\{credentialId\})(/.*)?", "key"),
]
"""Which kind of object a path names, by its template (the first that matches)."""

JOB = {"message": "generated inputs", "noStopClause": True}
VALID: dict[str, Callable[[Objects], Params]] = {
    "POST /auth/credential": lambda o: {"body": {"accessRules": [{"method": "GET", "path": "/sms"}]}},
    "GET /sms/rates/destinations": lambda o: {"query": {"country": "fr"}},
    "GET /sms/rates/packs": lambda o: {"query": {"country": "fr"}},
    "GET /order/sms/new": lambda o: {"query": {"quantity": "100"}},
    "GET /order/sms/{serviceName}/credits": lambda o: {"query": {"quantity": "100"}},
    "POST /order/sms/{serviceName}/credits": lambda o: {"body": {"quantity": 100}},
    "POST /sms/{serviceName}/transferCredits": lambda o: {"body": {"smsAccountTarget": o.other_account(), "credits": 1}},
    "POST /sms/{serviceName}/jobs": lambda o: {"body": {**JOB, "receivers": [mobile()]}},
    "POST /sms/{serviceName}/users/{login}/jobs": lambda o: {"body": {**JOB, "receivers": [mobile()]}},
    "POST /sms/{serviceName}/virtualNumbers/{number}/jobs": lambda o: {"body": {"message": "generated inputs", "receivers": [mobile()]}},
    "POST /sms/{serviceName}/senders": lambda o: {"body": {"sender": f"Gen{secrets.token_hex(4)}"}},
    "POST /sms/{serviceName}/receivers": lambda o: o.slot_request(),
    "POST /sms/{serviceName}/users/{login}/receivers": lambda o: o.slot_request(LOGIN),
    "POST /sms/{serviceName}/batches": lambda o: {"body": {"message": "generated inputs", "to": [mobile()], "noStop": True}},
    "POST /sms/{serviceName}/users": lambda o: {"body": {"login": f"gen-{secrets.token_hex(4)}", "password": "fuzz1234"}},
    "POST /_simulator/mo": lambda o: {"body": {"sender": mobile(), "receiver": o.number.lstrip("+"), "text": "generated inputs"}},
}
"""Requests that operations needing more than generated data serve (by ``METHOD /path`` without ``/1.0``)."""
