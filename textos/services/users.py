"""Users of an SMS account (``sms.User``): who they are and how they prove it.

A user has its own sends (``/sms/{s}/users/{login}/…``, http2sms), callbacks, an http2sms
address allow-list and a quota. Passwords are hashed with argon2id (``argon2-cffi``, OWASP's
minimum parameters: 19 MiB, 2 passes, 1 lane, so that a login costs the server milliseconds,
not a core); the password itself is never stored, returned or logged.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.errors import NotFound
from textos.storage.models import SmsUser

__all__ = ["DUMMY_HASH", "get_user", "hash_password", "verify_password"]

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

DUMMY_HASH = _HASHER.hash("textos: no such user")
"""Checked against when the login does not exist, so that an unknown login costs the same time."""


def hash_password(password: str) -> str:
    """The argon2id hash to store for ``password``."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (constant time; False for a malformed hash)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def get_user(session: Session, account_id: int, login: str) -> SmsUser:
    """The account's user ``login``; 404 naming it otherwise."""
    user = session.scalar(select(SmsUser).where(SmsUser.account_id == account_id, SmsUser.login == login))
    if user is None:
        raise NotFound(f"login: user {login} does not exist")
    return user
