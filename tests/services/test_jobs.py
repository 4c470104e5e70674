"""The accept path (services/jobs.py): checked, priced per route, debited and queued — all or nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from textos.config import Settings
from textos.delivery.connector import SubmitOutcome, SubmitResult
from textos.domain.encoding import Concatenation
from textos.domain.errors import BadRequest, Forbidden, NotEnoughCredits, NotFound
from textos.domain.lifecycle import MessageStatus
from textos.services import admin, conversations
from textos.services.campaigns import local_source
from textos.services.jobs import Listed, SendRequest, accept, accept_job, accept_listed, get_pending_job, pending_ids, stop_job
from textos.storage import ledger
from textos.storage.messages import claim_due, store_sent
from textos.storage.models import Account, Job, LedgerEntry, Message, Sender

SETTINGS = Settings()
GSM_306 = "a" * 306  # 2 parts of 153 septets (udh8), 3 of 152 (udh16)
UCS2_134 = "я" * 134  # 2 parts of 67 units (udh8), 3 of 66 (udh16)


@pytest.fixture
def account(db) -> Account:
    with db.session() as s:
        admin.create_customer(s, "jb12345-test", "pw")
        return admin.create_account(s, "jb12345-test", 10)


def _send(db, account, receivers, **kw):  # type: ignore[no-untyped-def]
    concat_for = kw.pop("concat_for", None)
    req = SendRequest(message=kw.pop("message", "hi"), receivers=receivers, no_stop_clause=kw.pop("no_stop_clause", True), **kw)
    return accept(db, account.id, req, SETTINGS, actor="test", concat_for=concat_for)


def _written(db, account) -> tuple[float, int, int, list[str]]:  # type: ignore[no-untyped-def]
    """(credits left, jobs, messages, ledger kinds) of the account."""
    with db.read() as s:
        assert ledger.verify(s, account.id)
        left = ledger.to_credits(s.get_one(Account, account.id).credits_milli)
        jobs = s.scalar(select(func.count()).select_from(Job).where(Job.account_id == account.id))
        messages = s.scalar(select(func.count()).select_from(Message).where(Message.account_id == account.id))
        kinds = list(s.scalars(select(LedgerEntry.kind).where(LedgerEntry.account_id == account.id).order_by(LedgerEntry.id)))
    return left, jobs or 0, messages or 0, kinds


def _messages(db, ids: list[int]) -> list[Message]:  # type: ignore[no-untyped-def]
    with db.read() as s:
        return [s.get_one(Message, i) for i in ids]


def test_a_job_is_one_row_one_debit_and_one_queued_message_per_distinct_valid_receiver(db, account):
    report = _send(db, account, ["0612345678", "+33612345678", "garbage", "+33612345679"], tag="t1")
    assert report.valid_receivers == ["+33612345678", "+33612345679"]
    assert report.invalid_receivers == ["garbage"]
    assert report.total_credits_removed == 2.0 and report.tag == "t1"
    assert _written(db, account) == (8.0, 1, 2, ["adjustment", "job_debit"])
    first, second = _messages(db, report.ids)
    assert (first.receiver, first.status, first.ptt, first.dlr, first.credits_milli) == ("+33612345678", MessageStatus.QUEUED.value, 0, 0, 1000)
    assert first.job_id == second.job_id and first.text is None
    with db.read() as s:
        job = s.get_one(Job, first.job_id)
        assert (job.text, job.receivers, job.credits_milli, job.sender, job.actor) == ("hi", 2, 2000, "Textos", "test")


def test_stop_clause_is_part_of_the_text_unless_waived(db, account):
    report = _send(db, account, ["+33612345678"], no_stop_clause=False)
    with db.read() as s:
        assert s.get_one(Job, _messages(db, report.ids)[0].job_id).text == "hi" + SETTINGS.stop_clause


def test_not_enough_credits_debits_nothing_and_writes_nothing(db, account):
    with pytest.raises(NotEnoughCredits):
        _send(db, account, [f"+3361234{i:04d}" for i in range(11)])
    assert _written(db, account) == (10.0, 0, 0, ["adjustment"])


def test_not_enough_credits_for_a_document_writes_nothing_either(db, account, tmp_path):
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("number\n" + "".join(f"+3361234{i:04d}\n" for i in range(11)))
    with pytest.raises(NotEnoughCredits):
        accept(db, account.id, SendRequest(message="hi", no_stop_clause=True), SETTINGS, actor="test", source=local_source(contacts))
    assert _written(db, account) == (10.0, 0, 0, ["adjustment"])


@pytest.mark.parametrize(
    "receivers, field",
    [([], "receivers: at least one receiver"), (["garbage", "123"], "receivers: no valid receiver"), (["+12025550123"], "receivers: no valid receiver")],
)
def test_no_valid_receiver_is_refused(db, account, receivers, field):
    with pytest.raises(BadRequest) as caught:
        _send(db, account, receivers)
    assert caught.value.message.startswith(field)
    assert _written(db, account)[1:3] == (0, 0)


def test_refusals_before_anything_is_written(db, account):
    with pytest.raises(BadRequest, match="message: must not be empty"):
        _send(db, account, ["+33612345678"], message="  ")
    with pytest.raises(BadRequest, match="message: 256 parts"):
        _send(db, account, ["+33612345678"], message="a" * (153 * 255 + 1))
    with db.session() as s:
        s.get_one(Account, account.id).status = "disable"
    with pytest.raises(Forbidden, match="disabled"):
        _send(db, account, ["+33612345678"])
    assert _written(db, account)[1:3] == (0, 0)


def test_a_control_character_is_refused_by_code_point_and_position_before_anything_is_charged(db, account, tmp_path):
    with pytest.raises(BadRequest, match=r"^message: character U\+0007 at position 6 "):
        _send(db, account, ["+33612345678"], message="Hello\x07")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("number\n+33612345678\n")
    with pytest.raises(BadRequest, match=r"^message: character U\+FFFF at position 1 "):  # documents, slots, batches too
        accept(db, account.id, SendRequest(message="\uffffhi"), SETTINGS, actor="test", source=local_source(contacts))
    assert _written(db, account) == (10.0, 0, 0, ["adjustment"])


def test_a_merged_row_with_a_control_character_refuses_the_job_naming_its_row(db, account, tmp_path):
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("number;name\n+33612345678;Anne\n+33612345679;Bo\x1bb\n", encoding="utf-8")
    req = SendRequest(message="Hi #name#", no_stop_clause=True)
    with pytest.raises(BadRequest, match=r"^message: receivers CSV row 3: character U\+001B at position 6 "):
        accept(db, account.id, req, SETTINGS, actor="test", source=local_source(contacts))
    assert _written(db, account) == (10.0, 0, 0, ["adjustment"])


def test_sender_rules(db, account):
    with db.session() as s:
        s.add(Sender(account_id=account.id, sender="Shop", status="enable", type="alpha"))
        s.add(Sender(account_id=account.id, sender="Later", status="waitingValidation", type="alpha"))
    with pytest.raises(BadRequest, match="not a sender of this account"):
        _send(db, account, ["+33612345678"], sender="NotMine")
    with pytest.raises(BadRequest, match="at most 11 characters"):
        _send(db, account, ["+33612345678"], sender="WayTooLongSender")
    with pytest.raises(Forbidden, match="not enabled"):
        _send(db, account, ["+33612345678"], sender="Later")
    with pytest.raises(BadRequest, match="senderForResponse"):
        _send(db, account, ["+33612345678"], sender="Shop", sender_for_response=True)
    assert _messages(db, _send(db, account, ["+33612345678"], sender="Shop").ids)[0].sender == "Shop"
    reply = _send(db, account, ["+33612345679", "+447400123456"], sender_for_response=True)
    assert reply.valid_receivers == ["+33612345679"] and reply.invalid_receivers == ["+447400123456"]  # France only
    assert _messages(db, reply.ids)[0].sender in conversations.pool(SETTINGS)  # a short number of the conversation


@pytest.mark.parametrize("text", [GSM_306, UCS2_134])
def test_each_receiver_is_charged_the_parts_of_its_route(db, account, text):
    udh16_in_france = {"+33": Concatenation.UDH16}

    def concat_for(e164: str) -> Concatenation:
        return udh16_in_france.get(e164[:3], Concatenation.UDH8)

    report = _send(db, account, ["+33612345678", "+447400123456"], message=text, concat_for=concat_for)
    france, uk = _messages(db, report.ids)
    assert (france.parts, france.credits_milli) == (3, 3000)
    assert (uk.parts, uk.credits_milli) == (2, 2000)
    assert report.total_credits_removed == 5.0


@pytest.mark.parametrize("text, udh8, udh16", [(GSM_306, 2, 3), (UCS2_134, 2, 3), ("a" * 160, 1, 1)])
def test_parts_by_concatenation_for_a_document_too(db, account, tmp_path, text, udh8, udh16):
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("number\n+33612345678\n")
    for concat, parts in ((None, udh8), (lambda e164: Concatenation.UDH16, udh16)):
        report = accept(db, account.id, SendRequest(message=text, no_stop_clause=True), SETTINGS, actor="test",
                        source=local_source(contacts), concat_for=concat)
        assert report.total_credits_removed == parts
        assert _messages(db, report.ids)[0].parts == parts


def test_accept_job_runs_in_the_callers_transaction(db, account):
    with pytest.raises(RuntimeError):
        with db.session() as s:
            accept_job(s, s.get_one(Account, account.id), SendRequest(message="hi", receivers=["+33612345678"]), SETTINGS, "test")
            raise RuntimeError("the caller gives up")
    assert _written(db, account) == (10.0, 0, 0, ["adjustment"])


def test_deferred_and_validity_periods(db, account):
    report = _send(db, account, ["+33612345678"], differed_period=10, validity_period=60, priority="low")
    [message] = _messages(db, report.ids)
    with db.read() as s:
        created = s.get_one(Job, message.job_id).created_at
    assert (message.send_at - created).total_seconds() == 600
    assert (message.expires_at - message.send_at).total_seconds() == 3600
    assert (message.differed_period, message.priority) == (10, 2)


# --- after acceptance: pending jobs, one job, stopping one


def test_a_queued_job_is_listed_pending_and_stopping_it_refunds_it(db, account):
    (message_id,) = _send(db, account, ["+33612345678"]).ids
    with db.session() as session:
        assert pending_ids(session, account.id) == [message_id]
        message, job = get_pending_job(session, account.id, message_id)
        assert job.id == message.job_id and message.receiver == "+33612345678"
        stop_job(session, account.id, message_id, actor="test")
    with db.session() as session:
        assert pending_ids(session, account.id) == []
        with pytest.raises(NotFound):
            get_pending_job(session, account.id, message_id)  # a cancelled job no longer exists
    assert _written(db, account)[0] == 10  # refunded


def test_a_job_is_gone_once_handed_to_the_carrier_as_the_pending_list_says(db, account):
    (message_id,) = _send(db, account, ["+33612345678"]).ids
    with db.session() as session:
        claim_due(session, 10, lambda *fields: fields)
    with db.session() as session:
        assert get_pending_job(session, account.id, message_id)[0].status == MessageStatus.SUBMITTING.value  # still pending
        store_sent(session, [SubmitResult(message_id, SubmitOutcome.ACCEPTED, ("c1",))], {message_id: "sim"}, {message_id: 1})
    with db.session() as session:
        assert pending_ids(session, account.id) == []
        with pytest.raises(NotFound, match=f"^id: job {message_id} does not exist"):
            get_pending_job(session, account.id, message_id)
        with pytest.raises(NotFound):
            stop_job(session, account.id, message_id, actor="test")
    assert _written(db, account)[0] == 9  # charged, not refunded


def test_listed_jobs_accepted_together_are_each_checked_priced_and_charged_in_their_order(db, account):
    with db.session() as s:
        other = admin.create_account(s, "jb12345-test", 1)
    def job(receivers, message="hi", **kw):  # type: ignore[no-untyped-def]
        return SendRequest(message=message, receivers=receivers, no_stop_clause=True, **kw)
    with db.session() as s:
        mine, theirs = s.get_one(Account, account.id), s.get_one(Account, other.id)
        outcomes = accept_listed(s, [
            Listed(mine, job(["+33612345678"], tag="a"), "test"),
            Listed(mine, job(["garbage"]), "test"),                                 # no valid receiver
            Listed(theirs, job(["+33612345671", "+33612345672"]), "test"),          # 2 credits, the account has 1
            Listed(mine, job(["+33612345673", "+33612345674", "+33612345675"], message=GSM_306), "test"),  # 6 credits
            Listed(mine, job(["+33612345676"] * 4), "test"),                       # 1 left before: 1 receiver, fits
            Listed(mine, job(["+33612345677", "+33612345669"], message=GSM_306), "test"),  # 4 credits, 2 left
            Listed(theirs, job(["+33612345670"]), "test"),                         # their 1 credit
            Listed(mine, job(["+33612345668"]), "test"),                           # a later, cheaper job still fits
        ], SETTINGS)  # fmt: skip
    first, no_receiver, too_dear, long, dup, broke, last, cheap = outcomes
    assert isinstance(no_receiver, BadRequest) and "receivers" in no_receiver.message
    assert isinstance(too_dear, NotEnoughCredits) and isinstance(broke, NotEnoughCredits)
    assert broke.message == "Not enough credits: 4 needed, creditsLeft is 2"
    assert [r.total_credits_removed for r in (first, long, dup, last, cheap)] == [1.0, 6.0, 1.0, 1.0, 1.0]
    assert first.tag == "a" and long.valid_receivers == ["+33612345673", "+33612345674", "+33612345675"]
    # each job's ids are its own messages, in the order of its receivers
    assert [m.receiver for m in _messages(db, long.ids)] == long.valid_receivers
    assert len({m.job_id for m in _messages(db, long.ids)}) == 1
    assert [m.receiver for m in _messages(db, first.ids + dup.ids + last.ids)] == ["+33612345678", "+33612345676", "+33612345670"]
    left, jobs, messages, kinds = _written(db, account)
    assert (left, jobs, messages, kinds) == (1.0, 4, 6, ["adjustment"] + ["job_debit"] * 4)
    assert _written(db, other)[:3] == (0.0, 1, 1)


def test_accepting_listed_jobs_together_writes_what_accepting_them_one_by_one_writes(db, account):
    with db.session() as s:
        twin = admin.create_account(s, "jb12345-test", 10)
    requests = [SendRequest(message=m, receivers=r, tag=t) for m, r, t in (
        ("hi", ["+33612345678"], "x"), ("é" * 80, ["+33612345679", "+447700900123"], ""), ("hey", ["+33612345670"], "y"),
    )]  # fmt: skip
    with db.session() as s:
        together = accept_listed(s, [Listed(s.get_one(Account, account.id), r, "test") for r in requests], SETTINGS)
    one_by_one = [accept(db, twin.id, r, SETTINGS, actor="test") for r in requests]

    def rows(report):  # type: ignore[no-untyped-def]
        return [(m.receiver, m.country, m.text, m.encoding, m.parts, m.credits_milli, m.tag, m.status) for m in _messages(db, report.ids)]
    for a, b in zip(together, one_by_one):
        assert (a.valid_receivers, a.invalid_receivers, a.total_credits_removed, a.tag) == (
            b.valid_receivers, b.invalid_receivers, b.total_credits_removed, b.tag)
        assert rows(a) == rows(b)
    assert _written(db, account)[0] == _written(db, twin)[0]
