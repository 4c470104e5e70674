"""Campaign report counts, kept by the statements that write and settle messages.

The one home of what a message adds to its campaign's report (``services.reports``). Each
function that writes message rows or moves their status (``storage.message_rows``,
``storage.messages``, ``storage.receipts``) and the attribution of a reply
(``services.incoming``) hands what its statement did to a :class:`Tally`, which appends one row
per job and metric to ``report_deltas`` with one INSERT: never a row per message, never a
trigger. A message's account, tag and acceptance time are its job's (``message_rows.Shared``),
so a delta names its job only. Claims, requeues and submit results keep a message pending (what
``accepted`` less the final states leaves): they add nothing, but for a message sent in fewer
parts than charged (``credits``).

:func:`fold` (every second, beside the dispatcher) takes the oldest deltas and adds them to
``report_counts``, keyed by what a report selects on: account, tag, batch (``jobs.batch_id``) and
the **hour** the messages were accepted; and to ``report_totals``, the states per account
(``/metrics``). Readers add the counts and the deltas not folded yet in one statement (one
snapshot): exact at every commit, folded or not. A period is read in whole hours
(:func:`whole_hours`).

Metrics: ``accepted``; each final status (``domain.lifecycle.FINAL``); ``ptt:N``, messages in
``ERROR_STATES`` by ptt; ``time:B``, delivered messages by delivery-time bucket
(``domain.delivery_time``, from the ``sent_at`` and ``delivered_at`` stored); ``credits``
(thousandths charged, minus refunds and the difference refunded when sent in fewer parts);
``replies``. A message that moves from one final state to another (a receipt after
``no_receipt``) takes one off its old state and ptt (always ``codes_of(NO_RECEIPT)``'s).

Why appended deltas rather than upserts, and why not triggers: docs/DESIGN.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from textos.domain import delivery_time
from textos.domain.lifecycle import ERROR_STATES, FINAL, MessageStatus
from textos.storage.fastsql import db_time, is_sqlite, literal, read_time, run, run_many

__all__ = ["Counts", "Tally", "counting", "final_by_account", "fold", "read", "replied", "whole_hours"]

log = logging.getLogger("textos.reports")

ACCEPTED, CREDITS, REPLIES = "accepted", "credits", "replies"
_PTT, _TIME = "ptt:", "time:"
_FINAL = tuple(sorted(s.value for s in FINAL))
_ERRORS = frozenset(s.value for s in ERROR_STATES)
_DELIVERED = MessageStatus.DELIVERED.value
_TOTALS = frozenset((*_FINAL, ACCEPTED))
"""Metrics also added up per account (``report_totals``)."""
HOUR = dt.timedelta(hours=1)
_CHUNK = 1000

_INSERT = "INSERT INTO report_deltas (job_id, metric, n) VALUES (?, ?, ?)"


@lru_cache(maxsize=512)
def _metrics(status: str, ptt: int) -> tuple[str, ...]:
    """What a message in ``status`` with ``ptt`` counts in: its final state, and its ptt if that
    state is an error; nothing while it is not final (pending is what is left of ``accepted``)."""
    if status not in _FINAL:
        return ()
    return (status, f"{_PTT}{ptt}") if status in _ERRORS else (status,)


class Tally:
    """What one statement did to its messages, per job and metric; ``write`` appends it."""

    __slots__ = ("_n",)

    def __init__(self) -> None:
        self._n: dict[tuple[int, str], int] = {}

    def _add(self, job_id: int, metric: str, n: int) -> None:
        key = (job_id, metric)
        self._n[key] = self._n.get(key, 0) + n

    def accepted(self, job_id: int, messages: int, credits_milli: int, status: str = MessageStatus.QUEUED.value, ptt: int = 0) -> None:
        """``messages`` new messages of ``job_id``, costing ``credits_milli`` in all, written in ``status``."""
        if not messages:
            return
        self._add(job_id, ACCEPTED, messages)
        self.charged(job_id, credits_milli)
        for metric in _metrics(status, ptt):
            self._add(job_id, metric, messages)

    def moved(
        self, job_id: int, status: str, ptt: int, *, was: tuple[str, int] | None = None, sent_at: Any = None,
        delivered_at: Any = None, n: int = 1,
    ) -> None:
        """``n`` messages of ``job_id`` now in ``status`` with ``ptt``; ``was``: their status and ptt
        before (None: pending). Delivered ones count their delivery time (``sent_at``,
        ``delivered_at`` as stored, read back as the exact reader reads them)."""
        for metric in _metrics(status, ptt):
            self._add(job_id, metric, n)
        if was is not None:
            for metric in _metrics(*was):
                self._add(job_id, metric, -n)
        if status == _DELIVERED:
            self.delivery(job_id, sent_at, delivered_at, n)

    def delivery(self, job_id: int, sent_at: Any, delivered_at: Any, n: int = 1) -> None:
        """``n`` delivered messages' delivery time (its bucket), if both times are known."""
        if sent_at is not None and delivered_at is not None:
            seconds = (read_time(delivered_at) - read_time(sent_at)).total_seconds()  # type: ignore[operator]
            self._add(job_id, f"{_TIME}{delivery_time.bucket_of(seconds)}", n)

    def replies(self, job_id: int, n: int) -> None:
        self._add(job_id, REPLIES, n)

    def charged(self, job_id: int, milli: int) -> None:
        """``milli`` more credits (negative: refunded) for the messages of ``job_id``."""
        if milli:
            self._add(job_id, CREDITS, milli)

    def write(self, session: Session) -> None:
        """Append what was tallied (one statement) and start again."""
        sql, rows = self.take()
        if rows:
            run_many(session, sql, rows)

    def take(self) -> tuple[str, list[tuple[int, str, int]]]:
        """What ``write`` would send (its statement and rows), to send with another statement
        (``fastsql.insert_returning``'s ``along``); the tally starts again."""
        rows = [(job_id, metric, n) for (job_id, metric), n in self._n.items() if n]
        self._n.clear()
        return _INSERT, rows


