"""The incoming pipeline: store mobile-originated messages, reassemble long ones.

A connector hands over each incoming message, or each part of a concatenated one, and
acknowledges it to the SMSC only once ``store_incoming`` has committed: nothing the
SMSC considers delivered to us is held only in memory.

Parts are kept in ``incoming_parts`` (a re-sent part replaces its earlier copy) until
the last one arrives; the message is then written whole and its parts deleted, in the
same transaction. ``sweep_parts`` completes sets that two processes finished at once,
and gives up waiting after ``ttl`` seconds: the parts that did arrive become a message,
marked as incomplete in the log, rather than being dropped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from sqlalchemy.orm import Session

from textos.domain.clock import naive_utc
from textos.delivery.connector import IncomingMessage
from textos.storage.fastsql import db_time, is_sqlite, read_time, run
from textos.storage.models import IncomingSms, utcnow

log = logging.getLogger("textos.incoming")

PART_TTL = 1800.0
"""Seconds to wait for the missing parts of a long incoming message (Kannel's default)."""


def store_incoming(session: Session, message: IncomingMessage) -> int | None:
    """Store one incoming message or part; returns the id of the message once it is whole.
    A NUL in its text (a handset's UCS-2 U+0000, which PostgreSQL text cannot hold) is stored
    as U+FFFD, on either backend: the message is kept, and the change shows."""
    received = naive_utc(message.received_at)
    if "\0" in message.text:
        message = dataclasses.replace(message, text=message.text.replace("\0", "\ufffd"))
    if message.part is None or message.part.total <= 1:
        return _store_whole(session, message.sender, message.receiver, message.text, message.connector, received)
    part = message.part
    key = (message.connector or "", message.sender, message.receiver, part.ref, part.total)
    where = "connector = ? AND sender = ? AND receiver = ? AND ref = ? AND total = ?"
    run(session, f"DELETE FROM incoming_parts WHERE {where} AND seq = ?", (*key, part.seq))
    run(
        session,
        "INSERT INTO incoming_parts (connector, sender, receiver, ref, total, seq, text, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*key, part.seq, message.text, db_time(session, received)),
    )
    return _complete(session, key, force=False)


def _store_whole(session: Session, sender: str, receiver: str, text: str, connector: str | None, received: dt.datetime) -> int:
    row = IncomingSms(sender=sender, receiver=receiver, text=text, connector=connector, created_at=received)
    session.add(row)
    session.flush()
    return row.id


def _complete(session: Session, key: tuple[str, str, str, int, int], *, force: bool) -> int | None:
    """Write the message of this set of parts if every part is there (or ``force``)."""
    connector, sender, receiver, ref, total = key
    where = "connector = ? AND sender = ? AND receiver = ? AND ref = ? AND total = ?"
    lock = "" if is_sqlite(session) else " FOR UPDATE"  # of two processes completing a set, one writes it
    rows = run(session, f"SELECT seq, text, received_at FROM incoming_parts WHERE {where} ORDER BY seq{lock}", key).fetchall()
    if not rows or (len(rows) < total and not force):
        return None
    if len(rows) < total:
        missing = sorted(set(range(1, total + 1)) - {r[0] for r in rows})
        log.warning("incoming from %s to %s (ref %d): parts %s never came; stored without them", sender, receiver, ref, missing)
    run(session, f"DELETE FROM incoming_parts WHERE {where}", key)
    first = min(read_time(r[2]) or utcnow() for r in rows)
    return _store_whole(session, sender, receiver, "".join(r[1] for r in rows), connector or None, first)


def sweep_parts(session: Session, ttl: float = PART_TTL, now: dt.datetime | None = None) -> list[int]:
    """Complete sets whose parts are all stored, and those waited for longer than ``ttl``
    seconds (with the parts that came). Returns the ids of the messages written."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=ttl)
    sets = run(
        session,
        "SELECT connector, sender, receiver, ref, total, COUNT(*), MIN(received_at) FROM incoming_parts"
        " GROUP BY connector, sender, receiver, ref, total",
    ).fetchall()
    written: list[int] = []
    for connector, sender, receiver, ref, total, count, first in sets:
        stale = (read_time(first) or now) <= cutoff
        if count >= total or stale:
            incoming_id = _complete(session, (connector, sender, receiver, ref, total), force=True)
            if incoming_id is not None:
                written.append(incoming_id)
    return written
