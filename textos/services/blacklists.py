"""STOP opt-outs and the blacklists they fill.

**Who a STOP stops** (``on_incoming``, in the transaction that stores the incoming message):

- A STOP that is already attributed to an account (a reply to a conversation's short number,
  ``services.conversations``, or to a virtual number) blacklists its sender for that account.
- A STOP sent to the STOP clause's number (``Settings.stop_clause_number()``: 36111 by default,
  a number every account's commercial messages show) blacklists its sender for **every account
  whose commercial message** (``noStopClause`` false) **reached that sender within
  ``stop_attribution_days``** (30 by default) before the STOP: sent, delivered, or sent with no
  receipt. The clause names no account, so each account that recently sent the person a
  commercial message is stopped; an account that sent nothing commercial recently is not
  (a handset's STOP cannot opt out of an account it has not heard from).
- Anything else is not a STOP (``False``), whatever its text.

Each *new* blacklisting (an active row did not exist) writes a row (with the last commercial
message the account sent the number before the STOP: its id, batch and tag) and, when the
account has a ``stopCallBack``, a ``stop`` event in the callbacks outbox (``storage.outbox``).
When the STOP is a user's (it answers a user's message — a job sent as ``/users/{login}``, or by
http2sms —, or else that last commercial message was a user's) and the user has a
``stopCallBack``, the user's URL gets the same event too (``user_login`` set): the blacklist is
the account's, so the account hears of every STOP; the user hears of those its messages caused.

**What a blacklist does** (``Screen``, used by ``services.jobs``' accept path): a commercial
message to a blacklisted number is written with status ``blacklisted`` (final, 0 credits),
never sent. One indexed query per group of listed jobs, one per document; none for a job
with ``noStopClause``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain.clock import iso, utcnow
from textos.domain.errors import NotFound
from textos.domain.lifecycle import MessageStatus
from textos.domain.numbers import InvalidReceiver, parse_receiver
from textos.domain.stop_words import StopWords
from textos.storage import outbox
from textos.storage.fastsql import marks, run
from textos.storage.models import Account, Blacklist, IncomingSms, Job, Message, SmsUser

__all__ = [
    "REACHED", "Screen", "StopCount", "active_numbers", "blacklist_view", "get_blacklist", "list_numbers",
    "on_incoming", "remove_blacklist", "stops_by_tag",
]  # fmt: skip

REACHED = (MessageStatus.SENT.value, MessageStatus.DELIVERED.value, MessageStatus.NO_RECEIPT.value)
"""Statuses of a message that reached (or may have reached) its receiver: what a STOP answers.
The same list as ``ix_messages_receiver_reached``'s condition (the index the lookup uses)."""


@functools.lru_cache(maxsize=8)
def _stop_words(words: tuple[str, ...]) -> StopWords:
    return StopWords(words)


def is_stop(text: str, settings: Settings) -> bool:
    """``text`` is one of ``settings.stop_words`` (``domain.stop_words``' comparison)."""
    return _stop_words(tuple(settings.stop_words)).is_stop(text)


def _digits(address: str) -> str:
    return address.strip().removeprefix("+")


def _e164(number: str, region: str) -> str:
    try:
        return parse_receiver(number, region).e164
    except InvalidReceiver:
        return number.strip()


# --------------------------------------------------------------------------- STOPs


@dataclass(frozen=True)
class _LastCommercial:
    message_id: int
    tag: str
    batch_id: str | None
    user_id: int | None = None
    """The user whose job it was (none: the account's own)."""


def _last_commercial(
    session: Session, number: str, *, account_id: int | None = None, since: dt.datetime | None = None,
) -> dict[int, _LastCommercial]:
    """By account: the last commercial message that reached ``number`` (of ``account_id`` only,
    and created after ``since``, if given). One query on ``ix_messages_receiver_reached``."""
    stmt = (
        select(Message.account_id, Message.id, Message.tag, Job.batch_id, Job.user_id)
        .join(Job, Job.id == Message.job_id)
        .where(Message.receiver == number, Message.status.in_(REACHED), Job.no_stop_clause.is_(False))
        .order_by(Message.id.desc())
    )
    if account_id is not None:
        stmt = stmt.where(Message.account_id == account_id)
    if since is not None:
        stmt = stmt.where(Message.created_at >= since)
    found: dict[int, _LastCommercial] = {}
    for account, message_id, tag, batch_id, user_id in session.execute(stmt):
        found.setdefault(account, _LastCommercial(message_id, tag or "", batch_id, user_id))
    return found


