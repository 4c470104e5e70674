"""``/sms/{serviceName}/users/{login}/…``: a user's history and receiver slots.

Each operation is the account-level one narrowed to the user (as a virtual number's are to
the number): ``outgoing`` lists the messages of the jobs the user sent (``jobs.user_id``: its
``/users/{login}/jobs``, http2sms), ``incoming`` the replies to those messages, ``receivers``
the user's own slots (nine, apart from the account's and from other users'). One history:
deleting a user's message deletes it from the account's history too. A login the account
does not have is a 404 naming ``login``; a message that is not the user's is a 404 naming ``id``.

``/outgoing/{id}/hlr``: Textos does no HLR lookups, so no message has one: a 404
(``Client::NotFound``) saying so, as OVH answers for a message sent without a lookup.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from textos.api.auth import Caller, authenticate
from textos.api.deps import Id, OptionalLong, owned_account
from textos.api.routes import receivers
from textos.api.routes.incoming import Incoming
from textos.api.routes.outgoing import Outgoing
from textos.api.routes.receivers import CleanReport, Receiver, SlotId
from textos.api.schemas import VOID, ReceiverClean, ReceiverCreate, ReceiverUpdate
from textos.api.state import state_of
from textos.domain.errors import NotFound
from textos.services import incoming_history, outgoing, users

router = APIRouter(tags=["users"])

BASE = "/sms/{serviceName}/users/{login}"


def _user(session: Session, caller: Caller, service_name: str, login: str) -> tuple[int, int]:
    """``(account_id, user_id)`` of the caller's account's user ``login`` (404s as ``owned_account``, ``get_user``)."""
    account = owned_account(session, caller, service_name)
    return account.id, users.get_user(session, account.id, login).id


def _owner(caller: Caller, service_name: str, login: str) -> receivers.Owner:
    return lambda session: _user(session, caller, service_name, login)


# --- outgoing -------------------------------------------------------------------------------------


@router.get(f"{BASE}/outgoing", summary="SMS sent by the user, filtered", response_model=list[int])
def list_user_outgoing(
    serviceName: str,
    login: str,
    request: Request,
    caller: Caller = Depends(authenticate),
    deliveryReceipt: OptionalLong = None,
    differedDelivery: OptionalLong = None,
    ptt: OptionalLong = None,
    receiver: str | None = None,
    sender: str | None = None,
    tag: str | None = None,
) -> list[int]:
    st = state_of(request)
    where = outgoing.OutgoingFilter(
        delivery_receipt=deliveryReceipt, differed_delivery=differedDelivery, ptt=ptt, receiver=receiver, sender=sender, tag=tag,
    )
    with st.db.read() as session:
        account_id, user_id = _user(session, caller, serviceName, login)
        return outgoing.outgoing_ids(session, account_id, where, st.settings.default_region, user_id=user_id)


@router.get(f"{BASE}/outgoing/{{id}}", summary="An SMS sent by the user (sms.Outgoing)", response_model=Outgoing)
def get_user_outgoing(serviceName: str, login: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        account_id, user_id = _user(session, caller, serviceName, login)
        return outgoing.outgoing_details(session, account_id, id, user_id=user_id)


@router.delete(f"{BASE}/outgoing/{{id}}", summary="Delete an SMS sent by the user from the history", response_model=VOID)
def delete_user_outgoing(serviceName: str, login: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        account_id, user_id = _user(session, caller, serviceName, login)
        outgoing.hide_outgoing(session, account_id, id, user_id=user_id)


@router.get(
    f"{BASE}/outgoing/{{id}}/hlr",
    summary="HLR lookup of an SMS sent by the user (sms.Hlr): none, Textos does no HLR lookups",
    description="Always a 404 (`Client::NotFound`): no message has an HLR lookup on this server. "
    "The user and the message are checked first (404 naming `login`, then `id`).",
    responses={404: {"description": "No HLR lookup (none exists on this server), or no such user or message"}},
)
def get_user_outgoing_hlr(serviceName: str, login: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.read() as session:
        account_id, user_id = _user(session, caller, serviceName, login)
        outgoing.get_outgoing(session, account_id, id, user_id=user_id)
    raise NotFound(f"id: outgoing SMS {id} has no HLR lookup (this server does no HLR lookups)")


# --- incoming -------------------------------------------------------------------------------------


@router.get(f"{BASE}/incoming", summary="Replies to the user's SMS, filtered", response_model=list[int])
def list_user_incoming(
    serviceName: str,
    login: str,
    request: Request,
    caller: Caller = Depends(authenticate),
    sender: str | None = None,
    tag: str | None = None,
) -> list[int]:
    st = state_of(request)
    where = incoming_history.IncomingFilter(sender=sender, tag=tag)
    with st.db.read() as session:
        account_id, user_id = _user(session, caller, serviceName, login)
        return incoming_history.incoming_ids(session, account_id, where, st.settings.default_region, user_id=user_id)


@router.get(f"{BASE}/incoming/{{id}}", summary="A reply to the user's SMS (sms.Incoming)", response_model=Incoming)
def get_user_incoming(serviceName: str, login: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        account_id, user_id = _user(session, caller, serviceName, login)
        return incoming_history.incoming_details(session, account_id, id, user_id=user_id)


@router.delete(f"{BASE}/incoming/{{id}}", summary="Delete a reply to the user's SMS from the history", response_model=VOID)
def delete_user_incoming(serviceName: str, login: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        account_id, user_id = _user(session, caller, serviceName, login)
        incoming_history.hide_incoming(session, account_id, id, user_id=user_id)


# --- receivers: the user's own slots --------------------------------------------------------------


@router.get(f"{BASE}/receivers", summary="The user's receiver slots (ids)", response_model=list[int])
def list_user_slots(serviceName: str, login: str, request: Request, caller: Caller = Depends(authenticate)) -> list[int]:
    return receivers.list_slots_of(request, _owner(caller, serviceName, login))


@router.post(f"{BASE}/receivers", summary="Add a CSV document of receivers to a user's slot (sms.Receiver)", response_model=Receiver)
async def create_user_slot(
    serviceName: str, login: str, body: ReceiverCreate, request: Request, caller: Caller = Depends(authenticate),
) -> dict:
    return await receivers.create_slot_of(request, _owner(caller, serviceName, login), body)


@router.get(f"{BASE}/receivers/{{slotId}}", summary="A user's receiver slot (sms.Receiver)", response_model=Receiver)
def get_user_slot(serviceName: str, login: str, slotId: SlotId, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    return receivers.get_slot_of(request, _owner(caller, serviceName, login), slotId)


@router.put(f"{BASE}/receivers/{{slotId}}", summary="Alter a user's receiver slot (description, autoUpdate)", response_model=VOID)
def update_user_slot(
    serviceName: str, login: str, slotId: SlotId, body: ReceiverUpdate, request: Request, caller: Caller = Depends(authenticate),
) -> None:
    receivers.update_slot_of(request, _owner(caller, serviceName, login), slotId, body)


@router.delete(f"{BASE}/receivers/{{slotId}}", summary="Delete the document of a user's slot", response_model=VOID)
def delete_user_slot(serviceName: str, login: str, slotId: SlotId, request: Request, caller: Caller = Depends(authenticate)) -> None:
    receivers.delete_slot_of(request, _owner(caller, serviceName, login), slotId)


@router.get(f"{BASE}/receivers/{{slotId}}/csv", summary="A user's slot's CSV document (string)", response_model=str)
def user_slot_csv(serviceName: str, login: str, slotId: SlotId, request: Request, caller: Caller = Depends(authenticate)) -> JSONResponse:
    return receivers.slot_csv_of(request, _owner(caller, serviceName, login), slotId)


@router.post(
    f"{BASE}/receivers/{{slotId}}/clean",
    summary="Drop invalid, duplicate and blacklisted receivers of a user's slot (sms.ReceiversAsynchronousCleanReport)",
    description=receivers.CLEAN_DESCRIPTION, response_model=CleanReport,
)
async def clean_user_slot(
    serviceName: str, login: str, slotId: SlotId, request: Request, body: ReceiverClean | None = None,
    caller: Caller = Depends(authenticate),
) -> dict:
    return await receivers.clean_slot_of(request, _owner(caller, serviceName, login), slotId, body)
