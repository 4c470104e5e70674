"""Replies: charging an attributed incoming message, and the account's automatic response.

**Charging.** An attributed reply (not a STOP) costs its account ``reply_credits`` (1 by
default, as OVH: "each reply costs at least 1 credit"), one ledger entry of kind ``reply``,
written in the transaction that stores the reply. An account without the credits still gets
the reply: it is stored, shown in ``GET /incoming`` and told to ``cgiUrl`` with ``credits`` 0, and
nothing is debited (the ledger never goes below zero; a reply is never lost nor held back for
money). The log says so.

**Automatic response** (``smsResponse.responseType``):

- ``text``: ``smsResponse.text`` is sent to the replier from the short number the reply came
  to, through the one accept path (``jobs.accept_job``: priced, charged like any message,
  ``noStopClause``, the reply's tag). Refused (no credits left, a disabled account…): not
  sent, logged; the reply itself is kept.
- ``cgi``: an outbox event (``storage.outbox``, kind ``reply``) for ``smsResponse.cgiUrl``,
  with ``id``, ``tag``, ``senderid`` and ``sender`` (the replier), ``shortcode`` (the number it
  was sent to), ``message`` and ``date`` (ISO 8601, UTC); delivered by the callbacks worker.
- ``none`` (or unset): nothing.

``trackingOptions`` and ``trackingDefaultSmsSender`` are stored and shown, not acted upon.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain.clock import iso
from textos.domain.errors import TextosError
from textos.services.jobs import SendRequest, accept_job
from textos.services.recipients import ConcatFor
from textos.storage import ledger, outbox
from textos.storage.models import Account, IncomingSms

__all__ = ["AUTO_ACTOR", "cgi_params", "on_reply"]

log = logging.getLogger("textos.replies")

AUTO_ACTOR = "smsResponse"
"""Who the ledger says sent an automatic text response."""


def on_reply(session: Session, incoming: IncomingSms, settings: Settings, *, concat_for: ConcatFor | None = None) -> None:
    """Charge the reply and answer it as the account's ``smsResponse`` says."""
    if incoming.account_id is None:
        return
    account = session.get_one(Account, incoming.account_id)
    _charge(session, incoming, settings)
    response = account.sms_response or {}
    kind = response.get("responseType") or "none"
    if kind == "text" and response.get("text"):
        _answer(session, account, incoming, response["text"], settings, concat_for)
    elif kind == "cgi" and response.get("cgiUrl"):
        outbox.enqueue(
            session, account_id=account.id, kind="reply", url=response["cgiUrl"], params=cgi_params(incoming),
            order_key=f"incoming:{incoming.id}",
        )


def _charge(session: Session, incoming: IncomingSms, settings: Settings) -> None:
    milli = ledger.to_milli(settings.reply_credits)
    if milli <= 0:
        return
    movement = ledger.Movement(ledger.Kind.REPLY, -milli, reason=f"reply {incoming.id} from {incoming.sender}")
    try:
        ledger.post(session, incoming.account_id, movement)  # type: ignore[arg-type]
    except TextosError as exc:  # not enough credits: kept, shown, not charged
        log.warning("reply %d to account %d kept without charge: %s", incoming.id, incoming.account_id, exc)
        return
    incoming.credits_milli = milli


def _answer(
    session: Session, account: Account, incoming: IncomingSms, text: str, settings: Settings, concat_for: ConcatFor | None,
) -> None:
    req = SendRequest(message=text, receivers=[incoming.sender], reply_from=incoming.receiver, no_stop_clause=True, tag=incoming.tag)
    try:
        with session.begin_nested():
            accept_job(session, account, req, settings, AUTO_ACTOR, concat_for=concat_for)
    except TextosError as exc:
        log.warning("automatic response to reply %d not sent: %s", incoming.id, exc)


def cgi_params(incoming: IncomingSms) -> dict[str, object]:
    """The query parameters ``smsResponse.cgiUrl`` is called with for ``incoming``."""
    return {
        "id": incoming.id,
        "tag": incoming.tag,
        "senderid": incoming.sender,
        "shortcode": incoming.receiver,
        "message": incoming.text,
        "sender": incoming.sender,
        "date": iso(incoming.created_at),
    }
