"""``/sms/{serviceName}/callbacks``: the account's callback events (a Textos extension).

Every call Textos makes to ``callBack``, ``stopCallBack`` or ``smsResponse.cgiUrl`` is an
event of the callbacks outbox; here they are listed by status, shown, and replayed.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from textos.api.auth import Caller, authenticate
from textos.api.deps import EXTENSION, Id, owned_account
from textos.api.schemas import DateTime, Out
from textos.api.state import state_of
from textos.services import callbacks

router = APIRouter(tags=["callbacks"])


class CallbackEventOut(Out):
    """One callback event: an HTTP GET of ``url`` with ``params`` added to its query string."""

    id: int
    kind: Literal["delivery", "stop", "reply"]
    """``delivery`` → ``callBack``, ``stop`` → ``stopCallBack``, ``reply`` → ``smsResponse.cgiUrl``."""
    status: Literal["pending", "delivered", "failed"]
    url: str
    params: dict[str, str]
    orderKey: str
    """Events of one key (``message:<id>``, ``incoming:<id>``) are sent in order."""
    attempts: int
    creationDatetime: DateTime
    nextAttemptDatetime: DateTime | None
    deliveryDatetime: DateTime | None
    replayDatetime: DateTime | None
    lastHttpStatus: int | None
    lastError: str | None


@router.get(
    "/sms/{serviceName}/callbacks", summary="Callback event ids, newest first", response_model=list[int],
    description=EXTENSION + "Filter by `status`: `pending` (waiting for a 2xx answer), `delivered`, `failed` (no 2xx within callback_max_age).",
)
def list_callbacks(
    serviceName: str, request: Request, caller: Caller = Depends(authenticate),
    status: Literal["pending", "delivered", "failed"] | None = Query(default=None),
) -> list[int]:
    with state_of(request).db.read() as session:
        return callbacks.list_ids(session, owned_account(session, caller, serviceName).id, status)


@router.get(
    "/sms/{serviceName}/callbacks/{id}", summary="One callback event", response_model=CallbackEventOut, description=EXTENSION,
)
def get_callback(serviceName: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return callbacks.event_view(callbacks.get(session, owned_account(session, caller, serviceName).id, id))


@router.post(
    "/sms/{serviceName}/callbacks/{id}/replay", summary="Send a callback event again", response_model=CallbackEventOut,
    description=EXTENSION + "The event becomes pending, due now, retried for a new callback_max_age, whatever its status.",
)
def replay_callback(serviceName: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.session() as session:
        return callbacks.event_view(callbacks.replay(session, owned_account(session, caller, serviceName).id, id))
