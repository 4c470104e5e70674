"""New ``messages`` rows: the one place that writes them, as fast as each backend allows.

The messages of a job share most of their columns (account, job, sender, tag,
priority, times, status ``queued``): they are given once, as :class:`Shared`. Each
row brings only its own values, a :data:`Row` tuple in :data:`ROW_COLUMNS` order.

- :func:`insert`: a job of a few thousand rows at most (an API request), one
  ``executemany`` through ``storage.fastsql`` (multi-row ``unnest`` on PostgreSQL).
- :func:`insert_chunks`: a campaign, chunk by chunk, up to millions of rows. SQLite:
  ``executemany`` on the driver's cursor, the shared columns written once into the
  statement as literals, so each row binds only its own seven values straight from
  its tuple. PostgreSQL: ``COPY … FROM STDIN`` in text format, each chunk formatted as
  one block whose shared end is formatted once. The chunks may come from a generator
  that is still producing them (a campaign streamed while it is read).

Both run in the caller's transaction: the job, its debit and its messages commit
together or not at all; the transaction announces its new messages to the dispatchers
when it commits (``storage.wakeups``). Each write also adds its jobs' messages and credits to
their campaign reports (``storage.report_counts``: one row per job, not per message).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from sqlalchemy.orm import Session

from textos.domain.lifecycle import MessageStatus, codes_of
from textos.storage import events
from textos.storage.fastsql import Along, db_time, insert_returning, is_sqlite, literal, marks, run, run_many, time_formatter
from textos.storage.report_counts import Tally, counting
from textos.storage.wakeups import note_new_messages

__all__ = ["ROW_COLUMNS", "Row", "Shared", "insert", "insert_blacklisted", "insert_chunks", "insert_jobs", "job_message_ids",
           "job_message_ids_by_receiver", "job_receivers"]

Row = tuple[str, str, "str | None", str, int, int, int]
"""``(receiver, country, text or None for the job's text, encoding, characters, parts, credits_milli)``."""
ROW_COLUMNS = ("receiver", "country", "text", "encoding", "characters", "parts", "credits_milli")

_STATUS = MessageStatus.QUEUED.value
_PTT, _DLR = (int(code) for code in codes_of(MessageStatus.QUEUED))  # plain ints: written as literals


@dataclass(frozen=True, slots=True)
class Shared:
    """What every message of one job has in common."""

    account_id: int
    job_id: int
    sender: str
    tag: str
    priority: int
    """Rank in the queue (``domain.priority.RANK``)."""
    differed_period: int
    send_at: dt.datetime
    expires_at: dt.datetime
    created_at: dt.datetime


_SHARED_COLUMNS = (
    "account_id", "job_id", "sender", "tag", "priority", "status", "ptt", "dlr", "differed_period",
    "send_at", "expires_at", "created_at", "attempts", "hidden",
)  # fmt: skip


def _shared_values(shared: Shared, time: Callable[[dt.datetime], Any]) -> tuple[Any, ...]:
    """The shared columns' values, in ``_SHARED_COLUMNS`` order."""
    return (
        shared.account_id, shared.job_id, shared.sender, shared.tag, shared.priority, _STATUS, _PTT, _DLR,
        shared.differed_period, time(shared.send_at), time(shared.expires_at), time(shared.created_at), 0, False,
    )  # fmt: skip


# --------------------------------------------------------------------------- small jobs

_BOUND = ("account_id", "job_id", "sender", "tag", "priority", "differed_period", "send_at", "expires_at", "created_at", "hidden")
_INSERT = (
    f"INSERT INTO messages ({', '.join(ROW_COLUMNS + _BOUND)}, status, ptt, dlr, attempts)"
    f" VALUES ({marks(len(ROW_COLUMNS) + len(_BOUND))}, {literal(_STATUS)}, {_PTT}, {_DLR}, 0)"
)
_INSERT_RETURNING = _INSERT + " RETURNING id"


def insert(session: Session, shared: Shared, rows: list[Row]) -> list[int] | None:
    """Write the rows of a small job (an API request's receivers) in the session's transaction.
    A job of one row (the most common request) is written with ``RETURNING`` and its id returned;
    otherwise None (``job_message_ids`` reads them)."""
    note_new_messages(session)
    common = (
        shared.account_id, shared.job_id, shared.sender, shared.tag, shared.priority, shared.differed_period,
        db_time(session, shared.send_at), db_time(session, shared.expires_at), db_time(session, shared.created_at), False,
    )  # fmt: skip
    _tally_accepted(session, [(shared, rows)])
    if len(rows) == 1:
        return [run(session, _INSERT_RETURNING, (*rows[0], *common)).fetchone()[0]]
    run_many(session, _INSERT, [(*row, *common) for row in rows])
    return None


_CREDITS = ROW_COLUMNS.index("credits_milli")  # 6: a Row's last item


def _tally_accepted(session: Session, jobs: list[tuple[Shared, list[Row]]], status: MessageStatus = MessageStatus.QUEUED) -> None:
    """The jobs' new messages and their credits, for their campaign reports (one statement)."""
    _accepted_tally(jobs, status).write(session)


def _accepted_tally(jobs: list[tuple[Shared, list[Row]]], status: MessageStatus = MessageStatus.QUEUED) -> Tally:
    tally = Tally()
    ptt = int(codes_of(status)[0])
    for shared, rows in jobs:
        tally.accepted(shared.job_id, len(rows), sum([row[6] for row in rows]), status.value, ptt)
    return tally


def insert_jobs(session: Session, jobs: list[tuple[Shared, list[Row]]]) -> dict[int, list[int]]:
    """Write the rows of several small jobs with one statement (per chunk), their campaign
    reports' counts with it (one round trip on PostgreSQL); each job's message ids, in the
    order of its rows (ids are handed out in the order rows are written)."""
    note_new_messages(session)
    return _insert_jobs(session, _INSERT, jobs, along=[_accepted_tally(jobs).take()])


def _insert_jobs(
    session: Session, sql: str, jobs: list[tuple[Shared, list[Row]]], *extra: Any, along: Along = (),
) -> dict[int, list[int]]:
    rows: list[tuple[Any, ...]] = []
    at = time_formatter(session)  # a group's jobs share their times: each formatted once
    for shared, job_rows in jobs:
        common = (
            shared.account_id, shared.job_id, shared.sender, shared.tag, shared.priority, shared.differed_period,
            at(shared.send_at), at(shared.expires_at), at(shared.created_at), False,
            *(at(v) if isinstance(v, dt.datetime) else v for v in extra),
        )  # fmt: skip
        rows.extend((*row, *common) for row in job_rows)
    ids: dict[int, list[int]] = {shared.job_id: [] for shared, _ in jobs}
    for message_id, job_id in insert_returning(session, sql, rows, "id, job_id", along=along):
        ids[job_id].append(message_id)
    for found in ids.values():
        found.sort()
    return ids


def job_receivers(session: Session, job_id: int, *, to_send: bool = False) -> list[tuple[int, str]]:
    """``(id, receiver)`` of a job's messages, in the order its rows were written (``to_send``: not
    those refused as blacklisted)."""
    refused = f" AND status <> {literal(MessageStatus.BLACKLISTED.value)}" if to_send else ""
    sql = f"SELECT id, receiver FROM messages WHERE job_id = ?{refused} ORDER BY id"
    return [(row[0], row[1]) for row in run(session, sql, (job_id,)).fetchall()]


_BLACKLISTED = MessageStatus.BLACKLISTED.value
_BL_PTT, _BL_DLR = (int(code) for code in codes_of(MessageStatus.BLACKLISTED))
_INSERT_BLACKLISTED = (
    f"INSERT INTO messages ({', '.join(ROW_COLUMNS + _BOUND)}, settled_at, status, ptt, dlr, attempts)"
    f" VALUES ({marks(len(ROW_COLUMNS) + len(_BOUND) + 1)}, {literal(_BLACKLISTED)}, {_BL_PTT}, {_BL_DLR}, 0)"
)


def insert_blacklisted(session: Session, jobs: list[tuple[Shared, list[Row]]], settled_at: dt.datetime) -> dict[int, list[int]]:
    """Write messages refused because their receiver is blacklisted (``services.blacklists``):
    final at once (status ``blacklisted``, settled ``settled_at``), never queued, so no dispatcher
    is told; noted as changed (``storage.events``: a ``callBack`` hears of them, ptt 23). The rows'
    ``credits_milli`` are what they cost: 0. Each job's ids, as ``insert_jobs``."""
    jobs = [(shared, rows) for shared, rows in jobs if rows]
    ids = _insert_jobs(session, _INSERT_BLACKLISTED, jobs, settled_at, along=[_accepted_tally(jobs, MessageStatus.BLACKLISTED).take()])
    events.changed(session, [i for job_ids in ids.values() for i in job_ids])
    return ids


def job_message_ids(session: Session, job_id: int) -> list[int]:
    """The ids of a job's messages, in the order its rows were written."""
    return [row[0] for row in run(session, "SELECT id FROM messages WHERE job_id = ? ORDER BY id", (job_id,)).fetchall()]


def job_message_ids_by_receiver(session: Session, job_id: int) -> dict[str, int]:
    """A job's message ids by receiver (a job has one message per distinct receiver)."""
    return {receiver: message_id for message_id, receiver in job_receivers(session, job_id)}


# --------------------------------------------------------------------------- campaigns


def insert_chunks(session: Session, shared: Shared, chunks: Iterable[list[Row]]) -> None:
    """Write every chunk of rows in the session's transaction (SQLite ``executemany``, PostgreSQL ``COPY``),
    counted as they pass for the campaign's report."""
    note_new_messages(session)
    tally = Tally()
    _insert_chunks(session, shared, counting(chunks, shared.job_id, tally, _CREDITS))
    tally.write(session)


def _insert_chunks(session: Session, shared: Shared, chunks: Iterable[list[Row]]) -> None:
    raw = session.connection().connection.driver_connection
    assert raw is not None
    if not is_sqlite(session):
        with raw.cursor() as cur, cur.copy(_PG_COPY) as copy:
            block = _pg_block_writer(shared)
            for chunk in chunks:
                copy.write(block(chunk))
        return
    values = _shared_values(shared, lambda moment: db_time(session, moment))
    literals = [_sqlite_literal(v) for v in values]
    cur = raw.cursor()
    try:
        if all(v is not None for v in literals):
            # the columns every row shares are written into the statement once: each row binds
            # only its own 7 values, straight from its tuple (no per-row Python work)
            sql = (
                f"INSERT INTO messages ({', '.join(ROW_COLUMNS + _SHARED_COLUMNS)})"
                f" VALUES ({marks(len(ROW_COLUMNS))}, {', '.join(literals)})"  # type: ignore[arg-type]
            )
            for chunk in chunks:
                cur.executemany(sql, chunk)
            return
        sql = f"INSERT INTO messages ({', '.join(ROW_COLUMNS + _SHARED_COLUMNS)}) VALUES ({marks(len(ROW_COLUMNS) + len(values))})"
        for chunk in chunks:
            cur.executemany(sql, [(*row, *values) for row in chunk])
    finally:
        cur.close()


def _sqlite_literal(value: Any) -> str | None:
    """``value`` as an SQLite literal, or None if it cannot be written safely as one."""
    if value is True or value is False:
        return "1" if value else "0"
    if type(value) is int:
        return str(value)
    if type(value) is str and "\0" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


_PG_ORDER = (
    "receiver", "country", "credits_milli", "text", "encoding", "characters", "parts",
    "account_id", "job_id", "sender", "tag", "priority", "status", "ptt", "dlr", "differed_period",
    "send_at", "expires_at", "created_at", "attempts", "hidden",
)  # fmt: skip
_PG_COPY = f"COPY messages ({', '.join(_PG_ORDER)}) FROM STDIN"


def _pg_text(value: str) -> str:
    """A value in COPY's text format (backslash escapes)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _pg_block_writer(shared: Shared) -> Callable[[list[Row]], str]:
    """Rows of a chunk as one COPY text block: the per-row values, then the columns every
    row of the job shares, formatted once."""
    suffix = "\t".join((
        str(shared.account_id), str(shared.job_id), _pg_text(shared.sender), _pg_text(shared.tag),
        str(shared.priority), _STATUS, str(_PTT), str(_DLR), str(shared.differed_period),
        shared.send_at.isoformat(" "), shared.expires_at.isoformat(" "), shared.created_at.isoformat(" "),
        "0", "f",
    )) + "\n"  # fmt: skip

    null = "\\N"
    ends: dict[tuple[Any, ...], str] = {}  # (encoding, characters, parts) → the row's end

    def block(chunk: list[Row]) -> str:
        if chunk[0][2] is None and chunk[-1][2] is None:  # no mail merge: one text for every row
            enc, chars, parts = chunk[0][3:6]
            if all(row[2] is None and row[3] == enc and row[4] == chars and row[5] == parts for row in chunk):
                key = (enc, chars, parts)
                end = ends.get(key) or ends.setdefault(key, f"\t{null}\t{enc}\t{chars}\t{parts}\t{suffix}")
                return "".join([f"{r}\t{c}\t{cost}{end}" for r, c, _t, _e, _ch, _p, cost in chunk])
        return "".join([
            f"{r}\t{c}\t{cost}\t{null if text is None else _pg_text(text)}\t{enc}\t{chars}\t{parts}\t{suffix}"
            for r, c, text, enc, chars, parts, cost in chunk
        ])  # fmt: skip

    return block
