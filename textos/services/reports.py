"""Campaign reports: what became of the messages of a tag, a batch or a period.

The cookbook's campaign tracking ("rate of delivered messages, error rate, message delivery
time", "the evolution of your STOP SMS messages"), which OVH's API leaves to its customers, as
one answer: counts by final state, delivery and error rates, errors by ``ptt``, delivery time
(p50/p90/p99 and a histogram, ``domain.delivery_time``), STOPs and replies the campaign caused,
and the credits it cost. Served by ``GET /sms/{s}/reports…`` (a Textos extension), the
dashboard's campaign page and ``textos report``.

**Scope**: one account, and any of a tag, a batch (the jobs of ``batch_id``) and a period
(``[since, until)`` on the messages' acceptance time); no tag and no batch is every message of
the period.

**Rates**: ``deliveryRate`` and ``errorRate`` are shares of the messages accepted;
``stopRate`` and ``replyRate`` are shares of the messages delivered (a STOP or a reply needs a
handset that received the message).

**How it is counted**: ``report`` reads the counts the writers keep as messages settle
(``storage.report_counts``: a few rows per campaign and hour, whatever its size), so a period is
read in whole hours (``whole_hours``; the report's scope says which). STOPs are read from the
blacklist on its indexes (a campaign's STOPs are few). ``read_exactly`` reads the messages
themselves (``_count_messages``): exact, the reference the counts must agree with (tests), and
slow on large campaigns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from textos.domain import delivery_time
from textos.domain.errors import BadRequest
from textos.domain.lifecycle import ERROR_STATES, FINAL, REFUNDED, MessageStatus
from textos.services import batches
from textos.storage import report_counts
from textos.storage.db import Database
from textos.storage.models import Blacklist, IncomingSms, Job, Message

__all__ = [
    "ERROR_STATES", "REPORT_STATES", "DeliveryTime", "Report", "Scope", "fold_counts", "read_exactly", "report", "scope_for",
    "whole_hours",
]  # fmt: skip

REPORT_STATES: tuple[str, ...] = (
    "delivered", "failed", "no_receipt", "expired", "rejected", "cancelled", "blacklisted", "pending",
)  # fmt: skip
"""A report's states: the final statuses (``domain.lifecycle``), and ``pending`` for every message
not final yet (queued, being submitted, or sent and awaiting its receipt)."""
# ERROR_STATES (``domain.lifecycle``): what ``errorRate`` and ``errorsByPtt`` count.


@dataclass(frozen=True, slots=True)
class Scope:
    """Which messages a report covers (see the module's docstring)."""

    account_id: int
    tag: str | None = None
    batch_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class DeliveryTime:
    """Sent → delivered, in seconds, read from ``domain.delivery_time``'s buckets."""

    p50: float | None
    p90: float | None
    p99: float | None
    histogram: list[tuple[float | None, int]]
    """``(upper edge in seconds or None for "slower", messages)`` per bar."""

    @classmethod
    def of(cls, buckets: dict[int, int]) -> "DeliveryTime":
        return cls(
            delivery_time.percentile(buckets, 50), delivery_time.percentile(buckets, 90),
            delivery_time.percentile(buckets, 99), delivery_time.histogram(buckets),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Report:
    scope: Scope
    messages: int
    """Messages accepted in the scope."""
    states: dict[str, int]
    """Messages per ``REPORT_STATES`` (every state present, 0 when none)."""
    errors_by_ptt: dict[int, int]
    """Messages in ``ERROR_STATES`` per ``ptt``."""
    delivery_time: DeliveryTime
    stops: int
    """STOPs attributed to the scope's messages (``services.blacklists``: the last commercial message
    the account sent the number before its STOP)."""
    replies: int
    """Incoming messages that answer one of the scope's messages (``incoming.message_id``)."""
    credits_milli: int
    """Credits (×1000) the scope's messages cost: refunded and blacklisted ones cost nothing."""
    stops_by_day: list[tuple[dt.date, int]] = field(default_factory=list)
    """STOPs per day (UTC) of the STOP, days without STOPs absent."""

    @property
    def delivered(self) -> int:
        return self.states["delivered"]

    @property
    def delivery_rate(self) -> float | None:
        return _share(self.delivered, self.messages)

    @property
    def error_rate(self) -> float | None:
        return _share(sum(self.states[s.value] for s in ERROR_STATES), self.messages)

    @property
    def stop_rate(self) -> float | None:
        return _share(self.stops, self.delivered)

    @property
    def reply_rate(self) -> float | None:
        return _share(self.replies, self.delivered)

    def as_json(self, service_name: str) -> dict[str, Any]:
        """The API's and ``textos report --json``'s shape (camelCase, as OVH's API)."""
        s = self.scope
        return {
            "serviceName": service_name,
            "tag": s.tag,
            "batchId": s.batch_id,
            "from": _iso(s.since),
            "to": _iso(s.until),
            "messages": self.messages,
            "states": dict(self.states),
            "deliveryRate": self.delivery_rate,
            "errorRate": self.error_rate,
            "errorsByPtt": {str(ptt): n for ptt, n in sorted(self.errors_by_ptt.items())},
            "deliveryTime": {
                "p50": self.delivery_time.p50,
                "p90": self.delivery_time.p90,
                "p99": self.delivery_time.p99,
                "histogram": [{"upTo": edge, "messages": n} for edge, n in self.delivery_time.histogram],
            },
            "stops": self.stops,
            "stopRate": self.stop_rate,
            "stopsByDay": [{"day": day.isoformat(), "stops": n} for day, n in self.stops_by_day],
            "replies": self.replies,
            "replyRate": self.reply_rate,
            "credits": self.credits_milli / 1000,
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.replace(tzinfo=dt.timezone.utc).isoformat()


def whole_hours(scope: Scope) -> Scope:
    """``scope`` with its period widened to whole hours (what ``report`` reads)."""
    since, until = report_counts.whole_hours(scope.since, scope.until)
    return dataclasses.replace(scope, since=since, until=until)


def scope_for(
    session: Session, account_id: int, *, tag: str | None = None, batch_id: str | None = None,
    since: dt.datetime | None = None, until: dt.datetime | None = None,
) -> Scope:
    """The scope of a report asked for (API, CLI): a batch of the account's (else ``NotFound``, as
    ``GET /batches/{id}``), a period that is not empty (else ``BadRequest`` naming ``to``)."""
    if batch_id is not None:
        batches.get_batch(session, account_id, batch_id)
    if since is not None and until is not None and until <= since:
        raise BadRequest(f"to: {until.isoformat()} is not after from ({since.isoformat()})")
    return Scope(account_id, tag=tag, batch_id=batch_id, since=since, until=until)


def report(session: Session, scope: Scope) -> Report:
    """The report of ``scope``, its period widened to whole hours (the report's ``scope`` says so),
    from the counts kept as messages settle: milliseconds for a campaign of millions."""
    scope = whole_hours(scope)
    counts = report_counts.read(
        session, scope.account_id, tag=scope.tag, batch_id=scope.batch_id, since=scope.since, until=scope.until
    )
    states = dict.fromkeys(REPORT_STATES, 0)
    states.update(counts.final)
    states["pending"] = counts.accepted - sum(counts.final.values())
    return _report(
        session, scope, states, counts.errors_by_ptt, counts.delivery_buckets, counts.credits_milli, counts.replies
    )


def read_exactly(session: Session, scope: Scope) -> Report:
    """The report of ``scope`` (its period as given) read from the messages themselves."""
    states, errors, buckets, credits = _count_messages(session, scope)
    return _report(session, scope, states, errors, buckets, credits, _replies(session, scope))


def _report(
    session: Session, scope: Scope, states: dict[str, int], errors: dict[int, int], buckets: dict[int, int],
    credits_milli: int, replies: int,
) -> Report:
    by_day = _stops_by_day(session, scope)
    return Report(
        scope=scope,
        messages=sum(states.values()),
        states=states,
        errors_by_ptt=errors,
        delivery_time=DeliveryTime.of(buckets),
        stops=sum(n for _, n in by_day),
        replies=replies,
        credits_milli=credits_milli,
        stops_by_day=by_day,
    )


FOLD_LIMIT = 50_000


def fold_counts(db: Database) -> int:
    """Fold the deltas appended since the last call into the counts (the server, every second);
    returns how many. Reports are exact either way: folding keeps them fast."""
    folded = 0
    while True:
        with db.session() as session:
            n = report_counts.fold(session, FOLD_LIMIT)
        folded += n
        if n < FOLD_LIMIT:
            return folded


def _in_scope(query: Any, scope: Scope) -> Any:
    query = query.where(Message.account_id == scope.account_id)
    if scope.tag is not None:
        query = query.where(Message.tag == scope.tag)
    if scope.batch_id is not None:
        query = query.where(Message.job_id.in_(select(Job.id).where(Job.batch_id == scope.batch_id)))
    if scope.since is not None:
        query = query.where(Message.created_at >= scope.since)
    if scope.until is not None:
        query = query.where(Message.created_at < scope.until)
    return query


def _count_messages(session: Session, scope: Scope) -> tuple[dict[str, int], dict[int, int], dict[int, int], int]:
    """States, errors by ptt, delivery-time buckets and credits, read from the messages."""
    states = dict.fromkeys(REPORT_STATES, 0)
    errors: Counter[int] = Counter()
    credits = 0
    final = {s.value for s in FINAL}
    refunded = {s.value for s in REFUNDED} | {MessageStatus.BLACKLISTED.value}
    rows = session.execute(
        _in_scope(select(Message.status, Message.ptt, func.count(), func.sum(Message.credits_milli)), scope)
        .group_by(Message.status, Message.ptt)
    )
    for status, ptt, n, credits_milli in rows:
        states[status if status in final else "pending"] += n
        if status in {s.value for s in ERROR_STATES}:
            errors[ptt] += n
        if status not in refunded:
            credits += int(credits_milli or 0)
    buckets: Counter[int] = Counter()
    for sent_at, delivered_at in session.execute(
        _in_scope(select(Message.sent_at, Message.delivered_at), scope)
        .where(Message.status == MessageStatus.DELIVERED.value, Message.sent_at.is_not(None), Message.delivered_at.is_not(None))
    ):
        buckets[delivery_time.bucket_of((delivered_at - sent_at).total_seconds())] += 1
    return states, dict(errors), dict(buckets), credits


def _stops_by_day(session: Session, scope: Scope) -> list[tuple[dt.date, int]]:
    """STOPs attributed to the scope (by the tag and batch of the message that caused them; a
    period counts the STOPs received in it), counted per day by the database on the blacklist's
    indexes (``ix_blacklists_account_tag``, ``ix_blacklists_batch``: a campaign's STOPs only)."""
    day = func.date(Blacklist.created_at)
    query = select(day, func.count()).where(Blacklist.account_id == scope.account_id).group_by(day)
    if scope.tag is not None:
        query = query.where(Blacklist.tag == scope.tag)
    if scope.batch_id is not None:
        query = query.where(Blacklist.batch_id == scope.batch_id)
    if scope.since is not None:
        query = query.where(Blacklist.created_at >= scope.since)
    if scope.until is not None:
        query = query.where(Blacklist.created_at < scope.until)
    return sorted((dt.date.fromisoformat(str(d)), int(n)) for d, n in session.execute(query))


def _replies(session: Session, scope: Scope) -> int:
    """Incoming messages answering one of the scope's messages."""
    answered = _in_scope(select(Message.id), scope)
    return session.scalar(
        select(func.count()).select_from(IncomingSms)
        .where(IncomingSms.account_id == scope.account_id, IncomingSms.message_id.in_(answered))
    ) or 0  # fmt: skip
