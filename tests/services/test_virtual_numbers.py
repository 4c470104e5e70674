"""Virtual numbers: assigned by the operator to one account, sent from without registering a
sender, and every message to one is the account's incoming message (no time limit)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from credit_helpers import new_accounts
from textos.config import Settings
from textos.domain.errors import BadRequest, Conflict, NotFound
from textos.services import batches, incoming, incoming_history, jobs, outgoing, virtual_numbers
from textos.services.jobs import SendRequest
from textos.storage.models import Account, IncomingSms, Job, Message


@pytest.fixture
def two_accounts(db):
    """A session (committed at the end of the test) and two accounts of two customers, with 10 credits each."""
    (first,), (second,) = new_accounts(db, 10), new_accounts(db, 10)
    with db.session() as s:
        yield s, s.get(Account, first.id), s.get(Account, second.id)


def test_a_number_is_stored_in_e164_once_for_one_account(two_accounts):
    s, account, other = two_accounts
    row = virtual_numbers.assign(s, account, "0033 6 12 34 56 78")
    assert (row.number, virtual_numbers.view(row)) == ("+33612345678", {"countryCode": "fr", "number": "+33612345678"})
    with pytest.raises(Conflict, match=rf"number: \+33612345678 is already assigned to {account.service_name}"):
        virtual_numbers.assign(s, other, "+33612345678")
    with pytest.raises(BadRequest, match="number: '123' is not a valid phone number"):
        virtual_numbers.assign(s, other, "123")
    with pytest.raises(BadRequest, match=r"\+12025550123 is in US; virtual numbers are in BE, CH, DE, ES, FR, GB"):
        virtual_numbers.assign(s, other, "+12025550123")
    assert virtual_numbers.view(virtual_numbers.assign(s, other, "+447400123456"))["countryCode"] == "uk"
    assert virtual_numbers.account_numbers(s, account.id) == ["+33612345678"]
    assert [(r.number, name) for r, name in virtual_numbers.listing(s)] == [
        ("+33612345678", account.service_name), ("+447400123456", other.service_name)]


def test_a_number_is_found_written_any_way_and_only_on_its_account(two_accounts):
    s, account, other = two_accounts
    virtual_numbers.assign(s, account, "+33612345678")
    for written in ("+33612345678", "0033612345678", "33612345678", "0612345678"):
        assert virtual_numbers.owned(s, account.id, written).number == "+33612345678"
    for customer_side in (lambda: virtual_numbers.owned(s, other.id, "+33612345678"),
                          lambda: virtual_numbers.customer_number(s, other.customer_id, "+33612345678"),
                          lambda: virtual_numbers.owned(s, account.id, "garbage")):
        with pytest.raises(NotFound):
            customer_side()
    assert virtual_numbers.customer_numbers(s, account.customer_id) == ["+33612345678"]
    assert virtual_numbers.customer_numbers(s, other.customer_id) == []


def test_removing_a_number_frees_it(two_accounts):
    s, account, other = two_accounts
    virtual_numbers.assign(s, account, "+33612345678")
    assert virtual_numbers.remove(s, "33612345678") == ("+33612345678", account.service_name)
    with pytest.raises(NotFound, match=r"\+33612345678 is not assigned to any account"):
        virtual_numbers.remove(s, "+33612345678")
    assert virtual_numbers.assign(s, other, "+33612345678").account_id == other.id


def _incoming(s, receiver: str, *, sender: str = "+33699887766", days_ago: int = 0) -> IncomingSms:
    row = IncomingSms(sender=sender, receiver=receiver, text="hello", created_at=dt.datetime(2026, 1, 1) - dt.timedelta(days=days_ago))
    s.add(row)
    s.flush()
    return row


def test_a_message_to_a_virtual_number_is_incoming_on_its_account_however_old_the_last_one(two_accounts):
    s, account, _other = two_accounts
    virtual_numbers.assign(s, account, "+33612345678")
    for receiver in ("33612345678", "+33612345678", "0612345678"):  # how SMSCs give the address (TON 1 without +, …)
        row = _incoming(s, receiver, days_ago=400)
        row.tag = "stale"
        assert virtual_numbers.attribute(s, row) is True
        assert (row.account_id, row.tag, row.receiver) == (account.id, "", "+33612345678")
    stranger = _incoming(s, "33612345679")
    short = _incoming(s, "36111")
    assert virtual_numbers.attribute(s, stranger) is False and virtual_numbers.attribute(s, short) is False
    assert (stranger.account_id, stranger.receiver, short.account_id) == (None, "33612345679", None)


def test_the_incoming_pipeline_attributes_it_first_reading_national_numbers_of_the_default_region(two_accounts):
    s, account, _other = two_accounts
    virtual_numbers.assign(s, account, "+32470123456")
    national = _incoming(s, "0470123456")
    incoming.handle(s, national.id, Settings())
    assert national.account_id is None  # read as French: no such number
    incoming.handle(s, national.id, Settings(default_region="BE"))
    assert (national.account_id, national.receiver) == (account.id, "+32470123456")


def test_the_number_s_incoming_is_the_account_s_narrowed_to_it(two_accounts):
    s, account, _other = two_accounts
    virtual_numbers.assign(s, account, "+33612345678")
    on_number = _incoming(s, "33612345678", sender="+33699887766")
    virtual_numbers.attribute(s, on_number)
    elsewhere = _incoming(s, "36000", sender="+33699887766")
    elsewhere.account_id, elsewhere.tag = account.id, "promo"  # as a conversation would attribute it
    s.flush()
    anyone = incoming_history.IncomingFilter()
    assert incoming_history.incoming_ids(s, account.id, anyone, "FR") == [on_number.id, elsewhere.id]
    assert incoming_history.incoming_ids(s, account.id, anyone, "FR", receiver="+33612345678") == [on_number.id]
    by_sender = incoming_history.IncomingFilter(sender="0699887766")
    assert incoming_history.incoming_ids(s, account.id, by_sender, "FR", receiver="+33612345678") == [on_number.id]
    assert incoming_history.incoming_ids(s, account.id, incoming_history.IncomingFilter(tag="promo"), "FR") == [elsewhere.id]
    with pytest.raises(NotFound):
        incoming_history.get_incoming(s, account.id, elsewhere.id, receiver="+33612345678")
    assert incoming_history.incoming_view(incoming_history.get_incoming(s, account.id, on_number.id)) == {
        "creationDatetime": "2026-01-01T00:00:00+00:00", "credits": 0.0, "id": on_number.id, "message": "hello",
        "sender": "+33699887766", "tag": ""}
    incoming_history.hide_incoming(s, account.id, on_number.id, receiver="+33612345678")
    assert incoming_history.incoming_ids(s, account.id, anyone, "FR") == [elsewhere.id]


def test_a_job_from_a_virtual_number_needs_no_registered_sender_and_is_sent_as_virtual(two_accounts):
    s, account, other = two_accounts
    virtual_numbers.assign(s, account, "+33612345678")
    req = SendRequest(message="hi", receivers=["+33611111111"], no_stop_clause=True, virtual_number="+33612345678")
    report = jobs.accept_job(s, account, req, Settings(), "test")
    message = s.get_one(Message, report.ids[0])
    job = s.get_one(Job, message.job_id)
    assert (message.sender, job.sender, job.sender_type, job.text) == ("+33612345678", "+33612345678", "virtual", "hi")
    assert jobs.pending_ids(s, account.id, sender="+33612345678") == report.ids
    assert jobs.pending_ids(s, account.id, sender="+33612345670") == []
    with pytest.raises(NotFound):
        jobs.get_pending_job(s, account.id, report.ids[0], sender="+33612345670")
    with pytest.raises(NotFound, match="not a virtual number of this account"):
        jobs.accept_job(s, other, req, Settings(), "test")
    with pytest.raises(BadRequest, match="sender: a job sent from a virtual number has no other sender"):
        jobs.accept_job(s, account, SendRequest(message="hi", receivers=["+33611111111"], sender="Shop", virtual_number="+33612345678"),
                        Settings(), "test")
    jobs.stop_job(s, account.id, report.ids[0], actor="test", sender="+33612345678")
    assert s.scalar(select(Message.status).where(Message.id == report.ids[0])) == "cancelled"
    assert batches.new_batch(s, account, req, "from a document").sender == "+33612345678"  # a document's job is a batch: it shows the number


def test_the_number_s_outgoing_filter_keeps_the_account_s_filters_and_adds_the_sender():
    where = outgoing.OutgoingFilter(tag="t", ptt=5)
    assert virtual_numbers.narrowed(where, "+33612345678") == outgoing.OutgoingFilter(tag="t", ptt=5, sender="+33612345678")
    assert virtual_numbers.narrowed(outgoing.OutgoingFilter(sender="+33612345678"), "+33612345678") is not None
    assert virtual_numbers.narrowed(outgoing.OutgoingFilter(sender="Shop"), "+33612345678") is None
