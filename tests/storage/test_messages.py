"""The message lifecycle (``storage.messages``) against a real database, SQLite and PostgreSQL:
claims, submit results, the one way back to the queue, expiry, cancellation, and
what a message is charged."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest
from sqlalchemy import select, update

from lifecycle_helpers import credits, new_account, send, statuses
from textos.delivery.connector import SubmitOutcome, SubmitResult
from textos.domain.lifecycle import MessageStatus, codes_of
from textos.storage import messages
from textos.storage.fastsql import run
from textos.storage.messages import Claimant, claim_due, close_unsent, close_without_receipt, expire_overdue, requeue
from textos.storage.models import LedgerEntry, Message, utcnow


@pytest.fixture
def account(db):
    return new_account(db)


def sent(mid: int, *part_ids: str) -> SubmitResult:
    return SubmitResult(mid, SubmitOutcome.ACCEPTED, part_ids)


def claim(db, limit: int = 100, instance: int | None = None) -> list[tuple]:
    with db.session() as s:
        return claim_due(s, limit, lambda *fields: fields, instance=instance)


def message(db, mid: int) -> Message:
    with db.read() as s:
        return s.get_one(Message, mid)


def ledger_kinds(db, account) -> list[str]:
    with db.read() as s:
        return list(s.scalars(select(LedgerEntry.kind).where(LedgerEntry.account_id == account.id).order_by(LedgerEntry.id)))


# Claims


def test_claim_orders_by_priority_then_age_and_skips_deferred(db, account):
    low = send(db, account, ["+33612345601"], priority="veryLow")[0]
    high1 = send(db, account, ["+33612345602"], priority="high")[0]
    medium = send(db, account, ["+33612345603"], priority="medium")[0]
    high2 = send(db, account, ["+33612345604"], priority="high")[0]
    later = send(db, account, ["+33612345605"], priority="high", differed_period=10)[0]
    batch = claim(db)
    assert [m[0] for m in batch] == [high1, high2, medium, low]
    assert later not in [m[0] for m in batch]
    assert claim(db) == []  # already claimed
    assert statuses(db, [high1, later]) == ["submitting", "queued"]


def test_a_claimed_message_carries_what_its_carrier_needs(db, account):
    mid = send(db, account, ["+33612345678"], message="é" * 80, priority="low", validity_period=60)[0]
    [(id_, sender, sender_type, receiver, text, encoding, parts, message_class, priority, validity)] = claim(db, instance=7)
    assert (id_, receiver, text, encoding.value, parts, priority) == (mid, "+33612345678", "é" * 80, "7bits", 1, "low")
    assert sender and sender_type and message_class is None
    assert validity is not None and dt.timedelta(minutes=59) < validity - utcnow() <= dt.timedelta(minutes=60)
    m = message(db, mid)
    assert (m.status, m.claimed_by, m.attempts) == ("submitting", 7, 1)


# Submit results


def test_accepted_messages_are_sent_with_their_carrier_ids(db, account):
    single, long = send(db, account, ["+33612345678"])[0], send(db, account, ["+33612345679"], message="x" * 200)[0]
    claim(db)
    with db.session() as s:
        messages.store_sent(s, [sent(single, "00A1"), sent(long, "B1", "B2")], {single: "sim", long: "sim"}, {single: 1, long: 2})
    m = message(db, single)
    assert (m.status, m.ptt, m.dlr, m.carrier_id, m.connector) == ("sent", *codes_of(MessageStatus.SENT), "a1", "sim")
    assert m.sent_at is not None
    assert message(db, long).carrier_id == "b1"
    assert credits(db, account) == 97  # 1 + 2 parts, as charged


def test_rejected_messages_are_refunded_once(db, account):
    ids = send(db, account, ["+33612345678", "+33612345679"])
    claim(db)
    with db.session() as s:
        messages.store_rejected(s, [SubmitResult(ids[0], SubmitOutcome.REJECTED, error="0x0000000B"), SubmitResult(ids[1], SubmitOutcome.REJECTED, error="0x00000045")])
    with db.session() as s:
        messages.store_rejected(s, [SubmitResult(ids[0], SubmitOutcome.REJECTED, error="0x0000000B")])  # the same result again
    assert credits(db, account) == 100
    m = message(db, ids[0])
    assert (m.status, m.ptt, m.dlr, m.error, m.credits_milli) == ("rejected", *codes_of(MessageStatus.REJECTED), "0x0000000B", 0)
    assert message(db, ids[1]).error == "0x00000045"
    assert ledger_kinds(db, account) == ["adjustment", "job_debit", "refund", "refund"]


def test_retries_go_back_to_the_queue_due_after_their_delay(db, account):
    soon, later = send(db, account, ["+33612345678", "+33612345679"])
    claim(db)
    with db.session() as s:
        messages.store_retries(s, [
            SubmitResult(soon, SubmitOutcome.RETRY, retry_after=0.01), SubmitResult(later, SubmitOutcome.RETRY, retry_after=60.0),
        ])
    assert statuses(db, [soon, later]) == ["queued", "queued"]
    time.sleep(0.02)
    assert [m[0] for m in claim(db)] == [soon]  # the other is not due yet
    assert dt.timedelta(seconds=55) < message(db, later).send_at - utcnow() <= dt.timedelta(seconds=60)
    assert credits(db, account) == 98  # still charged: it will be sent


# Charged exactly as sent


def test_a_message_sent_in_fewer_parts_than_charged_is_refunded_the_difference(db, account):
    mid = send(db, account, ["+33612345678"], message="y" * 400)[0]  # 3 parts charged
    assert credits(db, account) == 97
    claim(db)
    with db.session() as s:
        messages.store_sent(s, [sent(mid, "c1", "c2")], {mid: "sim"}, {mid: 3})
    m = message(db, mid)
    assert (m.status, m.parts, m.credits_milli) == ("sent", 2, 2000)
    assert credits(db, account) == 98
    with db.read() as s:
        refund = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "refund")).one()
    assert (refund.amount_milli, refund.message_id) == (1000, mid)
    with db.session() as s:  # the same result stored twice refunds once
        messages.store_sent(s, [sent(mid, "c1", "c2")], {mid: "sim"}, {mid: 3})
    assert credits(db, account) == 98


def test_the_refund_of_parts_not_sent_is_proportional_to_the_charge(db, account):
    mid = send(db, account, ["+33612345678"], message="y" * 400)[0]
    with db.session() as s:  # a charge that does not divide evenly: 1000 for 3 parts
        s.execute(update(Message).where(Message.id == mid).values(credits_milli=1000))
    claim(db)
    with db.session() as s:
        messages.store_sent(s, [sent(mid, "d1")], {mid: "sim"}, {mid: 3})
    m = message(db, mid)
    assert (m.parts, m.credits_milli) == (1, 333)  # round(1000 × 1 / 3); 667 refunded


def test_a_message_sent_in_more_parts_than_charged_is_logged_and_stored_as_sent(db, account, caplog):
    mid = send(db, account, ["+33612345678"])[0]  # 1 part charged
    claim(db)
    with caplog.at_level(logging.ERROR, logger="textos.messages"), db.session() as s:
        messages.store_sent(s, [sent(mid, "e1", "e2")], {mid: "sim"}, {mid: 1})
    assert f"message {mid} was sent in 2 parts but charged for 1" in caplog.text
    m = message(db, mid)
    assert (m.status, m.parts, m.credits_milli) == ("sent", 2, 1000)
    assert ledger_kinds(db, account) == ["adjustment", "job_debit"]


def test_a_message_sent_as_charged_moves_no_credits(db, account):
    mid = send(db, account, ["+33612345678"], message="y" * 400)[0]
    claim(db)
    with db.session() as s:
        messages.store_sent(s, [sent(mid, "f1", "f2", "f3")], {mid: "sim"}, {mid: 3})
    assert (message(db, mid).parts, message(db, mid).credits_milli) == (3, 3000)
    assert ledger_kinds(db, account) == ["adjustment", "job_debit"]


# Back to the queue: one function for every caller


def test_requeue_without_conditions_takes_everything_in_flight(db, account):
    """SQLite's one dispatcher at its start: whatever was in flight was its own."""
    ids = send(db, account, [f"+336123456{i:02d}" for i in range(5)])
    claim(db, 3, instance=1)
    with db.session() as s:
        assert requeue(s) == 3
    assert statuses(db, ids) == ["queued"] * 5
    assert len(claim(db)) == 5


