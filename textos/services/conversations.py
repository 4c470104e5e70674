"""Conversations: (receiver, short number) pairs that route replies to the message they answer."""

from __future__ import annotations

from sqlalchemy.orm import Session

from textos.config import Settings
from textos.storage.models import IncomingSms


def attribute(session: Session, incoming: IncomingSms, settings: Settings) -> bool:
    """Give ``incoming`` to the account, tag and message of the conversation it answers; False if none."""
    return False
