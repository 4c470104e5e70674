"""New ``jobs`` rows, written as plain SQL (``storage.fastsql``): the accept path's hot write.

A job is built as a :class:`NewJob` (every column of ``models.Job`` given, a plain object: the
ORM's instrumented constructor cost about a fifth of accepting a one-receiver job): one
``INSERT … RETURNING id`` writes it, without the ORM's unit of work, and the object gets its id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from operator import attrgetter

from sqlalchemy.orm import Session

from textos.storage.fastsql import db_time, insert_returning, marks, run, time_formatter

__all__ = ["NewJob", "insert", "insert_many", "set_quota_paid", "set_totals"]


@dataclass(slots=True, kw_only=True)
class NewJob:
    """A ``jobs`` row being written (the columns of ``models.Job``); ``id`` once written."""

    account_id: int
    text: str
    sender: str
    sender_type: str
    tag: str
    priority: str
    message_class: str | None
    no_stop_clause: bool
    sender_for_response: bool
    differed_period: int
    validity_period: int
    receivers: int
    credits_milli: int
    actor: str
    created_at: dt.datetime
    batch_id: str | None = None
    user_id: int | None = None
    quota_paid: bool = False
    id: int = 0

_COLUMNS = (
    "account_id", "text", "sender", "sender_type", "tag", "priority", "message_class", "no_stop_clause",
    "sender_for_response", "differed_period", "validity_period", "receivers", "credits_milli", "actor", "batch_id", "user_id",
    "quota_paid",
)  # fmt: skip
_INSERT_MANY = f"INSERT INTO jobs ({', '.join(_COLUMNS)}, created_at) VALUES ({marks(len(_COLUMNS) + 1)})"
_INSERT = _INSERT_MANY + " RETURNING id"


_GET = attrgetter(*_COLUMNS)


def _values(job: NewJob) -> list[object]:
    """The row's values in ``_COLUMNS`` order."""
    values: list[object] = list(_GET(job))
    values[-1] = bool(values[-1])
    return values


def insert(session: Session, job: NewJob) -> NewJob:
    """Write ``job`` (a new object, every column set, not in the session) and give it its id."""
    params = _values(job)
    params.append(db_time(session, job.created_at))
    cur = run(session, _INSERT, params)
    try:
        job.id = cur.fetchone()[0]
    finally:
        cur.close()
    return job


def insert_many(session: Session, jobs: list[NewJob]) -> list[NewJob]:
    """Write several new jobs with one statement and give each its id (ids are handed out in
    the order the rows are written, so the sorted ids follow ``jobs``)."""
    if len(jobs) == 1:
        return [insert(session, jobs[0])]
    at = time_formatter(session)
    rows = [(*_values(job), at(job.created_at)) for job in jobs]
    ids = sorted(row[0] for row in insert_returning(session, _INSERT_MANY, rows, "id"))
    for job, job_id in zip(jobs, ids, strict=True):
        job.id = job_id
    return jobs


def set_totals(session: Session, job: NewJob, receivers: int, credits_milli: int) -> None:
    """A job written while it was priced: its receivers and cost, once known."""
    job.receivers, job.credits_milli = receivers, credits_milli
    run(session, "UPDATE jobs SET receivers = ?, credits_milli = ? WHERE id = ?", (receivers, credits_milli, job.id)).close()


def set_quota_paid(session: Session, job: NewJob) -> None:
    """A job written while it was priced, then paid from its user's quota (``services.quotas``)."""
    job.quota_paid = True
    run(session, "UPDATE jobs SET quota_paid = ? WHERE id = ?", (True, job.id)).close()
