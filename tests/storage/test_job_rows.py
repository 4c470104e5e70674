"""New job rows (storage/job_rows.py): the plain INSERT stores every column as the ORM reads it back, on both backends."""

from __future__ import annotations

import datetime as dt

from credit_helpers import new_accounts
from textos.storage import job_rows
from textos.storage.models import Job

NOW = dt.datetime(2026, 11, 24, 22, 51, 38, 123456)
COLUMNS = (
    "account_id", "text", "sender", "sender_type", "tag", "priority", "message_class", "no_stop_clause",
    "sender_for_response", "differed_period", "validity_period", "receivers", "credits_milli", "actor", "created_at",
    "batch_id",
)  # fmt: skip


def _job(account_id: int, **changes: object) -> job_rows.NewJob:
    values: dict[str, object] = dict(
        account_id=account_id, text="Łucja 'quoted'\ttab", sender="O'Shop", sender_type="alpha", tag="t\\ag",
        priority="low", message_class="flash", no_stop_clause=True, sender_for_response=False, differed_period=5,
        validity_period=60, receivers=3, credits_milli=4500, actor="ovh:ck", created_at=NOW, batch_id="b-1",
    )  # fmt: skip
    values.update(changes)
    return job_rows.NewJob(**values)  # type: ignore[arg-type]


def test_insert_stores_every_column_and_gives_the_id(db):
    (account,) = new_accounts(db, 10)
    with db.session() as s:
        first = job_rows.insert(s, _job(account.id))
        second = job_rows.insert(s, _job(account.id, message_class=None, batch_id=None, no_stop_clause=False))
        assert first.id and second.id and first.id != second.id
    with db.read() as s:
        for written in (first, second):
            stored = s.get_one(Job, written.id)
            assert [getattr(stored, c) for c in COLUMNS] == [getattr(written, c) for c in COLUMNS]


def test_set_totals_updates_the_row(db):
    (account,) = new_accounts(db, 10)
    with db.session() as s:
        job = job_rows.insert(s, _job(account.id, receivers=0, credits_milli=0))
        job_rows.set_totals(s, job, 7, 7000)
    with db.read() as s:
        stored = s.get_one(Job, job.id)
        assert (stored.receivers, stored.credits_milli) == (7, 7000) == (job.receivers, job.credits_milli)


def test_insert_many_stores_each_job_and_gives_each_its_own_id(db):
    (account,) = new_accounts(db, 10)
    jobs = [_job(account.id, tag=f"t{n}", receivers=n, batch_id=None if n % 2 else "b") for n in range(40)]
    with db.session() as s:
        written = job_rows.insert_many(s, jobs)
    assert len({j.id for j in written}) == 40
    with db.read() as s:
        for job in written:
            stored = s.get_one(Job, job.id)
            assert [getattr(stored, c) for c in COLUMNS] == [getattr(job, c) for c in COLUMNS]
