"""Credits against a real database (SQLite and PostgreSQL), without HTTP: ledger invariants
(hypothesis), quota holds, transfers and sends under concurrency, payment idempotence and
the automatic top-up's once-per-crossing rule."""

from __future__ import annotations

import random
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from conftest import BACKENDS
from textos.config import Settings
from textos.services import admin, billing, transfers
from textos.storage import ledger
from textos.domain.errors import BadRequest, NotEnoughCredits, NotFound
from textos.services.jobs import SendRequest, accept_job
from textos.storage.db import Database
from textos.storage.models import Account, LedgerEntry
from textos.storage.models_billing import Order

SETTINGS = Settings()


@pytest.fixture(scope="module", params=BACKENDS)
def db(request, make_database):
    database = Database(make_database(request.param))
    database.migrate()
    yield database
    database.dispose()


def new_accounts(db, *credits):
    """A new customer with one account per initial amount of credits."""
    nic = f"lb{secrets.randbelow(10**5):05d}-{secrets.token_hex(3)}"
    with db.session() as s:
        admin.create_customer(s, nic, "pw")
        return [admin.create_account(s, nic, c) for c in credits]


def balances(db, accounts):
    with db.read() as s:
        out = []
        for a in accounts:
            assert ledger.verify(s, a.id), f"cache and ledger disagree on {a.service_name}"
            row = s.get(Account, a.id)
            out.append((row.credits_milli, row.credits_held_milli))
        return out


def external_total(db, accounts):
    """What came in from outside (initial credits, purchases) minus what left (sent SMS, net of refunds)."""
    with db.read() as s:
        return s.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_milli), 0)).where(
                LedgerEntry.account_id.in_([a.id for a in accounts]),
                LedgerEntry.kind.in_([ledger.Kind.ADJUSTMENT, ledger.Kind.PURCHASE, ledger.Kind.JOB_DEBIT, ledger.Kind.REFUND]),
            )
        )


def no_negative_balance_ever(db, accounts):
    with db.read() as s:
        worst = s.scalar(select(func.min(LedgerEntry.balance_after_milli)).where(LedgerEntry.account_id.in_([a.id for a in accounts])))
    assert worst is None or worst >= 0


