"""Replies (services/replies.py, through services/incoming.handle): an attributed reply is charged
``reply_credits`` through the ledger and answered as the account's ``smsResponse`` says."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from textos.config import Settings
from textos.delivery.connector import IncomingMessage
from textos.delivery.incoming import store_incoming
from textos.services import admin, incoming, incoming_history
from textos.services.jobs import SendRequest, accept
from textos.storage import ledger
from textos.storage.models import Account, CallbackEvent, IncomingSms, Job, LedgerEntry, Message

SETTINGS = Settings()
ALICE = "+33612345678"


@pytest.fixture
def account(db) -> Account:
    with db.session() as s:
        admin.create_customer(s, "rp12345-test", "pw")
        return admin.create_account(s, "rp12345-test", 10)


def _conversation(db, account, tag: str = "survey") -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """A senderForResponse message to ALICE: (its id, its short number)."""
    report = accept(db, account.id, SendRequest(message="Coming?", receivers=[ALICE], sender_for_response=True, no_stop_clause=True,
                                                 tag=tag), SETTINGS, actor="test")
    with db.read() as s:
        return report.ids[0], s.get_one(Message, report.ids[0]).sender


def _respond(db, account, **response) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.get_one(Account, account.id).sms_response = {"responseType": "none", **response}


def _receive(db, sender: str, receiver: str, text: str = "YES", settings: Settings = SETTINGS) -> IncomingSms:  # type: ignore[no-untyped-def]
    with db.session() as s:
        incoming_id = store_incoming(s, IncomingMessage(sender, receiver, text))
        incoming.handle(s, incoming_id, settings)
    with db.read() as s:
        row = s.get_one(IncomingSms, incoming_id)
        s.expunge(row)
        return row


def _kinds(db, account) -> list[str]:  # type: ignore[no-untyped-def]
    with db.read() as s:
        assert ledger.verify(s, account.id)
        return list(s.scalars(select(LedgerEntry.kind).where(LedgerEntry.account_id == account.id).order_by(LedgerEntry.id)))


def _credits(db, account) -> float:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return ledger.to_credits(s.get_one(Account, account.id).credits_milli)


def test_an_attributed_reply_costs_reply_credits_in_a_ledger_entry_of_its_own(db, account):
    message_id, short = _conversation(db, account)
    reply = _receive(db, ALICE, short)
    assert (reply.account_id, reply.message_id, reply.tag, reply.credits_milli) == (account.id, message_id, "survey", 1000)
    assert _kinds(db, account) == ["adjustment", "job_debit", "reply"]
    assert _credits(db, account) == 8.0
    half = _receive(db, ALICE, short, settings=Settings(reply_credits=0.5))
    assert half.credits_milli == 500 and _credits(db, account) == 7.5


def test_an_unattributed_message_is_kept_and_charged_to_nobody(db, account):
    _conversation(db, account)
    stray = _receive(db, "+33611111111", "36500")
    assert (stray.account_id, stray.credits_milli) == (None, 0)
    assert _kinds(db, account) == ["adjustment", "job_debit"]
    with db.read() as s:
        assert [r.id for r in incoming_history.unattributed(s)] == [stray.id]


def test_a_reply_to_an_account_without_credits_is_kept_shown_and_not_charged(db, account):
    _, short = _conversation(db, account)
    with db.session() as s:
        admin.add_credits(s, account.service_name, -9, actor="test", reason="spend it all")
    reply = _receive(db, ALICE, short)
    assert (reply.account_id, reply.credits_milli) == (account.id, 0)
    assert _kinds(db, account) == ["adjustment", "job_debit", "adjustment"]
    with db.read() as s:
        assert incoming_history.incoming_details(s, account.id, reply.id)["credits"] == 0


def test_cgi_response_writes_a_reply_event_with_the_reply_fields(db, account):
    _, short = _conversation(db, account, tag="poll-7")
    _respond(db, account, responseType="cgi", cgiUrl="https://hooks.example.com/sms?k=1")
    reply = _receive(db, ALICE, short, text="Oui, à demain")
    with db.read() as s:
        (event,) = s.scalars(select(CallbackEvent)).all()
    assert (event.account_id, event.kind, event.url, event.order_key, event.status) == (
        account.id, "reply", "https://hooks.example.com/sms?k=1", f"incoming:{reply.id}", "pending")
    assert event.params == {
        "id": str(reply.id), "tag": "poll-7", "senderid": ALICE, "shortcode": short, "message": "Oui, à demain",
        "sender": ALICE, "date": reply.created_at.replace(microsecond=0).isoformat() + "+00:00",
    }


def test_text_response_is_sent_from_the_short_number_through_the_accept_path_and_charged(db, account):
    _, short = _conversation(db, account, tag="poll-8")
    _respond(db, account, responseType="text", text="Thanks, see you!")
    reply = _receive(db, ALICE, short)
    with db.read() as s:
        answers = s.scalars(select(Message).where(Message.sender == short, Message.receiver == ALICE).order_by(Message.id)).all()
        job = s.get_one(Job, answers[-1].job_id)
    assert len(answers) == 2  # the conversation's message, and the answer
    assert (job.text, job.actor, job.sender, answers[-1].tag, answers[-1].credits_milli) == (
        "Thanks, see you!", "smsResponse", short, "poll-8", 1000)
    assert reply.credits_milli == 1000
    assert _kinds(db, account) == ["adjustment", "job_debit", "reply", "job_debit"]
    assert _credits(db, account) == 7.0


def test_a_text_response_the_account_cannot_pay_is_not_sent_and_the_reply_stays(db, account):
    _, short = _conversation(db, account)
    _respond(db, account, responseType="text", text="Thanks!")
    with db.session() as s:
        admin.add_credits(s, account.service_name, -8, actor="test", reason="one credit left")
    reply = _receive(db, ALICE, short)  # the reply takes the last credit; the answer is refused
    assert (reply.account_id, reply.credits_milli) == (account.id, 1000)
    with db.read() as s:
        assert len(s.scalars(select(Message).where(Message.account_id == account.id)).all()) == 1
    assert _credits(db, account) == 0


def test_no_response_by_default(db, account):
    _, short = _conversation(db, account)
    _receive(db, ALICE, short)
    with db.read() as s:
        assert s.scalars(select(CallbackEvent)).all() == []
        assert len(s.scalars(select(Message)).all()) == 1
