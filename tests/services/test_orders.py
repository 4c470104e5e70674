"""Purchase orders (SQLite and PostgreSQL): priced by the book they are given, paid exactly once
however often or concurrently confirmed, cancelled only while unpaid."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from credit_helpers import balances, new_accounts
from textos.config import Settings
from textos.domain.errors import BadRequest, Conflict, NotFound
from textos.services import orders
from textos.services.prices import PriceBook
from textos.storage.models import Account, LedgerEntry
from textos.storage.models_billing import Order

BOOK = PriceBook.from_settings(Settings())


@pytest.mark.parametrize("value, quantity", [(1000, 1000), ("250", 250), (" 7 ", 7), (1e3, 1000), ("1E3", 1000)])
def test_quantity_is_an_integral_long(value, quantity):
    assert orders.parse_quantity(value) == quantity


@pytest.mark.parametrize("value", [True, "abc", 1.5, "nan", "inf", 2**63])
def test_quantity_refusals_name_the_field(value):
    with pytest.raises(BadRequest, match="^quantity: "):
        orders.parse_quantity(value)


def test_preview_shows_the_volume_reduction_and_the_terms():
    book = PriceBook.from_settings(Settings(prices={"contract_url": "https://sms.example.com/terms"}))
    body = orders.order_body(book, 1000, "sms-ab12345-1")
    assert body["orderId"] is None and body["url"] is None
    assert {k: v["value"] for k, v in body["prices"].items()} == {
        "originalWithoutTax": 80.0, "reduction": 10.0, "withoutTax": 70.0, "tax": 14.0, "withTax": 84.0}
    (detail,) = body["details"]
    assert (detail["quantity"], detail["domain"], detail["unitPrice"]["value"]) == (1000, "sms-ab12345-1", 0.07)
    assert detail["reductions"][0]["value"]["value"] == 10.0
    assert body["contracts"][0]["url"] == "https://sms.example.com/terms"
    assert orders.order_body(book, 100, "x")["details"][0]["reductions"] == []


def test_created_order_keeps_its_price_and_its_views(db):
    (acc,) = new_accounts(db, 0)
    with db.session() as s:
        order = orders.create_order(s, s.get(Account, acc.id), 1000, actor="t", book=BOOK)
        view = orders.order_view(order, "https://sms.example.com/")
        billing = orders.billing_order_view(order, "https://sms.example.com")
        summary = orders.order_summary(s, order)
    assert view["orderId"] == order.id and view["url"] == f"https://sms.example.com/1.0/pay/{order.token}"
    assert view["prices"]["withTax"]["value"] == 84.0 and billing["priceWithTax"]["value"] == 84.0
    assert billing["url"] == view["url"] and billing["password"] == order.token
    assert (summary["status"], summary["reason"], summary["withTax"], summary["serviceName"]) == ("notPaid", "manual", 84.0, acc.service_name)
    assert orders.status_view(order) == "notPaid"
    with db.read() as s:
        assert orders.order_by_token(s, order.token).id == order.id
        assert orders.order_by_token(s, "nope") is None
        assert [o.id for o in orders.list_orders(s, account_id=acc.id, status="notPaid")] == [order.id]
        assert orders.list_orders(s, account_id=acc.id, status="delivered") == []
        with pytest.raises(NotFound):
            orders.get_order(s, order.id, customer_id=order.customer_id + 1)


def _pay_at_once(db, order_id: int, times: int) -> list[bool]:  # type: ignore[no-untyped-def]
    """Confirm the order's payment from ``times`` threads at once; whether each credited."""
    barrier = threading.Barrier(times)

    def pay(_):
        barrier.wait()
        with db.session() as s:
            return orders.confirm_payment(s, order_id, actor="t").credited

    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(pay, range(times)))


def test_order_paid_twice_or_concurrently_credits_once(db):
    (acc,) = new_accounts(db, 0)
    with db.session() as s:
        order = orders.create_order(s, s.get(Account, acc.id), 1000, actor="t", book=BOOK)
    credited = _pay_at_once(db, order.id, 8)
    with db.session() as s:
        again = orders.confirm_payment(s, order.id, actor="t")
    assert credited.count(True) == 1 and again.credited is False and again.status == "delivered"
    assert balances(db, [acc]) == [(1_000_000, 0)]
    with db.read() as s:
        o = s.get(Order, order.id)
        assert (o.status, o.payment_confirmations) == ("delivered", 9)
        assert s.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.order_id == order.id)) == 1


def test_an_order_of_a_new_account_creates_it_once_when_paid(db):
    (acc,) = new_accounts(db, 0)
    wanted = orders.check_new_account("500", "marketing", False)
    with db.session() as s:
        order = orders.create_new_account_order(s, acc.customer_id, wanted, actor="t", book=BOOK)
        assert (order.account_id, order.new_account) == (None, {"channel": "marketing"})
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Account)) == 1
    assert sorted(_pay_at_once(db, order.id, 4)) == [False, False, False, True]
    with db.read() as s:
        (created,) = s.scalars(select(Account).where(Account.id != acc.id))
        assert (created.customer_id, created.channel, created.credits_milli) == (acc.customer_id, "marketing", 500_000)
        assert s.get_one(Order, order.id).account_id == created.id


@pytest.mark.parametrize("quantity, channel, smpp, field", [
    ("lots", None, None, "quantity"), (100, "sms", None, "channel"), (100, "both", True, "smpp")])
def test_new_account_refusals_name_the_field(quantity, channel, smpp, field):
    with pytest.raises(BadRequest, match=f"^{field}: "):
        orders.check_new_account(quantity, channel, smpp)
    assert orders.check_new_account(100, None, False) == orders.NewAccount(100, "both")


def test_cancelled_order_cannot_be_paid_and_paid_order_cannot_be_cancelled(db):
    (acc,) = new_accounts(db, 0)
    with db.session() as s:
        cancelled = orders.create_order(s, s.get(Account, acc.id), 100, actor="t", book=BOOK)
        paid = orders.create_order(s, s.get(Account, acc.id), 100, actor="t", book=BOOK)
    with db.session() as s:
        assert orders.cancel_order(s, cancelled.id, actor="t").status == "cancelled"
        assert orders.cancel_order(s, cancelled.id, actor="t").status == "cancelled"
        orders.confirm_payment(s, paid.id, actor="t")
    with pytest.raises(Conflict), db.session() as s:
        orders.confirm_payment(s, cancelled.id, actor="t")
    with pytest.raises(Conflict), db.session() as s:
        orders.cancel_order(s, paid.id, actor="t")
    with pytest.raises(NotFound), db.session() as s:
        orders.confirm_payment(s, 10**9, actor="t")
    assert balances(db, [acc]) == [(100_000, 0)]


def test_automatic_order_accepts_an_amount_below_the_books_minimum(db):
    (acc,) = new_accounts(db, 0)
    book = PriceBook.from_settings(Settings(prices={"packs": {"500": 0.1}}))
    with db.session() as s:
        order = orders.create_automatic_order(s, acc.id, 200, book=book, cause="job 3")
        assert (order.quantity, order.reason, order.actor) == (200, "automatic", "automatic top-up (after job 3)")
        assert order.priced["prices"]["withoutTax"]["value"] == 20.0
