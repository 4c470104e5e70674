"""The incoming pipeline against a real database: whole messages, parts stored until
the message is whole (in any order, re-sent parts once), across a restart, and parts
that never come."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from textos.delivery.connector import IncomingMessage, IncomingPartInfo
from textos.delivery.incoming import store_incoming, sweep_parts
from textos.storage.db import Database
from textos.storage.models import IncomingPart, IncomingSms, utcnow


def part(text: str, seq: int, total: int = 3, ref: int = 42, sender: str = "+33612345678") -> IncomingMessage:
    return IncomingMessage(sender, "36111", text, connector="sim", part=IncomingPartInfo(ref, total, seq))


def store(db: Database, message: IncomingMessage) -> int | None:
    with db.session() as s:
        return store_incoming(s, message)


def messages(db: Database) -> list[tuple[str, str, str]]:
    with db.read() as s:
        return [(m.sender, m.receiver, m.text) for m in s.scalars(select(IncomingSms).order_by(IncomingSms.id))]


def kept_parts(db: Database) -> int:
    with db.read() as s:
        return s.execute(select(func.count()).select_from(IncomingPart)).scalar()


def test_a_single_message_is_stored_at_once(db):
    assert store(db, IncomingMessage("+33612345678", "36111", "STOP", connector="sim")) is not None
    assert messages(db) == [("+33612345678", "36111", "STOP")]


def test_a_nul_a_handset_sent_is_kept_as_a_replacement_character(db):
    """U+0000 in a UCS-2 text: PostgreSQL text holds no NUL, and refusing the message would have the
    SMSC send it again for ever. Stored the same on both backends, whole or in parts."""
    assert store(db, IncomingMessage("+33612345678", "36111", "a\0b", connector="sim")) is not None
    assert store(db, part("c\0", 1, total=2)) is None
    assert store(db, part("d", 2, total=2)) is not None
    assert [text for *_, text in messages(db)] == ["a\ufffdb", "c\ufffdd"]


def test_parts_in_any_order_and_re_sent_make_one_message(db):
    assert store(db, part("three", 3)) is None
    assert store(db, part("one ", 1)) is None
    assert store(db, part("one ", 1)) is None  # the SMSC re-sent it: replaces, never doubles
    assert kept_parts(db) == 2 and messages(db) == []
    assert store(db, part("two ", 2)) is not None
    assert messages(db) == [("+33612345678", "36111", "one two three")]
    assert kept_parts(db) == 0


def test_parts_of_different_messages_do_not_mix(db):
    store(db, part("a1 ", 1, total=2, ref=1))
    store(db, part("b1 ", 1, total=2, ref=2))
    store(db, part("c1 ", 1, total=2, ref=1, sender="+33600000000"))
    store(db, part("b2", 2, total=2, ref=2))
    store(db, part("a2", 2, total=2, ref=1))
    assert sorted(t for *_, t in messages(db)) == ["a1 a2", "b1 b2"]
    assert kept_parts(db) == 1


def test_parts_survive_a_restart(db):
    store(db, part("first ", 1, total=2))
    db.dispose()  # the process stops: nothing of the first part is in memory any more
    again = Database(db.url)
    try:
        assert store(again, part("second", 2, total=2)) is not None
        assert messages(again) == [("+33612345678", "36111", "first second")]
    finally:
        again.dispose()


def test_parts_that_never_come_are_given_up_with_what_did(db):
    store(db, part("one ", 1))
    store(db, part("three", 3))
    with db.session() as s:
        assert sweep_parts(s, ttl=1800) == []  # still waiting
    with db.session() as s:
        assert len(sweep_parts(s, ttl=1800, now=utcnow() + dt.timedelta(seconds=1801))) == 1
    assert messages(db) == [("+33612345678", "36111", "one three")]
    assert kept_parts(db) == 0
