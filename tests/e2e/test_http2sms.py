"""http2sms (``/cgi-bin/sms/http2sms.cgi``) over real HTTP: a user of an account sends with its login
and password, in every answer format; missing and invalid parameters, wrong passwords, lockouts and
the user's ``ipRestrictions`` are refused with OVH's statuses.

Client addresses are simulated from loopback with ``X-Forwarded-For``: the shared server trusts
its loopback peer as a proxy (``trusted_proxies``' default); a server of this module trusting
nobody shows the header is then ignored."""

from __future__ import annotations

import datetime as dt
import secrets
import xml.etree.ElementTree as ET
from typing import Iterator

import httpx
import pytest
from sqlalchemy import select

from helpers import BACKENDS, Server, start_server, stop_server
from textos.domain.passwords import hash_password
from textos.storage.db import Database
from textos.storage.models import Account, SmsUser

PASSWORD = "Secret42"


def url(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}/cgi-bin/sms/http2sms.cgi"


def add_user(server: Server, service: str, *, ip: list[str] | None = None) -> str:
    """A user of ``service`` written through the model (the users API is another module's)."""
    login = f"u{secrets.token_hex(4)}"
    db = Database(server.database_url)
    try:
        with db.session() as session:
            account = session.scalar(select(Account).where(Account.service_name == service))
            session.add(SmsUser(account_id=account.id, login=login, password_hash=hash_password(PASSWORD), ip_restrictions=ip or []))
    finally:
        db.dispose()
    return login


def an_address() -> str:
    """A client address of its own (an IPv6 /64 of the documentation prefix: counted alone by the
    password limits), so that the failures of one call count for no other."""
    return f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"


def call(server: Server, params: dict[str, str], *, method: str = "GET", address: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": address or an_address()}
    if method == "POST":
        return httpx.post(url(server), data=params, headers=headers, timeout=30)
    return httpx.get(url(server), params=params, headers=headers, timeout=30)


def params_for(tenant, login: str, **more: str) -> dict[str, str]:
    return {"account": tenant.service, "login": login, "password": PASSWORD, "to": "+33612345678", "message": "hello", **more}


def plain_ok(answer: httpx.Response) -> tuple[str, list[int]]:
    lines = answer.text.split("\n")
    assert answer.status_code == 200 and lines[0] == "OK", answer.text
    return lines[1], [int(i) for i in lines[2:]]


def test_a_user_sends_in_every_format_and_the_messages_reach_the_simulator(server, tenant):
    login = add_user(server, tenant.service)
    sent: list[int] = []

    answer = call(server, params_for(tenant, login, to="+33612345678,0033612345679", tag="h2s"))
    assert answer.headers["content-type"].startswith("text/plain")
    credit, ids = plain_ok(answer)
    assert len(ids) == 2 and credit == f"{tenant.credits():g}"
    sent += ids

    for content_type in ("application/json", "text/json"):
        answer = call(server, params_for(tenant, login, contentType=content_type), method="POST")
        body = answer.json()
        assert answer.headers["content-type"].startswith(content_type)
        assert body["status"] == 100 and body["creditLeft"] == f"{tenant.credits():g}" and len(body["SmsIds"]) == 1
        assert isinstance(body["creditLeft"], str) and all(isinstance(i, str) for i in body["SmsIds"])
        sent += [int(i) for i in body["SmsIds"]]

    for content_type in ("text/xml", "application/xml"):
        answer = call(server, params_for(tenant, login, contentType=content_type))
        root = ET.fromstring(answer.content)
        assert root.tag == "response" and root.findtext("status") == "100"
        assert root.findtext("creditLeft") == f"{tenant.credits():g}"
        sent += [int(e.text or "") for e in root.iter("smsId")]

    answer = call(server, params_for(tenant, login, contentType="text/html"))
    assert answer.headers["content-type"].startswith("text/html")
    page = ET.fromstring(answer.content)  # XHTML: well-formed XML
    paragraph = page.find("{http://www.w3.org/1999/xhtml}body/{http://www.w3.org/1999/xhtml}p")
    lines = [line.strip() for line in "".join(paragraph.itertext()).split("\n")]
    assert lines[0] == "OK" and lines[1] == f"{tenant.credits():g}"
    sent += [int(lines[2])]

    assert len(sent) == 7
    final = tenant.wait_final(sent)
    assert {o["deliveryReceipt"] for o in final} == {1}
    assert {o["receiver"] for o in final} == {"+33612345678", "+33612345679"}
    assert {o["message"] for o in final} == {"hello\nSTOP 36111"}  # commercial by default: the STOP clause
    tagged = tenant.client.get(f"/sms/{tenant.service}/outgoing", tag="h2s")
    assert sorted(tagged) == sorted(ids)
    assert tenant.credits() == 100 - 7


def test_options_of_a_send_are_those_of_a_job(server, tenant):
    login = add_user(server, tenant.service)
    _, ids = plain_ok(call(server, params_for(tenant, login, noStop="1", **{"class": "0"}, smsCoding="1", message="hello there")))
    message = tenant.wait_final(ids)[0]
    assert message["deliveryReceipt"] == 1 and message["message"] == "hello there"  # noStop=1: no STOP clause
    when = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0) + dt.timedelta(days=30)
    _, ids = plain_ok(call(server, params_for(tenant, login, deferred=when.strftime("%H%M%d%m%Y"))))
    assert tenant.client.get(f"/sms/{tenant.service}/jobs") == ids  # deferred 30 days, still pending
    job = tenant.client.get(f"/sms/{tenant.service}/jobs/{ids[0]}")
    assert abs(job["differedDelivery"] - 30 * 24 * 60) <= 1  # minutes
    tenant.client.delete(f"/sms/{tenant.service}/jobs/{ids[0]}")


