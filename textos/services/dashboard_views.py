"""What the dashboard's pages show, read for the person logged in (``services.dashboard_sessions.Who``).

A customer sees their own accounts only; an operator every account. Each function takes the
account ids in view (``account_ids``: None for every account) so the scope is decided once,
by ``accounts_in_view``. The writes the pages make go through the services that own them
(``callbacks.replay``, ``orders.confirm_payment``, ``senders.validate``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from textos.domain.clock import utcnow
from textos.domain.errors import NotFound
from textos.domain.lifecycle import MessageStatus
from textos.services import movements
from textos.services.dashboard_sessions import Who
from textos.services.senders import SenderStatus
from textos.services.users import view as user_view
from textos.storage.ledger import to_credits
from textos.storage.models import Account, Customer, IncomingSms, Message, Sender, SmsUser
from textos.storage.models_bulk import Batch

THROUGHPUT_WINDOW = dt.timedelta(seconds=60)
"""The live view's throughput: messages sent in the last minute, per second."""


@dataclass(frozen=True)
class AccountRow:
    id: int
    service_name: str
    nic: str
    description: str
    credits: float
    held: float
    status: str


def _scope(column: Any, account_ids: list[int] | None) -> ColumnElement[bool]:
    return column.in_(account_ids) if account_ids is not None else column.is_not(None)


def accounts_in_view(session: Session, who: Who) -> list[AccountRow]:
    """The accounts this person may see, oldest first."""
    stmt = select(Account, Customer.nic).join(Customer, Customer.id == Account.customer_id).order_by(Account.id)
    if not who.operator:
        stmt = stmt.where(Account.customer_id == who.id)
    return [
        AccountRow(a.id, a.service_name, nic, a.description, to_credits(a.credits_milli), to_credits(a.credits_held_milli), a.status)
        for a, nic in session.execute(stmt).all()
    ]


def account_ids(session: Session, who: Who) -> list[int] | None:
    """None for an operator (every account), else the customer's account ids."""
    if who.operator:
        return None
    return list(session.scalars(select(Account.id).where(Account.customer_id == who.id)))


def account_in_view(session: Session, who: Who, service_name: str) -> Account:
    """The account ``service_name`` if this person may see it; else 404 (nothing leaks)."""
    stmt = select(Account).where(Account.service_name == service_name)
    if not who.operator:
        stmt = stmt.where(Account.customer_id == who.id)
    account = session.scalar(stmt)
    if account is None:
        raise NotFound(f"serviceName: this service does not exist ({service_name})")
    return account


def ledger_rows(session: Session, account: Account, limit: int = 100) -> list[dict[str, Any]]:
    """The account's latest ledger entries, as ``GET /sms/{s}/ledger`` shows them."""
    entries = movements.history(session, account.id, limit=limit)
    names = movements.counterpart_names(session, entries)
    return [movements.entry_view(e, names) for e in entries]


def campaigns(session: Session, ids: list[int] | None, limit: int = 200) -> list[dict[str, Any]]:
    """Tags (campaigns) by account with their message counts and last sending, newest first."""
    rows = session.execute(
        select(Account.service_name, Message.tag, func.count(), func.max(Message.created_at))
        .join(Account, Account.id == Message.account_id)
        .where(_scope(Message.account_id, ids), Message.tag != "")
        .group_by(Account.service_name, Message.tag)
        .order_by(func.max(Message.created_at).desc())
        .limit(limit)
    ).all()
    return [{"serviceName": s, "tag": t, "messages": n, "last": last} for s, t, n, last in rows]


def batches(session: Session, ids: list[int] | None, limit: int = 200) -> list[dict[str, Any]]:
    """Batches (named campaigns) by account, newest first."""
    rows = session.execute(
        select(Batch, Account.service_name).join(Account, Account.id == Batch.account_id)
        .where(_scope(Batch.account_id, ids)).order_by(Batch.created_at.desc(), Batch.id).limit(limit)
    ).all()
    return [{"serviceName": s, "id": b.id, "name": b.name, "tag": b.tag, "status": b.status,
             "createdAt": b.created_at} for b, s in rows]


def queue(session: Session, ids: list[int] | None) -> dict[str, Any]:
    """The live view: messages waiting, in flight and awaiting receipts, the oldest due, and throughput."""
    now = utcnow()
    counts = dict(session.execute(
        select(Message.status, func.count())
        .where(_scope(Message.account_id, ids),
               Message.status.in_([MessageStatus.QUEUED, MessageStatus.SUBMITTING, MessageStatus.SENT]))
        .group_by(Message.status)
    ).all())
    due = session.execute(
        select(func.count(), func.min(Message.send_at))
        .where(_scope(Message.account_id, ids), Message.status == MessageStatus.QUEUED, Message.send_at <= now)
    ).one()
    sent_recently = session.scalar(
        select(func.count()).where(_scope(Message.account_id, ids), Message.sent_at >= now - THROUGHPUT_WINDOW)
    ) or 0
    oldest = due[1]
    return {
        "queued": counts.get(MessageStatus.QUEUED, 0),
        "due": due[0],
        "oldestDueSeconds": round((now - oldest).total_seconds(), 1) if oldest is not None else None,
        "submitting": counts.get(MessageStatus.SUBMITTING, 0),
        "awaitingReceipt": counts.get(MessageStatus.SENT, 0),
        "sentLastMinute": sent_recently,
        "perSecond": round(sent_recently / THROUGHPUT_WINDOW.total_seconds(), 2),
    }


def incoming(session: Session, ids: list[int] | None, limit: int = 100) -> list[dict[str, Any]]:
    """Latest incoming messages (replies have the id of the message they answer), newest first."""
    rows = session.execute(
        select(IncomingSms, Account.service_name).join(Account, Account.id == IncomingSms.account_id)
        .where(_scope(IncomingSms.account_id, ids), IncomingSms.hidden.is_(False))
        .order_by(IncomingSms.id.desc()).limit(limit)
    ).all()
    return [
        {"serviceName": s, "id": m.id, "date": m.created_at, "sender": m.sender, "receiver": m.receiver, "text": m.text,
         "tag": m.tag, "replyTo": m.message_id, "credits": to_credits(m.credits_milli)}
        for m, s in rows
    ]


def users(session: Session, ids: list[int] | None) -> list[dict[str, Any]]:
    """Users of the accounts with their quotas (``sms.User``)."""
    rows = session.execute(
        select(SmsUser, Account.service_name).join(Account, Account.id == SmsUser.account_id)
        .where(_scope(SmsUser.account_id, ids)).order_by(Account.service_name, SmsUser.login)
    ).all()
    return [{"serviceName": s, **user_view(u)} for u, s in rows]


def senders_waiting(session: Session) -> list[dict[str, Any]]:
    """Senders customers asked for, waiting for an operator (oldest first)."""
    rows = session.execute(
        select(Sender, Account.service_name).join(Account, Account.id == Sender.account_id)
        .where(Sender.status == SenderStatus.WAITING).order_by(Sender.id)
    ).all()
    return [{"serviceName": s, "sender": r.sender, "description": r.description, "reason": r.reason, "date": r.created_at}
            for r, s in rows]
