"""The automatic top-up: installed with a price book, it orders credits once per threshold crossing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from credit_helpers import balances, new_accounts
from textos.config import Settings
from textos.services import orders, topup
from textos.services.prices import PriceBook
from textos.storage import ledger
from textos.storage.models import Account
from textos.storage.models_billing import Order


@pytest.fixture
def book(monkeypatch):
    """A price book of its own, installed for the test only."""
    monkeypatch.setattr(ledger, "threshold_observers", list(ledger.threshold_observers))
    book = PriceBook.from_settings(Settings(prices={"packs": {"50": 0.1}}))
    topup.install(book)
    return book


def test_installing_again_replaces_the_top_up(book):
    other = PriceBook.from_settings(Settings())
    topup.install(other)
    topup.install(other)
    installed = [o for o in ledger.threshold_observers if isinstance(o, topup.TopUp)]
    assert installed == [topup.TopUp(other)]


def automatic_orders(db, acc):
    with db.read() as s:
        return s.scalars(select(Order).where(Order.account_id == acc.id, Order.reason == "automatic").order_by(Order.id)).all()


def debit(db, acc, milli):
    with db.session() as s:
        ledger.post(s, acc.id, ledger.Movement(ledger.Kind.JOB_DEBIT, -milli, actor="t"))


def test_top_up_orders_once_per_crossing_at_the_installed_prices(db, book):
    (acc,) = new_accounts(db, 100)
    with db.session() as s:
        row = s.get(Account, acc.id)
        row.credit_threshold_milli, row.automatic_recredit_amount = 50_000, 200
    debit(db, acc, 60_000)              # 40: crossed
    debit(db, acc, 5_000)               # 35: still below, no new order
    (order,) = automatic_orders(db, acc)
    assert (order.quantity, order.status) == (200, "notPaid")
    assert order.priced["prices"]["withoutTax"]["value"] == 20.0   # 200 × 0.1, the installed book
    with db.session() as s:
        orders.confirm_payment(s, order.id, actor="t")   # 235: re-armed
    debit(db, acc, 200_000)             # 35: second crossing
    assert [o.status for o in automatic_orders(db, acc)] == ["delivered", "notPaid"]
    assert balances(db, [acc]) == [(35_000, 0)]
