"""Virtual numbers: dedicated long numbers of an account, for two-way conversations.

The operator assigns a number to one account (``textos number add``); a number belongs to
one account at a time. The account sends *from* it (``/sms/{s}/virtualNumbers/{number}/jobs``:
the one accept path, ``services.jobs``, with the number as a ``virtual`` sender, no sender
registration needed) and every message sent *to* it is an incoming message of the account,
with no time limit (:func:`attribute`, first step of ``services.incoming.handle``).

Numbers are stored in E.164 (``+33612345678``). What callers type is read as the rest of the
code reads receivers (``domain.numbers.parse_receiver``), and also as an international number
written without ``+`` or ``00`` (``33612345678``: how SMSCs give addresses, and how OVH writes
virtual numbers in paths).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.errors import BadRequest, Conflict, NotFound
from textos.domain.numbers import InvalidReceiver, Receiver, parse_receiver
from textos.services import outgoing
from textos.storage.models import Account, IncomingSms, VirtualNumber

__all__ = [
    "COUNTRY_CODES", "assign", "attribute", "account_numbers", "customer_number", "customer_numbers", "generic_view",
    "listing", "narrowed", "owned", "outgoing_ids", "parse_number", "remove", "view",
]  # fmt: skip

COUNTRY_CODES = {"BE": "be", "CH": "ch", "DE": "de", "ES": "es", "FR": "fr", "GB": "uk"}
"""Countries virtual numbers can be in, as ``sms.VirtualNumberIsoCountryCodeEnum`` writes them."""


def _candidates(raw: str, region: str) -> list[Receiver]:
    """Every E.164 reading of ``raw``: as a receiver (``+``, ``00``, national of ``region``),
    and, digits only, as an international number without its ``+``."""
    text = str(raw).strip()
    found: list[Receiver] = []
    readings = [text]
    if text.isdigit() and not text.startswith("0"):
        readings.insert(0, "+" + text)
    for reading in readings:
        try:
            receiver = parse_receiver(reading, region)
        except InvalidReceiver:
            continue
        if receiver not in found:
            found.append(receiver)
    return found


def parse_number(raw: str, region: str = "FR") -> Receiver:
    """The virtual number ``raw`` names, in E.164; 400 naming ``number`` when it is none."""
    found = _candidates(raw, region)
    if not found:
        raise BadRequest(f"number: {raw!r} is not a valid phone number")
    return found[0]


# --- the operator's side ------------------------------------------------------------------------


def assign(session: Session, account: Account, raw: str, region: str = "FR") -> VirtualNumber:
    """Give the number ``raw`` to ``account``; 409 when some account already has it."""
    number = parse_number(raw, region)
    if number.country not in COUNTRY_CODES:
        countries = ", ".join(sorted(c for c in COUNTRY_CODES))
        raise BadRequest(f"number: {number.e164} is in {number.country or 'no country'}; virtual numbers are in {countries}")
    taken = session.execute(
        select(Account.service_name).join(VirtualNumber, VirtualNumber.account_id == Account.id).where(VirtualNumber.number == number.e164)
    ).scalar()
    if taken is not None:
        raise Conflict(f"number: {number.e164} is already assigned to {taken}")
    row = VirtualNumber(number=number.e164, account_id=account.id)
    session.add(row)
    session.flush()
    return row


def remove(session: Session, raw: str, region: str = "FR") -> tuple[str, str]:
    """Take the number ``raw`` back from its account; returns (number, serviceName). Its
    messages stay where they are (the account's outgoing and incoming history)."""
    number = parse_number(raw, region).e164
    found = session.execute(
        select(VirtualNumber, Account.service_name).join(Account, Account.id == VirtualNumber.account_id).where(VirtualNumber.number == number)
    ).first()
    if found is None:
        raise NotFound(f"number: {number} is not assigned to any account")
    row, service_name = found
    session.delete(row)
    session.flush()
    return number, service_name


def listing(session: Session, account_id: int | None = None) -> list[tuple[VirtualNumber, str]]:
    """Assigned numbers (of ``account_id``, or all) and their account's name, oldest first."""
    stmt = select(VirtualNumber, Account.service_name).join(Account, Account.id == VirtualNumber.account_id)
    if account_id is not None:
        stmt = stmt.where(VirtualNumber.account_id == account_id)
    return [(row, name) for row, name in session.execute(stmt.order_by(VirtualNumber.id)).all()]


# --- the customer's side ------------------------------------------------------------------------


def customer_numbers(session: Session, customer_id: int) -> list[str]:
    """``GET /sms/virtualNumbers``: the numbers of all the customer's accounts."""
    stmt = (
        select(VirtualNumber.number).join(Account, Account.id == VirtualNumber.account_id)
        .where(Account.customer_id == customer_id).order_by(VirtualNumber.id)
    )  # fmt: skip
    return list(session.scalars(stmt))


def customer_number(session: Session, customer_id: int, raw: str, region: str = "FR") -> VirtualNumber:
    """The customer's number ``raw``; 404 when no account of theirs has it (nothing leaks)."""
    number = _lookup(raw, region)
    row = session.scalar(
        select(VirtualNumber).join(Account, Account.id == VirtualNumber.account_id)
        .where(VirtualNumber.number == number, Account.customer_id == customer_id)
    )  # fmt: skip
    if row is None:
        raise NotFound(f"number: {raw} is not one of your virtual numbers")
    return row


def account_numbers(session: Session, account_id: int) -> list[str]:
    """``GET /sms/{s}/virtualNumbers``."""
    return list(session.scalars(select(VirtualNumber.number).where(VirtualNumber.account_id == account_id).order_by(VirtualNumber.id)))


def owned(session: Session, account_id: int, raw: str, region: str = "FR") -> VirtualNumber:
    """The account's virtual number ``raw``; 404 when it is not the account's."""
    number = _lookup(raw, region)
    row = session.scalar(select(VirtualNumber).where(VirtualNumber.number == number, VirtualNumber.account_id == account_id))
    if row is None:
        raise NotFound(f"number: {raw} is not a virtual number of this account")
    return row


def _lookup(raw: str, region: str) -> str:
    """The E.164 form of a number named in a path; a malformed one is simply not found."""
    found = _candidates(raw, region)
    if not found:
        raise NotFound(f"number: {raw} is not a virtual number")
    return found[0].e164


# --- messages -----------------------------------------------------------------------------------


def attribute(session: Session, incoming: IncomingSms, region: str = "FR") -> bool:
    """Give ``incoming`` to the account whose virtual number it was sent to; False if none.

    No time limit (unlike a conversation's 48 h) and no tag. The message's ``receiver`` is
    rewritten to the number's E.164 form, so that the number's incoming list finds it."""
    if incoming.account_id is not None:
        return False
    readings = [r.e164 for r in _candidates(incoming.receiver, region)]
    if not readings:
        return False
    row = session.scalar(select(VirtualNumber).where(VirtualNumber.number.in_(readings)).limit(1))
    if row is None:
        return False
    incoming.account_id, incoming.tag, incoming.receiver = row.account_id, "", row.number
    session.flush()
    return True


def narrowed(where: outgoing.OutgoingFilter, number: str) -> outgoing.OutgoingFilter | None:
    """``where`` restricted to messages sent from ``number``; None when it asks for another sender."""
    if where.sender is not None and where.sender != number:
        return None
    return dataclasses.replace(where, sender=number)


def outgoing_ids(session: Session, account_id: int, number: str, where: outgoing.OutgoingFilter, region: str) -> list[int]:
    """``GET /sms/{s}/virtualNumbers/{number}/outgoing``: the account's outgoing list, sent from ``number``."""
    only = narrowed(where, number)
    return [] if only is None else outgoing.outgoing_ids(session, account_id, only, region)


# --- views --------------------------------------------------------------------------------------


def view(row: VirtualNumber) -> dict[str, Any]:
    """``sms.VirtualNumber`` (and ``sms.VirtualNumberGenericService``)."""
    return {"countryCode": COUNTRY_CODES.get(_country(row.number), ""), "number": row.number}


def generic_view(row: VirtualNumber) -> dict[str, Any]:
    """``sms.VirtualNumberGenericServiceWithIAM``."""
    return {
        **view(row),
        "iam": {
            "displayName": row.number,
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"textos:smsVirtualNumbers:{row.number}")),
            "tags": {},
            "urn": f"urn:v1:eu:resource:smsVirtualNumbers:{row.number}",
        },
    }


def _country(number: str) -> str:
    try:
        return parse_receiver(number).country
    except InvalidReceiver:
        return ""
