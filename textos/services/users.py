"""Users of an SMS account (``sms.User``): who they are and how they prove it.

A user has its own sends (``/sms/{s}/users/{login}/…``, http2sms), callbacks, an http2sms
address allow-list and a quota (``services.quotas``). Passwords are hashed by ``domain.passwords``
(argon2id) and checked through ``services.password_guard``; the password itself is never stored,
returned or logged.

**Rules** (a 400 naming the field otherwise):

- ``login``: 1 to 64 characters among ASCII letters, digits, ``.``, ``_`` and ``-``; unique in
  its account (409 when taken).
- ``password``: OVH's rule (its control panel: "8 alphanumeric characters"), read strictly:
  exactly 8 ASCII letters or digits. It is what http2sms clients send as ``password``.
- ``ipRestrictions``: at most 5 addresses or networks (``192.0.2.7``, ``198.51.100.0/24``, IPv6).
- ``callBack``/``stopCallBack``: as the account's (``accounts.callback_url``), empty clears.
- ``alertThresholdInformations``: ``support`` ``mail``, ``sms`` or ``both``; ``alertThreshold``
  credits, zero or more; ``alertEmail`` an address; ``alertNumber`` a phone number (E.164 stored).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain.errors import BadRequest, Conflict, NotFound
from textos.domain.numbers import InvalidReceiver, parse_receiver
from textos.domain.passwords import hash_password
from textos.domain.pricing import to_credits
from textos.services import accounts, quotas, slots
from textos.storage.models import SmsUser

__all__ = [
    "UserChanges", "check_changes", "check_password_rule", "create_user", "delete_user", "get_user", "logins", "update_user",
    "view",
]  # fmt: skip

_LOGIN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PASSWORD = re.compile(r"[A-Za-z0-9]{8}")
MAX_IP_RESTRICTIONS = 5
SUPPORTS = ("both", "mail", "sms")


def get_user(session: Session, account_id: int, login: str) -> SmsUser:
    """The account's user ``login``; 404 naming it otherwise."""
    user = session.scalar(select(SmsUser).where(SmsUser.account_id == account_id, SmsUser.login == login))
    if user is None:
        raise NotFound(f"login: user {login} does not exist")
    return user


def check_password_rule(password: str) -> None:
    """OVH's rule: exactly 8 ASCII letters or digits (the value is never echoed)."""
    if not isinstance(password, str) or not _PASSWORD.fullmatch(password):
        raise BadRequest("password: must be exactly 8 characters, letters (a-z, A-Z) and digits (0-9) only")


def logins(session: Session, account_id: int) -> list[str]:
    """``GET /sms/{s}/users``: the account's logins, in alphabetical order."""
    return list(session.scalars(select(SmsUser.login).where(SmsUser.account_id == account_id).order_by(SmsUser.login)))


def create_user(session: Session, account_id: int, login: str, password: str) -> SmsUser:
    """``POST /sms/{s}/users``: a new user without quota (its sends paid by the account)."""
    if not isinstance(login, str) or not _LOGIN.fullmatch(login):
        raise BadRequest("login: must be 1 to 64 characters among letters, digits, '.', '_' and '-'")
    check_password_rule(password)
    if session.scalar(select(SmsUser.id).where(SmsUser.account_id == account_id, SmsUser.login == login)) is not None:
        raise Conflict(f"login: user {login} already exists")
    user = SmsUser(
        account_id=account_id, login=login, password_hash=hash_password(password), ip_restrictions=[], quota_status=quotas.INACTIVE,
        quota_left_milli=0, alert_threshold=0, alert_support="mail", alert_email="", alert_number="", alert_armed=True,
    )  # fmt: skip
    session.add(user)
    session.flush()
    return user


