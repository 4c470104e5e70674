"""Consumption report (``GET /sms/{s}/consumption``, ``textos consumption``), a Textos
extension for re-invoicing: an account's messages of a period grouped by user, tag or sender,
with their parts and the credits they cost.

The messages counted are those of the outgoing history (``services.outgoing``: what
``GET /outgoing`` lists, deleted ones left out) created in ``[from, to)``; their credits are
what they cost after refunds (a refunded message counts 0). Grouped ``by=user``: the login a
job was sent as (``jobs.user_id``), ``null`` for the account's own jobs.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from textos.domain.clock import iso
from textos.domain.errors import BadRequest
from textos.services.outgoing import OutgoingFilter, outgoing_history
from textos.storage.ledger import to_credits
from textos.storage.models import Job, Message, SmsUser

__all__ = ["GroupBy", "month_period", "report"]


class GroupBy(str, Enum):
    """What a report groups by: the login a job was sent as, the tag or the sender."""

    USER = "user"
    TAG = "tag"
    SENDER = "sender"


def month_period(month: str) -> tuple[dt.datetime, dt.datetime]:
    """``2026-11`` → [2026-11-01 00:00, 2026-12-01 00:00) in UTC; BadRequest naming ``month`` otherwise."""
    try:
        start = dt.datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise BadRequest(f"month: {month!r} is not a month written YYYY-MM") from None
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def report(session: Session, account_id: int, by: GroupBy, start: dt.datetime | None, end: dt.datetime | None) -> dict[str, Any]:
    """Groups (``group``, ``messages``, ``parts``, ``credits``), most credits first, and their total."""
    if start is not None and end is not None and end <= start:
        raise BadRequest("to: the end of the period must come after its start (from)")
    key: Any = {GroupBy.TAG: Message.tag, GroupBy.SENDER: Message.sender, GroupBy.USER: SmsUser.login}[by]
    stmt = select(key, func.count(Message.id), func.coalesce(func.sum(Message.parts), 0),
                  func.coalesce(func.sum(Message.credits_milli), 0)).select_from(Message)
    if by is GroupBy.USER:
        stmt = stmt.join(Job, Job.id == Message.job_id).outerjoin(SmsUser, SmsUser.id == Job.user_id)
    stmt = outgoing_history(stmt, account_id, OutgoingFilter(created_from=start), region="")
    if end is not None:
        stmt = stmt.where(Message.created_at < end)
    rows = session.execute(stmt.group_by(key)).all()
    groups = [
        {"group": group, "messages": int(count), "parts": int(parts), "credits": to_credits(int(milli))}
        for group, count, parts, milli in sorted(rows, key=lambda r: (-int(r[3]), r[0] is None, r[0] or ""))
    ]
    total = {
        "messages": sum(int(r[1]) for r in rows), "parts": sum(int(r[2]) for r in rows),
        "credits": to_credits(sum(int(r[3]) for r in rows)),
    }
    return {"by": by.value, "from": iso(start), "to": iso(end), "groups": groups, "total": total}
