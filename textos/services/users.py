"""Users of an SMS account (``sms.User``): who they are and how they prove it.

A user has its own sends (``/sms/{s}/users/{login}/…``, http2sms), callbacks, an http2sms
address allow-list and a quota. Passwords are hashed by ``domain.passwords`` (argon2id) and
checked through ``services.password_guard``; the password itself is never stored, returned or logged.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.errors import NotFound
from textos.storage.models import SmsUser

__all__ = ["get_user"]


def get_user(session: Session, account_id: int, login: str) -> SmsUser:
    """The account's user ``login``; 404 naming it otherwise."""
    user = session.scalar(select(SmsUser).where(SmsUser.account_id == account_id, SmsUser.login == login))
    if user is None:
        raise NotFound(f"login: user {login} does not exist")
    return user
