"""``/dashboard`` in process (Starlette's test client): logins and their refusals, the CSRF locks,
who sees what (a customer their own accounts, an operator every account and the operators'
pages), the operators' actions (an order confirmed, a sender validated) through the services,
and the campaign reports of a tag and of a batch with their charts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from textos.domain.clock import utcnow
from textos.services import admin, batches, blacklists, callbacks, operators, orders, senders, users
from textos.services.jobs import SendRequest
from textos.services.prices import PriceBook
from textos.storage.models import CallbackEvent, IncomingSms, Message
from textos.storage.report_counts import Tally

D = "/dashboard"


@pytest.fixture
def db(app):  # type: ignore[no-untyped-def]
    return app.state.textos.db


@pytest.fixture
def people(db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Two customers with an account each, and an operator."""
    with db.session() as session:
        for nic in ("alice-1", "bob-1"):
            admin.create_customer(session, nic, "secret-password")
            admin.create_account(session, nic, 10, service_name=f"sms-{nic}")
        operators.create_operator(session, "root-op", "operator-password")
    return {"alice-1": "sms-alice-1", "bob-1": "sms-bob-1"}


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def log_in(client: TestClient, name: str, password: str, kind: str = "customer") -> object:
    token = csrf_of(client.get(f"{D}/login").text)
    return client.post(f"{D}/login", data={"csrf": token, "kind": kind, "nic": name, "password": password}, follow_redirects=False)


