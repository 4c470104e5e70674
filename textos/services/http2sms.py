"""http2sms: OVH's legacy sending URL (``/cgi-bin/sms/http2sms.cgi``), for the users of an account.

A request names the account (``account`` = serviceName), a user (``login``, ``password``) and
what to send. What it gets is a :class:`Reply`, drawn by the API in the asked ``contentType``:

* ``100`` sent (``creditLeft``, the ids of the messages); ``101`` is never produced;
* ``201`` a parameter is missing (``Missing login``), ``202`` one is invalid (``Invalid deferred: …``),
  or the send itself is refused (disabled account, not enough credits, unknown sender: its reason);
* ``401`` the account, login or password is wrong — one answer whether or not the account or the
  login exist, after the same password check (``PasswordGuard.check`` against a dummy hash) — or the
  user's ``ipRestrictions`` do not list the client address (said only once the password is right);
* ``429`` (Textos's) the login or the client address is locked out after too many wrong passwords
  (``services.password_guard``; the right password too, until ``retry_after`` seconds).

Parameters are checked before the password (they say nothing about the user), in this order:
missing ones, unknown ones, then each value. The send goes through the one accept path
(``services.jobs.accept``) with ``SendRequest.user_id``: the user's active quota pays for it
when quotas are on (``services.quotas``), else the account's credits.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from dataclasses import dataclass, field
from typing import Mapping

from sqlalchemy import select

from textos.config import Settings
from textos.domain.clock import utcnow
from textos.domain.encoding import is_gsm7
from textos.domain.errors import TextosError, TooManyRequests
from textos.services.jobs import SendRequest, accept
from textos.services.password_guard import PasswordGuard
from textos.services.recipients import ConcatFor
from textos.storage.db import Database
from textos.storage.models import Account, SmsUser

__all__ = ["KNOWN", "Reply", "guard_name", "send"]

OK, MISSING, INVALID, REFUSED, LOCKED = 100, 201, 202, 401, 429
REQUIRED = ("account", "login", "password", "to", "message")
KNOWN = frozenset({
    *REQUIRED, "from", "contentType", "class", "noStop", "tag", "deferred", "smsCoding", "SMSencoding", "senderForResponse",
})  # fmt: skip
CLASSES = {"0": "flash", "1": "phoneDisplay", "2": "sim", "3": "toolkit"}
"""``class``: the message class (``sms.ClassEnum``)."""
TAG_MAX = 20
BAD_LOGIN = "Invalid account, login or password"
MAX_DEFERRAL = dt.timedelta(days=365)
"""As a job's ``differedPeriod`` (525,600 minutes, ``api.schemas.MAX_DEFERRAL_MINUTES``)."""


@dataclass(frozen=True)
class Reply:
    """What http2sms answers: a status, and either the credits left and the message ids, or a reason."""

    status: int
    message: str = ""
    credit_left: str = ""
    sms_ids: list[str] = field(default_factory=list)
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in (100, 101)


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.reply = Reply(status, message)


def guard_name(account: str, login: str) -> str:
    """What ``PasswordGuard`` counts a user's failed logins under (apart from customers' nics)."""
    return f"user:{account}/{login}"


def _flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "").strip()
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    raise _Refusal(INVALID, f"Invalid {name}: 0 or 1")


def parse_deferred(value: str, now: dt.datetime) -> dt.datetime | None:
    """``deferred`` as OVH writes it, ``hhmmddMMYYYY`` (hour, minute, day, month, year), read as UTC:
    when to send, None for a time already past (sent now); at most ``MAX_DEFERRAL`` ahead."""
    if len(value) != 12 or not value.isdigit():
        raise _Refusal(INVALID, "Invalid deferred: hhmmddMMYYYY (hour, minute, day, month, year, UTC)")
    try:
        when = dt.datetime(int(value[8:]), int(value[6:8]), int(value[4:6]), int(value[:2]), int(value[2:4]))
    except ValueError:
        raise _Refusal(INVALID, "Invalid deferred: not a date (hhmmddMMYYYY, UTC)") from None
    if when - now > MAX_DEFERRAL:
        raise _Refusal(INVALID, "Invalid deferred: at most a year ahead")
    return when if when > now else None


def _request(params: Mapping[str, str], user_id: int) -> tuple[SendRequest, dt.datetime | None]:
    """The send a request asks for (values already checked by :func:`_check`), and when to send it."""
    now = utcnow()
    deferred = params.get("deferred", "").strip()
    send_at = parse_deferred(deferred, now) if deferred else None
    return SendRequest(
        message=params["message"],
        receivers=[r.strip() for r in params["to"].split(",") if r.strip()],
        sender=params.get("from", "").strip() or None,
        sender_for_response=_flag(params, "senderForResponse"),
        no_stop_clause=_flag(params, "noStop"),
        message_class=CLASSES[params.get("class", "").strip() or "1"],
        tag=params.get("tag", ""),
        differed_period=math.ceil((send_at - now).total_seconds() / 60) if send_at else 0,
        user_id=user_id,
    ), send_at


