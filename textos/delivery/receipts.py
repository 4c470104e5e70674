"""Delivery receipts: match carrier ids to parts, whatever their hex/decimal form, and settle messages.

Carriers answer ``submit_sm`` with an id in one form and sometimes report it in
receipts in another (hex ``1a2b`` in the response, decimal ``6699`` in the receipt).
Part ids are stored canonically; a receipt id is looked up under all its forms.

A receipt that matches no part yet (it raced ahead of the submit result being
stored) is kept in ``pending_receipts`` and applied when the part appears: a
receipt is never dropped.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Sequence

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from textos.delivery.connector import Receipt, ReceiptState
from textos.domain.ptt import RECEIPT_STATES
from textos.storage.models import Message, MessagePart, PendingReceipt, utcnow

_HEX = set("0123456789abcdef")

def canonical_carrier_id(carrier_id: str) -> str:
    """Lower case, trimmed, without leading zeros (``"00001A2B"`` → ``"1a2b"``)."""
    text = carrier_id.strip().lower()
    return text.lstrip("0") or "0"

def carrier_id_variants(carrier_id: str) -> set[str]:
    """Every canonical form the same id may have been stored under (itself, hex↔decimal)."""
    text = canonical_carrier_id(carrier_id)
    forms = {text}
    if text.isdigit() and len(text) < 40:
        forms.add(format(int(text), "x"))
    if set(text) <= _HEX and len(text) < 32:
        forms.add(str(int(text, 16)))
    return forms

def _naive(moment: dt.datetime | None) -> dt.datetime:
    if moment is None:
        return utcnow()
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment

def apply_receipts(session: Session, receipts: Sequence[Receipt]) -> tuple[list[int], int]:
    """Apply receipts to parts and settle their messages.

    Returns the ids of messages whose state changed and the number of receipts
    that matched nothing yet (kept as pending).
    """
    if not receipts:
        return [], 0
    lookup: dict[str, Receipt] = {}
    for receipt in receipts:
        for form in carrier_id_variants(receipt.carrier_id):
            lookup[form] = receipt
    parts = session.execute(
        select(MessagePart.id, MessagePart.message_id, MessagePart.carrier_id).where(
            MessagePart.carrier_id.in_(list(lookup))
        )
    ).all()
    matched_receipts: set[int] = set()
    part_updates = []
    touched: set[int] = set()
    for part in parts:
        receipt = lookup[part.carrier_id]
        matched_receipts.add(id(receipt))
        part_updates.append(
            {
                "b_id": part.id,
                "b_state": receipt.state.value,
                "b_error": receipt.error_code,
                "b_done": _naive(receipt.done_at),
            }
        )
        touched.add(part.message_id)
    if part_updates:

        session.execute(
            update(MessagePart.__table__)
            .where(MessagePart.__table__.c.id == bindparam("b_id"))
            .values(state=bindparam("b_state"), error_code=bindparam("b_error"), done_at=bindparam("b_done")),
            part_updates,
        )
    unmatched = [r for r in receipts if id(r) not in matched_receipts]
    if unmatched:
        session.execute(
            insert(PendingReceipt),
            [
                {
                    "carrier_id": canonical_carrier_id(r.carrier_id),
                    "state": r.state.value,
                    "error_code": r.error_code,
                    "done_at": _naive(r.done_at),
                    "received_at": utcnow(),
                }
                for r in unmatched
            ],
        )
    changed = settle_messages(session, touched)
    return changed, len(unmatched)

def settle_messages(session: Session, message_ids: set[int] | list[int]) -> list[int]:
    """Derive each message's status from its parts: delivered when all are, failed when one fails."""
    if not message_ids:
        return []
    by_message: dict[int, list[tuple[str | None, str | None, dt.datetime | None]]] = defaultdict(list)
    for row in session.execute(
        select(MessagePart.message_id, MessagePart.state, MessagePart.error_code, MessagePart.done_at).where(
            MessagePart.message_id.in_(list(message_ids))
        )
    ):
        by_message[row.message_id].append((row.state, row.error_code, row.done_at))
    current = dict(
        session.execute(
            select(Message.id, Message.status).where(Message.id.in_(list(by_message)))
        ).all()
    )
    changes = []
    for message_id, parts in by_message.items():
        status_now = current.get(message_id)
        if status_now not in ("sent", "submitting"):
            continue
        states = [p[0] for p in parts]
        failed = next((p for p in parts if p[0] and RECEIPT_STATES.get(p[0], ("failed",))[0] == "failed"), None)
        if failed is not None:
            status, ptt, dlr = RECEIPT_STATES.get(failed[0] or "UNKNOWN", RECEIPT_STATES["UNKNOWN"])
            changes.append({"b_id": message_id, "b_status": status, "b_ptt": ptt, "b_dlr": dlr, "b_at": None, "b_err": failed[1]})
        elif states and all(s == "DELIVRD" for s in states):
            done = max((p[2] for p in parts if p[2] is not None), default=utcnow())
            changes.append({"b_id": message_id, "b_status": "delivered", "b_ptt": 4, "b_dlr": 1, "b_at": done, "b_err": None})
        elif any(s in ("ENROUTE", "ACCEPTD") for s in states):
            status, ptt, dlr = RECEIPT_STATES["ENROUTE"]
            changes.append({"b_id": message_id, "b_status": "sent", "b_ptt": ptt, "b_dlr": dlr, "b_at": None, "b_err": None})
    if changes:

        t = Message.__table__
        session.execute(
            update(t)
            .where(t.c.id == bindparam("b_id"), or_(t.c.status == "sent", t.c.status == "submitting"))
            .values(
                status=bindparam("b_status"),
                ptt=bindparam("b_ptt"),
                dlr=bindparam("b_dlr"),
                delivered_at=bindparam("b_at"),
                error=bindparam("b_err"),
            ),
            changes,
        )
    return [c["b_id"] for c in changes]

def replay_pending(session: Session, carrier_ids: Sequence[str] | None = None) -> int:
    """Apply kept receipts whose part now exists; returns how many were applied."""
    stmt = select(PendingReceipt)
    if carrier_ids is not None:
        forms: set[str] = set()
        for cid in carrier_ids:
            forms |= carrier_id_variants(cid)
        if not forms:
            return 0
        stmt = stmt.where(PendingReceipt.carrier_id.in_(list(forms)))
    pending = session.scalars(stmt.limit(10_000)).all()
    if not pending:
        return 0


    receipts = [Receipt(p.carrier_id, ReceiptState(p.state), p.error_code, p.done_at) for p in pending]
    session.execute(delete(PendingReceipt).where(PendingReceipt.id.in_([p.id for p in pending])))
    _, still = apply_receipts(session, receipts)
    return len(receipts) - still
