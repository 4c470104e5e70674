"""``/sms/virtualNumbers`` and ``/sms/{serviceName}/virtualNumbers``: an account's dedicated
long numbers, sending from them and what they sent and received.

Each operation is the account-level one (``/jobs``, ``/outgoing``, incoming) narrowed to the
number: jobs and outgoing messages sent from it, incoming messages received on it. A number
is named in the path in any form a receiver may be written in (``+33…``, ``0033…``, ``33…``);
one the account does not have is a 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from textos.api.auth import Caller, authenticate
from textos.api.deps import Id, OptionalLong, owned_account
from textos.api.routes.incoming import Incoming
from textos.api.routes.jobs import SmsSendingReport, send_job, to_send_request, to_source
from textos.api.routes.outgoing import Outgoing
from textos.api.schemas import VOID, DateTime, IamMetadata, Out, VirtualNumberJobCreate
from textos.api.state import state_of
from textos.domain.clock import naive_utc, naive_utc_until
from textos.services import incoming_history, jobs, outgoing, virtual_numbers
from textos.services.outgoing import job_view

router = APIRouter(tags=["virtualNumbers"])

BASE = "/sms/{serviceName}/virtualNumbers/{number}"

CountryCode = Literal["be", "ch", "de", "es", "fr", "uk"]
"""``sms.VirtualNumberIsoCountryCodeEnum`` (``virtual_numbers.COUNTRY_CODES``)."""


class VirtualNumber(Out):
    """``sms.VirtualNumber``."""

    countryCode: CountryCode
    number: str


class CustomerNumber(VirtualNumber):
    """``sms.VirtualNumberGenericServiceWithIAM``."""

    iam: IamMetadata | None


class VirtualNumberJob(Out):
    """``sms.VirtualNumberJob``: ``sms.Job`` without sender and dates of sending."""

    creationDatetime: DateTime
    credits: float
    deliveryReceipt: int
    differedDelivery: int
    id: int
    message: str
    messageLength: int
    numberOfSms: int
    ptt: int
    receiver: str


# --- the customer's numbers -----------------------------------------------------------------------


@router.get("/sms/virtualNumbers", summary="Your virtual numbers", response_model=list[str])
def list_customer_numbers(request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        numbers = virtual_numbers.customer_numbers(session, caller.customer_id)
    return [n for n in numbers if caller.may("GET", f"/sms/virtualNumbers/{n}")]


@router.get("/sms/virtualNumbers/{number}", summary="A virtual number (sms.VirtualNumberGenericServiceWithIAM)", response_model=CustomerNumber)
def get_customer_number(number: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    with st.db.read() as session:
        return virtual_numbers.generic_view(virtual_numbers.customer_number(session, caller.customer_id, number, st.settings.default_region))


# --- an account's numbers -------------------------------------------------------------------------


@router.get("/sms/{serviceName}/virtualNumbers", summary="Virtual numbers of the account", response_model=list[str])
def list_account_numbers(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        return virtual_numbers.account_numbers(session, owned_account(session, caller, serviceName).id)


@router.get(BASE, summary="A virtual number of the account (sms.VirtualNumber)", response_model=VirtualNumber)
def get_account_number(serviceName: str, number: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    with st.db.read() as session:
        account = owned_account(session, caller, serviceName)
        return virtual_numbers.view(virtual_numbers.owned(session, account.id, number, st.settings.default_region))


def _owned(session: Session, caller: Caller, serviceName: str, number: str, region: str) -> tuple[int, str]:
    """(account id, the number in E.164) of the caller's account and its virtual number; 404 otherwise."""
    account = owned_account(session, caller, serviceName)
    return account.id, virtual_numbers.owned(session, account.id, number, region).number


# --- jobs -----------------------------------------------------------------------------------------


@router.post(f"{BASE}/jobs", summary="Send from the virtual number (sms.SmsSendingReport)", response_model=SmsSendingReport)
async def create_number_job(
    serviceName: str, number: str, body: VirtualNumberJobCreate, request: Request, caller: Caller = Depends(authenticate),
) -> dict:
    st = state_of(request)
    with st.db.read() as session:
        _account_id, e164 = _owned(session, caller, serviceName, number, st.settings.default_region)
    return await send_job(serviceName, to_send_request(body, virtual_number=e164), to_source(body), request, caller)


@router.get(f"{BASE}/jobs", summary="Messages from the number not yet handed to a carrier", response_model=list[int])
def list_number_jobs(serviceName: str, number: str, request: Request, caller: Caller = Depends(authenticate)) -> list[int]:
    st = state_of(request)
    with st.db.read() as session:
        account_id, e164 = _owned(session, caller, serviceName, number, st.settings.default_region)
        return jobs.pending_ids(session, account_id, sender=e164)


