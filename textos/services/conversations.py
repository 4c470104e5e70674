"""Conversations: (receiver, short number) pairs that route replies to the message they answer.

**The rule.** A message sent with ``senderForResponse`` goes out from a short number of the
pool (``short_numbers``, 36000–36999 by default) that its receiver has in no live
conversation: the pair (receiver, short number) then identifies that message for
``conversation_hours`` (48 h) from when it is due to be sent. A reply from the receiver to that
number within the window answers it (``attribute``): it belongs to the message's account, with its
tag and a link to it. Anything else sent to a short number is not attributed here.

**Allocation** (``allocate``, in the accept path's transaction): the receivers' live numbers are
read in one query, then each receiver takes a free number (a random one of the pool, so that a
late reply to an expired conversation rarely meets a new one) by one upsert that writes a new
pair or takes over an *expired* one, never a live one. Two transactions lending the same pair
at once (PostgreSQL) meet on the unique (receiver, short_number) index: the second waits for the
first, finds the pair live, gets no row back and tries another number. SQLite writes one
transaction at a time.

**A receiver with every number busy** (as many live conversations with one receiver as the
pool has numbers: 1,000 messages to one person in 48 h) takes over its conversation that
expires first: the message is still sent, and a late reply to that oldest message is attributed
to the new one. Sending is never refused for it.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from typing import Sequence

from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain.clock import utcnow
from textos.domain.numbers import InvalidReceiver, parse_receiver
from textos.storage.fastsql import db_time, marks, run, run_many
from textos.storage.models import IncomingSms

__all__ = ["allocate", "attribute", "pool"]


@functools.lru_cache(maxsize=8)
def _pool(spec: str, reserved: str) -> tuple[str, ...]:
    numbers: list[str] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        first, _, last = item.partition("-")
        if not first.strip().isdigit() or (last and not last.strip().isdigit()):
            raise ValueError(f"short_numbers: {item!r} is not a number or a range of numbers (36000-36999)")
        low, high = int(first), int(last or first)
        width = len(first.strip())
        numbers.extend(str(n).zfill(width) for n in range(low, high + 1))
    found = tuple(dict.fromkeys(n for n in numbers if n != reserved))
    if not found:
        raise ValueError(f"short_numbers: {spec!r} holds no number (other than the STOP number {reserved})")
    return found


def pool(settings: Settings) -> tuple[str, ...]:
    """The short numbers conversations are lent from (``short_numbers``, less ``response_short_code``)."""
    return _pool(settings.short_numbers, settings.response_short_code)


@functools.lru_cache(maxsize=8)
def _pool_set(spec: str, reserved: str) -> frozenset[str]:
    return frozenset(_pool(spec, reserved))


_UPSERT = (
    "INSERT INTO conversations (receiver, short_number, account_id, message_id, tag, created_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (receiver, short_number) DO UPDATE SET account_id = excluded.account_id,"
    " message_id = excluded.message_id, tag = excluded.tag, created_at = excluded.created_at,"
    " expires_at = excluded.expires_at"
    " WHERE conversations.expires_at <= ?"
    " RETURNING id"
)
_TAKE_OLDEST = (
    "UPDATE conversations SET account_id = ?, message_id = ?, tag = ?, created_at = ?, expires_at = ?"
    " WHERE id = (SELECT id FROM conversations WHERE receiver = ? ORDER BY expires_at, id LIMIT 1)"
    " RETURNING short_number"
)


def allocate(
    session: Session, account_id: int, messages: Sequence[tuple[int, str]], tag: str, send_at: dt.datetime, settings: Settings,
) -> dict[int, str]:
    """Lend each ``(message id, receiver E.164)`` a short number and make it the message's sender;
    returns the number of each message. In the caller's transaction (the accept path's)."""
    if not messages:
        return {}
    numbers = pool(settings)
    now = utcnow()
    expires = send_at + dt.timedelta(hours=settings.conversation_hours)
    t_now, t_created, t_expires = db_time(session, now), db_time(session, now), db_time(session, expires)
    busy: dict[str, set[str]] = {}
    receivers = sorted({r for _, r in messages})
    for start in range(0, len(receivers), 1000):
        chunk = receivers[start:start + 1000]
        rows = run(
            session,
            f"SELECT receiver, short_number FROM conversations WHERE receiver IN ({marks(len(chunk))}) AND expires_at > ?",
            (*chunk, t_now),
        ).fetchall()
        for receiver, number in rows:
            busy.setdefault(receiver, set()).add(number)
    chosen: dict[int, str] = {}
    for message_id, receiver in messages:
        taken = busy.setdefault(receiver, set())
        number = None
        while len(taken) < len(numbers):
            candidate = _free(numbers, taken)
            taken.add(candidate)
            row = run(session, _UPSERT, (receiver, candidate, account_id, message_id, tag, t_created, t_expires, t_now)).fetchone()
            if row is not None:
                number = candidate
                break
        if number is None:  # every number is in a live conversation with this receiver
            row = run(session, _TAKE_OLDEST, (account_id, message_id, tag, t_created, t_expires, receiver)).fetchone()
            number = row[0]
        chosen[message_id] = number
    run_many(session, "UPDATE messages SET sender = ? WHERE id = ?", [(n, i) for i, n in chosen.items()])
    return chosen


def _free(numbers: tuple[str, ...], taken: set[str]) -> str:
    """A number of the pool not in ``taken`` (which holds fewer): from a random place, the next free one."""
    start = random.randrange(len(numbers))
    for i in range(len(numbers)):
        candidate = numbers[(start + i) % len(numbers)]
        if candidate not in taken:
            return candidate
    raise AssertionError("no free number")


def attribute(session: Session, incoming: IncomingSms, settings: Settings) -> bool:
    """Give ``incoming`` to the account, tag and message of the conversation it answers; False if none.

    It answers one when it was sent to a short number of the pool by a receiver that number
    is lent to, before the conversation expired."""
    if incoming.receiver not in _pool_set(settings.short_numbers, settings.response_short_code):
        return False
    try:
        sender = parse_receiver(incoming.sender, settings.default_region).e164
    except InvalidReceiver:
        return False
    row = run(
        session,
        "SELECT account_id, message_id, tag FROM conversations WHERE receiver = ? AND short_number = ? AND expires_at > ?",
        (sender, incoming.receiver, db_time(session, incoming.created_at)),
    ).fetchone()
    if row is None:
        return False
    incoming.account_id, incoming.message_id, incoming.tag = row[0], row[1], row[2] or ""
    session.flush()
    return True
