"""The credit ledger against a real database (SQLite and PostgreSQL): any sequence of movements
keeps entries and balance caches in agreement (hypothesis), quota holds, and threshold crossings
reported once per crossing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers import BACKENDS
from credit_helpers import balances, new_accounts
from textos.domain.errors import BadRequest, NotEnoughCredits
from textos.services import transfers
from textos.storage import ledger
from textos.storage.db import Database
from textos.storage.models import Account, LedgerEntry


@pytest.fixture(scope="module", params=BACKENDS)
def db(request, make_database):
    database = Database(make_database(request.param))
    database.migrate()
    yield database
    database.dispose()


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


def test_quota_hold_moves_free_credits_to_held_and_back(db):
    (acc,) = new_accounts(db, 100)
    with db.session() as s:
        ledger.hold_for_quota(s, acc.id, 60_000, actor="t", reason="user alice")
    assert balances(db, [acc]) == [(40_000, 60_000)]
    with pytest.raises(NotEnoughCredits), db.session() as s:
        ledger.hold_for_quota(s, acc.id, 40_001, actor="t")
    with pytest.raises(BadRequest) as caught, db.session() as s:
        ledger.release_quota(s, acc.id, 61_000, actor="t")
    assert "held by quotas" in caught.value.message
    with db.session() as s:
        ledger.release_quota(s, acc.id, 60_000, actor="t")
    assert balances(db, [acc]) == [(100_000, 0)]


# --- threshold crossings ----------------------------------------------------------------------


@pytest.fixture
def crossings(monkeypatch):
    """What the ledger reports to its threshold observers: ``(account_id, amount, cause)``."""
    seen: list[tuple[int, int, str]] = []
    lock = threading.Lock()

    def observe(session, account_id, amount, cause):
        with lock:
            seen.append((account_id, amount, cause))

    monkeypatch.setattr(ledger, "threshold_observers", [observe])
    return seen


def with_threshold(db, acc, threshold_milli, amount):
    with db.session() as s:
        row = s.get(Account, acc.id)
        row.credit_threshold_milli, row.automatic_recredit_amount = threshold_milli, amount


def debit(db, acc, milli, actor="t"):
    with db.session() as s:
        ledger.post(s, acc.id, ledger.Movement(ledger.Kind.JOB_DEBIT, -milli, actor=actor))


def test_a_crossing_is_reported_once_and_rearmed_only_by_credits_coming_in(db, crossings):
    (acc,) = new_accounts(db, 100)
    with_threshold(db, acc, 50_000, 200)
    for _ in range(4):
        debit(db, acc, 10_000)          # 90 … 60: above the threshold
    assert crossings == []
    debit(db, acc, 15_000, actor="job 7")   # 45: crossed
    for _ in range(3):
        debit(db, acc, 5_000)           # 40, 35, 30: still below, not again
    assert crossings == [(acc.id, 200, "job 7")]
    with db.session() as s:             # a refund back above the threshold does not re-arm
        ledger.post(s, acc.id, ledger.Movement(ledger.Kind.REFUND, 25_000, actor="t"))
    debit(db, acc, 10_000)
    assert len(crossings) == 1
    with db.session() as s:             # a purchase does: 245
        ledger.post(s, acc.id, ledger.Movement(ledger.Kind.PURCHASE, 200_000, actor="t"))
    debit(db, acc, 200_000)             # 45: second crossing
    assert len(crossings) == 2
    assert balances(db, [acc]) == [(45_000, 0)]


def test_no_report_without_an_amount_to_order(db, crossings):
    (acc,) = new_accounts(db, 100)
    with_threshold(db, acc, 50_000, None)
    debit(db, acc, 60_000)
    assert crossings == []


def test_concurrent_debits_crossing_the_threshold_are_reported_once(db, crossings):
    (acc,) = new_accounts(db, 100)
    with_threshold(db, acc, 90_000, 100)
    barrier = threading.Barrier(10)

    def go(_):
        barrier.wait()
        debit(db, acc, 3_000)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(go, range(10)))
    assert [(a, n) for a, n, _ in crossings] == [(acc.id, 100)]
    assert balances(db, [acc]) == [(70_000, 0)]


def test_affordable_pays_debits_in_their_order_each_that_what_is_left_covers(db):
    (account,) = new_accounts(db, 5)
    with db.session() as s:
        refusals = ledger.affordable(s, account.id, [2000, 4000, 3000, 1000, 1])
    assert [r is None for r in refusals] == [True, False, True, False, False]
    assert [str(r) for r in refusals if r] == [
        "Not enough credits: 4 needed, creditsLeft is 3", "Not enough credits: 1 needed, creditsLeft is 0",
        "Not enough credits: 0.001 needed, creditsLeft is 0",
    ]
    assert balances(db, [account]) == [(5000, 0)]  # it decides; nothing is debited


def test_affordable_on_credits_as_read_judges_them_without_reading_and_the_debit_stays_the_guard(db):
    (account,) = new_accounts(db, 5)
    with db.session() as s:
        refusals = ledger.affordable(s, account.id, [2000, 4000], left=7000)  # as read earlier: 7, though 5 now
        assert refusals == [None, None]
        with pytest.raises(NotEnoughCredits):  # 6 of 5: the conditional update refuses
            ledger.post_many(s, account.id, [ledger.job_debit(1, 2000, actor="t", messages=1), ledger.job_debit(2, 4000, actor="t", messages=1)])
    assert balances(db, [account]) == [(5000, 0)]


def test_several_movements_posted_together_each_record_the_balance_after_them(db):
    (account,) = new_accounts(db, 10)
    with db.session() as s:
        ledger.post_many(s, account.id, [ledger.job_debit(job_id, milli, actor="t", messages=1)
                                         for job_id, milli in ((1, 1000), (2, 2500), (3, 500))])
    with db.read() as s:
        after = s.execute(
            select(LedgerEntry.job_id, LedgerEntry.amount_milli, LedgerEntry.balance_after_milli)
            .where(LedgerEntry.account_id == account.id, LedgerEntry.kind == ledger.Kind.JOB_DEBIT).order_by(LedgerEntry.id)
        ).all()
    assert [tuple(r) for r in after] == [(1, -1000, 9000), (2, -2500, 6500), (3, -500, 6000)]
    assert balances(db, [account]) == [(6000, 0)]


def test_movements_the_balance_cannot_pay_write_no_entry_and_leave_the_transaction_usable(db):
    (account,) = new_accounts(db, 2)
    with db.session() as s:
        with pytest.raises(NotEnoughCredits, match="3 needed, creditsLeft is 2"):
            ledger.post_many(s, account.id, [ledger.job_debit(1, 1000, actor="t", messages=1), ledger.job_debit(2, 2000, actor="t", messages=2)])
        ledger.post_many(s, account.id, [ledger.job_debit(3, 1500, actor="t", messages=1)])  # same transaction, still usable
    with db.read() as s:
        debits = s.scalars(select(LedgerEntry.job_id).where(LedgerEntry.account_id == account.id, LedgerEntry.kind == ledger.Kind.JOB_DEBIT)).all()
    assert debits == [3]
    assert balances(db, [account]) == [(500, 0)]
