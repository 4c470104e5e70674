"""The message lifecycle: every statement that changes ``messages.status``.

    queued ──claim_due, claim_listed──▶ submitting ──store_sent──▶ sent ──storage.receipts──▶ delivered | failed
       │                     │                          └──close_without_receipt──▶ no_receipt (charged)
       │                     │ └──requeue (retry, restart, orphans, stranded)──▶ queued
       │                     └──store_rejected──▶ rejected (refunded)
       ├──expire_overdue──▶ expired (refunded)
       └──close_unsent (cancel)──▶ cancelled (refunded)

The statuses and their OVH codes are ``domain.lifecycle``'s; receipts settle sent
messages in ``storage.receipts``. Functions work inside the caller's transaction and
note the messages whose change a client can see (``storage.events``): the database
tells its listeners once the transaction has committed.

A message is refunded in the same transaction that moves it to its final unsent state,
by an UPDATE guarded on its previous state, so two refunds of one message cannot both
happen. A message is charged for the parts it was sent in (``store_sent``). What each move
changes in its campaign's report is added by the same function, from the rows its guarded
statement actually moved (``storage.report_counts``).

SQL: a status or code a statement always writes or tests is part of its text, composed
once from ``domain.lifecycle`` (the queue's partial indexes are matched by literal
statuses only, and the hot statements stay the plain SQL they were); every other value
is bound. The delivery hot path (claims, submit results) is plain ``storage.fastsql``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from enum import Enum
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Protocol, Sequence, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from textos.domain.clock import utcnow
from textos.domain.encoding import Encoding
from textos.domain.lifecycle import MessageStatus, codes_of
from textos.domain.priority import name_of as priority_name
from textos.storage import events, ledger, quota_rows
from textos.storage.fastsql import db_time, is_sqlite, literal, marks, pg_array, read_time, run, run_many
from textos.storage.models import Message
from textos.storage.receipts import canonical_carrier_id, replay_pending
from textos.storage.report_counts import Tally

log = logging.getLogger("textos.messages")

T = TypeVar("T")
CHUNK = 5000


_QUEUED = literal(MessageStatus.QUEUED.value)
_SUBMITTING = literal(MessageStatus.SUBMITTING.value)
_SENT = literal(MessageStatus.SENT.value)
_SENT_PTT, _SENT_DLR = codes_of(MessageStatus.SENT)
_NO_RECEIPT = literal(MessageStatus.NO_RECEIPT.value)
_NO_RECEIPT_PTT, _NO_RECEIPT_DLR = codes_of(MessageStatus.NO_RECEIPT)
_OVERDUE_RECEIPTS = f"SELECT id FROM messages WHERE status = {_SENT} AND sent_at < ? ORDER BY sent_at LIMIT ?"
"""Sent messages waiting for their receipt since before ``?``, the oldest first: a range of ``ix_messages_awaiting_receipt``."""

_CLAIMED = "id, job_id, sender, receiver, text, encoding, parts, priority, expires_at"
_CLAIM_SET = f"UPDATE messages SET status = {_SUBMITTING}, attempts = attempts + 1, claimed_by = ? WHERE "
_DUE = f"SELECT id FROM messages WHERE status = {_QUEUED} AND send_at <= ? ORDER BY priority, send_at, id LIMIT ?"


def _claim_sql(where: str, sqlite: bool) -> str:
    """A claim of the messages ``where`` selects (``_CLAIM_SET``), returning ``_CLAIMED``: on
    PostgreSQL with their jobs' columns, joined in the same statement (SQLite: read by a second
    statement, no round trip there, ``_with_jobs``)."""
    update = f"{_CLAIM_SET}{where} RETURNING {_CLAIMED}"
    if sqlite:
        return update
    return (
        f"WITH c AS ({update}) SELECT {', '.join('c.' + column for column in _CLAIMED.split(', '))},"
        " j.text, j.sender_type, j.message_class FROM c JOIN jobs j ON j.id = c.job_id"
    )


_CLAIM = {sqlite: _claim_sql(f"id IN ({_DUE}{'' if sqlite else ' FOR UPDATE SKIP LOCKED'})", sqlite) for sqlite in (True, False)}
"""By backend (SQLite or not): PostgreSQL's dispatchers skip each other's claims."""
_CLAIM_LISTED = {
    sqlite: _claim_sql(f"id IN (SELECT value FROM json_each(?)) AND status = {_QUEUED} AND send_at <= ?", True) if sqlite
    else _claim_sql(f"id = ANY(?::bigint[]) AND status = {_QUEUED} AND send_at <= ?", False)
    for sqlite in (True, False)
}
_STORE_SENT = (
    f"UPDATE messages SET status = {_SENT}, ptt = {_SENT_PTT}, dlr = {_SENT_DLR}, sent_at = ?, carrier_id = ?, connector = ? "
    f"WHERE id = ? AND status = {_SUBMITTING}"
)
_ENCODINGS = {e.value: e for e in Encoding}


# Claims


def claim_due(session: Session, limit: int, build: Callable[..., T], *, instance: int | None = None) -> list[T]:
    """Move up to ``limit`` due messages to *submitting* under dispatcher ``instance``: by
    priority, then longest due first. Each is made by ``build(id, sender, sender_type,
    receiver, text, encoding, parts, message_class, priority, validity_until)`` (the
    dispatcher's ``OutboundMessage``), highest priority first."""
    sqlite = is_sqlite(session)
    rows = run(session, _CLAIM[sqlite], (instance, db_time(session, utcnow()), limit)).fetchall()
    return _built(session, rows, build, sqlite)


class Room(NamedTuple):
    """What a dispatcher would take now of messages as they are accepted (``claim_listed``)."""

    limit: int
    """At most this many messages."""
    instance: int | None
    """Claimed under this dispatcher instance (``delivery.ownership``)."""
    build: Callable[..., Any]
    """Makes each claimed message (the dispatcher's ``OutboundMessage``)."""


def claim_listed(session: Session, ids: Sequence[int], build: Callable[..., T], *, instance: int | None = None) -> list[T]:
    """``claim_due`` of the messages ``ids`` (those still *queued* and due): messages just written
    in this transaction, claimed in it for the dispatcher of the process that accepted them,
    which is handed them once it has committed (``services.accept_writer``), with no claim of its
    own and no wait for a wake-up. Same move, same ``build``, highest priority first."""
    if not ids:
        return []
    sqlite = is_sqlite(session)
    listed = json.dumps(list(ids)) if sqlite else pg_array(ids)
    rows = run(session, _CLAIM_LISTED[sqlite], (instance, listed, db_time(session, utcnow()))).fetchall()
    return _built(session, rows, build, sqlite)


def _built(session: Session, rows: list[Any], build: Callable[..., T], sqlite: bool) -> list[T]:
    """Claimed rows (``_CLAIMED``, with their jobs' columns on PostgreSQL) made into ``build``'s objects."""
    if not rows:
        return []
    if sqlite:  # their jobs' columns read after (PostgreSQL: joined in the same statement)
        job_ids = sorted({r[1] for r in rows})
        jobs = {
            jid: (text, sender_type, message_class)
            for jid, text, sender_type, message_class in run(
                session, f"SELECT id, text, sender_type, message_class FROM jobs WHERE id IN ({marks(len(job_ids))})", job_ids
            ).fetchall()
        }
        rows = [(*row, *jobs[row[1]]) for row in rows]
    rows.sort(key=lambda r: (r[7], r[0]))
    out: list[T] = []
    append = out.append
    times: dict[object, dt.datetime | None] = {}  # messages of a job share their expiry
    encodings = _ENCODINGS
    for mid, jid, sender, receiver, text, encoding, parts, priority, expires_at, job_text, sender_type, message_class in rows:
        try:
            validity = times[expires_at]
        except KeyError:
            validity = times[expires_at] = read_time(expires_at)
        append(
            build(
                mid,
                sender,
                sender_type,
                receiver,
                text if text is not None else job_text,
                encodings.get(encoding) or Encoding(encoding),
                parts,
                message_class,
                priority_name(priority),
                validity,
            )
        )
    return out


def claimants(session: Session) -> list[int | None]:
    """The dispatcher instances that have messages in flight (``None``: claimed before
    instance numbers existed, migration 0007)."""
    return [row[0] for row in run(session, f"SELECT DISTINCT claimed_by FROM messages WHERE status = {_SUBMITTING}").fetchall()]


def in_flight(session: Session, claimed_by: int) -> list[int]:
    """Ids of the messages dispatcher ``claimed_by`` has in flight."""
    return [row[0] for row in run(
        session, f"SELECT id FROM messages WHERE status = {_SUBMITTING} AND claimed_by = ?", (claimed_by,)
    ).fetchall()]


class Claimant(Enum):
    ANY = "any"
    """Whichever dispatcher claimed them."""


def requeue(
    session: Session,
    ids: Sequence[int] | None = None,
    *,
    claimed_by: int | None | Claimant = Claimant.ANY,
    delay: float | None = None,
) -> int:
    """Put messages in flight (*submitting*) back in the queue; returns how many.

    Those of ``ids`` (default: all), claimed by dispatcher ``claimed_by`` (an instance
    number, ``None`` for claims older than instance numbers; default: any), due again
    after ``delay`` seconds (default: at once). The one way back to the queue: a submit
    to retry later, a restart (SQLite), a dispatcher gone (``delivery.ownership``), our
    own results that could not be stored (the dispatcher's sweep)."""
    sets, params = f"status = {_QUEUED}", []
    if delay is not None:
        sets += ", send_at = ?"
        params.append(db_time(session, utcnow() + dt.timedelta(seconds=delay)))
    where = f"status = {_SUBMITTING}"
    if claimed_by is None:
        where += " AND claimed_by IS NULL"
    elif claimed_by is not Claimant.ANY:
        where += " AND claimed_by = ?"
        params.append(claimed_by)
    sql = f"UPDATE messages SET {sets} WHERE {where}"
    if ids is None:
        return run(session, sql, params).rowcount or 0
    moved = 0
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        moved += run(session, f"{sql} AND id IN ({marks(len(chunk))})", (*params, *chunk)).rowcount or 0
    return moved


# Submit results


class SubmitResult(Protocol):
    """What a carrier answered for one message (``delivery.connector.SubmitResult`` is one)."""

    @property
    def message_id(self) -> int: ...
    @property
    def part_ids(self) -> tuple[str, ...]: ...
    @property
    def error(self) -> str | None: ...
    @property
    def retry_after(self) -> float | None: ...


def store_sent(session: Session, results: Sequence[SubmitResult], connector_of: Mapping[int, str], charged: Mapping[int, int]) -> None:
    """Messages accepted by their carrier: *sent*, with the carrier id of each part.

    ``charged`` gives each message's parts as charged (claimed); one sent in fewer parts
    is refunded the difference (``_charge_as_sent``). Receipts kept because they came
    before this result are applied."""
    if not results:
        return
    now = db_time(session, utcnow())
    run_many(
        session,
        _STORE_SENT,
        [(now, canonical_carrier_id(r.part_ids[0]) if r.part_ids else None, connector_of.get(r.message_id), r.message_id) for r in results],
    )
    odd = {r.message_id: len(r.part_ids) for r in results if r.part_ids and len(r.part_ids) != charged.get(r.message_id)}
    if odd:
        _charge_as_sent(session, odd)
    parts = [
        (r.message_id, i + 1, canonical_carrier_id(pid))
        for r in results
        if len(r.part_ids) > 1
        for i, pid in enumerate(r.part_ids)
    ]
    run_many(session, "INSERT INTO message_parts (message_id, part_no, carrier_id) VALUES (?, ?, ?)", parts)
    events.changed(session, [r.message_id for r in results])
    replay_pending(session, [pid for r in results for pid in r.part_ids])


def _charge_as_sent(session: Session, sent: dict[int, int]) -> None:
    """Charge messages for the parts they were sent in (``sent``: id → parts): fewer than
    charged, the difference is refunded; more cannot happen (the accept path charges
    the largest split of the message's routes), and is logged as the error it is."""
    ids = sorted(sent)
    rows = run(
        session,
        f"SELECT id, account_id, parts, credits_milli, job_id FROM messages WHERE status = {_SENT} AND id IN ({marks(len(ids))})", ids,
    ).fetchall()
    refunds: dict[int, list[ledger.Movement]] = defaultdict(list)
    tally = Tally()
    for mid, account_id, charged, milli, job_id in rows:
        parts = sent[mid]
        if parts == charged:
            continue
        new = milli
        if parts > charged:
            log.error("message %d was sent in %d parts but charged for %d: the accept path must charge every part", mid, parts, charged)
        else:
            new = round(milli * parts / charged)
        if not run(
            session, "UPDATE messages SET parts = ?, credits_milli = ? WHERE id = ? AND parts = ?", (parts, new, mid, charged)
        ).rowcount:
            continue
        tally.charged(job_id, new - milli)
        if new < milli:
            refunds[account_id].append(ledger.Movement(
                ledger.Kind.REFUND, milli - new, actor="dispatcher", reason=f"sent in {parts} of the {charged} parts charged",
                message_id=mid,
            ))
    for account_id, movements in refunds.items():
        ledger.post_many(session, account_id, quota_rows.refund_movements(session, account_id, movements))
    tally.write(session)


def store_rejected(session: Session, results: Sequence[SubmitResult]) -> None:
    """Messages their carrier refused for good: *rejected*, and refunded."""
    by_error: dict[str | None, list[int]] = defaultdict(list)
    for r in results:
        by_error[r.error].append(r.message_id)
    for error, ids in by_error.items():
        close_unsent(
            session, ids, from_statuses=(MessageStatus.SUBMITTING,), to_status=MessageStatus.REJECTED,
            actor="dispatcher", reason=f"rejected at submit: {error}", error=error,
        )


def store_retries(session: Session, results: Sequence[SubmitResult]) -> None:
    """Messages to submit again later (throttled, link down, no route): back in the queue,
    due after each result's ``retry_after`` (default 1 s)."""
    by_delay: dict[float, list[int]] = defaultdict(list)
    for r in results:
        by_delay[r.retry_after or 1.0].append(r.message_id)
    for delay, ids in by_delay.items():
        requeue(session, ids, delay=delay)


# Never sent: refunded


def close_unsent(
    session: Session,
    message_ids: Iterable[int],
    *,
    from_statuses: Iterable[MessageStatus | str],
    to_status: MessageStatus | str,
    actor: str,
    reason: str,
    error: str | None = None,
) -> list[int]:
    """Move messages still in ``from_statuses`` to ``to_status`` (one of ``lifecycle.REFUNDED``)
    and refund them; returns those moved."""
    ids = list(message_ids)
    if not ids:
        return []
    froms = [MessageStatus(s).value for s in from_statuses]
    status = MessageStatus(to_status)
    rows = session.execute(
        select(Message.id, Message.account_id, Message.credits_milli, Message.job_id, Message.status, Message.ptt)
        .where(Message.id.in_(ids), Message.status.in_(froms))
        .with_for_update(key_share=True)
    ).all()
    if not rows:
        return []
    ptt, dlr = codes_of(status)
    moved = session.execute(
        update(Message)
        .where(Message.id.in_([r.id for r in rows]), Message.status.in_(froms))
        .values(status=status.value, ptt=ptt, dlr=dlr, credits_milli=0, error=error, settled_at=utcnow())
        .returning(Message.id),
        execution_options={"synchronize_session": False},
    ).scalars().all()
    moved_set = set(moved)
    by_account: dict[int, list[ledger.Movement]] = defaultdict(list)
    tally = Tally()
    for r in rows:
        if r.id not in moved_set:
            continue
        tally.moved(r.job_id, status.value, ptt, was=(r.status, r.ptt))  # rows locked above: as they were
        tally.charged(r.job_id, -r.credits_milli)
        if r.credits_milli:
            by_account[r.account_id].append(
                ledger.Movement(ledger.Kind.REFUND, r.credits_milli, actor=actor, reason=reason, message_id=r.id)
            )
    for account_id, movements in by_account.items():
        ledger.post_many(session, account_id, quota_rows.refund_movements(session, account_id, movements))
    tally.write(session)
    events.changed(session, moved)
    return list(moved)


def expire_overdue(session: Session, limit: int = 5000) -> int:
    """Expire queued messages whose validity ended before they could be sent (refunded)."""
    ids = [row[0] for row in run(
        session, f"SELECT id FROM messages WHERE status = {_QUEUED} AND expires_at < ? LIMIT ?", (db_time(session, utcnow()), limit)
    ).fetchall()]
    return len(
        close_unsent(
            session, ids, from_statuses=(MessageStatus.QUEUED,), to_status=MessageStatus.EXPIRED, actor="dispatcher",
            reason="validityPeriod elapsed before sending", error="validityPeriod elapsed",
        )
    )


# Sent, and no receipt came


def close_without_receipt(session: Session, timeout: float, limit: int = CHUNK) -> list[int]:
    """Messages *sent* more than ``timeout`` seconds ago whose receipt never came: *no_receipt*
    (final, still charged: they were sent). The oldest first, at most ``limit``; returns their ids.

    One range read of the partial index ``ix_messages_awaiting_receipt`` (``sent_at`` of sent
    messages only), so a table of millions of settled messages costs nothing here. A receipt
    that comes later still settles them (``storage.receipts``)."""
    ids = [row[0] for row in run(
        session, _OVERDUE_RECEIPTS, (db_time(session, utcnow() - dt.timedelta(seconds=timeout)), limit)
    ).fetchall()]
    if not ids:
        return []
    rows = run(
        session,
        f"UPDATE messages SET status = {_NO_RECEIPT}, ptt = {_NO_RECEIPT_PTT}, dlr = {_NO_RECEIPT_DLR}, error = ?, settled_at = ? "
        f"WHERE status = {_SENT} AND id IN ({marks(len(ids))}) RETURNING id, job_id",
        (f"no receipt within {timeout:g} s", db_time(session, utcnow()), *ids),
    ).fetchall()
    tally = Tally()
    for _, job_id in rows:
        tally.moved(job_id, MessageStatus.NO_RECEIPT.value, int(_NO_RECEIPT_PTT))
    tally.write(session)
    moved = [row[0] for row in rows]
    events.changed(session, moved)
    return moved
