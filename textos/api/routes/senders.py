"""``/sms/{serviceName}/senders``: senders must be registered, and validated, before use."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request

from textos.api.auth import Caller, authenticate
from textos.api.deps import owned_account
from textos.api.schemas import VOID, Out, SenderCreate, SenderStatus, SenderType, SenderUpdate
from textos.api.state import state_of
from textos.services import senders

router = APIRouter(tags=["senders"])


class Sender(Out):
    """``sms.Sender``."""

    comment: str | None
    description: str
    referer: Literal["custom", "domain", "line", "nic", "owner", "virtual"]
    sender: str
    status: SenderStatus
    type: SenderType | None
    validationMedia: str | None


@router.get("/sms/{serviceName}/senders", summary="Senders of the account", response_model=list[str])
def list_senders(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        return senders.names(session, owned_account(session, caller, serviceName))


@router.post("/sms/{serviceName}/senders", summary="Ask for a new sender (waits for validation)", response_model=str)
def create_sender(serviceName: str, body: SenderCreate, request: Request, caller: Caller = Depends(authenticate)) -> str:
    with state_of(request).db.session() as session:
        account = owned_account(session, caller, serviceName)
        return senders.request(session, account, body.sender, description=body.description or "", reason=body.reason or "").sender


@router.get("/sms/{serviceName}/senders/{sender}", summary="A sender (sms.Sender)", response_model=Sender)
def get_sender(serviceName: str, sender: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return senders.sender_view(senders.get(session, owned_account(session, caller, serviceName), sender))


@router.put("/sms/{serviceName}/senders/{sender}", summary="Describe, enable or disable a validated sender", response_model=VOID)
def put_sender(serviceName: str, sender: str, body: SenderUpdate, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        row = senders.get(session, owned_account(session, caller, serviceName), sender)
        senders.update(row, description=body.description, status=body.status)


@router.delete("/sms/{serviceName}/senders/{sender}", summary="Delete a sender", response_model=VOID)
def delete_sender(serviceName: str, sender: str, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        senders.remove(session, owned_account(session, caller, serviceName), sender)