def test_from_is_a_sender_of_the_account_and_sender_for_response_a_short_number(server, tenant):
    login = add_user(server, tenant.service)
    server.cli("sender", "add", "--service", tenant.service, "--sender", "MyShop")
    _, named = plain_ok(call(server, params_for(tenant, login, **{"from": "MyShop"})))
    _, answerable = plain_ok(call(server, params_for(tenant, login, senderForResponse="1")))
    by_id = {o["id"]: o for o in tenant.wait_final(named + answerable)}
    assert by_id[named[0]]["sender"] == "MyShop"
    assert by_id[answerable[0]]["sender"].isdigit()  # a short number replies come back to


@pytest.mark.parametrize(
    ("given", "status", "reason"),
    [
        ({"login": ""}, 201, "Missing login"),
        ({"to": None}, 201, "Missing to"),
        ({"message": " "}, 201, "Missing message"),
        ({"account": None}, 201, "Missing account"),
        ({"tags": "x"}, 202, "Invalid parameter: tags"),
        ({"class": "7"}, 202, "Invalid class"),
        ({"noStop": "yes"}, 202, "Invalid noStop"),
        ({"tag": "t" * 21}, 202, "Invalid tag"),
        ({"deferred": "2599"}, 202, "Invalid deferred"),
        ({"deferred": "250031122030"}, 202, "Invalid deferred"),
        ({"deferred": "000001012099"}, 202, "Invalid deferred: at most a year ahead"),
        ({"smsCoding": "3"}, 202, "Invalid smsCoding"),
        ({"smsCoding": "1", "message": "Привет"}, 202, "Invalid message"),
        ({"to": "not-a-number"}, 202, "Invalid to"),
        ({"from": "NOTMINE"}, 202, "sender"),
    ],
)
def test_missing_and_invalid_parameters_are_named_in_every_format(server, tenant, given, status, reason):
    login = add_user(server, tenant.service)
    params = {k: v for k, v in {**params_for(tenant, login), **given}.items() if v is not None}
    plain = call(server, params)
    assert plain.text.startswith("KO\n") and reason in plain.text, plain.text
    as_json = call(server, {**params, "contentType": "application/json"}, method="POST").json()
    assert as_json["status"] == status and reason in as_json["message"] and "SmsIds" not in as_json
    root = ET.fromstring(call(server, {**params, "contentType": "text/xml"}).content)
    assert root.findtext("status") == str(status) and reason in (root.findtext("message") or "")
    assert tenant.credits() == 100


def test_an_unknown_content_type_is_answered_in_text_plain(server, tenant):
    answer = call(server, params_for(tenant, "nobody", contentType="image/png"))
    assert answer.headers["content-type"].startswith("text/plain") and answer.text.startswith("KO\nInvalid contentType")