def test_requeue_by_claimant_leaves_other_dispatchers_alone(db, account):
    """A dispatcher gone (``ownership.requeue_orphans``): only its own go back."""
    ids = send(db, account, [f"+336123456{i:02d}" for i in range(6)])
    claim(db, 2, instance=7)
    claim(db, 2, instance=9)
    claim(db, 1)  # claimed before instance numbers existed
    with db.session() as s:
        assert requeue(s, claimed_by=7) == 2
    assert statuses(db, ids) == ["queued", "queued", "submitting", "submitting", "submitting", "queued"]
    with db.session() as s:
        assert requeue(s, claimed_by=None) == 1
        assert requeue(s, claimed_by=Claimant.ANY) == 2


def test_requeue_of_given_ids_and_claimant(db, account):
    """The dispatcher's sweep of its own stranded messages: those ids, if still its own."""
    a, b, c = send(db, account, ["+33612345601", "+33612345602", "+33612345603"])
    claim(db, 2, instance=7)
    claim(db, 1, instance=9)
    with db.session() as s:
        assert requeue(s, [a, c], claimed_by=7) == 1  # c is 9's
        assert requeue(s, [b], claimed_by=9) == 0
    assert statuses(db, [a, b, c]) == ["queued", "submitting", "submitting"]


def test_requeue_of_many_ids_with_a_delay(db, account):
    """Submit results to retry later (a whole batch, throttled)."""
    ids = send(db, account, [f"+336123456{i:02d}" for i in range(30)])
    claim(db)
    with db.session() as s:
        assert requeue(s, ids[:20], delay=30) == 20
    assert claim(db) == []  # none due yet
    assert statuses(db, ids).count("queued") == 20


