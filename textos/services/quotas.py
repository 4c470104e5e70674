"""Users' quotas (``sms.Quota``) and their alerts (``sms.AlertThreshold``).

**Holding.** An active quota is credits taken out of the account's free credits and held for the
user (``ledger.hold_for_quota``: give 150 of 200 credits, the account keeps 50). ``PUT`` of
``quotaInformations`` sets the new ``quotaLeft`` directly: raising it holds the difference (refused
with nothing changed if the account's free credits are short), lowering it or deactivating the
quota releases the rest to the account (``ledger.release_quota``). Deleting a user releases it too.

**Paying.** A job sent as a user (``SendRequest.user_id``) whose quota is active is paid from it,
in the one accept path (``services.jobs``: ``accept_listed`` for listed receivers, the accept
writer's groups and the on-the-fly path included; ``_charge`` for documents): one conditional
update takes its whole cost from the quota (``storage.quota_rows.consume``), or the job is refused
(``NotEnoughCredits`` naming ``quotaLeft``: the user is blocked once its quota is used up). The
ledger records it as a ``quota_release`` of the cost (held → free) and the job's debit (free →
spent), so the account's free credits do not move and ``ledger.verify`` still holds. A job of a user
without an active quota is paid by the account's free credits, as any job.

**Refunds** of a message paid from a quota go back to that quota while it is active (a refund
and a ``quota_hold``, ``storage.quota_rows.refund_movements``); otherwise to the account's free
credits (the quota was released meanwhile: its credits are the account's again).

**Alerts.** A consumption taking ``quotaLeft`` below ``alertThreshold`` sends the alert once (the
user's ``alert_armed`` is cleared in the same transaction); a ``PUT`` leaving ``quotaLeft`` at or
above the threshold arms it again. ``support`` ``sms`` or ``both``: an SMS to ``alertNumber``
through the one accept path, in the same transaction, charged to the account's free credits (not
the quota; if the account cannot pay it, it is logged and not sent). ``mail`` or ``both``: an email
to ``alertEmail`` through ``smtp_url``, sent after the transaction commits (a thread; a failure is
logged, never retried).
"""

from __future__ import annotations

import logging
import smtplib
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import event
from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain.errors import BadRequest, NotEnoughCredits
from textos.domain.pricing import MILLI, to_credits
from textos.storage import ledger, quota_rows
from textos.storage.models import Account, SmsUser

__all__ = ["ACTIVE", "INACTIVE", "Alert", "alerts_for", "pay", "release_all", "send_email", "set_quota"]

log = logging.getLogger("textos.quotas")

ACTIVE = quota_rows.ACTIVE
INACTIVE = "inactive"
_EMAILS = "textos.quota_emails"


def set_quota(session: Session, account_id: int, user: SmsUser, *, status: str | None, left: float | None, actor: str) -> None:
    """``PUT`` of ``quotaInformations``: the new status and ``quotaLeft`` (credits, set directly);
    holds or releases the difference through the ledger."""
    if status is not None and status not in (ACTIVE, INACTIVE):
        raise BadRequest("quotaInformations.quotaStatus: must be active or inactive")
    quota_rows.lock_account(session, account_id)
    session.flush()  # the user's other changes first: the refresh below reads the row under lock
    session.refresh(user, with_for_update={"key_share": True} if session.get_bind().dialect.name != "sqlite" else None)
    status = status or user.quota_status
    if left is not None and (left < 0 or left != left):
        raise BadRequest("quotaInformations.quotaLeft: must be zero or more")
    if status == INACTIVE:
        if left:
            raise BadRequest("quotaInformations.quotaLeft: an inactive quota holds nothing (set quotaStatus to active)")
        new_milli = 0
    else:
        new_milli = ledger.to_milli(left) if left is not None else user.quota_left_milli
    old_milli = user.quota_left_milli if user.quota_status == ACTIVE else 0
    delta = new_milli - old_milli
    reason = f"quota of user {user.login}: {to_credits(old_milli):g} -> {to_credits(new_milli):g}"
    if delta > 0:
        try:
            ledger.hold_for_quota(session, account_id, delta, actor=actor, reason=reason)
        except NotEnoughCredits as exc:
            raise NotEnoughCredits(f"quotaInformations.quotaLeft: {exc.message}") from None
    elif delta < 0:
        ledger.release_quota(session, account_id, -delta, actor=actor, reason=reason)
    user.quota_status = status
    user.quota_left_milli = new_milli
    if new_milli >= user.alert_threshold * MILLI:
        user.alert_armed = True
    session.flush()


