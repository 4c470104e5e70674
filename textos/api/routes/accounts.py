"""``/sms`` and ``/sms/{serviceName}``: the caller's SMS accounts."""

from __future__ import annotations

import uuid
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Request

from textos.api.auth import Caller, authenticate
from textos.api.deps import granted_services, owned_account
from textos.api.schemas import AccountUpdate
from textos.api.state import state_of
from textos.domain.errors import BadRequest
from textos.storage.ledger import to_credits, to_milli
from textos.storage.models import Account

router = APIRouter(tags=["accounts"])

DEFAULT_TEMPLATES = {
    "customizedEmailMode": False,
    "customizedSmsMode": False,
    "emailBody": None,
    "emailFrom": None,
    "emailSubject": None,
    "smsBody": None,
}


def account_view(account: Account) -> dict:
    """``sms.AccountWithIAM``."""
    return {
        "automaticRecreditAmount": account.automatic_recredit_amount,
        "callBack": account.callback,
        "channel": account.channel,
        "creditThresholdForAutomaticRecredit": to_credits(account.credit_threshold_milli),
        "creditsHoldByQuota": to_credits(account.credits_held_milli),
        "creditsLeft": to_credits(account.credits_milli),
        "description": account.description,
        "iam": {
            "displayName": account.description or account.service_name,
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"textos:sms:{account.service_name}")),
            "tags": {},
            "urn": f"urn:v1:eu:resource:sms:{account.service_name}",
        },
        "name": account.service_name,
        "smpp": False,
        "smsResponse": {
            "cgiUrl": None,
            "responseType": "none",
            "text": None,
            "trackingDefaultSmsSender": None,
            "trackingOptions": [],
            **(account.sms_response or {}),
        },
        "status": account.status,
        "stopCallBack": account.stop_callback,
        "templates": {**DEFAULT_TEMPLATES, **(account.templates or {})},
        "userQuantityWithQuota": 0,
    }


def check_url(field: str, value: str | None) -> str | None:
    """Callback URLs must be absolute http(s) URLs; empty clears them."""
    if value is None or value == "":
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise BadRequest(f"{field}: {value!r} is not an http(s) URL")
    return value


@router.get("/sms", summary="The caller's SMS accounts", response_model=list[str])
def list_accounts(request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        return granted_services(session, caller, "GET", lambda n: f"/sms/{n}")


@router.get("/sms/{serviceName}", summary="SMS account details (sms.AccountWithIAM)")
def get_account(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return account_view(owned_account(session, caller, serviceName))


@router.put("/sms/{serviceName}", summary="Alter the SMS account's properties")
def put_account(serviceName: str, body: AccountUpdate, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        account = owned_account(session, caller, serviceName)
        fields = body.model_fields_set
        if "callBack" in fields:
            account.callback = check_url("callBack", body.callBack)
        if "stopCallBack" in fields:
            account.stop_callback = check_url("stopCallBack", body.stopCallBack)
        if "description" in fields and body.description is not None:
            account.description = body.description
        if "automaticRecreditAmount" in fields:
            account.automatic_recredit_amount = body.automaticRecreditAmount
        if "creditThresholdForAutomaticRecredit" in fields and body.creditThresholdForAutomaticRecredit is not None:
            account.credit_threshold_milli = to_milli(body.creditThresholdForAutomaticRecredit)
        if "smsResponse" in fields and body.smsResponse is not None:
            response = body.smsResponse.model_dump(exclude_unset=True)
            if "cgiUrl" in response:
                response["cgiUrl"] = check_url("smsResponse.cgiUrl", response["cgiUrl"])
            account.sms_response = {**(account.sms_response or {}), **response}
        if "templates" in fields and body.templates is not None:
            unknown = set(body.templates) - set(DEFAULT_TEMPLATES)
            if unknown:
                raise BadRequest(f"templates: unknown field(s) {', '.join(sorted(unknown))}")
            account.templates = {**(account.templates or {}), **body.templates}


@router.get("/sms/{serviceName}/serviceInfos", summary="Billing information (services.Service)")
def service_infos(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        created = account.created_at.date()
        return {
            "canDeleteAtExpiration": False,
            "contactAdmin": caller.nic,
            "contactBilling": caller.nic,
            "contactTech": caller.nic,
            "creation": created.isoformat(),
            "domain": account.service_name,
            "engagedUpTo": None,
            "expiration": created.replace(year=created.year + 100).isoformat(),
            "possibleRenewPeriod": [],
            "renew": {"automatic": False, "deleteAtExpiration": False, "forced": False, "manualPayment": False, "period": None},
            "renewalType": "oneShot",
            "serviceId": account.id,
            "status": "ok" if account.status == "enable" else "expired",
        }
