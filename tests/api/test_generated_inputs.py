"""Generated inputs (schemathesis, fast profile): a few valid and invalid cases for every
operation of the OpenAPI document, signed with a real key, naming real objects (and a few
generated ids), sent to a real server; none gets a 5xx, every answer is what the document
describes (2xx: the operation's response model; 4xx: OVH's error shape), and every operation
is reached (served at least once). Deterministic (derandomized); the long profile is
``bench/fuzz_api.py --cases N``."""

from __future__ import annotations

from generated_inputs import explore, summary
from helpers import Server

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
