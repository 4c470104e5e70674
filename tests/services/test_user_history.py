"""A user's view of the account's history (services/outgoing.py, incoming_history.py, slots.py
with ``user_id``): the messages the user sent, the replies to them, and slots of its own."""

from __future__ import annotations

import asyncio

import pytest
from receiver_documents import serve_offline
from sqlalchemy import update

from lifecycle_helpers import SETTINGS, new_account, send
from textos.domain.errors import Conflict, NotFound
from textos.domain.passwords import hash_password
from textos.services import incoming_history, outgoing, slots
from textos.storage.models import IncomingSms, Message, SmsUser


def add_user(db, account_id: int, login: str) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        user = SmsUser(account_id=account_id, login=login, password_hash=hash_password("abcd1234"), ip_restrictions=[])
        s.add(user)
        s.flush()
        return user.id


@pytest.fixture
def sent(db):  # type: ignore[no-untyped-def]
    """An account, its users alice and bob, and messages in the history: alice's two, bob's one, the account's one."""
    account = new_account(db)
    alice, bob = add_user(db, account.id, "alice"), add_user(db, account.id, "bob")
    ids = {
        "alice": send(db, account, ["+33612345601", "+33612345602"], tag="a", user_id=alice),
        "bob": send(db, account, ["+33612345601"], tag="a", user_id=bob),
        "account": send(db, account, ["+33612345601"], tag="a"),
    }
    with db.session() as s:
        s.execute(update(Message).values(status="sent"))
    return account, {"alice": alice, "bob": bob}, ids


def test_a_users_outgoing_are_the_messages_of_its_jobs_with_the_accounts_filters(db, sent):
    account, users, ids = sent
    F = outgoing.OutgoingFilter
    with db.read() as s:
        assert outgoing.outgoing_ids(s, account.id, F(), "FR", user_id=users["alice"]) == ids["alice"]
        assert outgoing.outgoing_ids(s, account.id, F(receiver="0612345601"), "FR", user_id=users["alice"]) == ids["alice"][:1]
        assert outgoing.outgoing_ids(s, account.id, F(tag="b"), "FR", user_id=users["alice"]) == []
        assert outgoing.outgoing_ids(s, account.id, F(), "FR", user_id=users["bob"]) == ids["bob"]
        assert outgoing.outgoing_ids(s, account.id, F(), "FR") == sorted(sum(ids.values(), []))  # the account sees them all
        assert outgoing.outgoing_details(s, account.id, ids["alice"][0], user_id=users["alice"])["receiver"] == "+33612345601"
        for stranger in (ids["bob"][0], ids["account"][0]):
            with pytest.raises(NotFound, match=f"id: outgoing SMS {stranger} does not exist"):
                outgoing.outgoing_details(s, account.id, stranger, user_id=users["alice"])
    with db.session() as s:
        with pytest.raises(NotFound):
            outgoing.hide_outgoing(s, account.id, ids["bob"][0], user_id=users["alice"])
    with db.session() as s:
        outgoing.hide_outgoing(s, account.id, ids["alice"][0], user_id=users["alice"])
    with db.read() as s:  # one history: gone from the account's too
        assert outgoing.outgoing_ids(s, account.id, F(), "FR", user_id=users["alice"]) == ids["alice"][1:]
        assert ids["alice"][0] not in outgoing.outgoing_ids(s, account.id, F(), "FR")


def test_a_users_incoming_are_the_replies_to_its_messages(db, sent):
    account, users, ids = sent
    with db.session() as s:
        rows = [
            IncomingSms(account_id=account.id, sender="+33612345601", receiver="36001", text="yes", tag="a", message_id=ids["alice"][0]),
            IncomingSms(account_id=account.id, sender="+33612345602", receiver="36002", text="no", tag="", message_id=ids["alice"][1]),
            IncomingSms(account_id=account.id, sender="+33612345601", receiver="36003", text="hm", tag="a", message_id=ids["bob"][0]),
            IncomingSms(account_id=account.id, sender="+33612345601", receiver="+33700000001", text="hi"),  # to a virtual number
        ]
        s.add_all(rows)
        s.flush()
        mine, mine2, bobs, nobodys = (r.id for r in rows)
    F = incoming_history.IncomingFilter
    with db.read() as s:
        assert incoming_history.incoming_ids(s, account.id, F(), "FR", user_id=users["alice"]) == [mine, mine2]
        assert incoming_history.incoming_ids(s, account.id, F(sender="0612345602"), "FR", user_id=users["alice"]) == [mine2]
        assert incoming_history.incoming_ids(s, account.id, F(tag="a"), "FR", user_id=users["alice"]) == [mine]
        assert incoming_history.incoming_ids(s, account.id, F(), "FR", user_id=users["bob"]) == [bobs]
        assert incoming_history.incoming_details(s, account.id, mine, user_id=users["alice"])["message"] == "yes"
        for stranger in (bobs, nobodys):
            with pytest.raises(NotFound, match=f"id: incoming SMS {stranger} does not exist"):
                incoming_history.incoming_details(s, account.id, stranger, user_id=users["alice"])
    with db.session() as s:
        incoming_history.hide_incoming(s, account.id, mine, user_id=users["alice"])
    with db.read() as s:
        assert incoming_history.incoming_ids(s, account.id, F(), "FR", user_id=users["alice"]) == [mine2]
        assert incoming_history.incoming_ids(s, account.id, F(), "FR") == [mine2, bobs, nobodys]


CSV = b"number\n+33612345621\n+33612345622\n"


def test_a_user_has_nine_slots_of_its_own(db, monkeypatch):
    serve_offline(monkeypatch, {"https://files.example/u.csv": CSV})
    account = new_account(db)
    alice, bob = add_user(db, account.id, "alice"), add_user(db, account.id, "bob")

    def create(slot_id: int, user_id: int | None, description: str) -> None:
        asyncio.run(slots.create_slot(db, account.id, slot_id, "https://files.example/u.csv", SETTINGS,
                                      description=description, user_id=user_id))

    create(1, None, "account's")
    create(1, alice, "alice's")  # the same number: another owner
    create(2, alice, "alice's 2")
    with pytest.raises(Conflict, match="slot 1 already holds a document"):
        create(1, alice, "again")
    with db.read() as s:
        assert slots.slot_ids(s, account.id) == [1]
        assert slots.slot_ids(s, account.id, alice) == [1, 2]
        assert slots.slot_ids(s, account.id, bob) == []
        assert slots.get_slot(s, account.id, 1).description == "account's"
        assert slots.get_slot(s, account.id, 1, user_id=alice).description == "alice's"
        with pytest.raises(NotFound, match="slotId: receivers slot 2 does not exist"):
            slots.get_slot(s, account.id, 2)
        with pytest.raises(NotFound):
            slots.get_slot(s, account.id, 1, user_id=bob)
    with db.session() as s:
        s.delete(slots.get_slot(s, account.id, 1, user_id=alice))
    with db.read() as s:
        assert slots.slot_ids(s, account.id, alice) == [2]
        assert slots.slot_ids(s, account.id) == [1]
    create(4, bob, "bob's")
    with db.session() as s:  # alice is deleted: her slots go, nobody else's
        assert slots.forget_user(s, account.id, alice) == 1
    with db.read() as s:
        assert (slots.slot_ids(s, account.id), slots.slot_ids(s, account.id, alice), slots.slot_ids(s, account.id, bob)) == ([1], [], [4])
