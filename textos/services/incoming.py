"""What an incoming message causes, done in the transaction that stored it.

The dispatcher stores each whole incoming message and, before committing (and before the
SMSC is acknowledged), hands its id to ``handle``: so a message is never stored without
its consequences, nor the reverse. In order:

1. **Attribution**: a message to one of an account's virtual numbers belongs to that
   account (``virtual_numbers``); a message to a short number answers the conversation
   that (sender, short number) identifies for 48 h (``conversations``). Anything else stays
   unattributed: kept for the operator (``textos incoming --unattributed``), never shown to a
   customer.
2. **STOP** (``blacklists``): a STOP keyword blacklists the sender for the account(s) it
   stops, and tells their ``stopCallBack``.
3. **Reply** (``replies``): an attributed message that is not a STOP is charged and answered
   as the account's ``smsResponse`` says (a text from the short number, or its ``cgiUrl``).

A message answering one of the account's messages (a STOP too) counts as a reply in that
message's campaign report (``storage.report_counts``).

Then the account sees it (``services.incoming_history``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from textos.config import Settings
from textos.services import blacklists, conversations, replies, virtual_numbers
from textos.services.recipients import ConcatFor
from textos.storage import report_counts
from textos.storage.models import IncomingSms

__all__ = ["handle"]


def handle(session: Session, incoming_id: int, settings: Settings, concat_for: ConcatFor | None = None) -> None:
    """Attribute, STOP-check and answer the incoming message ``incoming_id`` (in ``session``);
    ``concat_for``: the deployment's concatenation rule, to price an automatic answer."""
    row = session.get(IncomingSms, incoming_id)
    if row is None:
        return
    attributed = virtual_numbers.attribute(session, row, settings.default_region) or conversations.attribute(session, row, settings)
    if row.message_id is not None:
        report_counts.replied(session, row.message_id)
    if blacklists.on_incoming(session, row, settings):
        return
    if attributed:
        replies.on_reply(session, row, settings, concat_for=concat_for)
