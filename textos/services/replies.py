"""Replies: charging an attributed incoming message, and the account's automatic response."""

from __future__ import annotations

from sqlalchemy.orm import Session

from textos.config import Settings
from textos.storage.models import IncomingSms


def on_reply(session: Session, incoming: IncomingSms, settings: Settings) -> None:
    """Charge the reply and answer it as the account's ``smsResponse`` says."""