# --- hypothesis: any sequence of movements keeps the books balanced ---------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["adjust", "debit", "refund", "hold", "release", "transfer"]),
        st.integers(0, 2), st.integers(0, 2), st.integers(1, 60_000),
    ),
    min_size=1, max_size=25,
)


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_any_sequence_keeps_ledger_and_caches_in_agreement(db, ops):
    accounts = new_accounts(db, 50, 20, 0)
    outside = 70_000  # milli-credits that entered (initial credits)
    for op, i, j, milli in ops:
        a, b = accounts[i], accounts[j]
        try:
            with db.session() as s:
                if op == "adjust":
                    ledger.post(s, a.id, ledger.Movement(ledger.Kind.ADJUSTMENT, milli, actor="t"))
                    outside += milli
                elif op == "debit":
                    ledger.post(s, a.id, ledger.Movement(ledger.Kind.JOB_DEBIT, -milli, actor="t"))
                    outside -= milli
                elif op == "refund":
                    ledger.post_many(s, a.id, [ledger.Movement(ledger.Kind.REFUND, milli // 2 + 1, actor="t"),
                                              ledger.Movement(ledger.Kind.REFUND, milli // 2, actor="t")])
                    outside += milli + 1 - (milli % 2)
                elif op == "hold":
                    ledger.hold_for_quota(s, a.id, milli, actor="t")
                elif op == "release":
                    ledger.release_quota(s, a.id, milli, actor="t")
                else:
                    transfers.transfer(s, s.get(Account, a.id), b.service_name, milli / 1000, actor="t")
        except (NotEnoughCredits, BadRequest):
            pass
        state = balances(db, accounts)
        assert all(free >= 0 and held >= 0 for free, held in state)
        assert sum(free + held for free, held in state) == outside


# --- quotas -----------------------------------------------------------------------------------


def test_quota_hold_moves_free_credits_and_transfers_cannot_take_them(db):
    src, dst = new_accounts(db, 100, 0)
    with db.session() as s:
        ledger.hold_for_quota(s, src.id, 60_000, actor="t", reason="user alice")
    assert balances(db, [src]) == [(40_000, 60_000)]
    with pytest.raises(NotEnoughCredits) as caught, db.session() as s:
        transfers.transfer(s, s.get(Account, src.id), dst.service_name, 41, actor="t")
    assert "credits" in caught.value.message and "quotas" in caught.value.message
    with pytest.raises(BadRequest), db.session() as s:
        ledger.release_quota(s, src.id, 61_000, actor="t")
    with db.session() as s:
        transfers.transfer(s, s.get(Account, src.id), dst.service_name, 40, actor="t")
        ledger.release_quota(s, src.id, 60_000, actor="t")
    assert balances(db, [src, dst]) == [(60_000, 0), (40_000, 0)]


def test_transfer_rules(db):
    a, b = new_accounts(db, 10, 0)
    (foreign,) = new_accounts(db, 0)
    for bad in (0, -1, float("nan"), float("inf"), 0.0001):
        with pytest.raises(BadRequest) as caught, db.session() as s:
            transfers.transfer(s, s.get(Account, a.id), b.service_name, bad, actor="t")
        assert caught.value.message.startswith("credits:")
    with pytest.raises(BadRequest) as caught, db.session() as s:
        transfers.transfer(s, s.get(Account, a.id), a.service_name, 1, actor="t")
    assert "smsAccountTarget" in caught.value.message
    for target in (foreign.service_name, "sms-nope-1"):
        with pytest.raises(NotFound) as caught, db.session() as s:
            transfers.transfer(s, s.get(Account, a.id), target, 1, actor="t")
        assert "smsAccountTarget" in caught.value.message
    with db.session() as s:
        transfers.allow(s, s.get(Account, a.id), s.get(Account, foreign.id))
    with db.session() as s:
        transfers.transfer(s, s.get(Account, a.id), foreign.service_name, 2.5, actor="t")
    with pytest.raises(NotFound), db.session() as s:  # allowed one way only
        transfers.transfer(s, s.get(Account, foreign.id), a.service_name, 1, actor="t")
    assert balances(db, [a, foreign]) == [(7_500, 0), (2_500, 0)]
    with db.read() as s:
        out, into = (s.scalars(select(LedgerEntry).where(LedgerEntry.account_id == x.id).order_by(LedgerEntry.id.desc())).first()
                     for x in (a, foreign))
    assert (out.kind, out.amount_milli, out.counterpart_account_id) == ("transfer_out", -2_500, foreign.id)
    assert (into.kind, into.amount_milli, into.counterpart_account_id) == ("transfer_in", 2_500, a.id)


# --- concurrency ------------------------------------------------------------------------------


def test_200_concurrent_transfers_and_sends_conserve_credits(db):
    accounts = new_accounts(db, 40, 40, 40)
    before = external_total(db, accounts)
    rng = random.Random(7)
    plan = []
    for n in range(200):
        i = rng.randrange(3)
        if n % 2:
            plan.append(("transfer", i, (i + rng.randrange(1, 3)) % 3, rng.choice([0.5, 1, 3, 7.25, 20])))
        else:
            plan.append(("send", i, None, rng.randrange(1, 6)))

    def run(step):
        op, i, j, amount = step
        try:
            with db.session() as s:
                src = s.get(Account, accounts[i].id)
                if op == "transfer":
                    transfers.transfer(s, src, accounts[j].service_name, amount, actor="t")
                else:
                    receivers = [f"+336123{i}{k:04d}" for k in range(amount)]
                    accept_job(s, src, SendRequest(message="hi", receivers=receivers, no_stop_clause=True), SETTINGS, "t")
            return "ok"
        except NotEnoughCredits:
            return "refused"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(run, plan))
    assert outcomes.count("ok") > 50
    state = balances(db, accounts)
    no_negative_balance_ever(db, accounts)
    with db.read() as s:
        sent = -s.scalar(select(func.sum(LedgerEntry.amount_milli)).where(
            LedgerEntry.account_id.in_([a.id for a in accounts]), LedgerEntry.kind == "job_debit"))
        moved = s.execute(select(LedgerEntry.kind, func.sum(LedgerEntry.amount_milli)).where(
            LedgerEntry.account_id.in_([a.id for a in accounts]), LedgerEntry.kind.in_(["transfer_in", "transfer_out"])
        ).group_by(LedgerEntry.kind)).all()
    assert before == 120_000
    assert sum(free for free, _ in state) == 120_000 - sent == external_total(db, accounts)
    assert sum(v for _, v in moved) == 0


# --- orders -----------------------------------------------------------------------------------


def test_order_paid_twice_or_concurrently_credits_once(db):
    (acc,) = new_accounts(db, 0)
    with db.session() as s:
        order = billing.create_order(s, s.get(Account, acc.id), 1000, actor="t", settings=SETTINGS)
    assert order.priced["prices"]["withoutTax"]["value"] == 70.0
    assert order.priced["prices"]["withTax"]["value"] == 84.0
    barrier = threading.Barrier(8)

    def pay(_):
        barrier.wait()
        with db.session() as s:
            return billing.confirm_payment(s, order.id, actor="t").credited

    with ThreadPoolExecutor(8) as pool:
        credited = list(pool.map(pay, range(8)))
    with db.session() as s:
        assert billing.confirm_payment(s, order.id, actor="t").credited is False
    assert credited.count(True) == 1
    assert balances(db, [acc]) == [(1_000_000, 0)]
    with db.read() as s:
        o = s.get(Order, order.id)
        assert (o.status, o.payment_confirmations) == ("delivered", 9)
        assert s.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.order_id == order.id)) == 1


def test_cancelled_order_cannot_be_paid(db):
    (acc,) = new_accounts(db, 0)
    with db.session() as s:
        order = billing.create_order(s, s.get(Account, acc.id), 100, actor="t", settings=SETTINGS)
        billing.cancel_order(s, order.id, actor="t")
    from textos.domain.errors import Conflict

    with pytest.raises(Conflict), db.session() as s:
        billing.confirm_payment(s, order.id, actor="t")
    assert balances(db, [acc]) == [(0, 0)]


def automatic_orders(db, acc):
    with db.read() as s:
        return s.scalars(select(Order).where(Order.account_id == acc.id, Order.reason == "automatic").order_by(Order.id)).all()


def debit(db, acc, milli, kind=ledger.Kind.JOB_DEBIT):
    with db.session() as s:
        ledger.post(s, acc.id, ledger.Movement(kind, -milli, actor="t"))


def test_automatic_top_up_fires_once_per_crossing(db):
    (acc,) = new_accounts(db, 100)
    with db.session() as s:
        row = s.get(Account, acc.id)
        row.credit_threshold_milli, row.automatic_recredit_amount = 50_000, 200
    for _ in range(4):
        debit(db, acc, 10_000)          # 90 … 60: above the threshold
    assert automatic_orders(db, acc) == []
    debit(db, acc, 15_000)              # 45: crossed
    for _ in range(3):
        debit(db, acc, 5_000)           # 40, 35, 30: still below, no new order
    orders = automatic_orders(db, acc)
    assert [(o.quantity, o.status) for o in orders] == [(200, "notPaid")]
    with db.session() as s:             # a refund back above the threshold does not re-arm
        ledger.post(s, acc.id, ledger.Movement(ledger.Kind.REFUND, 25_000, actor="t"))
    debit(db, acc, 10_000)
    assert len(automatic_orders(db, acc)) == 1
    with db.session() as s:
        billing.confirm_payment(s, orders[0].id, actor="t")   # 245: re-armed
    debit(db, acc, 200_000)             # 45: second crossing
    assert [o.status for o in automatic_orders(db, acc)] == ["delivered", "notPaid"]
    assert balances(db, [acc]) == [(45_000, 0)]


def test_concurrent_debits_crossing_the_threshold_make_one_order(db):
    (acc,) = new_accounts(db, 100)
    with db.session() as s:
        row = s.get(Account, acc.id)
        row.credit_threshold_milli, row.automatic_recredit_amount = 90_000, 100
    barrier = threading.Barrier(10)

    def go(_):
        barrier.wait()
        debit(db, acc, 3_000)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(go, range(10)))
    assert len(automatic_orders(db, acc)) == 1
    assert balances(db, [acc]) == [(70_000, 0)]
