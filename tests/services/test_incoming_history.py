"""What an account sees of its incoming messages (services/incoming_history.py: ``incoming_ids``,
``incoming_details``, ``hide_incoming``): only its own, filtered, ``sms.Incoming``."""

from __future__ import annotations

import datetime as dt

import pytest

from textos.domain.errors import NotFound
from textos.services import admin, incoming_history
from textos.storage.models import Account, IncomingSms

T0 = dt.datetime(2026, 11, 20, 10, 0, 0)


@pytest.fixture
def accounts(db) -> tuple[Account, Account]:
    with db.session() as s:
        admin.create_customer(s, "ih12345-test", "pw")
        return admin.create_account(s, "ih12345-test", 10), admin.create_account(s, "ih12345-test", 10)


def _rows(db, mine: Account, other: Account) -> list[int]:  # type: ignore[no-untyped-def]
    spec = [
        (mine.id, "+33612345678", "36001", "a", 0),
        (mine.id, "+33698765432", "36002", "b", 1),
        (mine.id, "+33612345678", "+33700000001", "", 2),
        (other.id, "+33612345678", "36003", "a", 3),
        (None, "+33612345678", "36004", "", 4),
    ]
    with db.session() as s:
        rows = [IncomingSms(account_id=a, sender=snd, receiver=rcv, text=f"text {h}", tag=tag, credits_milli=1000,
                            created_at=T0 + dt.timedelta(hours=h)) for a, snd, rcv, tag, h in spec]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def test_filters_select_the_accounts_own_incoming_messages(db, accounts):
    mine, other = accounts
    ids = _rows(db, mine, other)
    F = incoming_history.IncomingFilter
    with db.read() as s:
        def found(receiver: str | None = None, **kw: object) -> list[int]:
            return incoming_history.incoming_ids(s, mine.id, F(**kw), "FR", receiver=receiver)  # type: ignore[arg-type]

        assert found() == ids[:3]
        assert found(tag="a") == [ids[0]]
        assert found(sender="0612345678") == [ids[0], ids[2]]  # read as a French number
        assert found(sender="+33698765432") == [ids[1]]
        assert found(created_from=T0 + dt.timedelta(hours=1)) == ids[1:3]
        assert found(created_to=T0 + dt.timedelta(hours=1)) == ids[:2]
        assert found(receiver="+33700000001") == [ids[2]]  # a virtual number's listing
        assert incoming_history.incoming_ids(s, other.id, F(), "FR") == [ids[3]]


def test_one_incoming_message_is_an_sms_incoming_and_delete_hides_it(db, accounts):
    mine, other = accounts
    ids = _rows(db, mine, other)
    with db.read() as s:
        assert incoming_history.incoming_details(s, mine.id, ids[0]) == {
            "creationDatetime": "2026-11-20T10:00:00+00:00", "credits": 1.0, "id": ids[0], "message": "text 0",
            "sender": "+33612345678", "tag": "a",
        }
        for stranger in (ids[3], ids[4]):  # another account's, or nobody's: not found
            with pytest.raises(NotFound):
                incoming_history.incoming_details(s, mine.id, stranger)
    with db.session() as s:
        incoming_history.hide_incoming(s, mine.id, ids[0])
    with db.read() as s:
        assert incoming_history.incoming_ids(s, mine.id, incoming_history.IncomingFilter(), "FR") == ids[1:3]
        with pytest.raises(NotFound):
            incoming_history.incoming_details(s, mine.id, ids[0])
        assert s.get_one(IncomingSms, ids[0]).credits_milli == 1000  # kept, for the books