def test_a_wrong_password_and_an_unknown_login_or_account_get_the_same_answer(server, tenant):
    login = add_user(server, tenant.service)
    answers = [
        call(server, {**params_for(tenant, login), "password": "wrong", "contentType": "application/json"}),
        call(server, {**params_for(tenant, "nobody"), "contentType": "application/json"}),
        call(server, {**params_for(tenant, login), "account": "sms-none-1", "contentType": "application/json"}),
    ]
    assert [a.json() for a in answers] == [{"status": 401, "message": "Invalid account, login or password"}] * 3
    assert tenant.credits() == 100


def test_failed_logins_lock_the_login_then_the_address_whatever_the_login(server, tenant):
    login = add_user(server, tenant.service)
    address = an_address()
    wrong = {**params_for(tenant, login), "password": "wrong", "contentType": "application/json"}
    for _ in range(5):  # password_max_failures
        assert call(server, wrong, address=address).json()["status"] == 401
    locked = call(server, params_for(tenant, login, contentType="application/json"), address=an_address())
    assert locked.json()["status"] == 429 and "Too many failed logins" in locked.json()["message"]
    assert int(locked.headers["Retry-After"]) > 0  # the right password too, from anywhere, until it ends
    # an unknown login is locked out exactly the same way: nothing says whether it exists
    unknown = {**params_for(tenant, f"ghost{secrets.token_hex(3)}"), "contentType": "application/json"}
    for _ in range(5):
        assert call(server, unknown, address=address).json()["status"] == 401
    assert call(server, unknown, address=an_address()).json()["status"] == 429

    # per address: 20 failures from one address, any logins, lock that address out for every login
    crowded = an_address()
    for n in range(20):  # password_address_max_failures
        guess = {**params_for(tenant, f"guess{n}{secrets.token_hex(2)}"), "contentType": "application/json"}
        assert call(server, guess, address=crowded).json()["status"] == 401
    other = add_user(server, tenant.service)
    assert call(server, params_for(tenant, other, contentType="application/json"), address=crowded).json()["status"] == 429
    assert plain_ok(call(server, params_for(tenant, other), address=an_address()))


def test_ip_restrictions_allow_listed_clients_only(server, tenant):
    login = add_user(server, tenant.service, ip=["203.0.113.0/24", "192.0.2.8"])
    credit, ids = plain_ok(call(server, params_for(tenant, login), address="203.0.113.77"))
    plain_ok(call(server, params_for(tenant, login), address="192.0.2.8"))
    refused = call(server, params_for(tenant, login, contentType="application/json"), address="192.0.2.9").json()
    assert refused == {"status": 401, "message": "IP not allowed: 192.0.2.9"}
    # the client is the right-most address a trusted proxy did not add: a forged left part changes nothing
    forged = call(server, params_for(tenant, login, contentType="text/xml"), address="203.0.113.77, 192.0.2.9")
    assert ET.fromstring(forged.content).findtext("status") == "401"
    # the peer itself (no header): loopback is not listed
    direct = httpx.get(url(server), params=params_for(tenant, login), timeout=30)
    assert direct.text == "KO\nIP not allowed: 127.0.0.1"
    # a wrong password from a refused address says nothing about the restriction
    wrong = call(server, {**params_for(tenant, login), "password": "nope"}, address="192.0.2.9")
    assert wrong.text == "KO\nInvalid account, login or password"
    assert tenant.credits() == 100 - 2
    assert tenant.wait_final(ids)[0]["deliveryReceipt"] == 1


@pytest.fixture(scope="module", params=BACKENDS)
def untrusting(request, make_database, tmp_path_factory) -> Iterator[Server]:
    """A server believing no proxy (``trusted_proxies = none``): the peer is the client."""
    srv = start_server(make_database(request.param), tmp_path_factory.mktemp(f"untrusting-{request.param}"), request.param,
                       extra_env={"TEXTOS_TRUSTED_PROXIES": "none"})
    yield srv
    stop_server(srv)


def test_without_trusted_proxies_x_forwarded_for_is_ignored(untrusting):
    tenant = untrusting.tenant()
    listed_elsewhere = add_user(untrusting, tenant.service, ip=["203.0.113.77"])
    loopback = add_user(untrusting, tenant.service, ip=["127.0.0.1"])
    refused = call(untrusting, params_for(tenant, listed_elsewhere, contentType="application/json"), address="203.0.113.77")
    assert refused.json() == {"status": 401, "message": "IP not allowed: 127.0.0.1"}
    plain_ok(call(untrusting, params_for(tenant, loopback), address="203.0.113.77"))