def counting(chunks: Iterable[list[Any]], job_id: int, tally: Tally, credits_at: int) -> Iterator[list[Any]]:
    """``chunks`` of new rows of job ``job_id`` as they pass, tallied as accepted (their credits in
    column ``credits_at``) once the last has passed."""
    messages = milli = 0
    for chunk in chunks:
        messages += len(chunk)
        milli += sum([row[credits_at] for row in chunk])
        yield chunk
    tally.accepted(job_id, messages, milli)


def replied(session: Session, message_id: int) -> None:
    """An incoming message answers ``message_id``: one more reply for its campaign."""
    run(session, f"INSERT INTO report_deltas (job_id, metric, n) SELECT job_id, {literal(REPLIES)}, 1 FROM messages WHERE id = ?",
        (message_id,)).close()  # fmt: skip


# --------------------------------------------------------------------------- folding

_KEY = "account_id, tag, batch_id, hour, metric"
_TOTAL_METRICS = ", ".join(literal(m) for m in sorted(_TOTALS))
_HOUR = {True: "substr(j.created_at, 1, 13) || ':00:00.000000'", False: "date_trunc('hour', j.created_at)"}
"""A job's ``created_at`` floored to its hour, as ``db_time`` stores it (``_SQLITE_FORMAT`` on SQLite)."""


def _grouped(taken: str, sqlite: bool) -> str:
    """The deltas of ``taken`` (a table or CTE with ``job_id, metric, n``, and ``WHERE``) added up per report key."""
    return (
        f"SELECT j.account_id, COALESCE(j.tag, ''), COALESCE(j.batch_id, ''), {_HOUR[sqlite]}, d.metric, SUM(d.n) "
        f"FROM {taken} GROUP BY j.account_id, COALESCE(j.tag, ''), COALESCE(j.batch_id, ''), {_HOUR[sqlite]}, d.metric "
        "HAVING SUM(d.n) <> 0"
    )


_COUNTS_UPSERT = "ON CONFLICT (account_id, tag, batch_id, hour, metric) DO UPDATE SET n = report_counts.n + excluded.n"
_TOTALS_UPSERT = "ON CONFLICT (account_id, metric) DO UPDATE SET n = report_totals.n + excluded.n"

_SQLITE_LAST = "SELECT MAX(id) FROM (SELECT id FROM report_deltas ORDER BY id LIMIT ?)"
_SQLITE_COUNTS = (
    f"INSERT INTO report_counts ({_KEY}, n) SELECT * FROM ("
    + _grouped("report_deltas d JOIN jobs j ON j.id = d.job_id WHERE d.id <= ?", True)
    + f") WHERE true {_COUNTS_UPSERT}"
)
_SQLITE_TOTALS = (
    f"INSERT INTO report_totals (account_id, metric, n) SELECT j.account_id, d.metric, SUM(d.n) FROM report_deltas d "
    f"JOIN jobs j ON j.id = d.job_id WHERE d.id <= ? AND d.metric IN ({_TOTAL_METRICS}) GROUP BY j.account_id, d.metric "
    f"HAVING SUM(d.n) <> 0 {_TOTALS_UPSERT}"
)
_PG_FOLD = (
    "WITH taken AS (DELETE FROM report_deltas WHERE id IN "
    "(SELECT id FROM report_deltas ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING job_id, metric, n), "
    f"per (account_id, tag, batch_id, hour, metric, n) AS ({_grouped('taken d JOIN jobs j ON j.id = d.job_id', False)}), "
    f"counts AS (INSERT INTO report_counts ({_KEY}, n) SELECT * FROM per ORDER BY {_KEY} {_COUNTS_UPSERT}), "
    f"totals AS (INSERT INTO report_totals (account_id, metric, n) SELECT account_id, metric, SUM(n) FROM per "
    f"WHERE metric IN ({_TOTAL_METRICS}) GROUP BY account_id, metric HAVING SUM(n) <> 0 ORDER BY account_id, metric {_TOTALS_UPSERT}) "
    "SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = taken.job_id)) FROM taken"
)
"""The oldest deltas taken once (another folder, a second dispatcher, skips those being taken) and added
up in one statement; keys are upserted in sorted order (two folders never deadlock)."""


