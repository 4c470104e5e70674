"""Charged exactly as sent: a carrier's concatenation decides the parts, at acceptance and at submission.

With 16-bit concatenation references a part holds 152 septets (66 UCS-2 units) instead of
153 (67): a 306-septet text is 3 parts there, and must be charged 3, not 2.
"""

from __future__ import annotations

import pytest

from helpers import start_server, stop_server
from helpers import ThreadedSmsc


@pytest.mark.parametrize(
    ("concat", "gsm_parts", "ucs2_parts"),
    [("udh8", 2, 2), ("udh16", 3, 3), ("sar", 2, 2)],
)
def test_a_long_message_is_charged_for_the_parts_its_carrier_receives(make_database, tmp_path, concat, gsm_parts, ucs2_parts):
    smsc = ThreadedSmsc(receipt_delay=0.01)
    (tmp_path / "textos.toml").write_text(
        f'[carriers.only]\nurl = "smpp://a:a@127.0.0.1:{smsc.sim.port}?window=8&concat={concat}"\n'
    )
    server = start_server(make_database("sqlite"), tmp_path, "sqlite", extra_env={"TEXTOS_CONFIG": str(tmp_path / "textos.toml")})
    try:
        tenant = server.tenant()
        gsm = tenant.client.post(f"/sms/{tenant.service}/jobs", message="a" * 306, noStopClause=True, receivers=["+33612345601"])
        ucs2 = tenant.client.post(f"/sms/{tenant.service}/jobs", message="ж" * 134, noStopClause=True, receivers=["+33612345602"])
        assert gsm["totalCreditsRemoved"] == gsm_parts
        assert ucs2["totalCreditsRemoved"] == ucs2_parts
        outgoing = tenant.wait_final(gsm["ids"] + ucs2["ids"])
        assert [o["ptt"] for o in outgoing] == [4, 4]
        assert [o["credits"] for o in outgoing] == [gsm_parts, ucs2_parts]
        sent = {}
        for record in smsc.sim.records:
            sent[record.destination_addr] = sent.get(record.destination_addr, 0) + 1
        assert sent == {"33612345601": gsm_parts, "33612345602": ucs2_parts}
        assert tenant.client.get(f"/sms/{tenant.service}")["creditsLeft"] == 100 - gsm_parts - ucs2_parts
    finally:
        stop_server(server)
        smsc.close()
