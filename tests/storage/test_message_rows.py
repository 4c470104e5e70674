"""New message rows (storage/message_rows.py): the small-job and the campaign writers store the same rows, on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from textos.domain.lifecycle import MessageStatus, codes_of
from textos.storage import message_rows
from textos.storage.message_rows import Row, Shared
from textos.storage.models import Message

NOW = dt.datetime(2026, 11, 24, 22, 51, 38, 123456)
ROWS: list[Row] = [
    ("+33612345678", "FR", None, "7bits", 2, 1, 1000),
    ("+33612345679", "FR", "tab\there, newline\nthere, CR\r, back\\slash", "7bits", 40, 1, 1000),
    ("+447400123456", "GB", "Łucja 'quoted' \"double\" 😀", "unicode", 26, 1, 2500),
    ("+33612345680", "FR", "x" * 200, "7bits", 200, 2, 2000),
]


def _shared(job_id: int, sender: str = "O'Shop\t1", tag: str = "tag\\with'\"quotes") -> Shared:
    return Shared(
        account_id=7, job_id=job_id, sender=sender, tag=tag, priority=2, differed_period=10,
        send_at=NOW + dt.timedelta(minutes=10), expires_at=NOW + dt.timedelta(minutes=70), created_at=NOW,
    )


def _stored(db, job_id: int) -> list[tuple]:  # type: ignore[no-untyped-def, type-arg]
    with db.read() as s:
        return [
            (m.receiver, m.country, m.text, m.encoding, m.characters, m.parts, m.credits_milli, m.account_id, m.sender, m.tag,
             m.priority, m.status, m.ptt, m.dlr, m.differed_period, m.send_at, m.expires_at, m.created_at, m.attempts, m.hidden)
            for m in s.scalars(select(Message).where(Message.job_id == job_id).order_by(Message.id))
        ]


def test_both_writers_store_the_same_rows(db):
    with db.session() as s:
        message_rows.insert(s, _shared(1), ROWS)
        message_rows.insert_chunks(s, _shared(2), iter([ROWS[:2], ROWS[2:]]))
    small, campaign = _stored(db, 1), _stored(db, 2)
    assert small == campaign
    ptt, dlr = codes_of(MessageStatus.QUEUED)
    assert [row[:7] for row in small] == ROWS
    assert small[0][7:] == (
        7, "O'Shop\t1", "tag\\with'\"quotes", 2, MessageStatus.QUEUED.value, ptt, dlr, 10,
        NOW + dt.timedelta(minutes=10), NOW + dt.timedelta(minutes=70), NOW, 0, False,
    )


def test_ids_follow_the_order_rows_were_written(db):
    with db.session() as s:
        message_rows.insert_chunks(s, _shared(3), iter([ROWS]))
        ids = message_rows.job_message_ids(s, 3)
    assert len(ids) == len(ROWS) and ids == sorted(ids)
    with db.read() as s:
        assert [s.get_one(Message, i).receiver for i in ids] == [r[0] for r in ROWS]


def test_sqlite_binds_shared_values_it_cannot_write_as_literals(db):
    if not db.is_sqlite:
        pytest.skip("PostgreSQL text cannot hold NUL at all")
    with db.session() as s:
        message_rows.insert_chunks(s, _shared(4, sender="nul\0sender"), iter([ROWS]))
    stored = _stored(db, 4)
    assert [row[8] for row in stored] == ["nul\0sender"] * len(ROWS)
    assert [row[:7] for row in stored] == ROWS


def test_nothing_is_kept_when_the_transaction_rolls_back(db):
    with pytest.raises(RuntimeError):
        with db.session() as s:
            message_rows.insert_chunks(s, _shared(5), iter([ROWS]))
            raise RuntimeError("the job was refused")
    assert _stored(db, 5) == []


def test_several_jobs_written_together_store_what_each_written_alone_stores(db):
    many = [(n, f"+3361234{n:04d}") for n in range(2500)]  # more rows than one SQLite statement may bind
    big: list[Row] = [(receiver, "FR", None, "7bits", 2, 1, 1000) for _, receiver in many]
    with db.session() as s:
        message_rows.insert(s, _shared(10), ROWS)
        ids = message_rows.insert_jobs(s, [(_shared(11), ROWS), (_shared(12), ROWS[2:3]), (_shared(13), big)])
    assert _stored(db, 11) == _stored(db, 10)
    assert set(ids) == {11, 12, 13} and len(ids[12]) == 1 and len(ids[13]) == len(big)
    with db.read() as s:
        for job_id, rows in ((11, ROWS), (12, ROWS[2:3]), (13, big)):
            assert [s.get_one(Message, i).receiver for i in ids[job_id]] == [r[0] for r in rows]
            assert {s.get_one(Message, i).job_id for i in ids[job_id][:50]} == {job_id}