def release_all(session: Session, account_id: int, user: SmsUser, *, actor: str) -> None:
    """Deactivate the user's quota, its rest back to the account (a user being deleted)."""
    set_quota(session, account_id, user, status=INACTIVE, left=0, actor=actor)


@dataclass(frozen=True)
class Alert:
    """A crossing of a user's alert threshold: what to send, where."""

    account_id: int
    service_name: str
    login: str
    left_milli: int
    threshold: int
    support: str
    email: str
    number: str

    @property
    def text(self) -> str:
        return (
            f"Textos: the SMS quota of user {self.login} ({self.service_name}) is down to "
            f"{to_credits(self.left_milli):g} credits (alert threshold {self.threshold})."
        )


def pay(session: Session, user_id: int, milli: int) -> quota_rows.Consumed | None:
    """Pay ``milli`` from the user's quota if it is active (None: the account pays);
    ``NotEnoughCredits`` naming ``quotaLeft`` if it is active and too low (nothing taken)."""
    consumed = quota_rows.consume(session, user_id, milli)
    if consumed is None:
        status, left = quota_rows.quota_status(session, user_id)
        if status == ACTIVE:
            raise NotEnoughCredits(
                f"quotaInformations.quotaLeft: the user's quota is used up ({to_credits(milli):g} needed, "
                f"quotaLeft is {to_credits(left):g})"
            )
    return consumed


def quota_movements(job_id: int, milli: int, *, actor: str, messages: int) -> list[ledger.Movement]:
    """A job paid from a quota in the ledger: its cost released from the held credits, then debited."""
    return [
        ledger.Movement(ledger.Kind.QUOTA_RELEASE, milli, actor=actor, reason=f"job {job_id}: paid from its user's quota", job_id=job_id),
        ledger.job_debit(job_id, milli, actor=actor, messages=messages),
    ]


def alerts_for(session: Session, account: Account, crossed: list[quota_rows.Consumed]) -> list[Alert]:
    """The alerts of the users whose quota crossed its threshold in this transaction."""
    out = []
    for c in crossed:
        user = session.get_one(SmsUser, c.user_id)
        out.append(Alert(account.id, account.service_name, user.login, c.left_milli, user.alert_threshold, user.alert_support,
                         user.alert_email, user.alert_number))  # fmt: skip
    return out


def send_alerts(session: Session, alerts: list[Alert], settings: Settings, send_sms: Callable[[Alert], None]) -> None:
    """Send each alert: its SMS now, through ``send_sms`` (the accept path, in this transaction),
    its email once the transaction has committed."""
    for alert in alerts:
        if alert.support in ("sms", "both") and alert.number:
            send_sms(alert)
        if alert.support in ("mail", "both") and alert.email:
            pending = session.info.setdefault(_EMAILS, [])
            if not pending:
                event.listen(session, "after_commit", lambda s: _mail_after_commit(s, settings), once=True)
                event.listen(session, "after_rollback", lambda s: s.info.pop(_EMAILS, None), once=True)
            pending.append(alert)


def _mail_after_commit(session: Session, settings: Settings) -> None:
    for alert in session.info.pop(_EMAILS, []):
        threading.Thread(target=send_email, args=(settings, alert), name="textos-quota-mail", daemon=True).start()


def send_email(settings: Settings, alert: Alert) -> bool:
    """Send one alert by email through ``smtp_url``; False (logged) when it could not be sent."""
    if not settings.smtp_url:
        log.warning("quota alert for user %s of %s not emailed: smtp_url is not set", alert.login, alert.service_name)
        return False
    url = urlsplit(settings.smtp_url)
    query = parse_qs(url.query)
    message = EmailMessage()
    message["From"] = query.get("from", ["textos@localhost"])[0]
    message["To"] = alert.email
    message["Subject"] = f"SMS quota alert: {alert.login} ({alert.service_name})"
    message.set_content(alert.text)
    try:
        port = url.port or (465 if url.scheme == "smtps" else 25)
        factory = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
        with factory(url.hostname or "127.0.0.1", port, timeout=30) as smtp:
            if query.get("starttls", ["0"])[0] in ("1", "true", "yes"):
                smtp.starttls()
            if url.username:
                smtp.login(unquote(url.username), unquote(url.password or ""))
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        log.warning("quota alert for user %s of %s: email to its alertEmail failed", alert.login, alert.service_name, exc_info=True)
        return False
    return True
