"""The simulator's HTTP hook: loopback callers only, counters, and refusals in the shape its
composition root installs (the API's OVH shape for ``textos smsc --http-port``)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from signed_calls import against
from textos.api.errors import install
from textos.simulator.http import hook_app
from textos.simulator.smsc import SmscSimulator, SubmitRecord


def test_hook_answers_loopback_callers_with_the_counters():
    sim = SmscSimulator("127.0.0.1", 0, {"textos": "textos"})

    async def scenario(client: httpx.AsyncClient) -> None:
        stats = (await client.get("/_simulator/stats")).json()
        assert stats == {"port": 0, "submits": 0, "throttled": 0, "rejected": 0, "receiptsSent": 0,
                         "receiptsAcked": 0, "moSent": 0, "binds": 0}
        bad = await client.post("/_simulator/mo", json={"sender": "+33612345678", "receiver": "36111", "text": "x", "concat": "udh7"})
        assert bad.status_code == 400 and bad.json() == {"class": "Client::BadRequest", "message": "concat: udh8, udh16 or sar"}
        missing = await client.post("/_simulator/mo", json={"sender": "x", "text": "x"})
        assert missing.status_code == 400 and missing.json()["message"] == "receiver: required (or replyToLast)"
        nothing_yet = await client.post("/_simulator/mo", json={"sender": "+33612345678", "text": "x", "replyToLast": True})
        assert nothing_yet.status_code == 404 and nothing_yet.json()["message"] == "sender: +33612345678 has received no message"
        sim.last_from["33612345678"] = ("36042", "+33612345678")
        answered = await client.post("/_simulator/mo", json={"sender": "+33612345678", "text": "x", "replyToLast": True})
        assert answered.json() == {"parts": 1, "receiver": "36042"}
        both = await client.post("/_simulator/mo", json={"sender": "+33612345678", "receiver": "1", "text": "x", "replyToLast": True})
        assert both.status_code == 400 and both.json()["message"].startswith("receiver: not with replyToLast")
        for field, address in [("sender", "+3361234€"), ("receiver", "3611１"), ("sender", "36\x001"), ("receiver", "3" * 21)]:
            body = {"sender": "+33612345678", "receiver": "36111", "text": "STOP", field: address}
            refused = await client.post("/_simulator/mo", json=body)
            assert refused.status_code == 400 and refused.json()["message"].startswith(f"Invalid value for {field}: "), refused.text

    against(hook_app(sim, install_errors=install), scenario)


def test_hook_serves_the_last_submits_with_their_arrival_times():
    sim = SmscSimulator("127.0.0.1", 0, record_last=3)
    for i in range(5):
        sim.records.append(SubmitRecord(f"{i:x}", "textos", "Textos", f"3361000000{i}", 0, 0, 1, 0, "", b"x", received_at=100.0 + i))
    sim.submits = 5

    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.get("/_simulator/submits", params={"limit": 2})).json() == {
            "total": 5, "submits": [{"destination": "33610000003", "receivedAt": 103.0}, {"destination": "33610000004", "receivedAt": 104.0}]}
        everything = (await client.get("/_simulator/submits", params={"limit": 100})).json()["submits"]
        assert [s["destination"] for s in everything] == ["33610000002", "33610000003", "33610000004"]  # bounded by record_last
        assert (await client.get("/_simulator/submits", params={"limit": 0})).json()["submits"] == []

    against(hook_app(sim, install_errors=install), scenario)


def test_hook_refuses_other_callers():
    async def scenario(client: httpx.AsyncClient) -> None:
        answer = await client.get("/_simulator/stats")
        assert answer.status_code == 403 and answer.json()["message"] == "the simulator hook answers loopback callers only"

    against(hook_app(SmscSimulator("127.0.0.1", 0), install_errors=install), scenario, client=("192.0.2.1", 40000))


def test_the_error_handlers_are_the_callers():
    installed: list[FastAPI] = []
    app = hook_app(SmscSimulator("127.0.0.1", 0), install_errors=installed.append)
    assert installed == [app]
