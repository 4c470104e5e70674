"""Users' quotas (services/quotas.py, storage/quota_rows.py, the accept path): credits held from
the account, sends paid from them exactly, refunds back where they came from, alerts once per crossing."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from credit_helpers import balances, new_accounts
from textos.config import Settings
from textos.domain.errors import BadRequest, NotEnoughCredits
from textos.services import quotas, users
from textos.services.campaigns import local_source
from textos.services.jobs import Listed, SendRequest, accept, accept_listed, stop_job
from textos.storage.models import Account, Job, Message, SmsUser

SETTINGS = Settings()


def _user(db, account, login="alice", **quota):  # type: ignore[no-untyped-def]
    with db.session() as s:
        user = users.create_user(s, account.id, login, "Abcd1234")
        if quota:
            quotas.set_quota(s, account.id, user, status=quota.get("status", "active"), left=quota.get("left"), actor="test")
        return user.id


def _quota(db, user_id):  # type: ignore[no-untyped-def]
    with db.read() as s:
        user = s.get_one(SmsUser, user_id)
        return user.quota_status, user.quota_left_milli / 1000


def _send(db, account, user_id, receivers, **kw):  # type: ignore[no-untyped-def]
    req = SendRequest(message="hi", receivers=receivers, no_stop_clause=True, user_id=user_id, **kw)
    return accept(db, account.id, req, SETTINGS, actor="test")


def test_an_active_quota_is_held_from_the_account_and_set_directly(db):
    (account,) = new_accounts(db, 200)
    user_id = _user(db, account, left=150)
    assert balances(db, [account]) == [(50_000, 150_000)]
    with db.session() as s:  # lowered: the rest goes back
        quotas.set_quota(s, account.id, s.get_one(SmsUser, user_id), status=None, left=40, actor="test")
    assert balances(db, [account]) == [(160_000, 40_000)] and _quota(db, user_id) == ("active", 40)
    with db.session() as s, pytest.raises(NotEnoughCredits, match="quotaInformations.quotaLeft"):
        quotas.set_quota(s, account.id, s.get_one(SmsUser, user_id), status=None, left=500, actor="test")
    assert balances(db, [account]) == [(160_000, 40_000)]
    with db.session() as s:  # deactivated: all of it goes back
        quotas.set_quota(s, account.id, s.get_one(SmsUser, user_id), status="inactive", left=None, actor="test")
    assert balances(db, [account]) == [(200_000, 0)] and _quota(db, user_id) == ("inactive", 0)
    with db.session() as s, pytest.raises(BadRequest, match="quotaInformations.quotaLeft"):
        quotas.set_quota(s, account.id, s.get_one(SmsUser, user_id), status="inactive", left=5, actor="test")


def test_a_users_job_is_paid_from_its_quota_and_refused_once_it_is_used_up(db):
    (account,) = new_accounts(db, 100)
    user_id = _user(db, account, left=3)
    report = _send(db, account, user_id, ["+33612345678", "+33612345679"])
    assert report.total_credits_removed == 2
    assert _quota(db, user_id) == ("active", 1) and balances(db, [account]) == [(97_000, 1_000)]
    with pytest.raises(NotEnoughCredits, match="quotaLeft is 1"):
        _send(db, account, user_id, ["+33612345670", "+33612345671"])
    assert _quota(db, user_id) == ("active", 1) and balances(db, [account]) == [(97_000, 1_000)]
    with db.read() as s:
        assert s.scalar(select(Job.quota_paid).where(Job.user_id == user_id)) is True


def test_a_user_without_an_active_quota_is_paid_for_by_the_account(db):
    (account,) = new_accounts(db, 10)
    user_id = _user(db, account)
    _send(db, account, user_id, ["+33612345678"])
    assert balances(db, [account]) == [(9_000, 0)]
    with db.read() as s:
        assert s.scalar(select(Job.quota_paid).where(Job.user_id == user_id)) is False


def test_a_grouped_accept_pays_each_users_job_from_its_quota_in_order(db):
    (account,) = new_accounts(db, 10)
    alice, bob = _user(db, account, "alice", left=2), _user(db, account, "bob")
    with db.session() as s:
        acc = s.get_one(Account, account.id)
        outcomes = accept_listed(s, [
            Listed(acc, SendRequest(message="hi", receivers=[f"+3361234567{i}"], no_stop_clause=True, user_id=alice), "a")
            for i in range(3)
        ] + [Listed(acc, SendRequest(message="hi", receivers=["+33612345600"], no_stop_clause=True, user_id=bob), "b")], SETTINGS)  # fmt: skip
    assert [type(o).__name__ for o in outcomes] == ["SendingReport", "SendingReport", "NotEnoughCredits", "SendingReport"]
    assert _quota(db, alice) == ("active", 0) and balances(db, [account]) == [(7_000, 0)]


def test_a_document_job_of_a_user_is_paid_from_its_quota(db, tmp_path):
    (account,) = new_accounts(db, 10)
    user_id = _user(db, account, left=5)
    path = tmp_path / "r.csv"
    path.write_text("+33612345678\n+33612345679\n")
    req = SendRequest(message="hi", no_stop_clause=True, user_id=user_id)
    accept(db, account.id, req, SETTINGS, actor="test", source=local_source(str(path)))
    assert _quota(db, user_id) == ("active", 3) and balances(db, [account]) == [(5_000, 3_000)]


def test_refunds_go_back_to_the_quota_while_it_is_active_else_to_the_account(db):
    (account,) = new_accounts(db, 10)
    user_id = _user(db, account, left=5)
    ids = _send(db, account, user_id, ["+33612345678", "+33612345679"], differed_period=60).ids
    with db.session() as s:
        stop_job(s, account.id, ids[0], actor="test", user_id=user_id)
    assert _quota(db, user_id) == ("active", 4) and balances(db, [account]) == [(5_000, 4_000)]
    with db.session() as s:
        quotas.set_quota(s, account.id, s.get_one(SmsUser, user_id), status="inactive", left=None, actor="test")
        stop_job(s, account.id, ids[1], actor="test", user_id=user_id)
    assert _quota(db, user_id) == ("inactive", 0) and balances(db, [account]) == [(10_000, 0)]


def test_the_alert_fires_once_per_crossing_and_its_sms_is_charged_to_the_account(db):
    (account,) = new_accounts(db, 20)
    user_id = _user(db, account)
    with db.session() as s:
        user = s.get_one(SmsUser, user_id)
        user.alert_threshold, user.alert_support, user.alert_number = 3, "sms", "+33600000001"
        quotas.set_quota(s, account.id, user, status="active", left=5, actor="test")
    for i in range(4):  # 5 → 4 → 3 → 2 (crossed) → 1
        _send(db, account, user_id, [f"+3361234567{i}"])

    def alerts():
        with db.read() as s:
            return list(s.scalars(select(Job.text).join(Message, Job.id == Message.job_id)
                                  .where(Message.receiver == "+33600000001", Job.account_id == account.id)))  # fmt: skip

    assert len(alerts()) == 1 and "down to 2 credits" in alerts()[0]
    assert balances(db, [account]) == [(14_000, 1_000)]  # 15 free, 1 for the alert
    with db.session() as s:  # raised above the threshold: armed again
        quotas.set_quota(s, account.id, s.get_one(SmsUser, user_id), status=None, left=4, actor="test")
    _send(db, account, user_id, ["+33612345670"])
    assert len(alerts()) == 1
    _send(db, account, user_id, ["+33612345671"])
    assert len(alerts()) == 2


class _Sink:
    """A local SMTP server (aiosmtpd) on 127.0.0.1 keeping what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp_sink():  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # a free port (aiosmtpd's controller checks it by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, f"smtp://127.0.0.1:{port}?from=alerts@textos.test"
    finally:
        controller.stop()


