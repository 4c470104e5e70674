"""Two-way SMS end to end, on the shared server: a message sent with senderForResponse goes out
from a short number; the handset answers it (``textos mo --reply-to-last``); the reply is in
``GET /incoming`` with the message's tag, charged, answered by text or told to ``cgiUrl``."""

from __future__ import annotations

import importlib.util
import json
import secrets

import ovh
import pytest
from sqlalchemy import create_engine, text

from callback_sink import CallbackSink
from helpers import Server, Tenant, wait_until
from textos.cli.main import app as cli_app
from textos.storage.db import normalize_url


def _handset() -> str:
    """A random French mobile number that is valid (``+3361…``: not every ``+336…`` is)."""
    return f"+3361{secrets.randbelow(10**7):07d}"


def _reply_to_last(server: Server, handset: str, text: str) -> str:
    """``textos mo --reply-to-last``: the handset answers its last message; returns where it went."""
    result = server.runner.invoke(cli_app, ["mo", "--sender", handset, "--text", text, "--reply-to-last",
                                            "--url", f"http://127.0.0.1:{server.port}"])
    assert result.exit_code == 0, result.output
    return result.output.split(" to ", 1)[1].split(" at ", 1)[0]


def _incoming_ids(tenant: Tenant, **filters: str) -> list[int]:
    return tenant.client.get(f"/sms/{tenant.service}/incoming", **filters)


def _events(server: Server, incoming_id: int) -> list[tuple[str, str, dict]]:
    engine = create_engine(normalize_url(server.database_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT kind, url, params FROM callback_events WHERE order_key = :k"),
                                {"k": f"incoming:{incoming_id}"}).fetchall()
    finally:
        engine.dispose()
    return [(kind, url, params if isinstance(params, dict) else json.loads(params)) for kind, url, params in rows]


def test_a_reply_reaches_incoming_with_its_tag_and_is_charged_answered_and_deleted(server, tenant):
    c, svc, handset = tenant.client, tenant.service, _handset()
    sent = c.post(f"/sms/{svc}/jobs", message="Are you coming on Thursday?", receivers=[handset], senderForResponse=True,
                  noStopClause=True, tag="rsvp-42")
    (outgoing,) = tenant.wait_final(sent["ids"])
    short = outgoing["sender"]
    assert short.isdigit() and 36000 <= int(short) <= 36999 and short != "36111"

    assert _reply_to_last(server, handset, "Oui, à jeudi") == short
    (incoming_id,) = wait_until(lambda: _incoming_ids(tenant, tag="rsvp-42"), what="the reply in GET /incoming")
    assert c.get(f"/sms/{svc}/incoming/{incoming_id}") == {
        "creationDatetime": c.get(f"/sms/{svc}/incoming/{incoming_id}")["creationDatetime"], "credits": 1.0, "id": incoming_id,
        "message": "Oui, à jeudi", "sender": handset, "tag": "rsvp-42",
    }
    assert _incoming_ids(tenant, sender=handset) == [incoming_id] and _incoming_ids(tenant, tag="other") == []
    (listed,) = server.cli("incoming", "--service", svc)["incoming"]  # what the operator sees of the account
    assert (listed["id"], listed["receiver"], listed["messageId"]) == (incoming_id, short, sent["ids"][0])
    assert tenant.credits() == 98.0  # the message, then the reply

    # an automatic text answer goes back from the short number, charged like any message
    c.put(f"/sms/{svc}", smsResponse={"responseType": "text", "text": "Merci, à jeudi !"})
    _reply_to_last(server, handset, "Je viens avec un ami")
    wait_until(lambda: len(_incoming_ids(tenant)) == 2, what="the second reply")
    answers = wait_until(lambda: c.get(f"/sms/{svc}/outgoing", sender=short, receiver=handset)[1:], what="the automatic answer")
    assert c.get(f"/sms/{svc}/outgoing/{answers[0]}")["message"] == "Merci, à jeudi !"
    assert tenant.credits() == 96.0  # + the reply and the answer

    # cgi: the reply's fields, for the callbacks outbox (delivered by the callbacks worker)
    with CallbackSink() as sink:
        c.put(f"/sms/{svc}", smsResponse={"responseType": "cgi", "cgiUrl": sink.url("/replies")})
        _reply_to_last(server, handset, "STOP? non, juste une question")
        third = wait_until(lambda: _incoming_ids(tenant)[2:], what="the third reply")[0]
        ((kind, url, params),) = _events(server, third)
        assert (kind, url) == ("reply", sink.url("/replies"))
        assert {k: params[k] for k in ("id", "tag", "senderid", "shortcode", "message", "sender")} == {
            "id": str(third), "tag": "rsvp-42", "senderid": handset, "shortcode": short,
            "message": "STOP? non, juste une question", "sender": handset,
        }
        if importlib.util.find_spec("textos.delivery.callbacks") is not None:  # the worker, once merged
            (request,) = sink.wait_for(1, path="/replies")
            assert request.query["id"] == str(third) and request.query["tag"] == "rsvp-42"

    c.delete(f"/sms/{svc}/incoming/{incoming_id}")
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        c.get(f"/sms/{svc}/incoming/{incoming_id}")
    assert incoming_id not in _incoming_ids(tenant)


def test_a_reply_to_a_message_sent_without_sender_for_response_is_kept_for_the_operator_only(server, tenant):
    c, svc, handset = tenant.client, tenant.service, _handset()
    sent = c.post(f"/sms/{svc}/jobs", message="Your code is 1234", receivers=[handset], noStopClause=True, tag="otp")
    tenant.wait_final(sent["ids"])
    assert _reply_to_last(server, handset, "merci") == "Textos"

    def unattributed() -> list[dict]:
        found = server.cli("incoming", "--unattributed")["incoming"]
        return [m for m in found if m["sender"] == handset]

    (kept,) = wait_until(unattributed, what="the reply among unattributed messages")
    assert (kept["receiver"], kept["message"], kept["tag"], kept["credits"]) == ("Textos", "merci", "", 0)
    assert _incoming_ids(tenant) == [] and tenant.credits() == 99.0
    refused = c.post(f"/sms/{svc}/jobs", message="Reply!", receivers=[handset, "+447700900123"], senderForResponse=True)
    assert refused["invalidReceivers"] == ["+447700900123"]  # replies only from France
    with pytest.raises(ovh.exceptions.BadParametersError, match="replies are possible only towards France"):
        c.post(f"/sms/{svc}/jobs", message="Reply!", receivers=["+447700900123"], senderForResponse=True)