def on_incoming(session: Session, incoming: IncomingSms, settings: Settings) -> bool:
    """If ``incoming`` is a STOP, blacklist its sender where it applies (the module's rule) and
    tell each newly stopped account's ``stopCallBack``; True if it was one."""
    if not is_stop(incoming.text, settings):
        return False
    number = _e164(incoming.sender, settings.default_region)
    if incoming.account_id is not None:
        last = _last_commercial(session, number, account_id=incoming.account_id)
        targets = {incoming.account_id: last.get(incoming.account_id)}
    else:
        stop_number = settings.stop_clause_number()
        if stop_number is None or _digits(incoming.receiver) != _digits(stop_number):
            return False
        since = incoming.created_at - dt.timedelta(days=settings.stop_attribution_days)
        targets = dict(_last_commercial(session, number, since=since))
    for account_id in sorted(targets):
        _blacklist(session, account_id, number, incoming, targets[account_id])
    return True


def _blacklist(session: Session, account_id: int, number: str, incoming: IncomingSms, last: _LastCommercial | None) -> None:
    """A new active row for (account, number) and its ``stop`` event; nothing if one is active."""
    active = session.scalar(select(Blacklist.id).where(
        Blacklist.account_id == account_id, Blacklist.number == number, Blacklist.removed_at.is_(None)))  # fmt: skip
    if active is not None:
        return
    row = Blacklist(
        account_id=account_id, number=number, created_at=incoming.created_at or utcnow(),
        sms_outgoing_id=last.message_id if last else None, batch_id=last.batch_id if last else None,
        tag=last.tag if last else "", incoming_id=incoming.id,
    )
    try:
        with session.begin_nested():  # a STOP for the same pair committed meanwhile: that one counts
            session.add(row)
            session.flush()
    except IntegrityError:
        return
    params = stop_params(row, incoming)
    url = session.scalar(select(Account.stop_callback).where(Account.id == account_id))
    if url:
        outbox.enqueue(session, account_id=account_id, kind="stop", url=url, params=params, order_key=f"incoming:{incoming.id}")
    user = _stopped_user(session, incoming, last)
    if user is not None and user.stop_callback:
        outbox.enqueue(
            session, account_id=account_id, kind="stop", url=user.stop_callback, params=params,
            order_key=f"incoming:{incoming.id}", user_login=user.login,
        )


def _stopped_user(session: Session, incoming: IncomingSms, last: _LastCommercial | None) -> SmsUser | None:
    """The user a STOP is attributed to: the sender of the message it answers (a conversation's,
    ``incoming.message_id``), else of the last commercial message it stops; none: the account's."""
    if incoming.message_id is not None:
        user_id = session.scalar(select(Job.user_id).join(Message, Message.job_id == Job.id).where(Message.id == incoming.message_id))
    else:
        user_id = last.user_id if last is not None else None
    return session.get(SmsUser, user_id) if user_id is not None else None


def stop_params(row: Blacklist, incoming: IncomingSms) -> dict[str, Any]:
    """The ``stopCallBack`` query parameters (OVH documents none; README lists these)."""
    return {
        "number": row.number, "senderid": row.number, "date": iso(row.created_at), "message": incoming.text,
        "shortcode": incoming.receiver, "id": incoming.id, "tag": row.tag,
        "smsOutgoingID": row.sms_outgoing_id, "batchID": row.batch_id,
    }  # fmt: skip


# --------------------------------------------------------------------------- the accept path


def active_numbers(session: Session, account_id: int) -> set[str]:
    """The account's blacklisted numbers (E.164): one query on ``uq_blacklists_active``."""
    return set(session.scalars(select(Blacklist.number).where(Blacklist.account_id == account_id, Blacklist.removed_at.is_(None))))


_IN_LIMIT = 5000


