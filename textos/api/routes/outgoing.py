"""``/sms/{serviceName}/outgoing``: the history of messages handed to carriers."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, Depends, Query, Request

from textos.api.auth import Caller, authenticate
from textos.api.deps import Id, OptionalLong, owned_account
from textos.api.schemas import VOID, DateTime, Out
from textos.api.state import state_of
from textos.domain.clock import naive_utc, naive_utc_until
from textos.services import outgoing

router = APIRouter(tags=["outgoing"])


class Outgoing(Out):
    """``sms.Outgoing`` (with Textos's ``carrierMessageId``: the id the carrier gave the message's
    first part, null before one did)."""

    batchID: str | None
    carrierMessageId: str | None
    creationDatetime: DateTime
    credits: float
    deliveredAt: DateTime | None
    deliveryReceipt: int
    differedDelivery: int
    id: int
    message: str
    messageID: str
    messageLength: int
    numberOfSms: int
    ptt: int
    receiver: str
    sender: str
    sentAt: DateTime | None
    tag: str
    tariffCode: str


@router.get("/sms/{serviceName}/outgoing", summary="Sent SMS ids, filtered", response_model=list[int])
def list_outgoing(
    serviceName: str,
    request: Request,
    caller: Caller = Depends(authenticate),
    batchID: uuid.UUID | None = Query(default=None),
    creation_from: dt.datetime | None = Query(default=None, alias="creationDatetime.from"),
    creation_to: dt.datetime | None = Query(default=None, alias="creationDatetime.to"),
    deliveryReceipt: OptionalLong = None,
    differedDelivery: OptionalLong = None,
    messageID: uuid.UUID | None = Query(default=None, description="The message's uuid, as `sms.Outgoing.messageID` shows it"),
    ptt: OptionalLong = None,
    receiver: str | None = Query(default=None),
    sender: str | None = Query(default=None),
    tag: str | None = Query(default=None),
) -> list[int]:
    st = state_of(request)
    where = outgoing.OutgoingFilter(
        batch_id=str(batchID) if batchID else None, created_from=naive_utc(creation_from), created_to=naive_utc_until(creation_to),
        delivery_receipt=deliveryReceipt, differed_delivery=differedDelivery, message_id=messageID, ptt=ptt,
        receiver=receiver, sender=sender, tag=tag,
    )
    with st.db.read() as session:
        account = owned_account(session, caller, serviceName)
        return outgoing.outgoing_ids(session, account.id, where, st.settings.default_region)


@router.get("/sms/{serviceName}/outgoing/{id}", summary="Sent SMS details (sms.Outgoing)", response_model=Outgoing)
def get_outgoing(serviceName: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return outgoing.outgoing_details(session, owned_account(session, caller, serviceName).id, id)


@router.delete("/sms/{serviceName}/outgoing/{id}", summary="Delete a sent SMS from the history", response_model=VOID)
def delete_outgoing(serviceName: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        outgoing.hide_outgoing(session, owned_account(session, caller, serviceName).id, id)