def _check(params: Mapping[str, str]) -> None:
    """201 for the first missing parameter, 202 for an unknown one or the first invalid value."""
    for name in REQUIRED:
        if not params.get(name, "").strip():
            raise _Refusal(MISSING, f"Missing {name}")
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        raise _Refusal(INVALID, f"Invalid parameter: {', '.join(unknown)}")
    if not [r for r in params["to"].split(",") if r.strip()]:
        raise _Refusal(INVALID, "Invalid to: no receiver")
    if params.get("class", "").strip() not in ("", *CLASSES):
        raise _Refusal(INVALID, "Invalid class: 0, 1, 2 or 3")
    if len(params.get("tag", "")) > TAG_MAX:
        raise _Refusal(INVALID, f"Invalid tag: at most {TAG_MAX} characters")
    for name in ("noStop", "senderForResponse"):
        _flag(params, name)
    if params.get("from", "").strip() and _flag(params, "senderForResponse"):
        raise _Refusal(INVALID, "Invalid from: not with senderForResponse=1 (replies come to a short number)")
    coding = params.get("smsCoding", "").strip() or params.get("SMSencoding", "").strip()
    if coding not in ("", "1", "2"):
        raise _Refusal(INVALID, "Invalid smsCoding: 1 (7-bit) or 2 (unicode)")
    if coding == "1" and not is_gsm7(params["message"]):
        raise _Refusal(INVALID, "Invalid message: characters outside the GSM 7-bit alphabet with smsCoding=1")
    if params.get("deferred", "").strip():
        parse_deferred(params["deferred"].strip(), utcnow())


FIELDS = {"receivers": "to", "sender": "from", "message": "message", "senderForResponse": "senderForResponse", "serviceName": "account"}
"""The job fields the accept path names in its refusals, by the http2sms parameter that gave them."""


def _in_our_names(reason: str) -> str:
    """A refusal of the accept path (``receivers: …``) as http2sms names it (``Invalid to: …``)."""
    name, sep, rest = reason.partition(": ")
    return f"Invalid {FIELDS[name]}: {rest}" if sep and name in FIELDS else reason


def _allowed(restrictions: list[str] | None, address: str | None) -> bool:
    """The user's ``ipRestrictions`` (addresses or networks) list ``address``; none listed: any address."""
    if not restrictions:
        return True
    try:
        client = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if client.version == 6 and client.ipv4_mapped is not None:
        client = client.ipv4_mapped
    for entry in restrictions:
        try:
            if client in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def _credit_left(db: Database, account_id: int, user_id: int) -> str:
    """The user's quota left when it is active, else the account's credits, as OVH writes them (``1987``)."""
    with db.read() as session:
        user = session.get_one(SmsUser, user_id)
        milli = user.quota_left_milli if user.quota_status == "active" else session.get_one(Account, account_id).credits_milli
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli / 1000:g}"


def send(
    db: Database, guard: PasswordGuard, settings: Settings, params: Mapping[str, str], address: str | None,
    *, concat_for: ConcatFor | None = None,
) -> Reply:
    """Check an http2sms request, the user's password and address, and send it: its :class:`Reply`."""
    try:
        _check(params)
        account_name, login = params["account"].strip(), params["login"].strip()
        with db.read() as session:
            found = session.execute(
                select(Account.id, SmsUser.id, SmsUser.password_hash, SmsUser.ip_restrictions)
                .join(SmsUser, SmsUser.account_id == Account.id)
                .where(Account.service_name == account_name, SmsUser.login == login)
            ).first()
        try:
            right = guard.check(guard_name(account_name, login), address, params["password"], found[2] if found else None)
        except TooManyRequests as exc:
            return Reply(LOCKED, f"Too many failed logins: retry in {exc.retry_after} seconds", retry_after=exc.retry_after)
        if not right or found is None:
            return Reply(REFUSED, BAD_LOGIN)
        account_id, user_id, _, restrictions = found
        if not _allowed(restrictions, address):
            return Reply(REFUSED, f"IP not allowed: {address}")
        req, send_at = _request(params, user_id)
        report = accept(db, account_id, req, settings, actor=f"user {login} (http2sms)", concat_for=concat_for, send_at=send_at)
    except _Refusal as refusal:
        return refusal.reply
    except TextosError as exc:
        return Reply(INVALID, _in_our_names(exc.message))
    if not report.ids:
        return Reply(INVALID, f"Invalid to: {', '.join(report.invalid_receivers) or 'no valid receiver'}")
    return Reply(OK, credit_left=_credit_left(db, account_id, user_id), sms_ids=[str(i) for i in report.ids])
