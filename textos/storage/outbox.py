"""The callbacks outbox: events for customers' URLs, written with the change that causes them.

A delivery status change, a STOP or a reply is told to the customer's URL (``callBack``,
``stopCallBack``, ``smsResponse.cgiUrl``) by a row of ``callback_events`` written in the
same transaction as the change itself: if the change commits, so does its event, and a
crash can lose neither alone. A callbacks worker then delivers the pending rows (HTTP GET
with ``params`` added to the URL's query string), in id order per ``order_key``.
"""

from __future__ import annotations

from typing import Mapping

import httpx
from sqlalchemy.orm import Session

from textos.storage.models import CallbackEvent, utcnow

__all__ = ["KINDS", "enqueue"]

KINDS = ("delivery", "stop", "reply")
"""``delivery`` → ``callBack``; ``stop`` → ``stopCallBack``; ``reply`` → ``smsResponse.cgiUrl``."""


def enqueue(
    session: Session, *, account_id: int, kind: str, url: str, params: Mapping[str, object], order_key: str,
    user_login: str | None = None,
) -> None:
    """Add one event to the outbox, in ``session``'s transaction (delivered once it commits).

    ``params`` are added to ``url``'s query string (values as text); events sharing an
    ``order_key`` (``message:<id>``, ``incoming:<id>``) are delivered in the order they were added.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown callback kind {kind!r}")
    now = utcnow()
    session.add(
        CallbackEvent(
            account_id=account_id, user_login=user_login, kind=kind, url=url, host=httpx.URL(url).host or "",
            params={k: "" if v is None else str(v) for k, v in params.items()}, order_key=order_key,
            status="pending", attempts=0, next_attempt_at=now, created_at=now,
        )
    )
