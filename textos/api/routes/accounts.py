"""``/sms`` and ``/sms/{serviceName}``: the caller's SMS accounts."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request

from textos.api.auth import Caller, authenticate
from textos.api.deps import granted_services, owned_account
from textos.api.schemas import VOID, AccountUpdate, Date, IamMetadata, Out, RecreditAmount, ResponseType, TrackingMedia
from textos.api.state import state_of
from textos.services import accounts

router = APIRouter(tags=["accounts"])


class TrackingOption(Out):
    """``sms.ResponseTrackingOptions``."""

    media: TrackingMedia
    sender: str
    target: str


class SmsResponse(Out):
    """``sms.Response``: how replies are answered."""

    cgiUrl: str | None
    responseType: ResponseType
    text: str | None
    trackingDefaultSmsSender: str | None
    trackingOptions: list[TrackingOption] | None


class Templates(Out):
    """``sms.Templates``."""

    customizedEmailMode: bool
    customizedSmsMode: bool
    emailBody: str | None
    emailFrom: str | None
    emailSubject: str | None
    smsBody: str | None


class Account(Out):
    """``sms.AccountWithIAM``."""

    automaticRecreditAmount: RecreditAmount | None
    callBack: str | None
    channel: Literal["both", "marketing", "transactional"]
    creditThresholdForAutomaticRecredit: float
    creditsHoldByQuota: float
    creditsLeft: float
    description: str
    iam: IamMetadata | None
    name: str
    smpp: bool
    smsResponse: SmsResponse
    status: Literal["disable", "enable"]
    stopCallBack: str | None
    templates: Templates
    userQuantityWithQuota: int


class RenewType(Out):
    """``service.RenewType``."""

    automatic: bool
    deleteAtExpiration: bool
    forced: bool
    manualPayment: bool | None
    period: int | None


class Service(Out):
    """``services.Service``."""

    canDeleteAtExpiration: bool
    contactAdmin: str
    contactBilling: str
    contactTech: str
    creation: Date
    domain: str
    engagedUpTo: Date | None
    expiration: Date
    possibleRenewPeriod: list[int] | None
    renew: RenewType | None
    renewalType: Literal["automaticForcedProduct", "automaticV2012", "automaticV2014", "automaticV2016", "manual", "oneShot", "option"]
    serviceId: int
    status: Literal["expired", "inCreation", "ok", "pendingDebt", "unPaid"]


@router.get("/sms", summary="The caller's SMS accounts", response_model=list[str])
def list_accounts(request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        return granted_services(session, caller, "GET", lambda n: f"/sms/{n}")


@router.get("/sms/{serviceName}", summary="SMS account details (sms.AccountWithIAM)", response_model=Account)
def get_account(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return accounts.account_view(owned_account(session, caller, serviceName))


@router.put("/sms/{serviceName}", summary="Alter the SMS account's properties", response_model=VOID)
def put_account(serviceName: str, body: AccountUpdate, request: Request, caller: Caller = Depends(authenticate)) -> None:
    st = state_of(request)
    changes = accounts.check_changes(body.model_dump(exclude_unset=True), st.settings)  # DNS lookups: before the transaction
    with st.db.session() as session:
        accounts.update_account(owned_account(session, caller, serviceName), changes)


@router.get("/sms/{serviceName}/serviceInfos", summary="Billing information (services.Service)", response_model=Service)
def service_infos(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return accounts.service_infos_view(owned_account(session, caller, serviceName), caller.nic)
