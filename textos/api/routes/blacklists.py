"""``/sms/{serviceName}/blacklists``: numbers that answered STOP (``services.blacklists``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request

from textos.api.auth import Caller, authenticate
from textos.api.deps import OptionalLong, owned_account
from textos.api.schemas import VOID, BlacklistOut
from textos.api.state import state_of
from textos.services import blacklists

router = APIRouter(tags=["blacklists"])


@router.get("/sms/{serviceName}/blacklists", summary="Numbers blacklisted (they answered STOP)", response_model=list[str])
def list_blacklists(
    serviceName: str,
    request: Request,
    caller: Caller = Depends(authenticate),
    batchID: uuid.UUID | None = Query(default=None, description="Numbers that answered STOP to an SMS of this batch"),
    smsOutgoingID: OptionalLong = None,
) -> list[str]:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        return blacklists.list_numbers(
            session, account.id, batch_id=str(batchID) if batchID else None, sms_outgoing_id=smsOutgoingID)


@router.get("/sms/{serviceName}/blacklists/{number}", summary="A blacklisted number (sms.Blacklist)", response_model=BlacklistOut)
def get_blacklist(serviceName: str, number: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    with st.db.read() as session:
        account = owned_account(session, caller, serviceName)
        return blacklists.blacklist_view(blacklists.get_blacklist(session, account.id, number, st.settings.default_region))


@router.delete("/sms/{serviceName}/blacklists/{number}", summary="Remove a number from the blacklist (commercial SMS reach it again)",
               response_model=VOID)
def delete_blacklist(serviceName: str, number: str, request: Request, caller: Caller = Depends(authenticate)) -> None:
    st = state_of(request)
    with st.db.session() as session:
        account = owned_account(session, caller, serviceName)
        blacklists.remove_blacklist(session, account.id, number, st.settings.default_region)
