"""Generated inputs (schemathesis, fast profile): a few valid and invalid cases for every
operation of the OpenAPI document, signed with a real key, naming real objects (and a few
generated ids), sent to a real server; none gets a 5xx, every answer is what the document
describes (2xx: the operation's response model; 4xx: OVH's error shape), and every operation
is reached (served at least once). Deterministic (derandomized); the long profile is
``bench/fuzz_api.py --cases N``. Then, in the main request bodies, the text schemathesis never
generates (lone surrogates, NUL)."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import given, settings, strategies as st

from generated_inputs import OvhSigning, explore, summary
from helpers import Server, Tenant

EXAMPLES = 3
"""Per operation and generation mode, naming real objects (and one more with generated ids)."""

NEVER_SERVED = {
    "GET /1.0/sms/{serviceName}/users/{login}/outgoing/{id}/hlr": "always a 404: Textos does no HLR lookups",
}


def test_no_generated_input_gets_a_server_error_or_an_answer_the_document_does_not_describe(server: Server):
    tenant = server.tenant(credits=1_000_000)
    found = explore(server, tenant, examples=EXAMPLES)
    figures = summary(found)
    assert not found.findings, "\n".join(map(str, found.findings))
    assert figures["operations"] >= 100 and figures["cases"] > figures["operations"] * 2, figures
    unreached = sorted(name for name, tally in found.operations.items() if not tally.reached and name not in NEVER_SERVED)
    assert unreached == [], found.table()


@pytest.fixture(scope="module")
def texts_tenant(server: Server) -> Tenant:
    return server.tenant(credits=1_000)


ANY_TEXT = st.tuples(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=20), st.sampled_from(["\ud800", "\udfff", "\ud83d", "\x00"]),
    st.text(max_size=20),
).map("".join)
"""Text holding what schemathesis never generates (it keeps to what UTF-8 encodes): a lone surrogate,
which a JSON ``\\ud800`` escape still carries, or NUL."""

TEXT_FIELDS = [
    ("POST", "/sms/{s}/jobs", {"message": "hi", "receivers": ["+33612345678"], "noStopClause": True, "differedPeriod": 600},
     ["message", "receivers.0", "tag", "sender"]),
    ("PUT", "/sms/{s}", {}, ["description", "callBack", "smsResponse.text", "smsResponse.cgiUrl", "templates.smsBody"]),
    ("POST", "/sms/{s}/senders", {"sender": "x"}, ["sender", "description", "reason"]),
    ("POST", "/sms/{s}/users", {"login": "x", "password": "abcd1234"}, ["login", "password"]),
    ("POST", "/sms/{s}/batches", {"message": "hi", "to": ["+33612345678"], "deferred": "2099-01-01T00:00:00Z"},
     ["message", "to.0", "name", "from", "deferred"]),
    ("POST", "/sms/{s}/receivers", {"slotId": 9, "csvUrl": "http://127.0.0.1:9/x.csv"}, ["csvUrl", "description"]),
    ("POST", "/sms/estimate", {"message": "hi", "noStopClause": True, "senderType": "alpha"}, ["message"]),
]


def _with(body: dict, field: str, value: str) -> dict:
    """``body`` with ``value`` at ``field`` (``a.b``, ``a.0``)."""
    top, _, rest = field.partition(".")
    if not rest:
        return {**body, top: value}
    inner = body.get(top)
    if rest.isdigit():
        return {**body, top: [value, *(inner or [])[1:]]}
    return {**body, top: _with(inner or {}, rest, value)}


@pytest.mark.parametrize(("method", "path", "body", "fields"), TEXT_FIELDS, ids=[f"{m} {p}" for m, p, _, _ in TEXT_FIELDS])
def test_any_text_in_a_body_field_is_served_or_refused_in_ovh_shape(server: Server, texts_tenant: Tenant, method, path, body, fields):
    tenant = texts_tenant
    session = requests.Session()
    session.auth = OvhSigning(tenant.app_key, tenant.app_secret, tenant.consumer_key)
    url = f"http://127.0.0.1:{server.port}/1.0{path.format(s=tenant.service)}"

    @settings(max_examples=15, deadline=None, database=None, derandomize=True)
    @given(field=st.sampled_from(fields), value=ANY_TEXT)
    def check(field: str, value: str) -> None:
        answer = session.request(method, url, data=json.dumps(_with(body, field, value)), headers={"Content-Type": "application/json"}, timeout=30)
        assert answer.status_code < 500, (field, value, answer.text)
        if answer.status_code >= 400:
            refusal = answer.json()
            assert isinstance(refusal["class"], str) and refusal["message"], refusal

    try:
        check()
    finally:
        session.close()
