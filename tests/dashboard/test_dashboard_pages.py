"""``/dashboard`` in process (Starlette's test client): logins and their refusals, the CSRF locks,
who sees what (a customer their own accounts, an operator every account and the operators'
pages), and the operators' actions (an order confirmed, a sender validated) through the services."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from textos.services import admin, callbacks, operators, orders, senders, users
from textos.services.prices import PriceBook
from textos.storage.models import CallbackEvent, IncomingSms

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
