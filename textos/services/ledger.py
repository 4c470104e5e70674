"""The credit ledger: every movement is an immutable entry; balances follow from it.

``Account.credits_milli`` is a cache of the sum of the account's entries, updated
in the same transaction as the entry is written, by a conditional UPDATE that
cannot take a balance below zero. ``verify`` recomputes it from the entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from textos.services.errors import NotEnoughCredits
from textos.storage.models import Account, LedgerEntry

MILLI = 1000


class Kind:
    PURCHASE = "purchase"
    JOB_DEBIT = "job_debit"
    REFUND = "refund"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    QUOTA_HOLD = "quota_hold"
    QUOTA_RELEASE = "quota_release"
    ADJUSTMENT = "adjustment"


def to_milli(credits: float) -> int:
    return int(round(credits * MILLI))


def to_credits(milli: int) -> float:
    return milli / MILLI


@dataclass(frozen=True, slots=True)
class Movement:
    kind: str
    amount_milli: int
    actor: str = "system"
    reason: str = ""
    job_id: int | None = None
    message_id: int | None = None
    counterpart_account_id: int | None = None
    order_id: int | None = None


def _move_balance(session: Session, account_id: int, amount_milli: int) -> int:
    """Add ``amount_milli`` to the cached balance, never below zero; returns the new balance."""
    stmt = update(Account).where(Account.id == account_id)
    if amount_milli < 0:
        stmt = stmt.where(Account.credits_milli >= -amount_milli)
    balance = session.execute(
        stmt.values(credits_milli=Account.credits_milli + amount_milli).returning(Account.credits_milli)
    ).scalar_one_or_none()
    if balance is None:
        left = session.scalar(select(Account.credits_milli).where(Account.id == account_id)) or 0
        raise NotEnoughCredits(
            f"Not enough credits: {to_credits(-amount_milli):g} needed, creditsLeft is {to_credits(left):g}"
        )
    return balance


def _entry(account_id: int, movement: Movement, balance_after: int) -> dict[str, object]:
    return {
        "account_id": account_id,
        "kind": movement.kind,
        "amount_milli": movement.amount_milli,
        "balance_after_milli": balance_after,
        "actor": movement.actor,
        "reason": movement.reason,
        "job_id": movement.job_id,
        "message_id": movement.message_id,
        "counterpart_account_id": movement.counterpart_account_id,
        "order_id": movement.order_id,
    }


def post(session: Session, account_id: int, movement: Movement) -> LedgerEntry:
    """Apply ``movement`` to the account's balance and record it; refuse to go below zero."""
    balance = _move_balance(session, account_id, movement.amount_milli)
    entry = LedgerEntry(**_entry(account_id, movement, balance))
    session.add(entry)
    session.flush()
    return entry


def post_many(session: Session, account_id: int, movements: list[Movement]) -> None:
    """Post several movements of one account with a single balance update (refund sweeps)."""
    if not movements:
        return
    total = sum(m.amount_milli for m in movements)
    running = _move_balance(session, account_id, total) - total
    rows = []
    for m in movements:
        running += m.amount_milli
        rows.append(_entry(account_id, m, running))
    session.execute(LedgerEntry.__table__.insert(), rows)


def ledger_balance(session: Session, account_id: int) -> int:
    """The balance recomputed from the entries (milli-credits)."""
    return session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_milli), 0)).where(LedgerEntry.account_id == account_id)
    ) or 0


def verify(session: Session, account_id: int) -> bool:
    """True when the cached balance equals the sum of the ledger entries."""
    cached = session.scalar(select(Account.credits_milli).where(Account.id == account_id))
    return cached == ledger_balance(session, account_id)
