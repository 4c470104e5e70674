"""Virtual numbers on a real server with the official client: the operator assigns one, the
customer sends from it and reads what it sent and received; nobody else sees it."""

from __future__ import annotations

import secrets

import httpx
import ovh
import pytest

from helpers import wait_until
from textos.domain.numbers import parse_receiver


def _free_number() -> str:
    """A French mobile number no other test of the shared server has assigned."""
    number = f"+3376{secrets.randbelow(10**7):07d}"
    return parse_receiver(number).e164


def _inject(server, sender: str, receiver: str, body: str) -> None:
    answer = httpx.post(f"http://127.0.0.1:{server.port}/_simulator/mo", json={"sender": sender, "receiver": receiver, "text": body})
    assert answer.status_code == 200, answer.text


def test_send_from_a_virtual_number_and_receive_on_it(server, tenant):
    number = _free_number()
    assigned = server.cli("number", "add", "--service", tenant.service, "--number", number)
    assert assigned == {"serviceName": tenant.service, "countryCode": "fr", "number": number}
    c, base = tenant.client, f"/sms/{tenant.service}/virtualNumbers"
    assert number in c.get("/sms/virtualNumbers")
    assert c.get(f"/sms/virtualNumbers/{number}")["number"] == number
    assert c.get(base) == [number]
    assert c.get(f"{base}/{number}") == {"countryCode": "fr", "number": number}
    assert c.get(f"{base}/00{number[1:]}") == {"countryCode": "fr", "number": number}  # any way a number is written

    # sending from the number: no sender registered, no STOP mention; the same credits as any job
    deferred = c.post(f"{base}/{number}/jobs", message="see you at 3", receivers=["+33611223344"], differedPeriod=60)
    (pending,) = deferred["ids"]
    assert c.get(f"{base}/{number}/jobs") == [pending]
    job = c.get(f"{base}/{number}/jobs/{pending}")
    assert (job["receiver"], job["message"], "sender" not in job) == ("+33611223344", "see you at 3", True)
    c.delete(f"{base}/{number}/jobs/{pending}")
    assert c.get(f"{base}/{number}/jobs") == []
    report = c.post(f"{base}/{number}/jobs", message="your table is ready", receivers=["+33611223344"], tag="resto")
    assert (report["validReceivers"], report["totalCreditsRemoved"]) == (["+33611223344"], 1.0)
    (sent,) = tenant.wait_final(report["ids"])
    assert (sent["sender"], sent["message"], sent["deliveryReceipt"]) == (number, "your table is ready", 1)
    assert c.get(f"{base}/{number}/outgoing") == report["ids"]
    assert c.get(f"{base}/{number}/outgoing", tag="resto", receiver="0611223344") == report["ids"]
    assert c.get(f"{base}/{number}/outgoing", sender="Textos") == []
    assert c.get(f"{base}/{number}/outgoing/{report['ids'][0]}")["sender"] == number
    ordinary = c.post(f"/sms/{tenant.service}/jobs", message="not from the number", receivers=["+33611223344"], noStopClause=True)
    tenant.wait_final(ordinary["ids"])
    assert c.get(f"{base}/{number}/outgoing") == report["ids"]
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        c.get(f"{base}/{number}/outgoing/{ordinary['ids'][0]}")

    # a message to the number (the SMSC gives it without its +) is the account's incoming, with no tag
    _inject(server, "+33611223344", number[1:], "merci, on arrive")
    _inject(server, "+33611223344", "36111", "not for the number")
    (incoming_id,) = wait_until(lambda: c.get(f"{base}/{number}/incoming") or None, what="incoming on the number")
    seen = c.get(f"{base}/{number}/incoming/{incoming_id}")
    assert {k: seen[k] for k in ("sender", "message", "tag")} == {"sender": "+33611223344", "message": "merci, on arrive", "tag": ""}
    assert c.get(f"{base}/{number}/incoming", sender="0611223344") == [incoming_id]
    assert c.get(f"{base}/{number}/incoming", **{"creationDatetime.from": seen["creationDatetime"]}) == [incoming_id]
    assert c.get(f"{base}/{number}/incoming", tag="resto") == []
    assert incoming_id in c.get(f"/sms/{tenant.service}/incoming")  # the account's own list has it too
    assert c.get(f"/sms/{tenant.service}/incoming/{incoming_id}")["message"] == "merci, on arrive"

    # a key that may list numbers but not read this one is not shown it
    narrow_key = server.cli("credential", "create", "--app", tenant.app_key, "--nic", tenant.nic, "--rule", "GET /sms/virtualNumbers")
    assert server.client(tenant.app_key, tenant.app_secret, narrow_key["consumerKey"]).get("/sms/virtualNumbers") == []

    # nobody else sees the number, nor sends from it
    other = server.tenant()
    assert number not in other.client.get("/sms/virtualNumbers")
    for path in (f"/sms/virtualNumbers/{number}", f"/sms/{other.service}/virtualNumbers/{number}",
                 f"/sms/{other.service}/virtualNumbers/{number}/incoming", f"{base}/{number}/incoming/{incoming_id}"):
        with pytest.raises(ovh.exceptions.ResourceNotFoundError):
            other.client.get(path)
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        other.client.post(f"/sms/{other.service}/virtualNumbers/{number}/jobs", message="x", receivers=["+33611223344"])

    c.delete(f"{base}/{number}/incoming/{incoming_id}")
    c.delete(f"{base}/{number}/outgoing/{report['ids'][0]}")
    assert (c.get(f"{base}/{number}/incoming"), c.get(f"{base}/{number}/outgoing")) == ([], [])
    server.cli("number", "remove", "--number", number)
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        c.get(f"{base}/{number}")
