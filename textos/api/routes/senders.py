"""``/sms/{serviceName}/senders``: senders must be registered, and validated, before use."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from textos.api.auth import Caller, authenticate
from textos.api.deps import owned_account
from textos.api.schemas import SenderCreate, SenderUpdate
from textos.api.state import state_of
from textos.domain.senders import check_sender, sender_type
from textos.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from textos.storage.models import Sender

router = APIRouter(tags=["senders"])


def sender_view(sender: Sender) -> dict:
    """``sms.Sender``."""
    return {
        "comment": sender.comment,
        "description": sender.description,
        "referer": sender.referer,
        "sender": sender.sender,
        "status": sender.status,
        "type": sender.type,
        "validationMedia": None,
    }


def _sender(session, account_id: int, name: str) -> Sender:  # type: ignore[no-untyped-def]
    row = session.scalar(select(Sender).where(Sender.account_id == account_id, Sender.sender == name))
    if row is None:
        raise NotFound(f"sender: {name!r} is not a sender of this account")
    return row


@router.get("/sms/{serviceName}/senders", summary="Senders of the account", response_model=list[str])
def list_senders(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        return list(session.scalars(select(Sender.sender).where(Sender.account_id == account.id).order_by(Sender.id)))


@router.post("/sms/{serviceName}/senders", summary="Ask for a new sender (waits for validation)")
def create_sender(serviceName: str, body: SenderCreate, request: Request, caller: Caller = Depends(authenticate)) -> str:
    problem = check_sender(body.sender)
    if problem:
        raise BadRequest(f"sender: {body.sender!r} {problem}")
    with state_of(request).db.session() as session:
        account = owned_account(session, caller, serviceName)
        if session.scalar(select(Sender.id).where(Sender.account_id == account.id, Sender.sender == body.sender)):
            raise Conflict(f"sender: {body.sender!r} already exists on this account")
        session.add(
            Sender(
                account_id=account.id,
                sender=body.sender,
                description=body.description or "",
                reason=body.reason or "",
                status="waitingValidation",
                type=sender_type(body.sender),
                referer="custom",
            )
        )
    return body.sender


@router.get("/sms/{serviceName}/senders/{sender}", summary="A sender (sms.Sender)")
def get_sender(serviceName: str, sender: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        return sender_view(_sender(session, account.id, sender))


@router.put("/sms/{serviceName}/senders/{sender}", summary="Describe, enable or disable a validated sender")
def put_sender(serviceName: str, sender: str, body: SenderUpdate, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        account = owned_account(session, caller, serviceName)
        row = _sender(session, account.id, sender)
        if body.description is not None:
            row.description = body.description
        if body.status is not None and body.status != row.status:
            if body.status not in ("enable", "disable") or row.status not in ("enable", "disable"):
                raise Forbidden(f"status: a {row.status} sender cannot be set to {body.status}; validation is done by the operator")
            row.status = body.status


@router.delete("/sms/{serviceName}/senders/{sender}", summary="Delete a sender")
def delete_sender(serviceName: str, sender: str, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        account = owned_account(session, caller, serviceName)
        session.delete(_sender(session, account.id, sender))