def view(user: SmsUser) -> dict[str, Any]:
    """``sms.User`` (no password: it is never returned)."""
    return {
        "login": user.login,
        "callBack": user.callback,
        "stopCallBack": user.stop_callback,
        "ipRestrictions": list(user.ip_restrictions or []),
        "quotaInformations": {"quotaStatus": user.quota_status, "quotaLeft": to_credits(user.quota_left_milli)},
        "alertThresholdInformations": {
            "alertEmail": user.alert_email,
            "alertNumber": user.alert_number,
            "alertThreshold": user.alert_threshold,
            "support": user.alert_support,
        },
    }


@dataclass(frozen=True)
class UserChanges:
    """A ``PUT``'s fields, checked (:func:`check_changes`) before any transaction."""

    values: dict[str, Any]


def check_changes(changes: dict[str, Any], settings: Settings) -> UserChanges:
    """Check ``PUT /sms/{s}/users/{login}``'s fields (callback hosts are resolved: no transaction held)."""
    values = dict(changes)
    for field in ("callBack", "stopCallBack"):
        if field in values:
            values[field] = accounts.callback_url(field, values[field], settings)
    if values.get("password") is not None:
        check_password_rule(values["password"])
    if values.get("ipRestrictions") is not None:
        values["ipRestrictions"] = _networks(values["ipRestrictions"])
    alert = values.get("alertThresholdInformations")
    if alert is not None:
        alert = dict(alert)
        if alert.get("support") is not None and alert["support"] not in SUPPORTS:
            raise BadRequest("alertThresholdInformations.support: must be mail, sms or both")
        if alert.get("alertThreshold") is not None and alert["alertThreshold"] < 0:
            raise BadRequest("alertThresholdInformations.alertThreshold: must be zero or more")
        email = alert.get("alertEmail")
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
            raise BadRequest("alertThresholdInformations.alertEmail: must be an email address")
        number = alert.get("alertNumber")
        if number:
            try:
                alert["alertNumber"] = parse_receiver(number, settings.default_region).e164
            except InvalidReceiver:
                raise BadRequest("alertThresholdInformations.alertNumber: must be a phone number") from None
        values["alertThresholdInformations"] = alert
    return UserChanges(values)


def _networks(items: list[str]) -> list[str]:
    if len(items) > MAX_IP_RESTRICTIONS:
        raise BadRequest(f"ipRestrictions: at most {MAX_IP_RESTRICTIONS} addresses or networks")
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise BadRequest(f"ipRestrictions: {item!r} is not an IP address or network") from None
    return out


def update_user(session: Session, account_id: int, user: SmsUser, checked: UserChanges, *, actor: str) -> None:
    """Apply a checked ``PUT``; a new ``quotaInformations`` holds or releases credits (``services.quotas``)."""
    changes = checked.values
    if "callBack" in changes:
        user.callback = changes["callBack"]
    if "stopCallBack" in changes:
        user.stop_callback = changes["stopCallBack"]
    if changes.get("password") is not None:
        user.password_hash = hash_password(changes["password"])
    if changes.get("ipRestrictions") is not None:
        user.ip_restrictions = changes["ipRestrictions"]
    alert = changes.get("alertThresholdInformations")
    if alert is not None:
        if alert.get("support") is not None:
            user.alert_support = alert["support"]
        if alert.get("alertThreshold") is not None:
            user.alert_threshold = int(alert["alertThreshold"])
        if alert.get("alertEmail") is not None:
            user.alert_email = alert["alertEmail"]
        if alert.get("alertNumber") is not None:
            user.alert_number = alert["alertNumber"]
    quota = changes.get("quotaInformations")
    if quota is not None or alert is not None:
        quota = quota or {}
        quotas.set_quota(session, account_id, user, status=quota.get("quotaStatus"), left=quota.get("quotaLeft"), actor=actor)


def delete_user(session: Session, account_id: int, user: SmsUser, *, actor: str) -> None:
    """``DELETE``: the user's quota released to the account, its own receiver slots removed, then
    the user removed. Its jobs stay (``jobs.user_id`` keeps the id, for history and consumption reports)."""
    quotas.release_all(session, account_id, user, actor=actor)
    slots.forget_user(session, account_id, user.id)
    session.delete(user)
    session.flush()
