"""Dashboard logins: through the password guard, stored as digests, ended by logout or expiry;
operators and customers are two namespaces."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from textos.domain.errors import TooManyRequests
from textos.services import admin, dashboard_sessions as sessions, operators
from textos.services.password_guard import PasswordGuard, PasswordLimits
from textos.storage.models import DashboardSession


@pytest.fixture
def guard(db) -> PasswordGuard:
    return PasswordGuard(db, PasswordLimits(name_failures=3, address_failures=100, lockout=60, lockout_max=60))


@pytest.fixture
def people(db) -> None:
    with db.session() as session:
        admin.create_customer(session, "same-name", "customer-password")
        operators.create_operator(session, "same-name", "operator-password")


def test_a_login_gives_a_session_whose_token_is_stored_only_as_a_digest(db, guard, people):
    token = sessions.log_in(db, guard, sessions.CUSTOMER, "same-name", "customer-password", "127.0.0.1", hours=1)
    assert token is not None
    who = sessions.who(db, token)
    assert who is not None and (who.kind, who.name, who.operator) == ("customer", "same-name", False) and len(who.csrf) >= 40
    with db.read() as session:
        (row,) = session.scalars(select(DashboardSession))
        assert token not in row.token_digest and row.csrf_token == who.csrf
    sessions.log_out(db, token)
    assert sessions.who(db, token) is None


def test_customers_and_operators_are_apart(db, guard, people):
    assert sessions.log_in(db, guard, sessions.OPERATOR, "same-name", "customer-password", None, hours=1) is None
    assert sessions.log_in(db, guard, sessions.CUSTOMER, "same-name", "operator-password", None, hours=1) is None
    token = sessions.log_in(db, guard, sessions.OPERATOR, "same-name", "operator-password", None, hours=1)
    who = sessions.who(db, token)
    assert who is not None and who.operator


def test_an_expired_session_is_no_session(db, guard, people):
    token = sessions.log_in(db, guard, sessions.CUSTOMER, "same-name", "customer-password", None, hours=1)
    with db.session() as session:
        session.execute(update(DashboardSession).values(expires_at=dt.datetime(2000, 1, 1)))
    assert sessions.who(db, token) is None
    assert sessions.who(db, "made-up") is None and sessions.who(db, None) is None


def test_guessing_locks_the_name_out(db, guard, people):
    for _ in range(3):
        assert sessions.log_in(db, guard, sessions.CUSTOMER, "same-name", "guess", "10.0.0.1", hours=1) is None
    with pytest.raises(TooManyRequests):
        sessions.log_in(db, guard, sessions.CUSTOMER, "same-name", "customer-password", "10.0.0.1", hours=1)


def test_csrf_tokens_compare_in_constant_time_and_none_never_matches():
    assert sessions.tokens_match("abc", "abc")
    assert not sessions.tokens_match("abc", "abd") and not sessions.tokens_match("abc", None) and not sessions.tokens_match("abc", "")
