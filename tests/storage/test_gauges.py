"""storage/gauges.py: the scrape-time numbers, read from the partial indexes of the work left."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from lifecycle_helpers import new_account, send
from textos.delivery.connector import OutboundMessage, SubmitOutcome, SubmitResult
from textos.storage import gauges, messages, outbox
from textos.storage.fastsql import run
from textos.storage.models import CallbackEvent, Message, utcnow


def test_an_empty_database_has_nothing_waiting(db):
    with db.read() as s:
        assert gauges.reachable(s)
        assert gauges.queue(s) == (0, 0.0)
        assert gauges.awaiting_receipts(s) == (0, 0.0)
        assert gauges.pending_by_account(s) == []
        assert gauges.callbacks_by_host(s) == []


def test_queue_sent_and_callbacks_are_counted_with_their_ages(db):
    account = new_account(db)
    ids = send(db, account, ["+33612345601", "+33612345602", "+33612345603"])
    later = send(db, account, ["+33612345604"], differed_period=60)  # not due yet: not in the queue
    now = utcnow()
    with db.session() as s:
        s.execute(update(Message).where(Message.id == ids[0]).values(send_at=now - dt.timedelta(seconds=90)))
    with db.read() as s:
        depth, age = gauges.queue(s, now)
        assert depth == 3 and 89 <= age <= 91
        assert sorted(gauges.pending_by_account(s)) == [(account.service_name, "queued", 4)]
    with db.session() as s:
        claimed = messages.claim_due(s, 1, OutboundMessage)
        messages.store_sent(s, [SubmitResult(claimed[0].id, SubmitOutcome.ACCEPTED, ("c1",))], {claimed[0].id: "sim"}, {claimed[0].id: 1})
        s.execute(update(Message).where(Message.id == claimed[0].id).values(sent_at=now - dt.timedelta(seconds=30)))
    with db.read() as s:
        assert gauges.queue(s, now)[0] == 2
        count, lag = gauges.awaiting_receipts(s, now)
        assert count == 1 and 29 <= lag <= 31
        assert sorted(gauges.pending_by_account(s)) == [(account.service_name, "queued", 3), (account.service_name, "sent", 1)]
    assert later
    with db.session() as s:
        for url in ("http://a.example/x", "http://a.example/y", "http://b.example/z"):
            outbox.enqueue(s, account_id=account.id, kind="stop", url=url, params={}, order_key=url)
        s.execute(update(CallbackEvent).where(CallbackEvent.url == "http://b.example/z").values(status="failed"))
    with db.read() as s:
        assert sorted(gauges.callbacks_by_host(s)) == [("a.example", "pending", 2), ("b.example", "failed", 1)]


def test_sqlite_counts_each_pending_state_on_its_partial_index(db):
    if not db.is_sqlite:
        return  # PostgreSQL chooses by statistics (measured in the notes: 6 ms a scrape at 1M messages)
    indexes = {"queued": "ix_messages_queue", "submitting": "ix_messages_in_flight", "sent": "ix_messages_awaiting_receipt"}
    with db.read() as s:
        for state, index in indexes.items():
            plan = " ".join(str(row[-1]) for row in run(s, "EXPLAIN QUERY PLAN " + gauges.pending_sql(state)).fetchall())
            assert f"INDEX {index}" in plan and "ix_messages_account_tag" not in plan, plan
