"""What ``/metrics`` reads from the database at scrape time: small indexed queries only.

Each query reads a partial index of work still to do (``ix_messages_queue``, ``ix_messages_in_flight``,
``ix_messages_awaiting_receipt``, ``ix_callback_events_due``, ``ix_callback_events_failed`` of
migration 0027): its cost follows the backlog, never the history (a campaign of a million
delivered messages costs nothing here).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from textos.domain.clock import utcnow
from textos.storage.fastsql import db_time, read_time, run

PENDING_STATES = ("queued", "submitting", "sent")
"""The message states counted per account: each has its partial index."""


def pending_by_account(session: Session) -> list[tuple[str, str, int]]:
    """(service name, state, messages) for the states still to settle, per account."""
    out: list[tuple[str, str, int]] = []
    for state in PENDING_STATES:
        rows = run(session, pending_sql(state)).fetchall()
        out.extend((name, state, int(n)) for name, n in rows)
    return out


def pending_sql(state: str) -> str:
    """Messages in ``state`` per account. Grouping on ``+account_id``, not the bare column: SQLite would
    otherwise walk ``ix_messages_account_tag`` (every message, 0.3 s at 1M) to skip a sort, instead of
    the state's partial index (the backlog only)."""
    return (
        f"SELECT a.service_name, c.n FROM (SELECT +account_id AS account_id, COUNT(*) AS n FROM messages "
        f"WHERE status = '{state}' GROUP BY 1) c JOIN accounts a ON a.id = c.account_id"
    )


def queue(session: Session, now: dt.datetime | None = None) -> tuple[int, float]:
    """(messages queued and due, seconds the longest-due of them has waited; 0 when none)."""
    now = now or utcnow()
    count, oldest = run(
        session, "SELECT COUNT(*), MIN(send_at) FROM messages WHERE status = 'queued' AND send_at <= ?", (db_time(session, now),)
    ).fetchone()
    return int(count), _age(now, oldest)


def awaiting_receipts(session: Session, now: dt.datetime | None = None) -> tuple[int, float]:
    """(messages sent and waiting for their receipt, seconds the longest has waited; 0 when none)."""
    now = now or utcnow()
    count, oldest = run(session, "SELECT COUNT(*), MIN(sent_at) FROM messages WHERE status = 'sent'").fetchone()
    return int(count), _age(now, oldest)


def callbacks_by_host(session: Session) -> list[tuple[str, str, int]]:
    """(host, status, events) for the callbacks still pending and those given up (failed)."""
    rows = run(
        session,
        "SELECT host, 'pending', COUNT(*) FROM callback_events WHERE status = 'pending' GROUP BY host "
        "UNION ALL SELECT host, 'failed', COUNT(*) FROM callback_events WHERE status = 'failed' GROUP BY host",
    ).fetchall()
    return [(host, status, int(n)) for host, status, n in rows]


def reachable(session: Session) -> bool:
    """True when the database answers a trivial query."""
    return run(session, "SELECT 1").fetchone() is not None


def _age(now: dt.datetime, oldest: object) -> float:
    moment = read_time(oldest)
    if moment is None:
        return 0.0
    if moment.tzinfo is not None:
        moment = moment.replace(tzinfo=None)
    return max(0.0, (now.replace(tzinfo=None) - moment).total_seconds())
