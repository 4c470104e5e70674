"""An account's incoming messages (``sms.Incoming``): list with filters, one, delete; and the
operator's unattributed ones.

One query for every place that lists them: the account's ``/sms/{s}/incoming`` and a
virtual number's ``/sms/{s}/virtualNumbers/{number}/incoming``, which is the same list
narrowed to the messages received on that number (``receiver``), and a user's
``/sms/{s}/users/{login}/incoming``, narrowed to the replies to that user's messages
(``incoming.message_id``: a conversation of a ``senderForResponse`` message). Only attributed messages
are here (``account_id`` set, see ``services.incoming``): an unattributed one is never shown
to a customer, only to the operator (``unattributed``, ``textos incoming --unattributed``).
A deleted message leaves the account's history; its row stays, for the books (``hidden``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from textos.domain.clock import iso
from textos.domain.errors import NotFound
from textos.domain.numbers import filter_number
from textos.storage.ledger import to_credits
from textos.storage.models import IncomingSms, Job, Message

__all__ = ["IncomingFilter", "get_incoming", "hide_incoming", "incoming_details", "incoming_history", "incoming_ids", "incoming_view", "unattributed"]


@dataclass(frozen=True)
class IncomingFilter:
    """``GET …/incoming`` filters; ``None``: any. Datetimes in naive UTC."""

    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    sender: str | None = None
    tag: str | None = None


def _answers_user(user_id: int) -> ColumnElement[bool]:
    """``IncomingSms.message_id`` is one of user ``user_id``'s messages (a reply to a user's SMS)."""
    return IncomingSms.message_id.in_(select(Message.id).join(Job, Job.id == Message.job_id).where(Job.user_id == user_id))


def incoming_ids(
    session: Session, account_id: int, where: IncomingFilter, region: str, *, receiver: str | None = None,
    user_id: int | None = None,
) -> list[int]:
    """Ids of the account's incoming messages matching ``where`` (and received on ``receiver``,
    E.164, when given; answering a message of user ``user_id``, when given), deleted ones left
    out, oldest first. A ``sender`` is read as a number of ``region`` (``0612…`` finds
    ``+33612…``); one that is not a number is compared as given."""
    stmt = incoming_history(select(IncomingSms.id), account_id, where, region, receiver=receiver, user_id=user_id)
    return list(session.scalars(stmt.order_by(IncomingSms.id)))


def incoming_history(
    stmt: Select, account_id: int, where: IncomingFilter, region: str, *, receiver: str | None = None, user_id: int | None = None,
) -> Select:
    """``stmt`` narrowed to the account's incoming messages matching ``where`` (``incoming_ids``'s rule;
    the consumption export selects other columns with it)."""
    stmt = stmt.where(IncomingSms.account_id == account_id, IncomingSms.hidden.is_(False))
    if receiver is not None:
        stmt = stmt.where(IncomingSms.receiver == receiver)
    if user_id is not None:
        stmt = stmt.where(_answers_user(user_id))
    if where.created_from is not None:
        stmt = stmt.where(IncomingSms.created_at >= where.created_from)
    if where.created_to is not None:
        stmt = stmt.where(IncomingSms.created_at <= where.created_to)
    if where.sender is not None:
        stmt = stmt.where(IncomingSms.sender.in_({where.sender, filter_number(where.sender, region)}))
    if where.tag is not None:
        stmt = stmt.where(IncomingSms.tag == where.tag)
    return stmt


def get_incoming(
    session: Session, account_id: int, incoming_id: int, *, receiver: str | None = None, user_id: int | None = None,
) -> IncomingSms:
    """The account's incoming message ``incoming_id`` (received on ``receiver`` when given;
    answering a message of user ``user_id`` when given); 404 if it is not the account's, or deleted."""
    row = session.get(IncomingSms, incoming_id)
    if row is None or row.account_id != account_id or row.hidden or (receiver is not None and row.receiver != receiver):
        raise NotFound(f"id: incoming SMS {incoming_id} does not exist")
    if user_id is not None and session.scalar(select(IncomingSms.id).where(IncomingSms.id == incoming_id, _answers_user(user_id))) is None:
        raise NotFound(f"id: incoming SMS {incoming_id} does not exist")
    return row


def incoming_details(
    session: Session, account_id: int, incoming_id: int, *, receiver: str | None = None, user_id: int | None = None,
) -> dict[str, Any]:
    """``sms.Incoming`` of the account's incoming message (404 as ``get_incoming``)."""
    return incoming_view(get_incoming(session, account_id, incoming_id, receiver=receiver, user_id=user_id))


def hide_incoming(
    session: Session, account_id: int, incoming_id: int, *, receiver: str | None = None, user_id: int | None = None,
) -> None:
    """``DELETE …/incoming/{id}``: gone from the account's incoming (the row stays, for the books);
    a user's DELETE removes it from the account's incoming too (one history, seen through filters)."""
    get_incoming(session, account_id, incoming_id, receiver=receiver, user_id=user_id).hidden = True


def incoming_view(row: IncomingSms) -> dict[str, Any]:
    """``sms.Incoming``."""
    return {
        "creationDatetime": iso(row.created_at),
        "credits": to_credits(row.credits_milli),
        "id": row.id,
        "message": row.text,
        "sender": row.sender,
        "tag": row.tag,
    }


def unattributed(session: Session, limit: int = 100) -> list[IncomingSms]:
    """The last ``limit`` incoming messages no account was given (for the operator), newest first."""
    return list(session.scalars(
        select(IncomingSms).where(IncomingSms.account_id.is_(None)).order_by(IncomingSms.id.desc()).limit(limit)
    ))
