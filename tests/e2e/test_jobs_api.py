"""Sending: bad bodies, credits, encoding agreement, deferral, cancellation, failures."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import ovh
import pytest

from helpers import wait_until

GSM_LONG = "a" * 300  # 2 parts
UCS2 = "Привет, как дела? 😀"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"priority": "urgent"}, "priority"),
        ({"reciever": ["+33612345678"]}, "reciever"),
        ({"validityPeriod": "abc"}, "validityPeriod"),
        ({"validityPeriod": 0}, "validityPeriod"),
        ({"differedPeriod": -5}, "differedPeriod"),
        ({"message": ""}, "message"),
        ({"class": "loud"}, "class"),
        ({"coding": "16bit"}, "coding"),
        ({"charset": "latin1"}, "charset"),
        ({"receivers": "+33612345678"}, "receivers"),
        ({"noStopClause": "perhaps"}, "noStopClause"),
        ({"receivers": []}, "receivers"),
        ({"receivers": ["garbage", "123"]}, "receivers"),
        ({"receivers": ["+12025550123"]}, "receivers"),
        ({"sender": "NotMine"}, "sender"),
        ({"sender": "WayTooLongSender"}, "sender"),
        ({"sender": "Shop", "senderForResponse": True}, "sender"),
        ({"receiversDocumentUrl": "http://127.0.0.1/x.csv", "receivers": None}, "receiversDocumentUrl"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(tenant, body, field):
    payload = {"message": "hello", "receivers": ["+33612345678"], **body}
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        tenant.client.post(f"/sms/{tenant.service}/jobs", **payload)
    answer = caught.value.response.json()
    assert answer["class"].startswith("Client::BadRequest")
    assert field in answer["message"]
    assert tenant.credits() == 100.0


@pytest.mark.parametrize("message, named", [("bell\u0007", "U+0007 at position 5"), ("a\u0085", "U+0085 at position 2"), ("\ufffe", "U+FFFE at position 1")])
def test_a_message_with_a_character_no_network_delivers_is_400_naming_it(tenant, message, named):
    for path, body in ((f"/sms/{tenant.service}/jobs", {"receivers": ["+33612345678"]}),
                       (f"/sms/{tenant.service}/batches", {"name": "ctl", "to": ["+33612345678"]})):
        with pytest.raises(ovh.exceptions.BadParametersError) as caught:
            tenant.client.post(path, message=message, **body)
        answer = caught.value.response.json()
        assert answer["class"] == "Client::BadRequest" and answer["message"].startswith(f"message: character {named} "), answer
    assert tenant.credits() == 100.0


def test_non_json_body_is_400(server, tenant):
    import time

    from textos.domain.signing import sign

    url = f"{server.endpoint}/sms/{tenant.service}/jobs"
    ts = str(int(time.time()))
    body = "message=hello"
    answer = httpx.post(url, content=body, headers={
        "X-Ovh-Application": tenant.app_key, "X-Ovh-Consumer": tenant.consumer_key, "X-Ovh-Timestamp": ts,
        "X-Ovh-Signature": sign(tenant.app_secret, tenant.consumer_key, "POST", url, body, ts),
        "Content-Type": "application/json",
    })
    assert answer.status_code == 400
    assert answer.json()["class"] == "Client::BadRequest"


def test_strings_and_nulls_are_accepted_like_ovh_control_panel(tenant):
    report = tenant.client.post(
        f"/sms/{tenant.service}/jobs",
        message="hello", receivers=["+33612345678"], validityPeriod="2880", priority="high",
        charset="UTF-8", receiversSlotId=None, senderForResponse=False, noStopClause=True, coding="7bit", **{"class": "phoneDisplay"},
    )
    assert report["totalCreditsRemoved"] == 1.0


def test_invalid_receivers_are_reported_and_valid_ones_sent(tenant):
    report = tenant.client.post(
        f"/sms/{tenant.service}/jobs", message="hi", noStopClause=True,
        receivers=["+33612345678", "not-a-number", "+12025550123", "+33612345678", "+447400123456"],
    )
    assert report["validReceivers"] == ["+33612345678", "+447400123456"]
    assert report["invalidReceivers"] == ["not-a-number", "+12025550123"]
    assert report["totalCreditsRemoved"] == 2.0
    assert len(report["ids"]) == 2


def test_job_beyond_remaining_credits_is_refused_whole(server):
    poor = server.tenant(credits=2)
    with pytest.raises(ovh.exceptions.APIError) as caught:
        poor.client.post(f"/sms/{poor.service}/jobs", message="hi", noStopClause=True,
                         receivers=["+33612345671", "+33612345672", "+33612345673"])
    assert caught.value.response.status_code == 403
    answer = caught.value.response.json()
    assert "credits" in answer["message"].lower()
    assert poor.credits() == 2.0
    assert poor.client.get(f"/sms/{poor.service}/jobs") == []
    assert poor.client.get(f"/sms/{poor.service}/outgoing") == []
    # what it can pay is accepted, to the last credit
    report = poor.client.post(f"/sms/{poor.service}/jobs", message="hi", noStopClause=True, receivers=["+33612345671", "+33612345672"])
    assert report["totalCreditsRemoved"] == 2.0
    assert poor.credits() == 0.0


@pytest.mark.parametrize(
    "message, no_stop, parts, klass",
    [
        ("hello", True, 1, "7bits"),
        ("a" * 160, True, 1, "7bits"),
        ("a" * 161, True, 2, "7bits"),
        ("€" * 80, True, 1, "7bits"),
        ("€" * 81, True, 2, "7bits"),
        (GSM_LONG, True, 2, "7bits"),
        ("a" * 459, True, 3, "7bits"),
        (UCS2, True, 1, "unicode"),
        ("é" * 70 + "ç", True, 2, "unicode"),
        ("a" * 150, False, 2, "7bits"),
        ("😀" * 35, True, 1, "unicode"),
        ("😀" * 36, True, 2, "unicode"),
    ],
)
def test_estimate_and_job_agree_on_parts_and_credits(tenant, message, no_stop, parts, klass):
    estimate = tenant.client.post("/sms/estimate", message=message, noStopClause=no_stop, senderType="alpha")
    assert estimate["parts"] == parts
    assert estimate["charactersClass"] == klass
    assert estimate["maxCharactersPerPart"] == ({"7bits": 160, "unicode": 70} if parts == 1 else {"7bits": 153, "unicode": 67})[klass]
    report = tenant.client.post(f"/sms/{tenant.service}/jobs", message=message, noStopClause=no_stop,
                                receivers=["+33612345678"], differedPeriod=60)
    assert report["totalCreditsRemoved"] == parts
    job = tenant.client.get(f"/sms/{tenant.service}/jobs/{report['ids'][0]}")
    assert job["numberOfSms"] == parts
    assert job["messageLength"] == estimate["characters"]
    assert job["credits"] == parts
    if not no_stop:
        assert job["message"].startswith(message) and "STOP" in job["message"]


def test_destination_rates_price_other_countries(server, make_database, tmp_path):
    from helpers import start_server, stop_server

    srv = start_server(make_database(server.backend), tmp_path, server.backend, extra_env={"TEXTOS_CREDIT_RATES": "GB=1.5,IE=2"})
    try:
        t = srv.tenant()
        report = t.client.post(f"/sms/{t.service}/jobs", message="a" * 200, noStopClause=True,
                               receivers=["+33612345678", "+447400123456", "+353851234567"], differedPeriod=30)
        assert report["totalCreditsRemoved"] == 2 * 1 + 2 * 1.5 + 2 * 2
        rates = httpx.get(f"{srv.endpoint}/sms/rates/destinations", params={"country": "gb"}).json()
        assert rates["credit"] == 1.5 and rates["countryCode"] == "gb"
        bad = httpx.get(f"{srv.endpoint}/sms/rates/destinations", params={"country": "zz"})
        assert bad.status_code == 400 and "country" in bad.json()["message"]
    finally:
        stop_server(srv)


def test_deferred_job_is_pending_and_delete_refunds_it(tenant):
    report = tenant.client.post(f"/sms/{tenant.service}/jobs", message="later", noStopClause=True,
                                receivers=["+33612345678", "+33612345679"], differedPeriod=120)
    assert tenant.credits() == 98.0
    pending = tenant.client.get(f"/sms/{tenant.service}/jobs")
    assert sorted(pending) == sorted(report["ids"])
    job = tenant.client.get(f"/sms/{tenant.service}/jobs/{report['ids'][0]}")
    assert job["differedDelivery"] == 120 and job["ptt"] == 0 and job["sentAt"] is None
    tenant.client.delete(f"/sms/{tenant.service}/jobs/{report['ids'][0]}")
    assert tenant.credits() == 99.0
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        tenant.client.get(f"/sms/{tenant.service}/jobs/{report['ids'][0]}")
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        tenant.client.delete(f"/sms/{tenant.service}/jobs/{report['ids'][0]}")
    assert tenant.credits() == 99.0
    assert tenant.client.get(f"/sms/{tenant.service}/jobs") == [report["ids"][1]]


def test_a_job_is_gone_once_handed_to_the_carrier(tenant):
    report = tenant.client.post(f"/sms/{tenant.service}/jobs", message="now", noStopClause=True, receivers=["+33612345678"])
    tenant.wait_final(report["ids"])
    assert tenant.client.get(f"/sms/{tenant.service}/jobs") == []
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):  # as GET /jobs says: it is in /outgoing now
        tenant.client.get(f"/sms/{tenant.service}/jobs/{report['ids'][0]}")
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        tenant.client.delete(f"/sms/{tenant.service}/jobs/{report['ids'][0]}")
    assert tenant.client.get(f"/sms/{tenant.service}/outgoing/{report['ids'][0]}")["ptt"] == 4
    assert tenant.credits() == 99.0


def test_undeliverable_and_rejected_messages(tenant):
    report = tenant.client.post(f"/sms/{tenant.service}/jobs", message="x", noStopClause=True,
                                receivers=["+33699012345", "+33699112345", "+33699212345", "+33612345678"])
    by_receiver = {o["receiver"]: o for o in tenant.wait_final(report["ids"][:1] + report["ids"][2:])}
    assert by_receiver["+33699012345"]["ptt"] == 5 and by_receiver["+33699012345"]["deliveryReceipt"] == 2
    assert by_receiver["+33699212345"]["ptt"] == 8 and by_receiver["+33699212345"]["deliveryReceipt"] == 2
    assert by_receiver["+33612345678"]["ptt"] == 4
    rejected = wait_until(
        lambda: (lambda o: o if o["deliveryReceipt"] == 16 else None)(tenant.client.get(f"/sms/{tenant.service}/outgoing/{report['ids'][1]}")),
        what="rejection",
    )
    assert rejected["credits"] == 0 and rejected["ptt"] == 20
    assert tenant.credits() == 97.0  # the rejected one was refunded
    failed_ids = tenant.client.get(f"/sms/{tenant.service}/outgoing", deliveryReceipt=2)
    assert sorted(failed_ids) == sorted([report["ids"][0], report["ids"][2]])


def test_outgoing_filters(tenant):
    a = tenant.client.post(f"/sms/{tenant.service}/jobs", message="a", noStopClause=True, receivers=["+33612345678"], tag="A")
    b = tenant.client.post(f"/sms/{tenant.service}/jobs", message="b", noStopClause=True, receivers=["+33612345679"], tag="B")
    tenant.wait_final(a["ids"] + b["ids"])
    svc = f"/sms/{tenant.service}/outgoing"
    assert tenant.client.get(svc, tag="A") == a["ids"]
    assert tenant.client.get(svc, receiver="0612345679") == b["ids"]
    assert tenant.client.get(svc, receiver="+33612345679") == b["ids"]
    assert sorted(tenant.client.get(svc, ptt=4)) == sorted(a["ids"] + b["ids"])
    assert tenant.client.get(svc, sender="Textos") == sorted(a["ids"] + b["ids"])
    assert tenant.client.get(svc, **{"creationDatetime.from": "2000-01-01T00:00:00+00:00", "tag": "B"}) == b["ids"]
    assert tenant.client.get(svc, **{"creationDatetime.to": "2000-01-01T00:00:00+00:00"}) == []
    one = tenant.client.get(f"{svc}/{a['ids'][0]}")
    assert tenant.client.get(svc, messageID=one["messageID"]) == a["ids"]
    assert tenant.client.get(svc, messageID=one["messageID"].upper()) == a["ids"]
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        tenant.client.get(svc, **{"creationDatetime.from": "yesterday"})
    assert "creationDatetime.from" in caught.value.response.json()["message"]
    tenant.client.delete(f"{svc}/{a['ids'][0]}")
    assert tenant.client.get(svc, tag="A") == []
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        tenant.client.get(f"{svc}/{a['ids'][0]}")


def test_outgoing_filters_are_checked_against_their_types(tenant):
    svc = f"/sms/{tenant.service}/outgoing"
    for name in ("batchID", "messageID"):
        with pytest.raises(ovh.exceptions.BadParametersError) as caught:
            tenant.client.get(svc, **{name: "not-a-uuid"})
        assert caught.value.response.json()["message"].startswith(f"Invalid value for {name}: 'not-a-uuid'")
        assert tenant.client.get(svc, **{name: str(uuid.uuid4())}) == []


def test_message_id_is_a_uuid_and_the_carrier_id_a_textos_extension(tenant):
    report = tenant.client.post(f"/sms/{tenant.service}/jobs", message="hi", noStopClause=True, receivers=["+33612345678", "+33612345679"])
    first, second = tenant.wait_final(report["ids"])
    svc = f"/sms/{tenant.service}/outgoing"
    for sms in (first, second):
        assert str(uuid.UUID(sms["messageID"])) == sms["messageID"]  # sms.Outgoing.messageID: uuid
        assert isinstance(sms["carrierMessageId"], str) and sms["carrierMessageId"]  # what the carrier called it
        assert tenant.client.get(svc, messageID=sms["messageID"]) == [sms["id"]]
    assert first["messageID"] != second["messageID"] and first["carrierMessageId"] != second["carrierMessageId"]
    with pytest.raises(ovh.exceptions.BadParametersError):  # the carrier's id is not a messageID
        tenant.client.get(svc, messageID=first["carrierMessageId"])


def _shifted(stamp: str, seconds: int = 0, offset: str = "") -> str:
    """A shown time (``…+00:00``) moved by ``seconds``, naive, or with ``offset`` (``+01:00``)."""
    moment = dt.datetime.fromisoformat(stamp) + dt.timedelta(seconds=seconds)
    if offset:
        hours = int(offset[:3])
        return (moment + dt.timedelta(hours=hours)).replace(tzinfo=None).isoformat() + offset
    return moment.replace(tzinfo=None).isoformat()


def test_date_filters_read_a_time_without_offset_as_utc_and_cover_the_second_shown(tenant):
    svc = f"/sms/{tenant.service}"
    report = tenant.client.post(f"{svc}/jobs", message="hi", noStopClause=True, receivers=["+33612345678"])
    [sms] = tenant.wait_final(report["ids"])
    order = tenant.client.post(f"/order/sms/{tenant.service}/credits", quantity=100)
    entry = tenant.client.get(f"{svc}/ledger", kind="job_debit")[0]
    filters = [  # (path, from, to, the time shown, what is found)
        (f"{svc}/outgoing", "creationDatetime.from", "creationDatetime.to", sms["creationDatetime"], sms["id"]),
        (f"{svc}/ledger", "from", "to", entry["date"], entry),
        ("/me/order", "date.from", "date.to", tenant.client.get(f"/me/order/{order['orderId']}")["date"], order["orderId"]),
    ]
    for path, since, until, shown, found in filters:
        def get(**params: str) -> list:
            return [x for x in tenant.client.get(path, **params) if x == found]
        day = shown[:10]
        for same in (shown, _shifted(shown), _shifted(shown, offset="+01:00"), _shifted(shown, offset="-05:00")):
            assert get(**{since: same}) == [found], (path, since, same)
            assert get(**{until: same}) == [found], (path, until, same)  # the whole second shown
        assert get(**{since: _shifted(shown, 1)}) == [], (path, since)  # naive: UTC, not another zone
        assert get(**{until: _shifted(shown, -1)}) == [], (path, until)
        assert get(**{since: day}) == [found], (path, since, day)  # a date alone: its midnight, UTC
        previous = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
        assert get(**{until: previous}) == [], (path, until, previous)
