"""A customer's SMS accounts: finding them, changing their settings, and their OVH shapes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain.errors import BadRequest, NotFound
from textos.domain.public_urls import UrlRefused, check_public_url
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


_CUSTOMER_ACCOUNT = select(Account).where(Account.service_name == bindparam("service_name"), Account.customer_id == bindparam("customer_id"))
"""Built once: building the statement cost more than running it (the accept writer runs it once per group)."""


def customer_account(session: Session, customer_id: int, service_name: str) -> Account:
    """The customer's SMS account ``service_name``; 404 when it is not theirs (nothing leaks)."""
    account = session.scalar(_CUSTOMER_ACCOUNT, {"service_name": service_name, "customer_id": customer_id})
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


def credits_left(session: Session, account_id: int | None) -> float | None:
    """An account's free credits (``creditsLeft``); ``None`` when there is no such account (yet:
    an unpaid order of a new account has none)."""
    if account_id is None:
        return None
    milli = session.scalar(select(Account.credits_milli).where(Account.id == account_id))
    return None if milli is None else to_credits(milli)


@dataclass(frozen=True)
class AccountChanges:
    """What ``PUT /sms/{serviceName}`` sends (the ``sms.Account`` fields given), checked by :func:`check_changes`."""

    values: dict[str, Any]


def callback_url(field: str, value: str | None, settings: Settings) -> str | None:
    """A callback URL the server may call later (``public_urls``: the receiver documents' guard); empty clears it."""
    if value is None or value == "":
        return None
    try:
        return check_public_url(value, allow_private=settings.fetch_allow_private, timeout=min(10.0, settings.fetch_timeout))
    except UrlRefused as exc:
        raise BadRequest(f"{field}: {exc.message}") from None


NOT_NULL = {"smsResponse": ("responseType",), "templates": ("customizedEmailMode", "customizedSmsMode")}
"""Fields of ``sms.Response`` and ``sms.Templates`` that are never null: a ``null`` sent for one leaves it as it is."""


def check_changes(changes: dict[str, Any], settings: Settings) -> AccountChanges:
    """Check a ``PUT``'s fields before any transaction (a callback URL's host is resolved):
    callback URLs are http(s) on public addresses only, templates known; BadRequest naming the field."""
    values = dict(changes)
    for group, fields in NOT_NULL.items():
        if values.get(group) is not None:
            values[group] = {k: v for k, v in values[group].items() if not (k in fields and v is None)}
    for field in ("callBack", "stopCallBack"):
        if field in values:
            values[field] = callback_url(field, values[field], settings)
    if values.get("smsResponse") is not None and "cgiUrl" in values["smsResponse"]:
        response = dict(values["smsResponse"])
        response["cgiUrl"] = callback_url("smsResponse.cgiUrl", response["cgiUrl"], settings)
        values["smsResponse"] = response
    if values.get("templates") is not None:
        unknown = set(values["templates"]) - set(DEFAULT_TEMPLATES)
        if unknown:
            raise BadRequest(f"templates: unknown field(s) {', '.join(sorted(unknown))}")
    return AccountChanges(values)


def update_account(account: Account, checked: AccountChanges) -> None:
    """Apply ``PUT /sms/{serviceName}``'s checked fields."""
    changes = checked.values
    if "callBack" in changes:
        account.callback = changes["callBack"]
    if "stopCallBack" in changes:
        account.stop_callback = changes["stopCallBack"]
    if changes.get("description") is not None:
        account.description = changes["description"]
    if "automaticRecreditAmount" in changes:
        account.automatic_recredit_amount = changes["automaticRecreditAmount"]
    if changes.get("creditThresholdForAutomaticRecredit") is not None:
        account.credit_threshold_milli = to_milli(changes["creditThresholdForAutomaticRecredit"])
    if changes.get("smsResponse") is not None:
        account.sms_response = {**(account.sms_response or {}), **changes["smsResponse"]}
    if changes.get("templates") is not None:
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