@router.get(f"{BASE}/jobs/{{id}}", summary="A job from the number (sms.VirtualNumberJob)", response_model=VirtualNumberJob)
def get_number_job(serviceName: str, number: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    with st.db.read() as session:
        account_id, e164 = _owned(session, caller, serviceName, number, st.settings.default_region)
        view = job_view(*jobs.get_pending_job(session, account_id, id, sender=e164))
    return {k: view[k] for k in VirtualNumberJob.model_fields}


@router.delete(f"{BASE}/jobs/{{id}}", summary="Stop a pending job from the number and refund it", response_model=VOID)
def delete_number_job(serviceName: str, number: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    st = state_of(request)
    with st.db.session() as session:
        account_id, e164 = _owned(session, caller, serviceName, number, st.settings.default_region)
        jobs.stop_job(session, account_id, id, actor=caller.actor, sender=e164)


# --- outgoing -------------------------------------------------------------------------------------


@router.get(f"{BASE}/outgoing", summary="SMS sent from the number, filtered", response_model=list[int])
def list_number_outgoing(
    serviceName: str,
    number: str,
    request: Request,
    caller: Caller = Depends(authenticate),
    creation_from: dt.datetime | None = Query(default=None, alias="creationDatetime.from"),
    creation_to: dt.datetime | None = Query(default=None, alias="creationDatetime.to"),
    deliveryReceipt: OptionalLong = None,
    differedDelivery: OptionalLong = None,
    ptt: OptionalLong = None,
    receiver: str | None = Query(default=None),
    sender: str | None = Query(default=None),
    tag: str | None = Query(default=None),
) -> list[int]:
    st = state_of(request)
    region = st.settings.default_region
    where = outgoing.OutgoingFilter(
        created_from=naive_utc(creation_from), created_to=naive_utc_until(creation_to), delivery_receipt=deliveryReceipt,
        differed_delivery=differedDelivery, ptt=ptt, receiver=receiver, sender=sender, tag=tag,
    )
    with st.db.read() as session:
        account_id, e164 = _owned(session, caller, serviceName, number, region)
        return virtual_numbers.outgoing_ids(session, account_id, e164, where, region)


@router.get(f"{BASE}/outgoing/{{id}}", summary="An SMS sent from the number (sms.Outgoing)", response_model=Outgoing)
def get_number_outgoing(serviceName: str, number: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    with st.db.read() as session:
        account_id, e164 = _owned(session, caller, serviceName, number, st.settings.default_region)
        return outgoing.outgoing_details(session, account_id, id, sender=e164)


@router.delete(f"{BASE}/outgoing/{{id}}", summary="Delete an SMS sent from the number from the history", response_model=VOID)
def delete_number_outgoing(serviceName: str, number: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    st = state_of(request)
    with st.db.session() as session:
        account_id, e164 = _owned(session, caller, serviceName, number, st.settings.default_region)
        outgoing.hide_outgoing(session, account_id, id, sender=e164)


# --- incoming -------------------------------------------------------------------------------------


@router.get(f"{BASE}/incoming", summary="SMS received on the number, filtered", response_model=list[int])
def list_number_incoming(
    serviceName: str,
    number: str,
    request: Request,
    caller: Caller = Depends(authenticate),
    creation_from: dt.datetime | None = Query(default=None, alias="creationDatetime.from"),
    creation_to: dt.datetime | None = Query(default=None, alias="creationDatetime.to"),
    sender: str | None = Query(default=None),
    tag: str | None = Query(default=None),
) -> list[int]:
    st = state_of(request)
    region = st.settings.default_region
    where = incoming_history.IncomingFilter(
        created_from=naive_utc(creation_from), created_to=naive_utc_until(creation_to), sender=sender, tag=tag
    )
    with st.db.read() as session:
        account_id, e164 = _owned(session, caller, serviceName, number, region)
        return incoming_history.incoming_ids(session, account_id, where, region, receiver=e164)


@router.get(f"{BASE}/incoming/{{id}}", summary="An SMS received on the number (sms.Incoming)", response_model=Incoming)
def get_number_incoming(serviceName: str, number: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    with st.db.read() as session:
        account_id, e164 = _owned(session, caller, serviceName, number, st.settings.default_region)
        return incoming_history.incoming_view(incoming_history.get_incoming(session, account_id, id, receiver=e164))


@router.delete(f"{BASE}/incoming/{{id}}", summary="Delete an SMS received on the number from the history", response_model=VOID)
def delete_number_incoming(serviceName: str, number: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    st = state_of(request)
    with st.db.session() as session:
        account_id, e164 = _owned(session, caller, serviceName, number, st.settings.default_region)
        incoming_history.hide_incoming(session, account_id, id, receiver=e164)
