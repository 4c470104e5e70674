"""Generated inputs (schemathesis, fast profile): a few valid and invalid cases for every
operation of the OpenAPI document, signed with a real key, sent to a real server; none
gets a 5xx, every refusal is in OVH's shape. Deterministic (derandomized); the long
profile is ``bench/fuzz_api.py --cases N``."""

from __future__ import annotations

from generated_inputs import explore
from helpers import Server

EXAMPLES = 4
"""Per operation and generation mode: about 400 requests."""


def test_no_generated_input_gets_a_server_error(server: Server):
    tenant = server.tenant(credits=1_000_000)
    found = explore(server, tenant, examples=EXAMPLES)
    assert found.cases > 51 * 2, found.cases  # every operation, valid and invalid data
    assert not found.findings, "\n".join(map(str, found.findings))
