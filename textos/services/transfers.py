"""Credit transfers between SMS accounts (``POST /sms/{serviceName}/transferCredits``).

Who may transfer: the consumer key must be granted ``POST /sms/{source}/transferCredits``
(checked by the auth layer like any call) and the source must belong to the key's
customer; the target must belong to the same customer, or an administrator must
have allowed that pair (``textos transfer allow --from A --to B``).

What may move: a positive amount, in thousandths of a credit, within the source's
free credits (``creditsLeft``; credits held by users' quotas, ``creditsHoldByQuota``,
are not free and cannot be transferred).

How: one transaction writes a ``transfer_out`` entry on the source and a
``transfer_in`` entry on the target, each naming the other account. Both account
rows are locked first, lower id first, so that two opposite transfers cannot
deadlock (PostgreSQL); SQLite serializes writers (``BEGIN IMMEDIATE``). The source's
debit is the ledger's guarded UPDATE, so concurrent transfers and sends can never
take it below zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.storage import ledger
from textos.domain.errors import BadRequest, NotEnoughCredits, NotFound
from textos.storage.models import Account
from textos.storage.models_billing import TransferAllowance


@dataclass(frozen=True)
class TransferResult:
    source: str
    target: str
    credits: float
    source_credits_left: float
    target_credits_left: float


def parse_credits(value: object) -> int:
    """The ``credits`` field: a positive amount, at most three decimals; milli-credits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(str(value))
        except ValueError:
            raise BadRequest(f"credits: {value!r} is not a number") from None
    if not math.isfinite(value):
        raise BadRequest(f"credits: {value!r} is not a number")
    milli = ledger.to_milli(value)
    if milli <= 0:
        raise BadRequest("credits: must be positive")
    if abs(milli - value * ledger.MILLI) > 1e-6 * max(1.0, abs(value)):
        raise BadRequest(f"credits: {value!r} has more than 3 decimals")
    return milli


def may_transfer(session: Session, source: Account, target: Account) -> bool:
    if target.customer_id == source.customer_id:
        return True
    return session.scalar(
        select(TransferAllowance.id).where(
            TransferAllowance.source_account_id == source.id, TransferAllowance.target_account_id == target.id
        )
    ) is not None


def transfer(session: Session, source: Account, target_name: str, credits: object, *, actor: str) -> TransferResult:
    """Move ``credits`` from ``source`` (already checked to be the caller's) to ``target_name``."""
    if not isinstance(target_name, str) or not target_name:
        raise BadRequest("smsAccountTarget: missing or not a string")
    milli = parse_credits(credits)
    target = session.scalar(select(Account).where(Account.service_name == target_name))
    if target is None or not may_transfer(session, source, target):
        # the same answer for "does not exist" and "not yours": other customers' names do not leak
        raise NotFound(f"smsAccountTarget: no SMS account {target_name!r} you may transfer credits to")
    if target.id == source.id:
        raise BadRequest("smsAccountTarget: must be another account than serviceName")
    # Lock both rows in a fixed order (no deadlock between A→B and B→A), and no stronger
    # than an UPDATE of their balances does: FOR UPDATE would also block the foreign-key
    # checks (FOR KEY SHARE) of a concurrent job on one of them, which then deadlocks
    # with its own balance update.
    session.execute(
        select(Account.id).where(Account.id.in_(sorted((source.id, target.id)))).order_by(Account.id).with_for_update(key_share=True)
    ).all()
    try:
        out = ledger.post(session, source.id, ledger.Movement(
            ledger.Kind.TRANSFER_OUT, -milli, actor=actor, reason=f"transfer to {target.service_name}",
            counterpart_account_id=target.id,
        ))
    except NotEnoughCredits:
        left, held = session.execute(
            select(Account.credits_milli, Account.credits_held_milli).where(Account.id == source.id)
        ).one()
        raise NotEnoughCredits(
            f"credits: {ledger.to_credits(milli):g} is more than the free credits of {source.service_name} "
            f"(creditsLeft {ledger.to_credits(left):g}; the {ledger.to_credits(held):g} held by quotas cannot be transferred)"
        ) from None
    into = ledger.post(session, target.id, ledger.Movement(
        ledger.Kind.TRANSFER_IN, milli, actor=actor, reason=f"transfer from {source.service_name}",
        counterpart_account_id=source.id,
    ))
    return TransferResult(source.service_name, target.service_name, ledger.to_credits(milli),
                          ledger.to_credits(out.balance_after_milli), ledger.to_credits(into.balance_after_milli))


def allow(session: Session, source: Account, target: Account, *, actor: str = "admin") -> TransferAllowance:
    if source.id == target.id:
        raise BadRequest("to: must be another account than from")
    existing = session.scalar(select(TransferAllowance).where(
        TransferAllowance.source_account_id == source.id, TransferAllowance.target_account_id == target.id))
    if existing is not None:
        return existing
    row = TransferAllowance(source_account_id=source.id, target_account_id=target.id, actor=actor)
    session.add(row)
    session.flush()
    return row


def revoke(session: Session, source: Account, target: Account) -> None:
    row = session.scalar(select(TransferAllowance).where(
        TransferAllowance.source_account_id == source.id, TransferAllowance.target_account_id == target.id))
    if row is None:
        raise NotFound(f"to: transfers from {source.service_name} to {target.service_name} were not allowed")
    session.delete(row)

