"""Senders of an SMS account: customers ask for them, the operator validates them.

A sender is well formed (``domain.senders``) and registered on the account before it can
be used. Asked for through the API it waits for validation (``waitingValidation``); the
operator enables or refuses it (``textos sender validate``), or registers it enabled at
once (``textos sender add``). Customers may then only switch a validated sender between
``enable`` and ``disable``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from textos.domain.senders import check_sender, sender_type
from textos.storage.models import Account, Sender


class SenderStatus:
    """``sms.StatusSenderEnum``."""

    WAITING = "waitingValidation"
    ENABLED = "enable"
    DISABLED = "disable"
    REFUSED = "refused"
    SWITCHABLE = (ENABLED, DISABLED)
    """What a customer may switch a validated sender between."""


def check(name: str) -> None:
    """Refuse a malformed sender, naming the rule it breaks."""
    problem = check_sender(name)
    if problem:
        raise BadRequest(f"sender: {name!r} {problem}")


def find(session: Session, account: Account, name: str) -> Sender | None:
    """The sender ``name`` registered on ``account``, if any."""
    return session.scalar(select(Sender).where(Sender.account_id == account.id, Sender.sender == name))


def get(session: Session, account: Account, name: str) -> Sender:
    """The sender ``name`` of ``account``; 404 when it is not registered there."""
    row = find(session, account, name)
    if row is None:
        raise NotFound(f"sender: {name!r} is not a sender of this account")
    return row


def names(session: Session, account: Account) -> list[str]:
    """The account's senders, oldest first."""
    return list(session.scalars(select(Sender.sender).where(Sender.account_id == account.id).order_by(Sender.id)))


def request(session: Session, account: Account, name: str, *, description: str = "", reason: str = "") -> Sender:
    """A customer asks for a sender: registered, waiting for the operator's validation."""
    check(name)
    if find(session, account, name) is not None:
        raise Conflict(f"sender: {name!r} already exists on this account")
    row = Sender(
        account_id=account.id, sender=name, description=description, reason=reason,
        status=SenderStatus.WAITING, type=sender_type(name), referer="custom",
    )
    session.add(row)
    session.flush()
    return row


def register(session: Session, account: Account, name: str, *, description: str = "") -> Sender:
    """The operator registers a sender enabled at once (enabling it if it was already asked for)."""
    check(name)
    row = find(session, account, name)
    if row is None:
        row = Sender(account_id=account.id, sender=name, description=description, type=sender_type(name), referer="custom")
        session.add(row)
    row.status = SenderStatus.ENABLED
    session.flush()
    return row


def validate(session: Session, account: Account, name: str, *, refusal: str | None = None) -> Sender:
    """The operator enables a sender a customer asked for, or refuses it with a comment."""
    row = find(session, account, name)
    if row is None:
        raise NotFound(f"sender: {name!r} is not registered on {account.service_name}")
    row.status, row.comment = (SenderStatus.REFUSED, refusal) if refusal else (SenderStatus.ENABLED, None)
    return row


def update(row: Sender, *, description: str | None = None, status: str | None = None) -> None:
    """A customer describes a sender, or switches a validated one between enabled and disabled."""
    if description is not None:
        row.description = description
    if status is not None and status != row.status:
        if status not in SenderStatus.SWITCHABLE or row.status not in SenderStatus.SWITCHABLE:
            raise Forbidden(f"status: a {row.status} sender cannot be set to {status}; validation is done by the operator")
        row.status = status


def remove(session: Session, account: Account, name: str) -> None:
    """Delete the sender ``name`` of ``account`` (404 when it is not registered there)."""
    session.delete(get(session, account, name))


def usable(session: Session, account: Account, name: str) -> Sender:
    """The sender ``name`` if ``account`` may send with it now: well formed, registered and enabled."""
    check(name)
    row = find(session, account, name)
    if row is None:
        raise BadRequest(f"sender: {name!r} is not a sender of this account (POST /sms/{account.service_name}/senders)")
    if row.status != SenderStatus.ENABLED:
        raise Forbidden(f"sender: {name!r} is {row.status}, not enabled")
    return row


def sender_view(sender: Sender) -> dict[str, Any]:
    """``sms.Sender``."""
    return {
        "comment": sender.comment,
        "description": sender.description,
        "referer": sender.referer,
        "sender": sender.sender,
        "status": sender.status,
        "type": sender.type,
        "validationMedia": None,
    }
