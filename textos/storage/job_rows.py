"""New ``jobs`` rows, written as plain SQL (``storage.fastsql``): the accept path's hot write.

A job is built as a :class:`~textos.storage.models.Job` object (every column given) but
not added to the session: one ``INSERT … RETURNING id`` writes it, without the ORM's
unit of work, and the object gets its id.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from textos.storage.fastsql import db_time, insert_returning, marks, run
from textos.storage.models import Job

__all__ = ["insert", "insert_many", "set_quota_paid", "set_totals"]

_COLUMNS = (
    "account_id", "text", "sender", "sender_type", "tag", "priority", "message_class", "no_stop_clause",
    "sender_for_response", "differed_period", "validity_period", "receivers", "credits_milli", "actor", "batch_id", "user_id",
    "quota_paid",
)  # fmt: skip
_INSERT_MANY = f"INSERT INTO jobs ({', '.join(_COLUMNS)}, created_at) VALUES ({marks(len(_COLUMNS) + 1)})"
_INSERT = _INSERT_MANY + " RETURNING id"


def _values(job: Job) -> list[object]:
    """The row's values in ``_COLUMNS`` order (``quota_paid`` unset: False, the column's default)."""
    values: list[object] = [getattr(job, column) for column in _COLUMNS]
    values[-1] = bool(values[-1])
    return values


def insert(session: Session, job: Job) -> Job:
    """Write ``job`` (a new object, every column set, not in the session) and give it its id."""
    params = _values(job)
    params.append(db_time(session, job.created_at))
    cur = run(session, _INSERT, params)
    try:
        job.id = cur.fetchone()[0]
    finally:
        cur.close()
    return job


def insert_many(session: Session, jobs: list[Job]) -> list[Job]:
    """Write several new jobs with one statement and give each its id (ids are handed out in
    the order the rows are written, so the sorted ids follow ``jobs``)."""
    if len(jobs) == 1:
        return [insert(session, jobs[0])]
    rows = [(*_values(job), db_time(session, job.created_at)) for job in jobs]
    ids = sorted(row[0] for row in insert_returning(session, _INSERT_MANY, rows, "id"))
    for job, job_id in zip(jobs, ids, strict=True):
        job.id = job_id
    return jobs


def set_totals(session: Session, job: Job, receivers: int, credits_milli: int) -> None:
    """A job written while it was priced: its receivers and cost, once known."""
    job.receivers, job.credits_milli = receivers, credits_milli
    run(session, "UPDATE jobs SET receivers = ?, credits_milli = ? WHERE id = ?", (receivers, credits_milli, job.id)).close()


def set_quota_paid(session: Session, job: Job) -> None:
    """A job written while it was priced, then paid from its user's quota (``services.quotas``)."""
    job.quota_paid = True
    run(session, "UPDATE jobs SET quota_paid = ? WHERE id = ?", (True, job.id)).close()
