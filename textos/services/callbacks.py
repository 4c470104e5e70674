"""The callbacks outbox as customers and operators see it: list, show, replay (a Textos extension).

Events are written by the changes that cause them (``storage.outbox``) and sent by the
callbacks worker (``delivery.callbacks``); here an account's events are listed by status,
shown one by one, and replayed (pending again, due now, with a new ``callback_max_age``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.clock import iso
from textos.domain.errors import BadRequest, NotFound
from textos.storage import outbox
from textos.storage.models import Account, CallbackEvent

__all__ = ["event_view", "get", "list_ids", "list_views", "replay"]


def _status(status: str | None) -> str | None:
    if status is not None and status not in outbox.STATUSES:
        raise BadRequest(f"status: must be one of {', '.join(outbox.STATUSES)}, not {status!r}")
    return status


def event_view(event: CallbackEvent) -> dict[str, Any]:
    """An event as the API shows it (``GET /sms/{s}/callbacks/{id}``)."""
    return {
        "id": event.id,
        "kind": event.kind,
        "status": event.status,
        "url": event.url,
        "params": dict(event.params),
        "orderKey": event.order_key,
        "attempts": event.attempts,
        "creationDatetime": iso(event.created_at),
        "nextAttemptDatetime": iso(event.next_attempt_at) if event.status == "pending" else None,
        "deliveryDatetime": iso(event.delivered_at),
        "replayDatetime": iso(event.replayed_at),
        "lastHttpStatus": event.last_status,
        "lastError": event.last_error,
    }


def list_ids(session: Session, account_id: int, status: str | None = None) -> list[int]:
    """An account's event ids, newest first (of one status if given)."""
    return outbox.list_ids(session, account_id=account_id, status=_status(status))


def get(session: Session, account_id: int, event_id: int) -> CallbackEvent:
    event = outbox.get_event(session, event_id, account_id=account_id)
    if event is None:
        raise NotFound(f"id: the callback event {event_id} does not exist")
    return event


def replay(session: Session, account_id: int | None, event_id: int) -> CallbackEvent:
    """Send an event again, whatever its status (``account_id`` None: any account's, for operators)."""
    event = outbox.get_event(session, event_id, account_id=account_id)
    if event is None:
        raise NotFound(f"id: the callback event {event_id} does not exist")
    outbox.replay(session, event)
    return event


def list_views(session: Session, *, status: str | None = None, service: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Events of every account (or of ``service``), newest first, with their account's ``serviceName`` (``textos callbacks list``)."""
    account_id = None
    if service is not None:
        account_id = session.scalar(select(Account.id).where(Account.service_name == service))
        if account_id is None:
            raise NotFound(f"serviceName: the SMS account {service!r} does not exist")
    ids = outbox.list_ids(session, account_id=account_id, status=_status(status), limit=limit)
    if not ids:
        return []
    rows = session.execute(
        select(CallbackEvent, Account.service_name).join(Account, Account.id == CallbackEvent.account_id)
        .where(CallbackEvent.id.in_(ids)).order_by(CallbackEvent.id.desc())
    ).all()
    return [{"serviceName": name, **event_view(event)} for event, name in rows]
