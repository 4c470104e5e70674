"""Dashboard logins: who is behind a browser, server-side.

A login (a customer's nic and password, or an operator's) goes through
``PasswordGuard.check`` like every password of Textos, then gets a session row: the cookie
carries a random token, the row its SHA-256, the session's CSRF token (the synchronizer
token every form carries) and its expiry. Logging out deletes the row, so the cookie stops
working on every process at once. Operators' names are counted by the guard as
``operator:<login>``, apart from customers' nics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select

from textos.domain.clock import utcnow
from textos.services import operators
from textos.services.password_guard import PasswordGuard
from textos.storage.db import Database
from textos.storage.models import Customer, DashboardSession, Operator

CUSTOMER, OPERATOR = "customer", "operator"


@dataclass(frozen=True)
class Who:
    """The person behind a session."""

    kind: str
    """``customer`` or ``operator``."""
    id: int
    name: str
    """The customer's nic or the operator's login."""
    csrf: str

    @property
    def operator(self) -> bool:
        return self.kind == OPERATOR


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens (none given never matches)."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def log_in(db: Database, guard: PasswordGuard, kind: str, name: str, password: str, address: str | None, *,
           hours: float) -> str | None:
    """A new session's cookie token, or None for a wrong name or password (``TooManyRequests`` while locked out)."""
    with db.read() as session:
        if kind == OPERATOR:
            row: Customer | Operator | None = operators.find(session, name)
        else:
            row = session.scalar(select(Customer).where(Customer.nic == name))
        stored = row.password_hash if row is not None else None
        row_id = row.id if row is not None else None
    guarded = f"operator:{name}" if kind == OPERATOR else name
    if not guard.check(guarded, address, password, stored) or row_id is None:
        return None
    token = new_token()
    now = utcnow()
    with db.session() as session:
        session.execute(delete(DashboardSession).where(DashboardSession.expires_at <= now))
        session.add(DashboardSession(
            token_digest=_digest(token), customer_id=row_id if kind == CUSTOMER else None,
            operator_id=row_id if kind == OPERATOR else None, csrf_token=new_token(),
            created_at=now, expires_at=now + dt.timedelta(hours=hours),
        ))
    return token


def who(db: Database, token: str | None) -> Who | None:
    """The live session of this cookie token, or None (none, unknown, or expired)."""
    if not token:
        return None
    with db.read() as session:
        row = session.get(DashboardSession, _digest(token))
        if row is None or row.expires_at <= utcnow():
            return None
        if row.operator_id is not None:
            op = session.get(Operator, row.operator_id)
            return None if op is None else Who(OPERATOR, op.id, op.login, row.csrf_token)
        customer = session.get(Customer, row.customer_id)
        return None if customer is None else Who(CUSTOMER, customer.id, customer.nic, row.csrf_token)


def log_out(db: Database, token: str | None) -> None:
    if token:
        with db.session() as session:
            session.execute(delete(DashboardSession).where(DashboardSession.token_digest == _digest(token)))
