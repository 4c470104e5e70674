"""STOP opt-outs and the blacklists they fill."""

from __future__ import annotations

from sqlalchemy.orm import Session

from textos.config import Settings
from textos.storage.models import IncomingSms


def on_incoming(session: Session, incoming: IncomingSms, settings: Settings) -> bool:
    """If ``incoming`` is a STOP, blacklist its sender where it applies and tell ``stopCallBack``; True if it was one."""
    return False
