"""Every URL a client hands the server, refused at acceptance when it points at the server's own
machine or network, however it is written (``tests/outbound_attacks.py``): a real ``textos serve``
that does not allow private addresses (the deployment default; the suite's other servers allow them
for their loopback receivers), and listeners on 127.0.0.1 and ::1 that must hear nothing.

Where each URL is checked again when it is called (every redirect hop, every callback attempt, DNS
pinned) is tested beside the code: ``tests/receivers/test_fetch.py``, ``tests/delivery/test_callbacks.py``.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Callable, Iterator

import httpx
import pytest

from api_world import Key, key_of
from helpers import BACKENDS, Server, start_server, stop_server
from outbound_attacks import ATTACKS

Body = Callable[[str], dict[str, Any]]

URL_FIELDS: list[tuple[str, str, str, Body]] = [
    ("receiversDocumentUrl", "POST", "/sms/{serviceName}/jobs", lambda url: {"message": "hi", "noStopClause": True, "receiversDocumentUrl": url}),
    ("receiversDocumentUrl", "POST", "/sms/{serviceName}/virtualNumbers/{number}/jobs", lambda url: {"message": "hi", "receiversDocumentUrl": url}),
    ("receiversDocumentUrl", "POST", "/sms/{serviceName}/users/{login}/jobs", lambda url: {"message": "hi", "noStopClause": True, "receiversDocumentUrl": url}),
    ("csvUrl", "POST", "/sms/{serviceName}/receivers", lambda url: {"slotId": 1, "csvUrl": url}),
    ("csvUrl", "POST", "/sms/{serviceName}/users/{login}/receivers", lambda url: {"slotId": 1, "csvUrl": url}),
    ("callBack", "PUT", "/sms/{serviceName}", lambda url: {"callBack": url}),
    ("stopCallBack", "PUT", "/sms/{serviceName}", lambda url: {"stopCallBack": url}),
    ("smsResponse.cgiUrl", "PUT", "/sms/{serviceName}", lambda url: {"smsResponse": {"responseType": "cgi", "cgiUrl": url}}),
    ("callBack", "PUT", "/sms/{serviceName}/users/{login}", lambda url: {"callBack": url}),
    ("stopCallBack", "PUT", "/sms/{serviceName}/users/{login}", lambda url: {"stopCallBack": url}),
]
"""Every URL field of the API the server will call: where it is given, and a body around it."""

NOT_CALLED = {("redirection", "POST", "/auth/credential"): "where the customer's browser goes after validating a key (OVH's)"}
"""URL fields the server never calls, and why."""
URL_NAME = re.compile(r"(url|callback)$", re.IGNORECASE)


def _url_fields(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    """``(field, METHOD, path)`` of every request-body property named like a URL (``…Url``,
    ``…CallBack``), nested ones dotted (``smsResponse.cgiUrl``), and of ``redirection``."""
    schemas = document["components"]["schemas"]

    def walk(schema: dict[str, Any], prefix: str) -> Iterator[str]:
        for option in [schema, *schema.get("anyOf", []), *schema.get("allOf", [])]:
            if "$ref" in option:
                yield from walk(schemas[option["$ref"].rsplit("/", 1)[1]], prefix)
            for name, sub in option.get("properties", {}).items():
                if URL_NAME.search(name) or name == "redirection":
                    yield prefix + name
                yield from walk(sub, f"{prefix}{name}.")

    found = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is not None:
                found |= {(name, method.upper(), path.removeprefix("/1.0")) for name in walk(body, "")}
    return found


@pytest.fixture(scope="module")
def guarded(make_database, tmp_path_factory) -> Iterator[Server]:
    """A server as deployed: private addresses refused (``fetch_allow_private`` off)."""
    backend = BACKENDS[0]
    srv = start_server(make_database(backend), tmp_path_factory.mktemp("guarded"), backend, extra_env={"TEXTOS_FETCH_ALLOW_PRIVATE": "0"})
    yield srv
    stop_server(srv)


def test_every_url_field_of_the_api_is_in_the_table(guarded: Server):
    document = httpx.get(f"http://127.0.0.1:{guarded.port}/1.0/openapi.json", timeout=30).json()
    listed = {(field, method, template) for field, method, template, _ in URL_FIELDS}
    assert _url_fields(document) == listed | set(NOT_CALLED)


def test_every_url_field_refuses_every_attack_form_naming_the_field(guarded: Server, loopback):
    tenant = guarded.tenant()
    key: Key = key_of(tenant)
    number = f"+3376{secrets.randbelow(10**7):07d}"
    guarded.cli("number", "add", "--service", tenant.service, "--number", number)
    key.ok("POST", f"/sms/{tenant.service}/users", {"login": "alice", "password": "alicePw1"})
    findings = []
    for field, method, template, body in URL_FIELDS:
        path = template.format(serviceName=tenant.service, number=number, login="alice")
        for attack in ATTACKS:
            answer = key.call(method, path, body(attack.at(loopback[0].port)))
            data = answer.json()
            if not (answer.status_code == 400 and data.get("class") == "Client::BadRequest"
                    and data["message"].startswith(f"{field}: ") and re.search(attack.refusal, data["message"])):
                findings.append(f"{field} ({method} {template}), {attack.form}: {answer.status_code} {answer.text[:200]}")
    assert not findings, "\n".join(findings)
    assert loopback[0].received() == [] and loopback[1].received() == []
    s = tenant.service
    account = key.ok("GET", f"/sms/{s}")
    assert (account["callBack"], account["stopCallBack"], account["smsResponse"]["cgiUrl"]) == (None, None, None)
    user = key.ok("GET", f"/sms/{s}/users/alice")
    assert (user["callBack"], user["stopCallBack"]) == (None, None)
    assert key.ok("GET", f"/sms/{s}/receivers") == [] == key.ok("GET", f"/sms/{s}/users/alice/receivers")
    assert key.ok("GET", f"/sms/{s}/outgoing") == [] == key.ok("GET", f"/sms/{s}/jobs")
