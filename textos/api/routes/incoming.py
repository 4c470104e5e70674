"""``/sms/{serviceName}/incoming``: replies received by the account (``sms.Incoming``)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request

from textos.api.auth import Caller, authenticate
from textos.api.deps import Id, owned_account
from textos.api.schemas import VOID, DateTime, Out
from textos.api.state import state_of
from textos.domain.clock import naive_utc, naive_utc_until
from textos.services import incoming_history

router = APIRouter(tags=["incoming"])


class Incoming(Out):
    """``sms.Incoming``."""

    creationDatetime: DateTime
    credits: float
    id: int
    message: str
    sender: str
    tag: str


@router.get("/sms/{serviceName}/incoming", summary="Received SMS ids, filtered", response_model=list[int])
def list_incoming(
    serviceName: str,
    request: Request,
    caller: Caller = Depends(authenticate),
    creation_from: dt.datetime | None = Query(default=None, alias="creationDatetime.from"),
    creation_to: dt.datetime | None = Query(default=None, alias="creationDatetime.to"),
    sender: str | None = Query(default=None),
    tag: str | None = Query(default=None),
) -> list[int]:
    st = state_of(request)
    where = incoming_history.IncomingFilter(
        created_from=naive_utc(creation_from), created_to=naive_utc_until(creation_to), sender=sender, tag=tag,
    )
    with st.db.read() as session:
        account = owned_account(session, caller, serviceName)
        return incoming_history.incoming_ids(session, account.id, where, st.settings.default_region)


@router.get("/sms/{serviceName}/incoming/{id}", summary="Received SMS details (sms.Incoming)", response_model=Incoming)
def get_incoming(serviceName: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return incoming_history.incoming_details(session, owned_account(session, caller, serviceName).id, id)


@router.delete("/sms/{serviceName}/incoming/{id}", summary="Delete a received SMS from the history", response_model=VOID)
def delete_incoming(serviceName: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        incoming_history.hide_incoming(session, owned_account(session, caller, serviceName).id, id)
