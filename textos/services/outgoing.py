"""The history of messages handed to carriers (``/sms/{serviceName}/outgoing``), and the
OVH shapes of a message: ``sms.Job`` and ``sms.Outgoing``."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from textos.domain.clock import iso
from textos.domain.errors import NotFound
from textos.domain.lifecycle import MessageStatus
from textos.domain.numbers import filter_number
from textos.storage.ledger import to_credits
from textos.storage.models import Job, Message

HISTORY = tuple(s.value for s in (
    MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.REJECTED, MessageStatus.EXPIRED,
    MessageStatus.NO_RECEIPT, MessageStatus.BLACKLISTED,
))
"""Statuses of a message that is in the outgoing history (handed to a carrier, or given up)."""


@dataclass(frozen=True)
class OutgoingFilter:
    """``GET /sms/{serviceName}/outgoing`` filters; ``None``: any. Datetimes in naive UTC."""

    batch_id: str | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    delivery_receipt: int | None = None
    differed_delivery: int | None = None
    message_id: uuid.UUID | None = None
    """``messageID``: the message's uuid (``message_uuid``)."""
    ptt: int | None = None
    receiver: str | None = None
    sender: str | None = None
    tag: str | None = None


def outgoing_ids(session: Session, account_id: int, where: OutgoingFilter, region: str, *, user_id: int | None = None) -> list[int]:
    """Ids of the account's outgoing messages matching ``where`` (sent by user ``user_id`` only,
    when given: ``/sms/{s}/users/{login}/outgoing``), oldest first.

    A ``receiver`` is read as a number of ``region`` (``0612…`` finds ``+33612…``); one
    that is not a number is compared as given."""
    return list(session.scalars(outgoing_history(select(Message.id), account_id, where, region, user_id=user_id).order_by(Message.id)))


def outgoing_history(stmt: Select, account_id: int, where: OutgoingFilter, region: str, *, user_id: int | None = None) -> Select:
    """``stmt`` narrowed to the account's outgoing history matching ``where`` (``outgoing_ids``'s rule;
    the consumption export selects other columns with it)."""
    stmt = stmt.where(
        Message.account_id == account_id, Message.status.in_(HISTORY), Message.hidden.is_(False)
    )
    if user_id is not None:
        stmt = stmt.where(Message.job_id.in_(select(Job.id).where(Job.account_id == account_id, Job.user_id == user_id)))
    if where.batch_id is not None:
        stmt = stmt.where(Message.job_id.in_(select(Job.id).where(Job.account_id == account_id, Job.batch_id == where.batch_id)))
    if where.created_from is not None:
        stmt = stmt.where(Message.created_at >= where.created_from)
    if where.created_to is not None:
        stmt = stmt.where(Message.created_at <= where.created_to)
    if where.delivery_receipt is not None:
        stmt = stmt.where(Message.dlr == where.delivery_receipt)
    if where.differed_delivery is not None:
        stmt = stmt.where(Message.differed_period == where.differed_delivery)
    if where.message_id is not None:
        stmt = stmt.where(Message.id == message_of_uuid(where.message_id))  # None (not ours): no message
    if where.ptt is not None:
        stmt = stmt.where(Message.ptt == where.ptt)
    if where.receiver is not None:
        stmt = stmt.where(Message.receiver == filter_number(where.receiver, region))
    if where.sender is not None:
        stmt = stmt.where(Message.sender == where.sender)
    if where.tag is not None:
        stmt = stmt.where(Message.tag == where.tag)
    return stmt


def get_outgoing(
    session: Session, account_id: int, message_id: int, *, sender: str | None = None, user_id: int | None = None,
) -> Message:
    """The account's outgoing message ``message_id``; 404 if it is not in the history (or hidden),
    or not sent from ``sender`` when given (a virtual number's outgoing), or not by user
    ``user_id`` when given (a user's outgoing)."""
    message = session.scalar(select(Message).where(Message.id == message_id, Message.account_id == account_id))
    if message is None or message.status not in HISTORY or message.hidden or (sender is not None and message.sender != sender):
        raise NotFound(f"id: outgoing SMS {message_id} does not exist")
    if user_id is not None and session.scalar(select(Job.user_id).where(Job.id == message.job_id)) != user_id:
        raise NotFound(f"id: outgoing SMS {message_id} does not exist")
    return message


def outgoing_details(
    session: Session, account_id: int, message_id: int, *, sender: str | None = None, user_id: int | None = None,
) -> dict[str, Any]:
    """``sms.Outgoing`` of the account's outgoing message ``message_id`` (404 as ``get_outgoing``)."""
    message = get_outgoing(session, account_id, message_id, sender=sender, user_id=user_id)
    return outgoing_view(message, session.get_one(Job, message.job_id))


def hide_outgoing(
    session: Session, account_id: int, message_id: int, *, sender: str | None = None, user_id: int | None = None,
) -> None:
    """Remove a message from the account's history (the row stays, for the books); a user's
    DELETE removes it from the account's history too (one history, seen through filters)."""
    get_outgoing(session, account_id, message_id, sender=sender, user_id=user_id).hidden = True


# --- views --------------------------------------------------------------------------------------

_UUID_PREFIX = (0x7465_7874_6F73_8000 << 2) | 0b10
"""The 66 bits above a message id in its uuid: ``textos`` in ASCII, version 8 (RFC 9562: custom
layout), the RFC variant; the id takes the 62 bits left."""
_UUID_ID_BITS = 62


def message_uuid(message_id: int) -> str:
    """``sms.Outgoing.messageID`` (a uuid in OVH's schema) of message ``message_id``: derived from
    the id, so nothing is stored and ``message_of_uuid`` reads it back
    (10001 → ``74657874-6f73-8000-8000-000000002711``)."""
    return str(uuid.UUID(int=(_UUID_PREFIX << _UUID_ID_BITS) | message_id))


def message_of_uuid(value: uuid.UUID) -> int | None:
    """The message id whose ``message_uuid`` is ``value``; None for any other uuid."""
    if value.int >> _UUID_ID_BITS != _UUID_PREFIX:
        return None
    return value.int & ((1 << _UUID_ID_BITS) - 1)


def job_view(message: Message, job: Job) -> dict[str, Any]:
    """``sms.Job``."""
    return {
        "creationDatetime": iso(message.created_at),
        "credits": to_credits(message.credits_milli),
        "deliveredAt": iso(message.delivered_at),
        "deliveryReceipt": message.dlr,
        "differedDelivery": message.differed_period,
        "id": message.id,
        "message": message.text if message.text is not None else job.text,
        "messageLength": message.characters,
        "numberOfSms": message.parts,
        "ptt": message.ptt,
        "receiver": message.receiver,
        "sender": message.sender,
        "sentAt": iso(message.sent_at),
    }


def outgoing_view(message: Message, job: Job) -> dict[str, Any]:
    """``sms.Outgoing``: the job's fields, and where the message went; ``carrierMessageId`` (a
    Textos extension) is the id the carrier gave it (its first part's), None before one did."""
    view = job_view(message, job)
    view.update(
        {
            "batchID": job.batch_id,
            "carrierMessageId": message.carrier_id,
            "messageID": message_uuid(message.id),
            "tag": message.tag,
            "tariffCode": message.country,
        }
    )
    return view
