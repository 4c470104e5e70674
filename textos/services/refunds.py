"""Refunds: credits of a message that will never be sent go back to its account, once.

A message is refunded in the same transaction that moves it to its final unsent
state, by an UPDATE guarded on its previous state, so that two refunds of the
same message cannot both happen.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from textos.domain.lifecycle import codes_of
from textos.storage import ledger
from textos.storage.models import Message, utcnow


def close_unsent(
    session: Session,
    message_ids: Iterable[int],
    *,
    from_statuses: tuple[str, ...],
    to_status: str,
    actor: str,
    reason: str,
    error: str | None = None,
) -> list[int]:
    """Move messages still in ``from_statuses`` to ``to_status`` and refund them; returns those moved."""
    ids = list(message_ids)
    if not ids:
        return []
    rows = session.execute(
        select(Message.id, Message.account_id, Message.credits_milli)
        .where(Message.id.in_(ids), Message.status.in_(from_statuses))
        .with_for_update(key_share=True)
    ).all()
    if not rows:
        return []
    ptt, dlr = codes_of(to_status)
    moved = session.execute(
        update(Message)
        .where(Message.id.in_([r.id for r in rows]), Message.status.in_(from_statuses))
        .values(status=to_status, ptt=ptt, dlr=dlr, credits_milli=0, error=error)
        .returning(Message.id),
        execution_options={"synchronize_session": False},
    ).scalars().all()
    moved_set = set(moved)
    by_account: dict[int, list[ledger.Movement]] = defaultdict(list)
    for r in rows:
        if r.id in moved_set and r.credits_milli:
            by_account[r.account_id].append(
                ledger.Movement(ledger.Kind.REFUND, r.credits_milli, actor=actor, reason=reason, message_id=r.id)
            )
    for account_id, movements in by_account.items():
        ledger.post_many(session, account_id, movements)
    return list(moved)


def expire_overdue(session: Session, limit: int = 5000) -> int:
    """Expire queued messages whose validity ended before they could be sent."""
    ids = session.scalars(
        select(Message.id).where(Message.status == "queued", Message.expires_at < utcnow()).limit(limit)
    ).all()
    return len(
        close_unsent(
            session, ids, from_statuses=("queued",), to_status="expired", actor="dispatcher",
            reason="validityPeriod elapsed before sending", error="validityPeriod elapsed",
        )
    )
