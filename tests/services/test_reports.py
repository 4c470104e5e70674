"""Campaign reports (``services/reports.py``): read from the counts the writers keep, equal to the
reading of the messages themselves; replies counted through the real incoming path, STOPs per day,
scopes checked as the API and the CLI ask for them."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from report_traffic import Traffic, new_account
from textos.config import Settings
from textos.delivery.connector import IncomingMessage
from textos.delivery.incoming import store_incoming
from textos.domain.errors import BadRequest, NotFound
from textos.domain.lifecycle import DeliveryState
from textos.services import incoming, reports
from textos.services.jobs import SendRequest, accept
from textos.storage.models import Blacklist, Message, utcnow

SETTINGS = Settings()


def test_rates_percentiles_and_credits_of_a_settled_campaign(db):
    traffic = Traffic(db, new_account(db), random.Random(21))
    traffic.send("promo", 10)
    traffic.claim(10)
    traffic.rejected(1)
    traffic.sent(9)
    traffic.receipts(6, DeliveryState.DELIVERED, 4.0)
    traffic.receipts(3, DeliveryState.UNDELIVERABLE, 4.0)  # among the 9 sent: undelivered, or a duplicate of a delivered one
    with db.read() as s:
        got = reports.report(s, reports.Scope(traffic.account_id, tag="promo"))
        assert got == reports.read_exactly(s, reports.Scope(traffic.account_id, tag="promo"))
    assert got.messages == 10 and got.states["rejected"] == 1 and got.credits_milli == 9000
    assert got.delivered + got.states["failed"] + got.states["pending"] == 9 and got.delivered >= 6
    assert got.delivery_rate == round(got.delivered / 10, 6) and got.error_rate == round((got.states["failed"] + 1) / 10, 6)
    assert got.errors_by_ptt == {20: 1, **({5: got.states["failed"]} if got.states["failed"] else {})}
    assert 3.6 <= got.delivery_time.p50 <= 4.4 and sum(n for _, n in got.delivery_time.histogram) == got.delivered


def test_a_reply_through_a_conversation_counts_for_the_campaign_of_the_message_it_answers(db):
    account_id = new_account(db)
    alice = "+33612340001"
    sent = accept(db, account_id, SendRequest(message="Coming?", receivers=[alice], sender_for_response=True, no_stop_clause=True,
                                               tag="rsvp"), SETTINGS, actor="test")
    with db.read() as s:
        short = s.get_one(Message, sent.ids[0]).sender
    for text in ("YES", "with a friend"):
        with db.session() as s:
            incoming.handle(s, store_incoming(s, IncomingMessage(alice, short, text)), SETTINGS)
    with db.session() as s:  # a message that answers nothing counts nowhere
        incoming.handle(s, store_incoming(s, IncomingMessage("+33612340002", short, "who is this?")), SETTINGS)
    with db.read() as s:
        got = reports.report(s, reports.Scope(account_id, tag="rsvp"))
        assert got.replies == 2 == reports.read_exactly(s, reports.Scope(account_id, tag="rsvp")).replies
        assert reports.report(s, reports.Scope(account_id, tag="other")).replies == 0


def test_stops_are_counted_per_day_of_the_stop_and_a_period_counts_those_received_in_it(db):
    traffic = Traffic(db, new_account(db), random.Random(22))
    traffic.send("winter", 3, batch=True)
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    with db.session() as s:
        for i, days_ago in enumerate((0, 0, 2)):
            s.add(Blacklist(account_id=traffic.account_id, number=f"+3361000000{i}", tag="winter", batch_id=traffic.batches[0],
                            created_at=today - dt.timedelta(days=days_ago)))
        s.add(Blacklist(account_id=traffic.account_id, number="+33610000009", tag="summer", created_at=today))
    with db.read() as s:
        by_tag = reports.report(s, reports.Scope(traffic.account_id, tag="winter"))
        by_batch = reports.report(s, reports.Scope(traffic.account_id, batch_id=traffic.batches[0]))
        today_only = reports.report(s, reports.Scope(traffic.account_id, since=today.replace(hour=0), until=today.replace(hour=0) + dt.timedelta(days=1)))
    assert by_tag.stops_by_day == by_batch.stops_by_day == [((today - dt.timedelta(days=2)).date(), 1), (today.date(), 2)]
    assert (by_tag.stops, today_only.stops) == (3, 3)  # today: two of winter, one of summer


def test_a_scope_names_a_batch_of_the_account_and_a_period_that_is_not_empty(db):
    traffic = Traffic(db, new_account(db), random.Random(23))
    traffic.send("b", 1, batch=True)
    other = new_account(db)
    now = utcnow()
    with db.read() as s:
        assert reports.scope_for(s, traffic.account_id, batch_id=traffic.batches[0]).batch_id == traffic.batches[0]
        with pytest.raises(NotFound, match="batch"):
            reports.scope_for(s, other, batch_id=traffic.batches[0])
        with pytest.raises(BadRequest, match="^to: "):
            reports.scope_for(s, traffic.account_id, since=now, until=now)
    moment, hour = dt.datetime(2026, 12, 2, 10, 17, 3), dt.datetime(2026, 12, 2, 10)
    assert reports.whole_hours(reports.Scope(1, since=moment, until=moment)) == reports.Scope(1, since=hour, until=hour + dt.timedelta(hours=1))
    assert reports.whole_hours(reports.Scope(1, tag="t", since=hour, until=hour)) == reports.Scope(1, tag="t", since=hour, until=hour)
