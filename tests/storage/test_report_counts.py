"""Campaign report counts (``storage.report_counts``), kept by the writers' own statements, agree
with the messages themselves (``services.reports.read_exactly``) after any traffic through the
real lifecycle, folded or not, on SQLite and PostgreSQL; and they cost the history nothing."""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from report_traffic import ALL_STATUSES, DELAYS, SCRIPT, STATES, TAGS, Traffic, assert_counts_agree, new_account, statuses_seen
from textos.delivery.connector import Receipt
from textos.domain.lifecycle import DeliveryState
from textos.services import reports
from textos.storage import messages, report_counts
from textos.storage.fastsql import run
from textos.storage.models import utcnow
from textos.storage.receipts import apply_receipts

OP = st.one_of(
    st.tuples(st.just("send"), st.sampled_from(TAGS), st.integers(1, 6), st.booleans(), st.booleans(), st.booleans()),
    st.tuples(st.just("claim"), st.integers(1, 12)),
    st.tuples(st.just("sent"), st.integers(1, 10), st.booleans()),
    st.tuples(st.just("early"), st.integers(1, 4), st.sampled_from(STATES)),
    st.tuples(st.just("rejected"), st.integers(1, 4)),
    st.tuples(st.just("retry"), st.integers(1, 4)),
    st.tuples(st.just("receipts"), st.integers(1, 10), st.sampled_from(STATES), st.sampled_from(DELAYS), st.booleans()),
    st.tuples(st.just("no_receipt")),
    st.tuples(st.just("expire"), st.integers(1, 4)),
    st.tuples(st.just("cancel"), st.integers(1, 4)),
    st.tuples(st.just("reply"), st.integers(1, 3)),
    st.tuples(st.just("fold")),
)


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OP, min_size=1, max_size=30), seed=st.integers(0, 2**16))
def test_after_any_traffic_the_counts_agree_with_the_messages(db, ops, seed):
    """Any sequence of lifecycle steps (they accumulate over the examples on one database)."""
    traffic = Traffic(db, new_account(db), random.Random(seed))
    for op in ops:
        traffic.apply(op)
    assert_counts_agree(db, traffic)




def test_a_scripted_day_reaches_every_state_and_the_counts_agree_before_and_after_folding(db):
    account_id = new_account(db)
    traffic = Traffic(db, account_id, random.Random(7))
    seen: set[str] = set()
    for step, op in enumerate(SCRIPT):
        traffic.apply(op)
        seen |= statuses_seen(db, account_id)
        if step % 5 == 4:
            assert_counts_agree(db, traffic)
    assert seen == ALL_STATUSES
    assert_counts_agree(db, traffic)
    traffic.fold()
    with db.read() as s:
        assert run(s, "SELECT COUNT(*) FROM report_deltas").fetchone()[0] == 0
    assert_counts_agree(db, traffic)


def _one_sent(db) -> tuple[Traffic, int]:
    traffic = Traffic(db, new_account(db), random.Random(1))
    (mid,) = traffic.send("late", 1)
    traffic.claim(1)
    traffic.sent(1)
    return traffic, mid


def test_a_late_receipt_moves_a_message_from_no_receipt_to_its_real_outcome(db):
    traffic, mid = _one_sent(db)
    traffic.no_receipt()
    with db.read() as s:
        before = reports.report(s, reports.Scope(traffic.account_id, tag="late"))
    assert (before.states["no_receipt"], before.errors_by_ptt, before.states["pending"]) == (1, {6: 1}, 0)
    traffic.receipts(1, DeliveryState.DELIVERED, 90.0)
    with db.read() as s:
        after = reports.report(s, reports.Scope(traffic.account_id, tag="late"))
    assert (after.states["no_receipt"], after.delivered, after.errors_by_ptt) == (0, 1, {})
    assert 81 <= after.delivery_time.p50 <= 100  # within a bucket of the 90 s it took
    traffic.receipts(1, DeliveryState.UNDELIVERABLE, 95.0)  # a duplicate: the message is settled already
    assert_counts_agree(db, traffic)


def test_a_message_sent_in_fewer_parts_costs_its_campaign_what_it_was_finally_charged(db):
    traffic = Traffic(db, new_account(db), random.Random(2))
    traffic.send("long", 2, long=True)
    with db.read() as s:
        assert reports.report(s, reports.Scope(traffic.account_id, tag="long")).credits_milli == 4000
    traffic.claim(2)
    traffic.sent(2, fewer_parts=True)
    with db.read() as s:
        assert reports.report(s, reports.Scope(traffic.account_id, tag="long")).credits_milli == 2000
    assert_counts_agree(db, traffic)


