"""A user's callbacks: delivery events of a user's messages go to the user's ``callBack``
(``storage.outbox.note_deliveries``; the account's when the user has none, never both), and a
STOP attributed to a user's message goes to the user's ``stopCallBack`` as well as the
account's (``services.blacklists``)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from lifecycle_helpers import SETTINGS, new_account, send
from textos.domain.lifecycle import DeliveryState
from textos.domain.passwords import hash_password
from textos.services import blacklists
from textos.services.jobs import SendRequest, accept
from textos.storage.models import Account, CallbackEvent, IncomingSms, Message, SmsUser
from test_outbox import sent_then

ACCOUNT_HOOK = "https://account.example/dlr?k=1"
ALICE_HOOK = "https://alice.example:8443/dlr?k=2"


def add_user(db, account_id: int, login: str, **fields: object) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        user = SmsUser(account_id=account_id, login=login, password_hash=hash_password("abcd1234"), ip_restrictions=[], **fields)
        s.add(user)
        s.flush()
        return user.id


def events(db) -> list[CallbackEvent]:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return list(s.scalars(select(CallbackEvent).order_by(CallbackEvent.id)))


@pytest.fixture
def account(db):  # type: ignore[no-untyped-def]
    account = new_account(db)
    with db.session() as s:
        s.execute(update(Account).where(Account.id == account.id).values(callback=ACCOUNT_HOOK, stop_callback="https://account.example/stop"))
    return account


def test_a_users_delivery_events_go_to_its_callback_else_to_the_accounts(db, account):
    alice = add_user(db, account.id, "alice", callback=ALICE_HOOK)
    bob = add_user(db, account.id, "bob", callback="")  # no callBack of its own
    [a] = send(db, account, ["+33612345601"], user_id=alice)
    [b] = send(db, account, ["+33612345602"], user_id=bob)
    [c] = send(db, account, ["+33612345603"])
    sent_then(db, [a, b, c], DeliveryState.DELIVERED)
    told = [(e.params["id"], e.params["ptt"], e.url, e.host, e.user_login, e.account_id) for e in events(db)]
    assert sorted(told) == sorted([
        (str(a), "3", ALICE_HOOK, "alice.example", "alice", account.id),
        (str(a), "4", ALICE_HOOK, "alice.example", "alice", account.id),  # never the account's as well
        (str(b), "3", ACCOUNT_HOOK, "account.example", None, account.id),
        (str(b), "4", ACCOUNT_HOOK, "account.example", None, account.id),
        (str(c), "3", ACCOUNT_HOOK, "account.example", None, account.id),
        (str(c), "4", ACCOUNT_HOOK, "account.example", None, account.id),
    ])  # fmt: skip


def test_a_users_callback_is_told_even_when_the_account_has_none(db, account):
    with db.session() as s:
        s.execute(update(Account).where(Account.id == account.id).values(callback=None))
    alice = add_user(db, account.id, "alice", callback=ALICE_HOOK)
    [a] = send(db, account, ["+33612345601"], user_id=alice)
    [c] = send(db, account, ["+33612345603"])
    sent_then(db, [a, c])
    assert [(e.params["id"], e.url, e.user_login) for e in events(db)] == [(str(a), ALICE_HOOK, "alice")]


def _stop(db, account_id: int | None, *, answers: int | None = None, receiver: str = "36111") -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        row = IncomingSms(sender="+33612345601", receiver=receiver, text="STOP", account_id=account_id, message_id=answers,
                          created_at=dt.datetime.utcnow())
        s.add(row)
        s.flush()
        assert blacklists.on_incoming(s, row, SETTINGS)


def _commercial(db, account, user_id: int | None) -> int:  # type: ignore[no-untyped-def]
    request = SendRequest(message="Promo", receivers=["+33612345601"], user_id=user_id)  # commercial: with the STOP clause
    [mid] = accept(db, account.id, request, SETTINGS, actor="test").ids
    with db.session() as s:
        s.execute(update(Message).where(Message.id == mid).values(status="delivered"))
    return mid


def test_a_stop_caused_by_a_users_message_goes_to_the_users_stop_callback_and_the_accounts(db, account):
    alice = add_user(db, account.id, "alice", stop_callback="https://alice.example/stop?k=3")
    mid = _commercial(db, account, alice)
    _stop(db, None)  # to the STOP clause's number: the last commercial message was alice's
    stops = [e for e in events(db) if e.kind == "stop"]
    assert [(e.url, e.user_login) for e in stops] == [("https://account.example/stop", None), ("https://alice.example/stop?k=3", "alice")]
    assert stops[0].params == stops[1].params and stops[1].params["smsOutgoingID"] == str(mid)


def test_a_stop_answering_a_users_message_goes_to_that_user_and_other_users_hear_nothing(db, account):
    alice = add_user(db, account.id, "alice", stop_callback="https://alice.example/stop")
    bob = add_user(db, account.id, "bob", stop_callback="https://bob.example/stop")
    answered = _commercial(db, account, alice)
    _commercial(db, account, bob)  # the last commercial one, but the STOP answers alice's (a conversation)
    _stop(db, account.id, answers=answered, receiver="36001")
    assert [(e.url, e.user_login) for e in events(db) if e.kind == "stop"] == [
        ("https://account.example/stop", None), ("https://alice.example/stop", "alice"),
    ]


def test_a_stop_of_the_accounts_own_message_goes_to_no_user(db, account):
    add_user(db, account.id, "alice", stop_callback="https://alice.example/stop")
    _commercial(db, account, None)
    _stop(db, None)
    assert [(e.url, e.user_login) for e in events(db) if e.kind == "stop"] == [("https://account.example/stop", None)]