def test_requeue_moves_only_messages_in_flight(db, account):
    first, second = send(db, account, ["+33612345601", "+33612345602"])
    claim(db, 1)
    with db.session() as s:
        messages.store_sent(s, [sent(first, "a1")], {}, {first: 1})
        assert requeue(s, [first, second]) == 0
    assert statuses(db, [first, second]) == ["sent", "queued"]


# Never sent: refunded


def test_expired_messages_are_refunded_once(db, account):
    ids = send(db, account, ["+33612345678", "+33612345679"])
    assert credits(db, account) == 98
    with db.session() as s:
        s.execute(update(Message).where(Message.id == ids[0]).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    with db.session() as s:
        assert expire_overdue(s) == 1
    with db.session() as s:
        assert expire_overdue(s) == 0
    assert credits(db, account) == 99
    m = message(db, ids[0])
    assert (m.status, m.ptt, m.dlr, m.credits_milli) == ("expired", *codes_of(MessageStatus.EXPIRED), 0)
    assert ledger_kinds(db, account) == ["adjustment", "job_debit", "refund"]


def test_cancel_refunds_queued_messages_only_and_once(db, account):
    claimed, queued = send(db, account, ["+33612345678", "+33612345679"])
    claim(db, 1)
    for _ in range(2):
        with db.session() as s:
            moved = close_unsent(
                s, [claimed, queued], from_statuses=[MessageStatus.QUEUED], to_status=MessageStatus.CANCELLED, actor="test",
                reason="stopped",
            )
        assert moved == ([queued] if _ == 0 else [])
    assert statuses(db, [claimed, queued]) == ["submitting", "cancelled"]
    assert (message(db, queued).ptt, message(db, queued).dlr) == codes_of(MessageStatus.CANCELLED)
    assert credits(db, account) == 99


# Sent, and no receipt came


def sent_long_ago(db, account, receivers: list[str], ages: list[float]) -> list[int]:
    """Messages sent (accepted by their carrier) ``ages`` seconds ago, their receipts not come."""
    ids = send(db, account, receivers)
    claim(db)
    with db.session() as s:
        messages.store_sent(s, [sent(mid, f"c{mid}") for mid in ids], {mid: "sim" for mid in ids}, {mid: 1 for mid in ids})
        for mid, age in zip(ids, ages):
            s.execute(update(Message).where(Message.id == mid).values(sent_at=utcnow() - dt.timedelta(seconds=age)))
    return ids


def test_sent_messages_whose_receipt_is_overdue_settle_as_no_receipt_and_stay_charged(db, account):
    overdue, waiting = sent_long_ago(db, account, ["+33612345678", "+33612345679"], [120, 10])
    heard: list[int] = []
    db.changes.subscribe(heard.extend)
    with db.session() as s:
        assert close_without_receipt(s, timeout=60) == [overdue]
    with db.session() as s:
        assert close_without_receipt(s, timeout=60) == []
    m = message(db, overdue)
    assert (m.status, m.ptt, m.dlr, m.credits_milli) == ("no_receipt", 6, 2, 1000)
    assert m.error == "no receipt within 60 s"
    assert statuses(db, [waiting]) == ["sent"]
    assert heard == [overdue]  # published like any other state change, once committed
    assert credits(db, account) == 98  # sent: charged, never refunded
    assert ledger_kinds(db, account) == ["adjustment", "job_debit"]


def test_overdue_receipts_are_settled_oldest_first_in_bounded_batches(db, account):
    ids = sent_long_ago(db, account, ["+33612345671", "+33612345672", "+33612345673"], [300, 100, 200])
    with db.session() as s:
        assert close_without_receipt(s, timeout=60, limit=2) == [ids[0], ids[2]]
    with db.session() as s:
        assert close_without_receipt(s, timeout=60, limit=2) == [ids[1]]


def test_the_look_for_overdue_receipts_reads_only_the_index_of_sent_messages(db):
    with db.session() as s:
        if db.is_sqlite:
            explain = "EXPLAIN QUERY PLAN "
        else:
            explain = "EXPLAIN "
            run(s, "SET LOCAL enable_seqscan = off")  # an empty test table would be scanned anyway
        plan = " ".join(str(row) for row in run(s, explain + messages._OVERDUE_RECEIPTS, (utcnow(), 10)).fetchall())
    assert "ix_messages_awaiting_receipt" in plan, plan
    assert "SCAN messages" not in plan and "Seq Scan" not in plan, plan
