"""http2sms requests (services/http2sms.py): parameters checked before the password, one answer and
one password check whatever is wrong with the login, ``ipRestrictions`` after the password, and a
send through the one accept path recorded as the user's."""

from __future__ import annotations

import datetime as dt

import pytest

from credit_helpers import new_accounts
from textos.config import Settings
from textos.domain.passwords import hash_password
from textos.services import http2sms, password_guard, quotas
from textos.services.http2sms import Reply, parse_deferred
from textos.services.password_guard import PasswordGuard, PasswordLimits
from textos.storage.models import Job, SmsUser

LIMITS = PasswordLimits(name_failures=5, address_failures=20, lockout=60, lockout_max=300)
NOW = dt.datetime(2026, 12, 2, 12, 0)


@pytest.fixture
def world(db):
    account, = new_accounts(db, 10)
    with db.session() as s:
        user = SmsUser(account_id=account.id, login="shop", password_hash=hash_password("Secret42"), ip_restrictions=["192.0.2.0/24"])
        s.add(user)
        s.flush()
        user_id = user.id
    return db, account, user_id


def ask(db, acct, address="192.0.2.5", **changes):
    params = {"account": acct.service_name, "login": "shop", "password": "Secret42", "to": "+33612345678", "message": "hi", **changes}
    params = {k: v for k, v in params.items() if v is not None}
    return http2sms.send(db, PasswordGuard(db, LIMITS), Settings(), params, address)


def test_a_send_is_the_users_job_and_answers_the_credits_left(world):
    db, account, user_id = world
    reply = ask(db, account)
    assert reply.ok and reply.credit_left == "9" and len(reply.sms_ids) == 1
    with db.read() as s:
        job = s.query(Job).one()
        assert job.user_id == user_id and job.actor == "user shop (http2sms)"


def test_an_active_quota_is_the_credit_left_said(world):
    db, account, user_id = world
    with db.session() as s:
        quotas.set_quota(s, account.id, s.get_one(SmsUser, user_id), status="active", left=4.5, actor="test")
    assert ask(db, account).credit_left == "3.5"  # the quota paid the 1-credit SMS


def test_parameters_are_refused_before_any_password_check(world, monkeypatch):
    db, account, _ = world
    checked: list[str] = []
    monkeypatch.setattr(password_guard, "check_password", lambda password, stored: checked.append(stored) or False)
    assert ask(db, account, login=None) == Reply(201, "Missing login")
    assert ask(db, account, noStop="2").status == 202
    assert ask(db, account, **{"from": "Shop", "senderForResponse": "1"}).message.startswith("Invalid from")
    assert checked == []


def test_an_unknown_login_or_account_is_checked_against_the_dummy_hash(world, monkeypatch):
    db, account, _ = world
    checked: list[str] = []
    real = password_guard.check_password
    monkeypatch.setattr(password_guard, "check_password", lambda password, stored: checked.append(stored) or real(password, stored))
    answers = [ask(db, account, login="ghost"), ask(db, account, account="sms-none-1"), ask(db, account, password="wrong")]
    assert answers == [Reply(401, "Invalid account, login or password")] * 3
    dummy = password_guard.dummy_hash()
    assert checked[:2] == [dummy, dummy] and checked[2] != dummy and checked[2].startswith("$argon2id$")


def test_ip_restrictions_are_checked_once_the_password_is_right(world):
    db, account, _ = world
    assert ask(db, account, address="198.51.100.1") == Reply(401, "IP not allowed: 198.51.100.1")
    assert ask(db, account, address="198.51.100.1", password="nope") == Reply(401, "Invalid account, login or password")
    assert ask(db, account, address="::ffff:192.0.2.7").ok  # an IPv4 client on an IPv6 socket
    assert ask(db, account, address=None).status == 401


def test_refusals_of_the_accept_path_are_named_by_their_parameter(world):
    db, account, _ = world
    assert ask(db, account, to="123").message.startswith("Invalid to: no valid receiver")
    assert ask(db, account, message="x" * 2000) == Reply(202, "Not enough credits: 14 needed, creditsLeft is 10")


def test_deferred_is_hhmmddmmyyyy_in_utc():
    assert parse_deferred("143005122026", NOW) == dt.datetime(2026, 12, 5, 14, 30)
    assert parse_deferred("110002122026", NOW) is None  # already past: sent now
    for bad in ("14300512202", "1430051220xx", "246105122026", "000031022027", "000001012028"):
        with pytest.raises(http2sms._Refusal):
            parse_deferred(bad, NOW)