def test_the_email_alert_is_sent_once_per_crossing_after_the_commit(db, smtp_sink):
    from helpers import wait_until

    sink, url = smtp_sink
    settings = Settings(smtp_url=url)
    (account,) = new_accounts(db, 20)
    user_id = _user(db, account)
    with db.session() as s:
        user = s.get_one(SmsUser, user_id)
        user.alert_threshold, user.alert_support, user.alert_email = 2, "mail", "ops@example.com"
        quotas.set_quota(s, account.id, user, status="active", left=3, actor="test")
    for i in range(3):  # 3 → 2 → 1 (crossed) → 0
        accept(db, account.id, SendRequest(message="hi", receivers=[f"+3361234567{i}"], no_stop_clause=True, user_id=user_id),
               settings, actor="test")  # fmt: skip
    wait_until(lambda: len(sink.messages) >= 1, timeout=10)
    with pytest.raises(NotEnoughCredits):  # refused: nothing crosses, nothing is sent
        accept(db, account.id, SendRequest(message="hi", receivers=["+33612345600"], no_stop_clause=True, user_id=user_id),
               settings, actor="test")  # fmt: skip
    sender, rcpts, content = sink.messages[0]
    assert (sender, rcpts) == ("alerts@textos.test", ["ops@example.com"])
    assert "alice" in content and "down to 1 credits" in content and "Abcd1234" not in content
    assert balances(db, [account]) == [(17_000, 0)]  # an email costs nothing
    with db.session() as s:  # a rolled-back crossing sends nothing
        user = s.get_one(SmsUser, user_id)
        quotas.set_quota(s, account.id, user, status=None, left=3, actor="test")
    with pytest.raises(RuntimeError), db.session() as s:
        accept_listed(s, [Listed(s.get_one(Account, account.id), SendRequest(
            message="hi", receivers=["+33612345601", "+33612345602"], no_stop_clause=True, user_id=user_id), "t")], settings)
        raise RuntimeError("rolled back")
    accept(db, account.id, SendRequest(message="hi", receivers=["+33612345603", "+33612345604"], no_stop_clause=True, user_id=user_id),
           settings, actor="test")  # fmt: skip
    wait_until(lambda: len(sink.messages) >= 2, timeout=10)
    assert len(sink.messages) == 2
