"""Operators of the dashboard (``textos admin create``): a login and a password, nothing else.

An operator sees every account, confirms orders and validates senders in ``/dashboard``; it
is not a customer and has no API keys."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.errors import BadRequest, Conflict
from textos.services.admin import hash_password, random_token
from textos.storage.models import Operator

MIN_PASSWORD = 12
"""An operator sees every account: its password is at least this long."""


def create_operator(session: Session, login: str, password: str | None = None) -> tuple[Operator, str]:
    """A new operator; returns it with its password (generated when not given)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@-]{1,62}", login):
        raise BadRequest("login: letters, digits, '.', '_', '@' and '-' only, 2 to 63 characters")
    if session.scalar(select(Operator).where(Operator.login == login)) is not None:
        raise Conflict(f"login: operator {login!r} already exists")
    if password is not None and len(password) < MIN_PASSWORD:
        raise BadRequest(f"password: at least {MIN_PASSWORD} characters")
    password = password or random_token(20)
    operator = Operator(login=login, password_hash=hash_password(password))
    session.add(operator)
    session.flush()
    return operator, password


def find(session: Session, login: str) -> Operator | None:
    return session.scalar(select(Operator).where(Operator.login == login))