def test_pages_need_a_login_and_the_login_form_its_csrf_token(client, people):
    assert client.get(f"{D}/accounts", follow_redirects=False).headers["location"] == f"{D}/login"
    page = client.get(f"{D}/login")
    cookie = page.headers["set-cookie"]
    assert "textos_login_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS the cookies are Secure
    refused = client.post(f"{D}/login", data={"csrf": "forged", "nic": "alice-1", "password": "secret-password"}, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    client.cookies.clear()
    no_cookie = client.post(f"{D}/login", data={"csrf": csrf_of(page.text), "nic": "alice-1", "password": "secret-password"})
    assert no_cookie.status_code == 403
    assert "textos_session" not in client.cookies


def test_a_wrong_password_is_refused_and_counted(client, people, db):
    wrong = log_in(client, "alice-1", "nope")
    assert wrong.status_code == 401 and "Wrong login or password." in wrong.text
    assert log_in(client, "nobody", "nope").status_code == 401
    assert log_in(client, "alice-1", "secret-password", kind="operator").status_code == 401  # a customer is no operator
    assert "textos_session" not in client.cookies


@pytest.mark.parametrize("kind, name, right", [("customer", "alice-1", "secret-password"), ("operator", "root-op", "operator-password")])
def test_guessing_a_login_meets_429_and_then_so_does_the_right_password(client, people, app, kind, name, right):
    """The login goes through the password guard (``services.password_guard``): after
    ``password_max_failures`` wrong passwords the name is locked out, the right password too."""
    allowed = app.state.textos.settings.password_max_failures
    answers = [log_in(client, name, f"guess-{i}", kind=kind).status_code for i in range(allowed + 3)]
    assert answers == [401] * allowed + [429] * 3
    locked = log_in(client, name, right, kind=kind)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0 and "try again later" in locked.text
    assert "textos_session" not in client.cookies


def test_a_customer_sees_their_own_accounts_only(client, people):
    done = log_in(client, "alice-1", "secret-password")
    assert done.status_code == 303 and "HttpOnly" in done.headers["set-cookie"] and "SameSite=lax" in done.headers["set-cookie"]
    page = client.get(f"{D}/accounts").text
    assert "sms-alice-1" in page and "sms-bob-1" not in page and "10.00" in page
    assert client.get(f"{D}/accounts/sms-bob-1").status_code == 404
    ledger = client.get(f"{D}/accounts/sms-alice-1").text
    assert 'id="credits">10.00<' in ledger and 'id="ledger"' in ledger
    assert client.get(f"{D}/orders").status_code == 403 and client.get(f"{D}/senders").status_code == 403
    for path in ("campaigns", "queue", "incoming", "callbacks", "users"):
        assert client.get(f"{D}/{path}").status_code == 200, path


def test_a_replay_needs_the_sessions_csrf_token_and_the_accounts_owner(client, people, db):
    with db.session() as session:
        account = admin.get_account(session, "sms-alice-1")
        session.add(CallbackEvent(account_id=account.id, kind="delivery", url="http://127.0.0.1:9/x", host="127.0.0.1:9",
                                  params={"id": "1"}, order_key="m1", status="failed", attempts=3))
    with db.read() as session:
        (event_id,) = callbacks.list_ids(session, account.id, "failed")
    log_in(client, "bob-1", "secret-password")
    token = csrf_of(client.get(f"{D}/callbacks").text)
    assert client.post(f"{D}/callbacks/{event_id}/replay", data={"csrf": token, "service": "sms-alice-1"}).status_code == 404
    client.post(f"{D}/logout", data={"csrf": token})
    log_in(client, "alice-1", "secret-password")
    page = client.get(f"{D}/callbacks?status=failed").text
    assert f'data-id="{event_id}"' in page
    token = csrf_of(page)
    assert client.post(f"{D}/callbacks/{event_id}/replay", data={"csrf": "forged", "service": "sms-alice-1"}).status_code == 403
    assert client.post(f"{D}/callbacks/{event_id}/replay", data={"service": "sms-alice-1"}).status_code == 403
    with db.read() as session:
        assert callbacks.get(session, account.id, event_id).status == "failed"
    done = client.post(f"{D}/callbacks/{event_id}/replay", data={"csrf": token, "service": "sms-alice-1"}, follow_redirects=False)
    assert done.status_code == 303
    with db.read() as session:
        assert callbacks.get(session, account.id, event_id).status == "pending"


def test_logging_out_ends_the_session_everywhere(client, people):
    log_in(client, "alice-1", "secret-password")
    stolen = client.cookies.get("textos_session")
    token = csrf_of(client.get(f"{D}/accounts").text)
    assert client.post(f"{D}/logout", data={"csrf": "forged"}).status_code == 403  # a forged logout does nothing
    assert client.get(f"{D}/accounts", follow_redirects=False).status_code == 200
    client.post(f"{D}/logout", data={"csrf": token})
    client.cookies.set("textos_session", stolen, path="/dashboard")
    assert client.get(f"{D}/accounts", follow_redirects=False).headers["location"] == f"{D}/login"


def test_an_operator_sees_every_account_confirms_orders_and_validates_senders(client, people, db, app):
    with db.session() as session:
        alice = admin.get_account(session, "sms-alice-1")
        order = orders.create_order(session, alice, 100, actor="alice-1", book=PriceBook.from_settings(app.state.textos.settings))
        order_id = order.id
        senders.request(session, alice, "ALICESHOP", description="shop", reason="brand")
    assert log_in(client, "root-op", "operator-password", kind="operator").status_code == 303
    page = client.get(f"{D}/accounts").text
    assert "sms-alice-1" in page and "sms-bob-1" in page and "(operator)" in page
    orders_page = client.get(f"{D}/orders").text
    assert f"/orders/{order_id}/confirm" in orders_page
    token = csrf_of(orders_page)
    assert client.post(f"{D}/orders/{order_id}/confirm", data={"csrf": "forged"}).status_code == 403
    client.post(f"{D}/orders/{order_id}/confirm", data={"csrf": token})
    with db.read() as session:
        assert orders.get_order(session, order_id).status == orders.OrderStatus.DELIVERED
        assert admin.get_account(session, "sms-alice-1").credits_milli == 110_000
    assert "ALICESHOP" in client.get(f"{D}/senders").text
    client.post(f"{D}/senders/decide", data={"csrf": token, "service": "sms-alice-1", "sender": "ALICESHOP", "decision": "validate"})
    with db.read() as session:
        assert senders.get(session, admin.get_account(session, "sms-alice-1"), "ALICESHOP").status == senders.SenderStatus.ENABLED


def test_pages_escape_what_customers_wrote(client, people, db):
    with db.session() as session:
        account = admin.get_account(session, "sms-alice-1")
        account.description = "<script>alert(1)</script>"
    log_in(client, "alice-1", "secret-password")
    page = client.get(f"{D}/accounts")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_over_https_the_cookies_are_secure(app, people):
    with TestClient(app, base_url="https://127.0.0.1") as client:
        assert "Secure" in client.get(f"{D}/login").headers["set-cookie"]
        done = log_in(client, "alice-1", "secret-password")
        assert done.status_code == 303 and "Secure" in done.headers["set-cookie"] and "HttpOnly" in done.headers["set-cookie"]


def test_incoming_messages_and_users_with_quotas_are_listed_to_their_owner(client, people, db):
    with db.session() as session:
        alice, bob = admin.get_account(session, "sms-alice-1"), admin.get_account(session, "sms-bob-1")
        session.add_all([IncomingSms(account_id=alice.id, sender="+33612345678", receiver="36111", text="Oui merci"),
                         IncomingSms(account_id=bob.id, sender="+33600000000", receiver="36112", text="not alice's")])
        users.create_user(session, alice.id, "shop1", "Passw0rd")
    log_in(client, "alice-1", "secret-password")
    incoming = client.get(f"{D}/incoming").text
    assert "Oui merci" in incoming and "not alice" not in incoming
    listed = client.get(f"{D}/users").text
    assert "shop1" in listed and "inactive" in listed


def a_settled_campaign(app, tag: str) -> str:  # type: ignore[no-untyped-def]
    """Alice's batch "Spring & co" tagged ``tag``: five commercial messages, three delivered (in 0.5 s,
    3 s and 40 s), one undelivered (ptt 5), one expired in the network (ptt 8), and a STOP to the
    clause's number from a delivered handset. Returns the batch id."""
    db, settings = app.state.textos.db, app.state.textos.settings
    receivers = [f"+3361234500{i}" for i in range(5)]
    request = SendRequest(message="Soldes", receivers=receivers, tag=tag)
    with db.session() as session:
        batch_id = batches.new_batch(session, admin.get_account(session, "sms-alice-1"), request, "Spring & co").id
        account_id = admin.get_account(session, "sms-alice-1").id
    batches.run(db, settings, account_id, request, "alice-1", batch_id)
    sent = utcnow() - dt.timedelta(minutes=5)
    outcomes = [("delivered", 4, 0.5), ("delivered", 4, 3), ("delivered", 4, 40), ("failed", 5, None), ("failed", 8, None)]
    with db.session() as session:  # settled as the lifecycle's writers do: rows and their report counts together
        tally = Tally()
        for receiver, (status, ptt, seconds) in zip(receivers, outcomes):
            delivered = sent + dt.timedelta(seconds=seconds) if seconds is not None else None
            job_id = session.execute(update(Message).where(Message.account_id == account_id, Message.receiver == receiver).values(
                status=status, ptt=ptt, sent_at=sent, settled_at=sent, delivered_at=delivered).returning(Message.job_id)).scalar_one()
            tally.moved(job_id, status, ptt, sent_at=sent, delivered_at=delivered)
        tally.write(session)
    with db.session() as session:
        stop = IncomingSms(sender=receivers[0], receiver=settings.stop_clause_number(), text="STOP")
        session.add(stop)
        session.flush()
        assert blacklists.on_incoming(session, stop, settings)
    return batch_id


def shown(page: str, chart: str) -> dict[str, str]:
    """Label → value of a chart's bars on a page."""
    figure = page.split(f'<figure class="chart" id="{chart}">', 1)[1].split("</figure>", 1)[0]
    return dict(re.findall(r'<g class="bar" data-label="([^"]*)" data-value="([^"]*)">', figure))


def test_a_campaign_page_shows_its_tags_report_and_four_charts_to_its_owner(client, people, app):
    tag = "spring <sale>"
    batch_id = a_settled_campaign(app, tag)
    log_in(client, "alice-1", "secret-password")
    listed = client.get(f"{D}/campaigns").text
    assert "<title>Textos — campaigns</title>" in listed
    link = f"{D}/campaigns/sms-alice-1/{quote(tag)}"
    assert f'href="{link}"' in listed and f'href="{D}/batches/sms-alice-1/{batch_id}"' in listed and "Spring &amp; co" in listed
    page = client.get(link)
    assert page.status_code == 200 and "<sale>" not in page.text
    numbers = dict(re.findall(r'<(?:b|span) id="([a-z0-9-]+)">([^<]*)<', page.text))
    assert {k: numbers[k] for k in ("messages", "delivered", "delivery-rate", "errors", "error-rate", "stops", "stop-rate",
                                    "replies", "reply-rate")} == {
        "messages": "5", "delivered": "3", "delivery-rate": "60.0 %", "errors": "2", "error-rate": "40.0 %",
        "stops": "1", "stop-rate": "33.3 %", "replies": "0", "reply-rate": "0.0 %",
    }  # fmt: skip
    assert numbers["report-credits"] == "5.00" and numbers["p50"].endswith(" s") and numbers["p99"].endswith(" s")
    assert shown(page.text, "funnel") == {"Accepted": "5", "Handed to carrier": "5", "– failed": "2", "Delivered": "3"}
    histogram = shown(page.text, "delivery-times")
    assert sum(int(n) for n in histogram.values()) == 3 and (histogram["≤1s"], histogram["≤5s"], histogram["≤1m"]) == ("1", "1", "1")
    assert shown(page.text, "stops-over-time") == {utcnow().strftime("%m-%d"): "1"}
    assert shown(page.text, "errors-by-ptt") == {"5 · Undelivered": "1", "8 · Expired": "1"}
    assert page.text.count('role="img"') == 4 and page.text.count("<title id=") == 4

    batch_page = client.get(f"{D}/batches/sms-alice-1/{batch_id}").text
    assert "Spring &amp; co" in batch_page and shown(batch_page, "funnel") == shown(page.text, "funnel")
    assert f'href="{link}"' in batch_page  # the batch's tag leads to its campaign


def test_a_customer_sees_no_other_customers_campaign_and_an_operator_sees_every_one(client, people, app):
    batch_id = a_settled_campaign(app, "spring")
    log_in(client, "bob-1", "secret-password")
    assert "spring" not in client.get(f"{D}/campaigns").text
    assert client.get(f"{D}/campaigns/sms-alice-1/spring").status_code == 404
    assert client.get(f"{D}/batches/sms-alice-1/{batch_id}").status_code == 404
    assert client.get(f"{D}/batches/sms-bob-1/{batch_id}").status_code == 404  # the batch is not bob's account's
    bobs = client.get(f"{D}/campaigns/sms-bob-1/spring").text  # bob's own account, a tag he never used
    assert "No message in this campaign yet." in bobs and 'id="messages">0<' in bobs
    assert bobs.count('class="chart empty"') == 4 and "Nothing delivered yet" in bobs  # no data: said in words
    client.post(f"{D}/logout", data={"csrf": csrf_of(bobs)})
    log_in(client, "root-op", "operator-password", kind="operator")
    assert 'id="delivered">3<' in client.get(f"{D}/campaigns/sms-alice-1/spring").text
    assert client.get(f"{D}/batches/sms-alice-1/{batch_id}").status_code == 200
