"""A customer's SMS accounts: finding them, changing their settings, and their OVH shapes."""

from __future__ import annotations

import uuid
from typing import Any, Callable
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.errors import BadRequest, NotFound
from textos.storage.ledger import to_credits, to_milli
from textos.storage.models import Account

DEFAULT_TEMPLATES = {
    "customizedEmailMode": False,
    "customizedSmsMode": False,
    "emailBody": None,
    "emailFrom": None,
    "emailSubject": None,
    "smsBody": None,
}


def customer_account(session: Session, customer_id: int, service_name: str) -> Account:
    """The customer's SMS account ``service_name``; 404 when it is not theirs (nothing leaks)."""
    account = session.scalar(
        select(Account).where(Account.service_name == service_name, Account.customer_id == customer_id)
    )
    if account is None:
        raise NotFound(f"serviceName: this service does not exist ({service_name})")
    return account


def service_names(session: Session, customer_id: int, *, where: Callable[[str], bool] = lambda name: True) -> list[str]:
    """The customer's account names (oldest first) for which ``where(name)`` holds."""
    names = session.scalars(
        select(Account.service_name).where(Account.customer_id == customer_id).order_by(Account.id)
    ).all()
    return [n for n in names if where(n)]


def balances(session: Session) -> dict[str, float]:
    """Every account's free credits by name, oldest account first (``textos account list``)."""
    rows = session.execute(select(Account.service_name, Account.credits_milli).order_by(Account.id)).all()
    return {name: to_credits(milli) for name, milli in rows}


def credits_left(session: Session, account_id: int) -> float | None:
    """An account's free credits (``creditsLeft``); ``None`` when there is no such account."""
    milli = session.scalar(select(Account.credits_milli).where(Account.id == account_id))
    return None if milli is None else to_credits(milli)


def check_url(field: str, value: str | None) -> str | None:
    """Callback URLs must be absolute http(s) URLs; empty clears them."""
    if value is None or value == "":
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise BadRequest(f"{field}: {value!r} is not an http(s) URL")
    return value


def update_account(account: Account, changes: dict[str, Any]) -> None:
    """Apply ``PUT /sms/{serviceName}``: ``changes`` holds the ``sms.Account`` fields the caller sent."""
    if "callBack" in changes:
        account.callback = check_url("callBack", changes["callBack"])
    if "stopCallBack" in changes:
        account.stop_callback = check_url("stopCallBack", changes["stopCallBack"])
    if changes.get("description") is not None:
        account.description = changes["description"]
    if "automaticRecreditAmount" in changes:
        account.automatic_recredit_amount = changes["automaticRecreditAmount"]
    if changes.get("creditThresholdForAutomaticRecredit") is not None:
        account.credit_threshold_milli = to_milli(changes["creditThresholdForAutomaticRecredit"])
    if changes.get("smsResponse") is not None:
        response = dict(changes["smsResponse"])
        if "cgiUrl" in response:
            response["cgiUrl"] = check_url("smsResponse.cgiUrl", response["cgiUrl"])
        account.sms_response = {**(account.sms_response or {}), **response}
    if changes.get("templates") is not None:
        unknown = set(changes["templates"]) - set(DEFAULT_TEMPLATES)
        if unknown:
            raise BadRequest(f"templates: unknown field(s) {', '.join(sorted(unknown))}")
        account.templates = {**(account.templates or {}), **changes["templates"]}


# --- views --------------------------------------------------------------------------------------


def account_view(account: Account) -> dict[str, Any]:
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


def service_infos_view(account: Account, nic: str) -> dict[str, Any]:
    """``services.Service`` of an account whose contacts are all ``nic``."""
    created = account.created_at.date()
    return {
        "canDeleteAtExpiration": False,
        "contactAdmin": nic,
        "contactBilling": nic,
        "contactTech": nic,
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
