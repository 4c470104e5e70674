"""Conversations (services/conversations.py): a senderForResponse message goes out from a short
number that identifies (receiver, number) for 48 h; a reply to it is attributed to the message."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from textos.config import Settings
from textos.delivery.connector import IncomingMessage
from textos.delivery.incoming import store_incoming
from textos.domain.errors import BadRequest
from textos.services import admin, conversations
from textos.services.jobs import SendRequest, accept, accept_job
from textos.storage.models import Account, Conversation, IncomingSms, Message

SETTINGS = Settings()
ALICE, BOB = "+33612345678", "+33698765432"


@pytest.fixture
def account(db) -> Account:
    with db.session() as s:
        admin.create_customer(s, "cv12345-test", "pw")
        return admin.create_account(s, "cv12345-test", 100)


def _send(db, account, receivers, settings=SETTINGS, **kw):  # type: ignore[no-untyped-def]
    req = SendRequest(message=kw.pop("message", "Come tomorrow? Answer YES or NO"), receivers=receivers,
                      sender_for_response=kw.pop("sender_for_response", True), no_stop_clause=True, **kw)
    return accept(db, account.id, req, settings, actor="test")


def _senders(db, ids: list[int]) -> list[str]:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return [s.get_one(Message, i).sender for i in ids]


def _reply(db, sender: str, receiver: str, settings=SETTINGS, at: dt.datetime | None = None) -> IncomingSms:  # type: ignore[no-untyped-def]
    with db.session() as s:
        message = IncomingMessage(sender, receiver, "YES")
        if at is not None:
            message = IncomingMessage(sender, receiver, "YES", received_at=at.replace(tzinfo=dt.timezone.utc))
        row = s.get_one(IncomingSms, store_incoming(s, message))
        conversations.attribute(s, row, settings)
        s.flush()
        s.expunge(row)
        return row


def test_the_pool_is_ranges_and_numbers_less_the_stop_number():
    assert conversations.pool(Settings(short_numbers="36110-36112, 36500")) == ("36110", "36112", "36500")
    assert len(conversations.pool(SETTINGS)) == 999 and "36111" not in conversations.pool(SETTINGS)
    with pytest.raises(ValueError, match="short_numbers"):
        conversations.pool(Settings(short_numbers="36000-abc"))
    with pytest.raises(ValueError, match="no number"):
        conversations.pool(Settings(short_numbers="36111"))


def test_each_message_goes_out_from_a_short_number_its_receiver_has_in_no_live_conversation(db, account):
    first = _send(db, account, [ALICE, BOB], tag="survey")
    second = _send(db, account, [ALICE], tag="reminder")
    a1, b1 = _senders(db, first.ids)
    (a2,) = _senders(db, second.ids)
    pool = conversations.pool(SETTINGS)
    assert {a1, b1, a2} <= set(pool) and a1 != a2
    with db.read() as s:
        rows = {(c.receiver, c.short_number): c for c in s.scalars(select(Conversation))}
    assert set(rows) == {(ALICE, a1), (BOB, b1), (ALICE, a2)}
    assert (rows[ALICE, a1].message_id, rows[ALICE, a1].tag, rows[ALICE, a1].account_id) == (first.ids[0], "survey", account.id)
    assert rows[ALICE, a2].tag == "reminder"
    live = rows[ALICE, a1].expires_at - rows[ALICE, a1].created_at
    assert dt.timedelta(hours=47, minutes=59) < live <= dt.timedelta(hours=48, seconds=1)


def test_a_job_without_sender_for_response_lends_no_number(db, account):
    report = _send(db, account, [ALICE], sender_for_response=False, sender=None)
    assert _senders(db, report.ids) == [SETTINGS.default_sender]
    with db.read() as s:
        assert s.scalars(select(Conversation)).all() == []


def test_only_french_receivers_can_reply_the_others_are_invalid_with_the_reason(db, account):
    report = _send(db, account, [ALICE, "+447700900123"])
    assert report.valid_receivers == [ALICE] and report.invalid_receivers == ["+447700900123"]
    with pytest.raises(BadRequest, match="senderForResponse: replies are possible only towards France"):
        _send(db, account, ["+447700900123"])


def test_a_receiver_with_every_number_busy_takes_over_its_oldest_conversation(db, account):
    two = Settings(short_numbers="36000-36001")
    ids = [_send(db, account, [ALICE], settings=two, tag=f"t{i}").ids[0] for i in range(3)]
    senders = _senders(db, ids)
    assert set(senders[:2]) == {"36000", "36001"} and senders[2] == senders[0]
    with db.read() as s:
        taken = s.scalar(select(Conversation).where(Conversation.short_number == senders[0]))
    assert (taken.message_id, taken.tag) == (ids[2], "t2")


def test_an_expired_conversation_frees_its_number(db, account):
    one = Settings(short_numbers="36000")
    first = _send(db, account, [ALICE], settings=one, tag="old").ids[0]
    with db.session() as s:
        s.scalar(select(Conversation)).expires_at = dt.datetime(2000, 1, 1)
    second = _send(db, account, [ALICE], settings=one, tag="new").ids[0]
    assert _senders(db, [first, second]) == ["36000", "36000"]
    with db.read() as s:
        (row,) = s.scalars(select(Conversation)).all()
    assert (row.message_id, row.tag) == (second, "new")


def test_two_transactions_lending_to_one_receiver_at_once_get_different_numbers(db, account, monkeypatch):
    monkeypatch.setattr(conversations.random, "randrange", lambda n: 0)  # both try the same number first
    two = Settings(short_numbers="36000-36001")
    req = SendRequest(message="hi", receivers=[ALICE], sender_for_response=True, no_stop_clause=True)
    second: dict[str, object] = {}
    with db.session() as s:
        first = accept_job(s, s.get_one(Account, account.id), req, two, "a")

        def other() -> None:
            try:
                second["report"] = accept(db, account.id, req, two, actor="b")
            except Exception as exc:  # noqa: BLE001 - reported below
                second["error"] = exc

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(0.5)  # it waits for this transaction (SQLite's write lock, PostgreSQL's unique index)
        assert thread.is_alive() or "error" in second
    thread.join(20)
    assert "error" not in second, second
    numbers = _senders(db, [first.ids[0], second["report"].ids[0]])  # type: ignore[union-attr]
    assert sorted(numbers) == ["36000", "36001"]


def test_a_reply_from_the_receiver_to_its_number_is_attributed_to_the_message(db, account):
    report = _send(db, account, [ALICE, BOB], tag="survey")
    a, b = _senders(db, report.ids)
    reply = _reply(db, "+33612345678", a)
    assert (reply.account_id, reply.tag, reply.message_id) == (account.id, "survey", report.ids[0])
    national = _reply(db, "0698765432", b)  # a sender written nationally is the same number
    assert national.message_id == report.ids[1]


@pytest.mark.parametrize("case", ["other number", "other handset", "stop number", "after 48 h"])
def test_a_reply_outside_a_live_conversation_is_not_attributed(db, account, case):
    report = _send(db, account, [ALICE, BOB], tag="survey")
    a, b = _senders(db, report.ids)
    sender, receiver, at = {
        "other number": (ALICE, b, None),
        "other handset": ("+33611111111", a, None),
        "stop number": (ALICE, "36111", None),
        "after 48 h": (ALICE, a, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=49)),
    }[case]
    reply = _reply(db, sender, receiver, at=at)
    assert (reply.account_id, reply.message_id, reply.tag) == (None, None, "")
