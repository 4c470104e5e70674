"""The consumption export (services/exports.py) and its documents (services/me_documents.py):
written in bounded pieces that add up to the whole CSV, served back piece by piece, expiring."""

from __future__ import annotations

import datetime as dt

import pytest

from textos.domain.clock import utcnow
from textos.domain.errors import NotFound
from textos.services import admin, consumption, exports, me_documents
from textos.storage.models import Account, Job, Message

T0 = dt.datetime(2026, 11, 20, 10, 0, 0)


@pytest.fixture
def account(db) -> Account:
    with db.session() as s:
        admin.create_customer(s, "ex12345-test", "pw")
        return admin.create_account(s, "ex12345-test", 10)


def _messages(db, account: Account, count: int) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        job = Job(account_id=account.id, text="x" * 100, sender="Shop", sender_type="alpha", tag="t")
        s.add(job)
        s.flush()
        s.add_all(Message(account_id=account.id, job_id=job.id, receiver=f"+3361{i:07d}", country="FR", sender="Shop", tag="t",
                          encoding="7bit", characters=100, parts=1, credits_milli=1000, status="delivered", ptt=4, dlr=1,
                          send_at=T0, created_at=T0 + dt.timedelta(seconds=i)) for i in range(count))


def test_an_export_comes_in_pieces_of_about_the_chunk_size_that_make_up_the_whole_csv(db, account):
    _messages(db, account, 300)
    with db.read() as s:
        pieces = list(exports.csv_chunks(s, account.id, exports.ExportFilter(way=exports.WayType.OUTGOING), chunk_bytes=4096))
    text = b"".join(pieces).decode()
    assert len(pieces) > 5 and all(len(p) < 4096 + 400 for p in pieces)  # a piece: the chunk size and one row at most
    lines = text.splitlines()
    assert lines[0] == ";".join(exports.OUTGOING_COLUMNS) and len(lines) == 301
    assert lines[1].split(";", 1)[1] == '2026-11-20 10:00:00;"Shop";+33610000000;4;;"Success";"t";"' + "x" * 100 + '";;'


def test_a_document_is_written_served_in_pieces_and_gone_once_expired(db, account):
    with db.session() as s:
        document = me_documents.create(s, account.customer_id, account.id, "a.csv", ttl_hours=1)
        doc_id, token = document.id, document.get_token
    assert me_documents.open_download(db, token) is None  # not written yet
    assert me_documents.write(db, doc_id, [b"abc", b"", b"def"]) == 6
    found = me_documents.open_download(db, token)
    assert found is not None and b"".join(found[1]) == b"abcdef"
    with db.read() as s:
        view = me_documents.document_view(me_documents.get_document(s, account.customer_id, doc_id), "https://sms.example")
    assert view["size"] == 6 and view["getUrl"] == f"https://sms.example/1.0/download/{token}"
    with db.session() as s:
        s.get_one(type(document), doc_id).expires_at = utcnow() - dt.timedelta(seconds=1)
    assert me_documents.open_download(db, token) is None
    with db.read() as s, pytest.raises(NotFound):
        me_documents.get_document(s, account.customer_id, doc_id)
    with db.session() as s:  # the next document sweeps the expired one away, pieces included
        me_documents.create(s, account.customer_id, account.id, "b.csv", ttl_hours=1)
    with db.read() as s:
        assert s.get(type(document), doc_id) is None


def test_a_month_is_from_its_first_day_to_the_next_months():
    assert consumption.month_period("2026-12") == (dt.datetime(2026, 12, 1), dt.datetime(2027, 1, 1))
    assert consumption.month_period("2026-02") == (dt.datetime(2026, 2, 1), dt.datetime(2026, 3, 1))
    with pytest.raises(Exception, match="month"):
        consumption.month_period("2026-13")
