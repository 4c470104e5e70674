"""``/sms/{serviceName}/outgoing``: the history of messages handed to carriers."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from textos.api.auth import Caller, authenticate
from textos.api.deps import Id, OptionalLong, owned_account, to_naive_utc
from textos.api.routes.jobs import job_view
from textos.api.state import state_of
from textos.domain.numbers import InvalidReceiver, parse_receiver
from textos.domain.errors import NotFound
from textos.storage.models import Job, Message

router = APIRouter(tags=["outgoing"])

HISTORY = ("sent", "delivered", "failed", "rejected", "expired")


def outgoing_view(message: Message, job: Job) -> dict:
    """``sms.Outgoing``."""
    view = job_view(message, job)
    view.update(
        {
            "batchID": job.batch_id,
            "messageID": message.carrier_id,
            "tag": message.tag,
            "tariffCode": message.country,
        }
    )
    return view


@router.get("/sms/{serviceName}/outgoing", summary="Sent SMS ids, filtered", response_model=list[int])
def list_outgoing(
    serviceName: str,
    request: Request,
    caller: Caller = Depends(authenticate),
    batchID: str | None = Query(default=None),
    creation_from: dt.datetime | None = Query(default=None, alias="creationDatetime.from"),
    creation_to: dt.datetime | None = Query(default=None, alias="creationDatetime.to"),
    deliveryReceipt: OptionalLong = None,
    differedDelivery: OptionalLong = None,
    messageID: str | None = Query(default=None),
    ptt: OptionalLong = None,
    receiver: str | None = Query(default=None),
    sender: str | None = Query(default=None),
    tag: str | None = Query(default=None),
) -> list[int]:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        stmt = select(Message.id).where(
            Message.account_id == account.id, Message.status.in_(HISTORY), Message.hidden.is_(False)
        )
        if batchID is not None:
            stmt = stmt.where(Message.job_id.in_(select(Job.id).where(Job.account_id == account.id, Job.batch_id == batchID)))
        if creation_from is not None:
            stmt = stmt.where(Message.created_at >= to_naive_utc(creation_from))
        if creation_to is not None:
            stmt = stmt.where(Message.created_at <= to_naive_utc(creation_to))
        if deliveryReceipt is not None:
            stmt = stmt.where(Message.dlr == deliveryReceipt)
        if differedDelivery is not None:
            stmt = stmt.where(Message.differed_period == differedDelivery)
        if messageID is not None:
            stmt = stmt.where(Message.carrier_id == messageID)
        if ptt is not None:
            stmt = stmt.where(Message.ptt == ptt)
        if receiver is not None:
            try:
                receiver = parse_receiver(receiver, state_of(request).settings.default_region).e164
            except InvalidReceiver:
                pass
            stmt = stmt.where(Message.receiver == receiver)
        if sender is not None:
            stmt = stmt.where(Message.sender == sender)
        if tag is not None:
            stmt = stmt.where(Message.tag == tag)
        return list(session.scalars(stmt.order_by(Message.id)))


def _outgoing(session, account_id: int, message_id: int) -> Message:  # type: ignore[no-untyped-def]
    message = session.scalar(select(Message).where(Message.id == message_id, Message.account_id == account_id))
    if message is None or message.status not in HISTORY or message.hidden:
        raise NotFound(f"id: outgoing SMS {message_id} does not exist")
    return message


@router.get("/sms/{serviceName}/outgoing/{id}", summary="Sent SMS details (sms.Outgoing)")
def get_outgoing(serviceName: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        message = _outgoing(session, account.id, id)
        return outgoing_view(message, session.get_one(Job, message.job_id))


@router.delete("/sms/{serviceName}/outgoing/{id}", summary="Delete a sent SMS from the history")
def delete_outgoing(serviceName: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        account = owned_account(session, caller, serviceName)
        _outgoing(session, account.id, id).hidden = True
