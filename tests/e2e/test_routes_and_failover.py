"""Routing by destination prefix with failover, configured in textos.toml; the simulator MO hook."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, text

from helpers import start_server, stop_server, wait_until
from helpers import ThreadedSmsc
from textos.storage.db import normalize_url


def test_routes_by_prefix_and_fails_over_when_a_carrier_is_down(make_database, tmp_path):
    primary, backup, uk = ThreadedSmsc(receipt_delay=0.01), ThreadedSmsc(receipt_delay=0.01), ThreadedSmsc(receipt_delay=0.01)
    (tmp_path / "textos.toml").write_text(
        f"""
[carriers.primary]
url = "smpp://a:a@127.0.0.1:{primary.sim.port}?window=8"
[carriers.backup]
url = "smpp://b:b@127.0.0.1:{backup.sim.port}?window=8"
[carriers.uk]
url = "smpp://c:c@127.0.0.1:{uk.sim.port}?window=8"
ton_npi_alpha = [5, 9]

[[routes]]
prefix = "+33"
carriers = ["primary", "backup"]
[[routes]]
prefix = "+44"
carriers = ["uk"]
"""
    )
    database_url = make_database("sqlite")
    server = start_server(database_url, tmp_path, "sqlite", extra_env={"TEXTOS_CONFIG": str(tmp_path / "textos.toml")})
    try:
        tenant = server.tenant()
        first = tenant.client.post(f"/sms/{tenant.service}/jobs", message="fr", noStopClause=True, receivers=["+33612345601", "+33612345602"])
        gb = tenant.client.post(f"/sms/{tenant.service}/jobs", message="uk", noStopClause=True, receivers=["+447400123456"])
        tenant.wait_final(first["ids"] + gb["ids"])
        assert sorted(r.destination_addr for r in primary.sim.records) == ["33612345601", "33612345602"]
        assert [r.destination_addr for r in uk.sim.records] == ["447400123456"]
        assert [r.source_ton_npi for r in uk.sim.records] == [(5, 9)]  # the carrier's own TON/NPI rule
        assert {r.source_ton_npi for r in primary.sim.records} == {(5, 0)}
        assert list(backup.sim.records) == []

        primary.close()  # the primary carrier goes down: its link drops and cannot come back
        wait_until(lambda: tenant.client.get(f"/sms/{tenant.service}/outgoing/{first['ids'][0]}")["ptt"] == 4, what="settled")
        later = tenant.client.post(f"/sms/{tenant.service}/jobs", message="fr again", noStopClause=True, receivers=["+33612345603"])
        outgoing = tenant.wait_final(later["ids"])
        assert outgoing[0]["ptt"] == 4
        assert [r.destination_addr for r in backup.sim.records] == ["33612345603"]
    finally:
        stop_server(server)
        for smsc in (backup, uk):
            smsc.close()


def test_an_unknown_carrier_option_stops_the_server_with_its_name(make_database, tmp_path):
    (tmp_path / "textos.toml").write_text('[carriers.orange]\nurl = "smpp://a:secret@127.0.0.1:1"\nwindw = 8\n')
    with pytest.raises(AssertionError, match="server exited early") as exited:
        start_server(make_database("sqlite"), tmp_path, "sqlite", extra_env={"TEXTOS_CONFIG": str(tmp_path / "textos.toml")})
    assert "carriers.orange: windw=8: unknown option" in str(exited.value)


def test_simulator_hook_injects_an_incoming_sms(make_database, tmp_path):
    database_url = make_database("sqlite")
    server = start_server(database_url, tmp_path, "sqlite")
    try:
        answer = httpx.post(f"http://127.0.0.1:{server.port}/_simulator/mo", json={"sender": "+33612345678", "receiver": "36111", "text": "STOP"})
        assert answer.status_code == 200 and answer.json() == {"parts": 1, "receiver": "36111"}
        engine = create_engine(normalize_url(database_url))

        def stored() -> list:
            with engine.connect() as conn:
                return conn.execute(text("SELECT sender, receiver, text FROM incoming")).all()

        rows = wait_until(stored, what="incoming stored")
        assert [tuple(r) for r in rows] == [("+33612345678", "36111", "STOP")]
        long_reply = "Oui, je confirme le rendez-vous de jeudi 😀 " * 6
        answer = httpx.post(f"http://127.0.0.1:{server.port}/_simulator/mo", json={"sender": "+33612345678", "receiver": "36111", "text": long_reply})
        assert answer.status_code == 200 and answer.json()["parts"] > 1
        rows = wait_until(lambda: len(stored()) == 2 and stored(), what="long incoming reassembled")
        assert tuple(rows[1]) == ("+33612345678", "36111", long_reply)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM incoming_parts")).scalar() == 0
        engine.dispose()
        stats = httpx.get(f"http://127.0.0.1:{server.port}/_simulator/stats").json()
        assert stats["moSent"] == 1 + answer.json()["parts"]
        bad = httpx.post(f"http://127.0.0.1:{server.port}/_simulator/mo", json={"sender": "x", "text": "hi"})
        assert bad.status_code == 400 and "receiver" in bad.json()["message"]
    finally:
        stop_server(server)
