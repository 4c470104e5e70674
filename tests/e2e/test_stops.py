"""STOP end to end, on the shared server: a handset scripted to answer STOP (``+336993…``, the
simulator's ``stop`` outcome) answers a commercial SMS to the clause's number 36111; the number
is blacklisted, a ``stop`` event waits in the outbox for the account's stopCallBack; the next
commercial SMS to it is kept ``blacklisted`` (not sent, not charged) while a non-commercial one
goes; the blacklists API lists, shows and removes it; batch statistics count it as stoplisted;
and a STOP injected through the simulator hook does the same."""

from __future__ import annotations

import secrets

import httpx
import ovh
import pytest
from sqlalchemy import select

from callback_sink import CallbackSink
from helpers import Server, Tenant, wait_until
from textos.storage.db import Database
from textos.storage.models import Account, CallbackEvent


def _stopping_number() -> str:
    """A number the simulator's handset answers STOP from (``+336993`` prefix), unique to the test."""
    return f"+336993{secrets.randbelow(10**5):05d}"


def _blacklisted(tenant: Tenant, number: str) -> None:
    wait_until(lambda: number in tenant.client.get(f"/sms/{tenant.service}/blacklists"), timeout=20, what=f"{number} blacklisted")


def _stop_events(server: Server, account_service: str) -> list[CallbackEvent]:
    db = Database(server.database_url)
    try:
        with db.read() as s:
            account_id = s.scalar(select(Account.id).where(Account.service_name == account_service))
            return list(s.scalars(select(CallbackEvent).where(CallbackEvent.account_id == account_id, CallbackEvent.kind == "stop")))
    finally:
        db.dispose()


def test_a_handset_answering_stop_is_blacklisted_and_the_next_commercial_sms_is_neither_sent_nor_charged(server, tenant):
    number = _stopping_number()
    client, s = tenant.client, tenant.service
    with CallbackSink() as sink:
        client.put(f"/sms/{s}", stopCallBack=sink.url("/stop"))
        first = client.post(f"/sms/{s}/jobs", receivers=[number], message="Soldes -50%", tag="winter")
        assert tenant.wait_final(first["ids"])[0]["deliveryReceipt"] == 1
        _blacklisted(tenant, number)

        (event,) = wait_until(lambda: _stop_events(server, s) or None, what="the stop event")
        assert event.url == sink.url("/stop") and event.order_key.startswith("incoming:")
        assert (event.params["number"], event.params["tag"], event.params["smsOutgoingID"]) == (number, "winter", str(first["ids"][0]))
        assert event.params["shortcode"] == "36111" and event.params["message"] == "STOP"

        view = client.get(f"/sms/{s}/blacklists/{number}")
        assert view["number"] == number and view["smsOutgoingID"] == first["ids"][0] and view["batchID"] is None
        assert client.get(f"/sms/{s}/blacklists", smsOutgoingID=first["ids"][0]) == [number]
        assert client.get(f"/sms/{s}/blacklists", smsOutgoingID=first["ids"][0] + 10**6) == []

        left = tenant.credits()
        refused = client.post(f"/sms/{s}/jobs", receivers=[number], message="Encore des soldes", tag="winter")
        assert refused["totalCreditsRemoved"] == 0 and refused["validReceivers"] == [number]
        outgoing = client.get(f"/sms/{s}/outgoing/{refused['ids'][0]}")
        assert (outgoing["ptt"], outgoing["deliveryReceipt"], outgoing["credits"], outgoing["sentAt"]) == (23, 16, 0, None)
        assert refused["ids"][0] in client.get(f"/sms/{s}/outgoing", ptt=23)
        assert tenant.credits() == left

        otp = client.post(f"/sms/{s}/jobs", receivers=[number], message="Your code: 1234", noStopClause=True)
        assert otp["totalCreditsRemoved"] == 1
        assert tenant.wait_final(otp["ids"])[0]["deliveryReceipt"] == 1  # non-commercial: sent and delivered
        assert tenant.credits() == left - 1
        submitted = httpx.get(f"http://127.0.0.1:{server.port}/_simulator/submits").json()["submits"]
        assert sum(1 for r in submitted if r["destination"] == number.removeprefix("+")) == 2  # the first one and the OTP

        client.delete(f"/sms/{s}/blacklists/{number}")
        with pytest.raises(ovh.exceptions.ResourceNotFoundError):
            client.get(f"/sms/{s}/blacklists/{number}")
        assert number not in client.get(f"/sms/{s}/blacklists")


def test_a_stop_injected_to_the_clause_number_blacklists_and_batches_count_stoplisted(server, tenant):
    client, s = tenant.client, tenant.service
    number, other = f"+336120{secrets.randbelow(10**5):05d}", f"+336121{secrets.randbelow(10**5):05d}"
    sent = client.post(f"/sms/{s}/jobs", receivers=[number], message="Nouveautés", tag="spring")
    tenant.wait_final(sent["ids"])
    injected = httpx.post(f"http://127.0.0.1:{server.port}/_simulator/mo", json={"sender": number, "receiver": "36111", "text": "Arrêt"})
    assert injected.status_code == 200
    _blacklisted(tenant, number)

    batch = client.post(f"/sms/{s}/batches", to=[number, other], message="Offre de printemps", name="b", tag="spring")
    wait_until(lambda: client.get(f"/sms/{s}/batches/{batch['id']}")["status"] in ("INSERTED", "COMPLETED"), what="batch inserted")
    stats = wait_until(lambda: (st := client.get(f"/sms/{s}/batches/{batch['id']}/statistics"))["delivered"] == 1 and st, what="batch delivered")
    assert stats["stoplisted"] == 1 and stats["credits"] == 1 and stats["pending"] == 0
