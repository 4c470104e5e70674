"""Users' quotas as rows (``sms_users.quota_left_milli``): the conditional updates that make them exact.

A quota is consumed by one ``UPDATE … WHERE quota_left_milli >= cost`` (never below zero, whatever
runs at the same time: PostgreSQL re-checks the condition on the row it waited for, SQLite has one
writer) and refilled by refunds only while it is active. Every caller locks the account's row
first (``lock_account``; the accept path does so before paying from a quota), then the user's: one
lock order, no deadlock between a send, a ``PUT`` of the quota and a refund.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.orm import Session

from textos.storage import ledger
from textos.storage.fastsql import marks, run

__all__ = ["Consumed", "consume", "lock_account", "refund_movements"]

ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class Consumed:
    """A user's quota after a consumption: what is left, and whether this one crossed its alert threshold."""

    user_id: int
    left_milli: int
    crossed: bool


def lock_account(session: Session, account_id: int) -> None:
    """Lock the account's row until the transaction ends (SQLite: the transaction has the write lock)."""
    if session.get_bind().dialect.name == "sqlite":
        return
    run(session, "SELECT id FROM accounts WHERE id = ? FOR NO KEY UPDATE", (account_id,)).close()


def consume(session: Session, user_id: int, milli: int) -> Consumed | None:
    """Take ``milli`` from the user's active quota; None when it has no active quota or too little
    left (``quota_status`` tells which). A consumption taking it below ``alert_threshold`` while the
    alert is armed disarms it and says so (``crossed``): once per crossing."""
    cur = run(
        session,
        "UPDATE sms_users SET quota_left_milli = quota_left_milli - ? WHERE id = ? AND quota_status = ? AND quota_left_milli >= ?"
        " RETURNING quota_left_milli, alert_threshold, alert_armed",
        (milli, user_id, ACTIVE, milli),
    )
    try:
        row = cur.fetchone()
    finally:
        cur.close()
    if row is None:
        return None
    left, threshold, armed = row[0], row[1], bool(row[2])
    crossed = False
    if armed and left < threshold * ledger.MILLI:
        cur = run(session, "UPDATE sms_users SET alert_armed = ? WHERE id = ? AND alert_armed = ? RETURNING id", (False, user_id, True))
        try:
            crossed = cur.fetchone() is not None
        finally:
            cur.close()
    return Consumed(user_id, left, crossed)


def quota_status(session: Session, user_id: int) -> tuple[str, int]:
    """(status, left) of a user's quota, as the transaction sees it."""
    cur = run(session, "SELECT quota_status, quota_left_milli FROM sms_users WHERE id = ?", (user_id,))
    try:
        row = cur.fetchone()
    finally:
        cur.close()
    return (row[0], row[1]) if row else ("inactive", 0)


def refund_movements(session: Session, account_id: int, refunds: list[ledger.Movement]) -> list[ledger.Movement]:
    """The movements that refund ``refunds`` (``Kind.REFUND`` of messages) where the credits came
    from: a message of a job paid from its user's quota goes back to that quota if it is still
    active (the refund and a ``quota_hold`` of the same amount: the account's free credits do not
    change, its held credits and the quota grow); otherwise, to the account's free credits."""
    ids = [m.message_id for m in refunds if m.message_id is not None]
    if not ids:
        return refunds
    cur = run(
        session,
        f"SELECT m.id, j.user_id FROM messages m JOIN jobs j ON j.id = m.job_id WHERE m.id IN ({marks(len(ids))})"
        " AND j.quota_paid = ? AND j.user_id IS NOT NULL",
        (*ids, True),
    )
    try:
        user_of = {row[0]: row[1] for row in cur.fetchall()}
    finally:
        cur.close()
    if not user_of:
        return refunds
    lock_account(session, account_id)
    by_user: dict[int, int] = defaultdict(int)
    for m in refunds:
        if m.message_id in user_of:
            by_user[user_of[m.message_id]] += m.amount_milli
    refilled = set()
    for user_id in sorted(by_user):
        cur = run(
            session, "UPDATE sms_users SET quota_left_milli = quota_left_milli + ? WHERE id = ? AND quota_status = ? RETURNING id",
            (by_user[user_id], user_id, ACTIVE),
        )
        try:
            if cur.fetchone() is not None:
                refilled.add(user_id)
        finally:
            cur.close()
    out = list(refunds)
    for m in refunds:
        if m.message_id is not None and user_of.get(m.message_id) in refilled:
            out.append(ledger.Movement(
                ledger.Kind.QUOTA_HOLD, -m.amount_milli, actor=m.actor, reason=f"message {m.message_id} refunded to its user's quota",
                message_id=m.message_id,
            ))
    return out