class Screen:
    """Which (account, receiver) pairs of the jobs being accepted are blacklisted.

    ``for_accounts``: one query for a group of listed jobs (their accounts and receivers);
    ``for_account``: one for a document (the account's whole list, looked up per row in a set)."""

    def __init__(self, blocked: set[tuple[int, str]]) -> None:
        self._blocked = blocked

    @classmethod
    def for_accounts(cls, session: Session, wanted: dict[int, set[str]]) -> "Screen":
        pairs = [(a, n) for a, numbers in wanted.items() for n in numbers]
        blocked: set[tuple[int, str]] = set()
        for first in range(0, len(pairs), _IN_LIMIT):  # plain SQL: a group's one query, on the accept path
            chunk = pairs[first:first + _IN_LIMIT]
            accounts = sorted({a for a, _ in chunk})
            numbers = sorted({n for _, n in chunk})
            cur = run(session, f"SELECT account_id, number FROM blacklists WHERE removed_at IS NULL AND account_id IN ({marks(len(accounts))})"
                               f" AND number IN ({marks(len(numbers))})", (*accounts, *numbers))
            try:
                blocked.update((a, n) for a, n in cur.fetchall())
            finally:
                cur.close()
        return cls(blocked & set(pairs))

    @classmethod
    def for_account(cls, session: Session, account_id: int) -> "Screen":
        return cls({(account_id, n) for n in active_numbers(session, account_id)})

    def __bool__(self) -> bool:
        return bool(self._blocked)

    def blocks(self, account_id: int, number: str) -> bool:
        return (account_id, number) in self._blocked

    def numbers(self, account_id: int) -> frozenset[str]:
        return frozenset(n for a, n in self._blocked if a == account_id)


# --------------------------------------------------------------------------- API


def list_numbers(session: Session, account_id: int, *, batch_id: str | None = None, sms_outgoing_id: int | None = None) -> list[str]:
    """``GET /sms/{s}/blacklists``: the account's blacklisted numbers, oldest STOP first."""
    stmt = select(Blacklist.number).where(Blacklist.account_id == account_id, Blacklist.removed_at.is_(None))
    if batch_id is not None:
        stmt = stmt.where(Blacklist.batch_id == batch_id)
    if sms_outgoing_id is not None:
        stmt = stmt.where(Blacklist.sms_outgoing_id == sms_outgoing_id)
    return list(session.scalars(stmt.order_by(Blacklist.id)))


def get_blacklist(session: Session, account_id: int, number: str, region: str) -> Blacklist:
    """The active row for ``number`` (read as a number of ``region``: ``0612…`` finds ``+33612…``)."""
    row = session.scalar(select(Blacklist).where(
        Blacklist.account_id == account_id, Blacklist.number == _e164(number, region), Blacklist.removed_at.is_(None)))  # fmt: skip
    if row is None:
        raise NotFound(f"number: {number} is not blacklisted")
    return row


def remove_blacklist(session: Session, account_id: int, number: str, region: str) -> None:
    """``DELETE /blacklists/{number}``: commercial messages go to it again; its STOP stays in the history."""
    get_blacklist(session, account_id, number, region).removed_at = utcnow()


def blacklist_view(row: Blacklist) -> dict[str, Any]:
    """``sms.Blacklist``."""
    return {"batchID": row.batch_id, "dateCreation": iso(row.created_at), "number": row.number, "smsOutgoingID": row.sms_outgoing_id}


# --------------------------------------------------------------------------- STOPs per tag

Bucket = Literal["hour", "day", "week", "month"]


@dataclass(frozen=True)
class StopCount:
    start: dt.datetime
    """The bucket's first instant (naive UTC)."""
    tag: str
    """The tag of the last commercial message the account sent the number before its STOP ("" if none)."""
    stops: int


def _bucket_start(moment: dt.datetime, bucket: Bucket) -> dt.datetime:
    if bucket == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "day":
        return day
    if bucket == "week":
        return day - dt.timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    raise ValueError(f"bucket: hour, day, week or month, not {bucket!r}")


def stops_by_tag(
    session: Session, account_id: int, since: dt.datetime, until: dt.datetime, bucket: Bucket = "day",
) -> list[StopCount]:
    """STOPs the account received in ``[since, until)``, counted per ``bucket`` (weeks start on
    Monday, UTC) and per tag; removed blacklist entries still count (the STOP happened). Sorted
    by bucket then tag; buckets without STOPs are absent."""
    _bucket_start(since, bucket)  # refuses an unknown bucket even when there is nothing to count
    counts: Counter[tuple[dt.datetime, str]] = Counter()
    for created, tag in session.execute(
        select(Blacklist.created_at, Blacklist.tag)
        .where(Blacklist.account_id == account_id, Blacklist.created_at >= since, Blacklist.created_at < until)
    ):
        counts[(_bucket_start(created, bucket), tag or "")] += 1
    return [StopCount(start, tag, n) for (start, tag), n in sorted(counts.items())]
