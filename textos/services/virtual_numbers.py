"""Virtual numbers: dedicated long numbers of an account, for two-way conversations."""

from __future__ import annotations

from sqlalchemy.orm import Session

from textos.storage.models import IncomingSms


def attribute(session: Session, incoming: IncomingSms) -> bool:
    """Give ``incoming`` to the account whose virtual number it was sent to; False if none."""
    return False
