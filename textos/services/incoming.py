"""What an incoming message causes, done in the transaction that stored it.

The dispatcher stores each whole incoming message and, before committing (and before the
SMSC is acknowledged), hands its id to ``handle``: so a message is never stored without
its consequences, nor the reverse. In order:

1. **Attribution**: a message to one of an account's virtual numbers belongs to that
   account (``virtual_numbers``); a message to a short number answers the conversation
   that (sender, short number) identifies for 48 h (``conversations``). Anything else stays
   unattributed: kept for the operator (``textos incoming --unattributed``), never shown to a
   customer.
2. **STOP** (``blacklists``): a STOP keyword blacklists the sender for the account(s) it
   stops, and tells their ``stopCallBack``.
3. **Reply** (``replies``): an attributed message that is not a STOP is charged and answered
   as the account's ``smsResponse`` says (a text from the short number, or its ``cgiUrl``).

Then the account sees it: ``GET /sms/{s}/incoming`` (``incoming_ids``: filters, and a
``receiver`` filter for the virtual numbers' own listing), ``GET``/``DELETE`` one
(``incoming_details``, ``hide_incoming``). The operator sees the unattributed ones
(``unattributed``, ``textos incoming --unattributed``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain.clock import iso
from textos.domain.errors import NotFound
from textos.domain.numbers import InvalidReceiver, parse_receiver
from textos.services import blacklists, conversations, replies, virtual_numbers
from textos.services.recipients import ConcatFor
from textos.storage.ledger import to_credits
from textos.storage.models import IncomingSms

__all__ = ["IncomingFilter", "handle", "hide_incoming", "incoming_details", "incoming_ids", "incoming_view", "unattributed"]


def handle(session: Session, incoming_id: int, settings: Settings, concat_for: ConcatFor | None = None) -> None:
    """Attribute, STOP-check and answer the incoming message ``incoming_id`` (in ``session``);
    ``concat_for``: the deployment's concatenation rule, to price an automatic answer."""
    row = session.get(IncomingSms, incoming_id)
    if row is None:
        return
    attributed = virtual_numbers.attribute(session, row) or conversations.attribute(session, row, settings)
    if blacklists.on_incoming(session, row, settings):
        return
    if attributed:
        replies.on_reply(session, row, settings, concat_for=concat_for)


# --------------------------------------------------------------------------- what the account sees


@dataclass(frozen=True)
class IncomingFilter:
    """``GET /sms/{serviceName}/incoming`` filters; ``None``: any. Datetimes in naive UTC."""

    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    sender: str | None = None
    tag: str | None = None
    receiver: str | None = None
    """The number it was sent to (a virtual number's listing), as stored."""


def _number(value: str, region: str) -> str:
    """A number as stored (E.164) when it reads as one (``0612…`` → ``+33612…``), else as given."""
    try:
        return parse_receiver(value, region).e164
    except InvalidReceiver:
        return value


def incoming_ids(session: Session, account_id: int, where: IncomingFilter, region: str) -> list[int]:
    """Ids of the account's incoming messages matching ``where`` (deleted ones left out), oldest first."""
    stmt = select(IncomingSms.id).where(IncomingSms.account_id == account_id, IncomingSms.hidden.is_(False))
    if where.created_from is not None:
        stmt = stmt.where(IncomingSms.created_at >= where.created_from)
    if where.created_to is not None:
        stmt = stmt.where(IncomingSms.created_at <= where.created_to)
    if where.sender is not None:
        stmt = stmt.where(IncomingSms.sender.in_({where.sender, _number(where.sender, region)}))
    if where.tag is not None:
        stmt = stmt.where(IncomingSms.tag == where.tag)
    if where.receiver is not None:
        stmt = stmt.where(IncomingSms.receiver == where.receiver)
    return list(session.scalars(stmt.order_by(IncomingSms.id)))


def get_incoming(session: Session, account_id: int, incoming_id: int) -> IncomingSms:
    """The account's incoming message ``incoming_id``; 404 if it is not the account's (or deleted)."""
    row = session.scalar(select(IncomingSms).where(IncomingSms.id == incoming_id, IncomingSms.account_id == account_id))
    if row is None or row.hidden:
        raise NotFound(f"id: incoming SMS {incoming_id} does not exist")
    return row


def incoming_details(session: Session, account_id: int, incoming_id: int) -> dict[str, Any]:
    """``sms.Incoming`` of the account's incoming message (404 as ``get_incoming``)."""
    return incoming_view(get_incoming(session, account_id, incoming_id))


def hide_incoming(session: Session, account_id: int, incoming_id: int) -> None:
    """``DELETE /sms/{s}/incoming/{id}``: gone from the account's incoming (the row stays, for the books)."""
    get_incoming(session, account_id, incoming_id).hidden = True


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