def fold(session: Session, limit: int = 50_000) -> int:
    """Move up to ``limit`` of the oldest deltas into ``report_counts`` and ``report_totals``, added up
    by the database (a few statements, whatever the number of deltas); returns how many were taken."""
    if is_sqlite(session):  # one writer: the deltas up to the last id taken stay as they are meanwhile
        last = run(session, _SQLITE_LAST, (limit,)).fetchone()[0]
        if last is None:
            return 0
        orphans = run(session, "SELECT COUNT(*) FROM report_deltas d WHERE d.id <= ? AND NOT EXISTS "
                               "(SELECT 1 FROM jobs j WHERE j.id = d.job_id)", (last,)).fetchone()[0]
        run(session, _SQLITE_COUNTS, (last,)).close()
        run(session, _SQLITE_TOTALS, (last,)).close()
        taken = run(session, "DELETE FROM report_deltas WHERE id <= ?", (last,)).rowcount
    else:
        taken, orphans = run(session, _PG_FOLD, (limit,)).fetchone()
    if orphans:
        log.error("%d report deltas dropped: their jobs do not exist", orphans)
    return int(taken or 0)


def _floor(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Counts:
    """A scope's counts (``read``)."""

    accepted: int
    final: dict[str, int]
    """Messages per final status (every one present)."""
    errors_by_ptt: dict[int, int]
    delivery_buckets: dict[int, int]
    """Delivered messages per ``domain.delivery_time`` bucket."""
    credits_milli: int
    replies: int


def whole_hours(since: dt.datetime | None, until: dt.datetime | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``[since, until)`` widened to whole hours, the periods the counts are kept for."""
    start = None if since is None else _floor(since)
    end = None if until is None else (until if until == _floor(until) else _floor(until) + HOUR)
    return start, end


def read(
    session: Session, account_id: int, *, tag: str | None = None, batch_id: str | None = None,
    since: dt.datetime | None = None, until: dt.datetime | None = None,
) -> Counts:
    """The counts of the account's messages of ``tag``, ``batch_id`` and accepted in ``[since, until)``
    (each if given; the period in whole hours, ``whole_hours``)."""
    if (since, until) != whole_hours(since, until):
        raise ValueError(f"a period of whole hours, not [{since}, {until})")
    folded, pending = ["account_id = ?"], ["j.account_id = ?"]
    params: list[Any] = [account_id]
    for column, value in (("tag", tag), ("batch_id", batch_id)):
        if value is not None:
            folded.append(f"{column} = ?")
            pending.append(f"j.{column} = ?")
            params.append(value)
    for op, moment in ((">=", since), ("<", until)):
        if moment is not None:
            folded.append(f"hour {op} ?")
            pending.append(f"j.created_at {op} ?")
            params.append(db_time(session, moment))
    sql = (
        f"SELECT metric, SUM(n) FROM (SELECT metric, n FROM report_counts WHERE {' AND '.join(folded)} "
        f"UNION ALL SELECT d.metric, d.n FROM report_deltas d JOIN jobs j ON j.id = d.job_id WHERE {' AND '.join(pending)}"
        ") x GROUP BY metric"
    )
    metrics = {metric: int(n) for metric, n in run(session, sql, params + params).fetchall()}
    return Counts(
        accepted=metrics.get(ACCEPTED, 0),
        final={state: metrics.get(state, 0) for state in _FINAL},
        errors_by_ptt={int(m[len(_PTT):]): n for m, n in metrics.items() if m.startswith(_PTT) and n},
        delivery_buckets={int(m[len(_TIME):]): n for m, n in metrics.items() if m.startswith(_TIME) and n},
        credits_milli=metrics.get(CREDITS, 0),
        replies=metrics.get(REPLIES, 0),
    )


_STATES = ", ".join(literal(s) for s in _FINAL)
_BY_ACCOUNT = (
    "SELECT a.service_name, x.metric, SUM(x.n) FROM ("
    f"SELECT account_id, metric, n FROM report_totals WHERE metric IN ({_STATES}) "
    f"UNION ALL SELECT j.account_id, d.metric, d.n FROM report_deltas d JOIN jobs j ON j.id = d.job_id WHERE d.metric IN ({_STATES})"
    ") x JOIN accounts a ON a.id = x.account_id GROUP BY a.service_name, x.metric"
)


def final_by_account(session: Session) -> list[tuple[str, str, int]]:
    """(service name, final status, messages) per account: ``report_totals`` and the deltas not
    folded yet (a scrape's cost follows the accounts, never the history)."""
    return [(name, state, int(n)) for name, state, n in run(session, _BY_ACCOUNT).fetchall()]
