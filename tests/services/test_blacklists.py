"""STOPs and blacklists (services/blacklists.py): who a STOP stops, the row and the stopCallBack
event it writes, the API's reads, STOPs per tag, and the accept path refusing commercial
messages to blacklisted numbers (status blacklisted, 0 credits) while others still go."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from textos.config import Settings
from textos.domain.errors import NotFound
from textos.domain.lifecycle import MessageStatus
from textos.services import admin, blacklists
from textos.services.campaigns import local_source
from textos.services.jobs import Listed, SendRequest, accept, accept_listed
from textos.storage import ledger
from textos.storage.models import Account, Blacklist, CallbackEvent, IncomingSms, Job, Message

SETTINGS = Settings()
A_NUMBER, OTHER = "+33612345678", "+33612345679"


@pytest.fixture
def accounts(db) -> tuple[Account, Account, Account]:
    with db.session() as s:
        admin.create_customer(s, "bl12345-test", "pw")
        made = tuple(admin.create_account(s, "bl12345-test", 100) for _ in range(3))
        s.execute(update(Account).where(Account.id == made[0].id).values(stop_callback="http://127.0.0.1:9/stop?k=1"))
        return made  # type: ignore[return-value]


def _send(db, account, receivers, *, commercial=True, tag="", status=MessageStatus.DELIVERED, settings=SETTINGS):  # type: ignore[no-untyped-def]
    req = SendRequest(message="Promo", receivers=receivers, no_stop_clause=not commercial, tag=tag)
    report = accept(db, account.id, req, settings, actor="test")
    if status is not None:
        with db.session() as s:
            s.execute(update(Message).where(Message.id.in_(report.ids), Message.status == "queued").values(status=status.value))
    return report


def _incoming(db, text, *, sender=A_NUMBER, receiver="36111", account_id=None, at=None, settings=SETTINGS) -> bool:  # type: ignore[no-untyped-def]
    with db.session() as s:
        row = IncomingSms(sender=sender, receiver=receiver, text=text, account_id=account_id, created_at=at or dt.datetime.utcnow())
        s.add(row)
        s.flush()
        return blacklists.on_incoming(s, row, settings)


def _rows(db) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return [(r.account_id, r.number, r.tag) for r in s.scalars(select(Blacklist).where(Blacklist.removed_at.is_(None)).order_by(Blacklist.id))]


def _events(db) -> list[CallbackEvent]:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return list(s.scalars(select(CallbackEvent).order_by(CallbackEvent.id)))


# --------------------------------------------------------------------------- who a STOP stops


def test_a_stop_to_the_clause_number_stops_every_account_whose_commercial_message_reached_the_sender(db, accounts):
    first, second, third = accounts
    _send(db, first, [A_NUMBER], tag="spring")
    _send(db, first, [A_NUMBER], tag="summer")  # the last commercial one gives the tag
    _send(db, second, [A_NUMBER], tag="b2")
    _send(db, third, [A_NUMBER], commercial=False, tag="otp")  # not commercial: not stopped
    _send(db, third, [OTHER], tag="other")  # commercial, to someone else
    assert _incoming(db, " Arrêt ! ")
    assert _rows(db) == [(first.id, A_NUMBER, "summer"), (second.id, A_NUMBER, "b2")]


def test_only_messages_that_reached_the_sender_within_the_window_count(db, accounts):
    first, second, third = accounts
    _send(db, first, [A_NUMBER], status=MessageStatus.FAILED)  # never reached
    _send(db, second, [A_NUMBER], status=None)  # still queued
    _send(db, third, [A_NUMBER], status=MessageStatus.NO_RECEIPT)  # may have reached
    later = dt.datetime.utcnow() + dt.timedelta(days=SETTINGS.stop_attribution_days + 1)
    assert _incoming(db, "STOP", at=later)  # a STOP, but too late for any account
    assert _rows(db) == []
    assert _incoming(db, "STOP")
    assert _rows(db) == [(third.id, A_NUMBER, "")]


def test_a_stop_attributed_to_an_account_stops_that_account_only(db, accounts):
    first, second, _ = accounts
    _send(db, first, [A_NUMBER], tag="mine")
    _send(db, second, [A_NUMBER], tag="theirs")
    assert _incoming(db, "stop", receiver="36042", account_id=second.id)  # a conversation's short number
    assert _rows(db) == [(second.id, A_NUMBER, "theirs")]


def test_a_text_that_is_not_a_keyword_or_not_sent_where_stops_go_is_not_a_stop(db, accounts):
    first = accounts[0]
    _send(db, first, [A_NUMBER])
    assert not _incoming(db, "stop sending me that")
    assert not _incoming(db, "STOP", receiver="36999")  # neither the clause's number nor attributed
    assert _rows(db) == [] and _events(db) == []


def test_the_stop_number_follows_the_settings(db, accounts):
    settings = Settings(stop_clause="\nSTOP au 36180")
    _send(db, accounts[0], [A_NUMBER], settings=settings)
    assert not _incoming(db, "STOP", settings=settings)  # 36111 is not the clause's number any more
    assert _incoming(db, "STOP", receiver="+36180", settings=settings)
    assert _rows(db) == [(accounts[0].id, A_NUMBER, "")]


def test_a_new_stop_tells_the_stop_callback_once_and_a_repeated_one_changes_nothing(db, accounts):
    first, second, _ = accounts
    report = _send(db, first, [A_NUMBER], tag="spring")
    _send(db, second, [A_NUMBER])  # no stopCallBack: blacklisted, nobody told
    assert _incoming(db, "STOP")
    assert _incoming(db, "STOP")  # again: already blacklisted
    assert len(_rows(db)) == 2
    (event,) = _events(db)
    assert (event.account_id, event.kind, event.url, event.status) == (first.id, "stop", "http://127.0.0.1:9/stop?k=1", "pending")
    assert event.order_key.startswith("incoming:")
    params = event.params
    assert (params["number"], params["senderid"], params["tag"], params["shortcode"], params["message"]) == (A_NUMBER, A_NUMBER, "spring", "36111", "STOP")
    assert params["smsOutgoingID"] == str(report.ids[0]) and params["batchID"] == "" and params["date"].endswith("+00:00")


def test_a_number_removed_from_the_blacklist_can_be_stopped_again(db, accounts):
    first = accounts[0]
    _send(db, first, [A_NUMBER], tag="t")
    _incoming(db, "STOP")
    with db.session() as s:
        blacklists.remove_blacklist(s, first.id, "0612345678", "FR")  # read as a French number
    assert _rows(db) == []
    _incoming(db, "STOP")
    assert _rows(db) == [(first.id, A_NUMBER, "t")]
    assert len(_events(db)) == 2


# --------------------------------------------------------------------------- API reads


def test_list_get_and_delete(db, accounts):
    first = accounts[0]
    report = _send(db, first, [A_NUMBER, OTHER], tag="t")
    _incoming(db, "STOP")
    _incoming(db, "STOP", sender=OTHER)
    with db.session() as s:
        assert blacklists.list_numbers(s, first.id) == [A_NUMBER, OTHER]
        assert blacklists.list_numbers(s, first.id, sms_outgoing_id=report.ids[1]) == [OTHER]
        assert blacklists.list_numbers(s, first.id, batch_id="6f1e3c1e-0000-4000-8000-000000000000") == []
        view = blacklists.blacklist_view(blacklists.get_blacklist(s, first.id, A_NUMBER, "FR"))
        assert view["number"] == A_NUMBER and view["smsOutgoingID"] == report.ids[0] and view["batchID"] is None
        assert view["dateCreation"].endswith("+00:00")
        with pytest.raises(NotFound, match="number"):
            blacklists.get_blacklist(s, accounts[1].id, A_NUMBER, "FR")  # another account's
        blacklists.remove_blacklist(s, first.id, A_NUMBER, "FR")
    with db.read() as s:
        assert blacklists.list_numbers(s, first.id) == [OTHER]
        with pytest.raises(NotFound):
            blacklists.get_blacklist(s, first.id, A_NUMBER, "FR")


# --------------------------------------------------------------------------- STOPs per tag


def test_stops_per_tag_over_time_keep_removed_entries_and_bucket_by_day_week_month(db, accounts):
    first = accounts[0]
    day = dt.datetime(2026, 11, 2, 10, 0)  # a Monday
    with db.session() as s:
        for number, tag, at in [
            ("+33600000001", "spring", day), ("+33600000002", "spring", day + dt.timedelta(hours=3)),
            ("+33600000003", "summer", day + dt.timedelta(days=1)), ("+33600000004", "spring", day + dt.timedelta(days=8)),
            ("+33600000005", "", day + dt.timedelta(days=40)),
        ]:  # fmt: skip
            s.add(Blacklist(account_id=first.id, number=number, tag=tag, created_at=at))
        s.add(Blacklist(account_id=accounts[1].id, number="+33600000009", tag="spring", created_at=day))
        s.flush()
        s.execute(update(Blacklist).where(Blacklist.number == "+33600000002").values(removed_at=day + dt.timedelta(days=2)))
    with db.read() as s:
        by_day = blacklists.stops_by_tag(s, first.id, day - dt.timedelta(days=1), day + dt.timedelta(days=30))
        assert [(c.start.date().isoformat(), c.tag, c.stops) for c in by_day] == [
            ("2026-11-02", "spring", 2), ("2026-11-03", "summer", 1), ("2026-11-10", "spring", 1),
        ]
        by_week = blacklists.stops_by_tag(s, first.id, day, day + dt.timedelta(days=30), "week")
        assert [(c.start.date().isoformat(), c.tag, c.stops) for c in by_week] == [
            ("2026-11-02", "spring", 2), ("2026-11-02", "summer", 1), ("2026-11-09", "spring", 1),
        ]
        by_month = blacklists.stops_by_tag(s, first.id, day, day + dt.timedelta(days=60), "month")
        assert [(c.start.date().isoformat(), c.tag, c.stops) for c in by_month] == [
            ("2026-11-01", "spring", 3), ("2026-11-01", "summer", 1), ("2026-12-01", "", 1),
        ]
        with pytest.raises(ValueError, match="bucket"):
            blacklists.stops_by_tag(s, first.id, day, day, "year")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the accept path


def _blacklist(db, account, *numbers):  # type: ignore[no-untyped-def]
    with db.session() as s:
        for number in numbers:
            s.add(Blacklist(account_id=account.id, number=number, tag="", created_at=dt.datetime.utcnow()))


def _state(db, account, ids):  # type: ignore[no-untyped-def]
    with db.read() as s:
        assert ledger.verify(s, account.id)
        rows = [s.get_one(Message, i) for i in ids]
        job = s.get_one(Job, rows[0].job_id)
        left = ledger.to_credits(s.get_one(Account, account.id).credits_milli)
        return left, job.credits_milli, [(m.receiver, m.status, m.credits_milli, m.ptt, m.dlr, m.settled_at is not None) for m in rows]


def test_a_commercial_message_to_a_blacklisted_number_is_kept_blacklisted_and_free(db, accounts):
    first = accounts[0]
    _blacklist(db, first, A_NUMBER)
    report = _send(db, first, [A_NUMBER, OTHER], status=None)
    assert report.valid_receivers == [A_NUMBER, OTHER] and report.total_credits_removed == 1.0
    left, job_milli, messages = _state(db, first, report.ids)
    assert left == 99.0 and job_milli == 1000
    assert messages == [(A_NUMBER, "blacklisted", 0, 23, 16, True), (OTHER, "queued", 1000, 0, 0, False)]


def test_a_non_commercial_message_still_goes_and_another_account_is_not_concerned(db, accounts):
    first, second, _ = accounts
    _blacklist(db, first, A_NUMBER)
    otp = _send(db, first, [A_NUMBER], commercial=False, status=None)
    theirs = _send(db, second, [A_NUMBER], status=None)
    assert _state(db, first, otp.ids)[2][0][1] == "queued"
    assert _state(db, second, theirs.ids)[2][0][1] == "queued"


def test_a_group_of_listed_jobs_is_screened_with_one_query_and_only_when_commercial(db, accounts, monkeypatch):
    first, second, _ = accounts
    _blacklist(db, first, A_NUMBER)
    _blacklist(db, second, OTHER)
    calls: list[dict[int, set[str]]] = []
    real = blacklists.Screen.for_accounts.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(blacklists.Screen, "for_accounts", classmethod(lambda cls, s, wanted: calls.append(wanted) or real(cls, s, wanted)))
    with db.session() as s:
        one, two, three = (s.get_one(Account, a.id) for a in (first, second, first))
        reports = accept_listed(s, [
            Listed(one, SendRequest(message="a", receivers=[A_NUMBER, OTHER]), "t"),
            Listed(two, SendRequest(message="b", receivers=[A_NUMBER, OTHER]), "t"),
            Listed(three, SendRequest(message="c", receivers=[A_NUMBER], no_stop_clause=True), "t"),
        ], SETTINGS)  # fmt: skip
    assert calls == [{first.id: {A_NUMBER, OTHER}, second.id: {A_NUMBER, OTHER}}]
    assert [r.total_credits_removed for r in reports] == [1.0, 1.0, 1.0]  # type: ignore[union-attr]
    assert [m[1] for m in _state(db, first, reports[0].ids)[2]] == ["blacklisted", "queued"]  # type: ignore[union-attr]
    assert [m[1] for m in _state(db, second, reports[1].ids)[2]] == ["queued", "blacklisted"]  # type: ignore[union-attr]
    assert [m[1] for m in _state(db, first, reports[2].ids)[2]] == ["queued"]  # type: ignore[union-attr]
    calls.clear()
    with db.session() as s:
        accept_listed(s, [Listed(s.get_one(Account, first.id), SendRequest(message="d", receivers=[A_NUMBER], no_stop_clause=True), "t")], SETTINGS)
    assert calls == []  # nothing commercial: no query


def test_every_receiver_blacklisted_costs_nothing(db, accounts):
    first = accounts[0]
    _blacklist(db, first, A_NUMBER)
    report = _send(db, first, [A_NUMBER], status=None)
    assert report.total_credits_removed == 0.0
    assert _state(db, first, report.ids)[:2] == (100.0, 0)


def test_a_document_is_screened_too(db, accounts, tmp_path: Path):
    with db.session() as s:
        first = admin.create_account(s, "bl12345-test", 3000)
    numbers = [f"+336{n:08d}" for n in range(1, 2501)]
    _blacklist(db, first, numbers[10], numbers[2000])
    csv = tmp_path / "r.csv"
    csv.write_text("number\n" + "\n".join(numbers) + "\n")
    req = SendRequest(message="Promo", tag="doc")
    report = accept(db, first.id, req, SETTINGS, actor="test", source=local_source(str(csv)))
    assert report.total_credits_removed == 2498.0 and len(report.ids) == 2500
    with db.read() as s:
        assert ledger.verify(s, first.id)
        by_status = dict(s.execute(select(Message.status, func.count()).where(Message.account_id == first.id).group_by(Message.status)).all())
        assert by_status == {"queued": 2498, "blacklisted": 2}
        assert set(s.scalars(select(Message.receiver).where(Message.status == "blacklisted"))) == {numbers[10], numbers[2000]}
        assert s.scalar(select(func.sum(Message.credits_milli)).where(Message.account_id == first.id)) == 2_498_000
        assert s.get_one(Job, s.scalar(select(Message.job_id).where(Message.id == report.ids[0]))).credits_milli == 2_498_000
