"""Credit transfers (SQLite and PostgreSQL): who may transfer what to whom, held credits stay,
and transfers racing sends conserve every credit."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from credit_helpers import balances, new_accounts
from textos.config import Settings
from textos.domain.errors import BadRequest, NotEnoughCredits, NotFound
from textos.services import transfers
from textos.services.jobs import SendRequest, accept_job
from textos.storage import ledger
from textos.storage.models import Account, LedgerEntry


def test_parse_credits_takes_positive_amounts_of_at_most_three_decimals():
    assert transfers.parse_credits(2.5) == 2_500
    assert transfers.parse_credits("0.001") == 1
    for bad in (0, -1, float("nan"), float("inf"), 0.0001, "lots", True):
        with pytest.raises(BadRequest, match="^credits: "):
            transfers.parse_credits(bad)


def test_transfer_rules(db):
    a, b = new_accounts(db, 10, 0)
    (foreign,) = new_accounts(db, 0)
    with pytest.raises(BadRequest) as caught, db.session() as s:
        transfers.transfer(s, s.get(Account, a.id), b.service_name, 0, actor="t")
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
        result = transfers.transfer(s, s.get(Account, a.id), foreign.service_name, 2.5, actor="t")
    assert (result.credits, result.source_credits_left, result.target_credits_left) == (2.5, 7.5, 2.5)
    with pytest.raises(NotFound), db.session() as s:  # allowed one way only
        transfers.transfer(s, s.get(Account, foreign.id), a.service_name, 1, actor="t")
    assert balances(db, [a, foreign]) == [(7_500, 0), (2_500, 0)]
    with db.read() as s:
        out, into = (s.scalars(select(LedgerEntry).where(LedgerEntry.account_id == x.id).order_by(LedgerEntry.id.desc())).first()
                     for x in (a, foreign))
    assert (out.kind, out.amount_milli, out.counterpart_account_id) == ("transfer_out", -2_500, foreign.id)
    assert (into.kind, into.amount_milli, into.counterpart_account_id) == ("transfer_in", 2_500, a.id)
    with db.session() as s:
        transfers.revoke(s, s.get(Account, a.id), s.get(Account, foreign.id))
    with pytest.raises(NotFound), db.session() as s:
        transfers.transfer(s, s.get(Account, a.id), foreign.service_name, 1, actor="t")


def test_credits_held_by_quotas_cannot_be_transferred(db):
    src, dst = new_accounts(db, 100, 0)
    with db.session() as s:
        ledger.hold_for_quota(s, src.id, 60_000, actor="t", reason="user alice")
    with pytest.raises(NotEnoughCredits) as caught, db.session() as s:
        transfers.transfer(s, s.get(Account, src.id), dst.service_name, 41, actor="t")
    assert "credits" in caught.value.message and "quotas" in caught.value.message
    with db.session() as s:
        transfers.transfer(s, s.get(Account, src.id), dst.service_name, 40, actor="t")
    assert balances(db, [src, dst]) == [(0, 60_000), (40_000, 0)]


def external_total(db, accounts):
    """What came in from outside (initial credits, purchases) minus what left (sent SMS, net of refunds)."""
    with db.read() as s:
        return s.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_milli), 0)).where(
                LedgerEntry.account_id.in_([a.id for a in accounts]),
                LedgerEntry.kind.in_([ledger.Kind.ADJUSTMENT, ledger.Kind.PURCHASE, ledger.Kind.JOB_DEBIT, ledger.Kind.REFUND]),
            )
        )


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
                    accept_job(s, src, SendRequest(message="hi", receivers=receivers, no_stop_clause=True), Settings(), "t")
            return "ok"
        except NotEnoughCredits:
            return "refused"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(run, plan))
    assert outcomes.count("ok") > 50
    state = balances(db, accounts)
    with db.read() as s:
        worst = s.scalar(select(func.min(LedgerEntry.balance_after_milli)).where(LedgerEntry.account_id.in_([a.id for a in accounts])))
        sent = -s.scalar(select(func.sum(LedgerEntry.amount_milli)).where(
            LedgerEntry.account_id.in_([a.id for a in accounts]), LedgerEntry.kind == "job_debit"))
        moved = s.execute(select(LedgerEntry.kind, func.sum(LedgerEntry.amount_milli)).where(
            LedgerEntry.account_id.in_([a.id for a in accounts]), LedgerEntry.kind.in_(["transfer_in", "transfer_out"])
        ).group_by(LedgerEntry.kind)).all()
    assert worst is None or worst >= 0
    assert before == 120_000
    assert sum(free for free, _ in state) == 120_000 - sent == external_total(db, accounts)
    assert sum(v for _, v in moved) == 0