def test_a_period_is_read_in_whole_hours_and_says_so(db):
    traffic = Traffic(db, new_account(db), random.Random(3))
    traffic.send("h", 2)
    now = utcnow()
    asked = reports.Scope(traffic.account_id, since=now - dt.timedelta(minutes=1), until=(now + dt.timedelta(seconds=1)).replace(microsecond=1))
    with db.read() as s:
        got = reports.report(s, asked)

    def hour_of(moment: dt.datetime) -> dt.datetime:
        return moment.replace(minute=0, second=0, microsecond=0)

    assert (got.scope.since, got.scope.until) == (hour_of(asked.since), hour_of(asked.until) + dt.timedelta(hours=1))
    assert got.messages == 2
    with db.read() as s, pytest.raises(ValueError, match="whole hours"):
        report_counts.read(s, traffic.account_id, since=now)


def test_folding_twice_at_once_counts_each_delta_once(db):
    """Two dispatchers fold at the same time (PostgreSQL): each delta is taken by one of them."""
    traffic = Traffic(db, new_account(db), random.Random(4))
    for tag in TAGS * 10:
        traffic.send(tag, 3)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def fold() -> None:
        try:
            barrier.wait()
            with db.session() as s:
                report_counts.fold(s, limit=7)
            reports.fold_counts(db)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_counts_agree(db, traffic)


def test_a_fold_adds_up_in_the_database_and_drops_deltas_of_no_job_with_an_error(db, caplog):
    traffic = Traffic(db, new_account(db), random.Random(5))
    for tag in TAGS:
        traffic.send(tag, 2)
    with db.session() as s:
        waiting = run(s, "SELECT COUNT(*) FROM report_deltas").fetchone()[0]
        run(s, "INSERT INTO report_deltas (job_id, metric, n) VALUES (?, ?, ?)", (10**9, "accepted", 5)).close()
    with db.session() as s:
        assert report_counts.fold(s) == waiting + 1  # the orphan is taken too, never folded again
    with db.session() as s:
        assert run(s, "SELECT COUNT(*) FROM report_deltas").fetchone()[0] == 0
        assert report_counts.fold(s) == 0
    assert "1 report deltas dropped: their jobs do not exist" in caplog.text
    assert_counts_agree(db, traffic)


def test_a_receipt_racing_the_receipt_deadline_counts_the_message_once(db):
    """PostgreSQL: the sweep settles a message *no_receipt* while a receipt's transaction is about
    to settle it too. The receipt waits for the sweep's lock, then settles it from *no_receipt*
    (the real outcome wins): counted as moving from there, not from *sent*."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: the two transactions cannot overlap")
    traffic, mid = _one_sent(db)
    sweep = db.session()
    s = sweep.__enter__()
    assert messages.close_without_receipt(s, 0) == [mid]  # not committed: the row stays locked
    done = threading.Event()

    def receipt() -> None:
        with db.session() as r:
            apply_receipts(r, [Receipt(f"c{mid}", DeliveryState.DELIVERED)])
        done.set()

    thread = threading.Thread(target=receipt)
    thread.start()
    assert not done.wait(0.5)  # waiting for the sweep's row lock
    sweep.__exit__(None, None, None)
    thread.join(10)
    assert done.is_set()
    with db.read() as r:
        got = reports.report(r, reports.Scope(traffic.account_id, tag="late"))
    assert (got.delivered, got.states["no_receipt"], got.states["pending"], got.errors_by_ptt) == (1, 0, 0, {})
    assert_counts_agree(db, traffic)


def test_a_report_reads_a_few_rows_whatever_the_campaign_size(db):
    """The counts of a folded campaign are a row per metric and hour, not per message."""
    traffic = Traffic(db, new_account(db), random.Random(5))
    for _ in range(4):
        traffic.send("big", 200)
    traffic.claim(800)
    traffic.sent(800)
    traffic.receipts(800, DeliveryState.DELIVERED, 3.0)
    traffic.fold()
    with db.read() as s:
        rows = run(s, "SELECT COUNT(*) FROM report_counts WHERE account_id = ? AND tag = 'big'", (traffic.account_id,)).fetchone()[0]
        assert rows <= 4  # accepted, credits, delivered, one delivery-time bucket (a job per hour)
        assert reports.report(s, reports.Scope(traffic.account_id, tag="big")).delivered == 800
    assert_counts_agree(db, traffic)
