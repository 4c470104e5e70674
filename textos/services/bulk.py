"""Bulk sending: campaigns from CSV documents, receiver slots, mail merge, batches.

A campaign goes through two phases:

1. **Prepare** (no write lock held): the receivers document is fetched to a
   temporary file (``textos.bulk.fetch``), read as a stream
   (``textos.bulk.receivers_csv``), each number normalised (``FastReceivers``),
   filtered by allowed countries, deduplicated (``numbers_fast.dedupe``), and
   each message rendered (mail merge), encoded, counted and priced. Prepared
   rows are pickled in chunks to a spool file, so memory stays bounded.
   Any refusal (bad URL, bad CSV, missing merge column, empty value) happens
   here, before anything is written or charged.
2. **Commit** (one short transaction): the job row, the ledger debit of the
   whole cost, the message rows (SQLite: ``executemany`` in chunks on the raw
   connection, the values every row shares written once into the statement) — all
   or nothing.

   On PostgreSQL both phases overlap (``_stream_campaign``): one transaction is
   opened first and each prepared chunk is sent at once with ``COPY`` (text format,
   preformatted blocks) while the next is prepared, so the server's insert work
   (rows, indexes, foreign-key checks) runs on another core; the debit and the
   job's totals are written when preparing is done. A refusal rolls everything
   back: nothing is kept or charged, exactly as in two phases (rows not committed
   are visible to no one; on SQLite this would hold the write lock, hence two phases).

Progress is kept on a ``batches`` row updated in its own small transactions
while preparing (``processedRecords``/``totalRecords``, ``status``).

Report size: ``SmsSendingReport.ids`` and ``validReceivers`` are complete up to
``REPORT_LIMIT`` (10,000) receivers; above, both are empty and the campaign is
followed through its batch (``GET /batches/{id}``, ``GET /outgoing?batchID=``).
``invalidReceivers`` lists at most ``REPORT_LIMIT`` entries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import math
import os
import pickle
import queue
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from textos.bulk.fetch import FetchError, FetchLimits, fetch_to_file
from textos.bulk.merge import MergeError, Template, find_placeholders
from textos.bulk.receivers_csv import CsvError, read_receivers
from textos.config import Settings
from textos.domain.numbers import INVALID, FastReceivers, InvalidReceiver
from textos.storage import ledger
from textos.domain.errors import BadRequest, Conflict, Forbidden, NotFound, TextosError
from textos.storage.messages import close_unsent
from textos.services.sending import (
    PRIORITY_RANK,
    SendingReport,
    SendRequest,
    compose_text,
    describe_text,
    resolve_sender,
)
from textos.storage.db import Database
from textos.storage.models import Account, Job, Message, utcnow
from textos.storage.models_bulk import Batch, ReceiverSlot

log = logging.getLogger("textos.bulk")

REPORT_LIMIT = 10_000
CHUNK = 20_000
SLOTS = range(1, 10)  # the control panel offers 9 contact lists
SLOT_MAX_BYTES = 100 * 1024 * 1024
PROGRESS_EVERY = 0.5  # seconds between progress writes

PENDING_STATUSES = ("queued", "submitting")
FAILED_STATUSES = ("failed", "rejected", "expired")


# --------------------------------------------------------------------------- sources


@dataclass
class Source:
    """Where the receivers come from: exactly one of the fields."""

    receivers: list[str] | None = None
    document_url: str | None = None
    slot_id: int | None = None
    csv_path: str | None = None

    @property
    def field(self) -> str:
        if self.document_url is not None:
            return "receiversDocumentUrl"
        if self.slot_id is not None:
            return "receiversSlotId"
        if self.csv_path is not None:
            return "csv"
        return "receivers"


def fetch_limits(settings: Settings, max_bytes: int | None = None) -> FetchLimits:
    timeout = float(settings.fetch_timeout)
    return FetchLimits(
        max_bytes=max_bytes or settings.bulk_max_bytes,
        total_timeout=timeout,
        connect_timeout=min(10.0, timeout),
        read_timeout=min(30.0, timeout),
    )


def download(url: str, dest: IO[bytes], settings: Settings, field: str, max_bytes: int | None = None) -> int:
    """Fetch ``url`` into ``dest`` (SSRF-guarded, bounded); BadRequest naming ``field``."""
    try:
        return fetch_to_file(url, dest, allow_private=settings.fetch_allow_private, limits=fetch_limits(settings, max_bytes))
    except FetchError as exc:
        raise BadRequest(f"{field}: {exc.message}") from None


def _count_rows(path: str, settings: Settings, field: str) -> int:
    try:
        _layout, rows = read_receivers(path, max_rows=settings.bulk_max_rows)
        with rows:
            return sum(1 for _ in rows)
    except CsvError as exc:
        raise BadRequest(f"{field}: {exc}") from None


# --------------------------------------------------------------------------- prepare


@dataclass
class Prepared:
    """A campaign ready to commit: rows spooled on disk, totals in memory."""

    spool: IO[bytes]
    count: int = 0
    total_milli: int = 0
    rows_read: int = 0
    duplicates: int = 0
    invalid: list[str] = field(default_factory=list)
    invalid_count: int = 0
    valid_sample: list[str] = field(default_factory=list)
    job_text: str = ""
    merged: bool = False

    def chunks(self) -> Iterator[list[tuple[Any, ...]]]:
        self.spool.seek(0)
        while True:
            try:
                yield pickle.load(self.spool)
            except EOFError:
                return


@dataclass
class Context:
    """What preparing needs from the account, read once."""

    account_id: int
    sender: str
    sender_type: str
    allowed: set[str]


def load_context(session: Session, account: Account, req: SendRequest, settings: Settings) -> Context:
    if account.status != "enable":
        raise Forbidden(f"serviceName: the SMS account {account.service_name} is disabled")
    if not req.message or not req.message.strip():
        raise BadRequest("message: must not be empty")
    sender, kind = resolve_sender(session, account, req, settings)
    allowed = {c.upper() for c in (account.allowed_countries or list(settings.allowed_countries))}
    if req.sender_for_response:
        allowed = {c for c in allowed if c == "FR"}
    return Context(account.id, sender, kind, allowed)


def _rows_of(source: Source, path: str | None, settings: Settings) -> tuple[list[str] | None, str, Iterable[dict[str, str]], Callable[[], int]]:
    """``(columns or None, number column, rows, line_num)`` of the source."""
    if source.receivers is not None:
        items = source.receivers
        return None, "number", ({"number": str(r)} for r in items), lambda: 0
    assert path is not None
    try:
        layout, rows = read_receivers(path, max_rows=settings.bulk_max_rows)
    except CsvError as exc:
        raise BadRequest(f"{source.field}: {exc}") from None
    return layout.columns, layout.number_column, rows, lambda: rows.line_num


def prepare(
    source: Source,
    path: str | None,
    req: SendRequest,
    ctx: Context,
    settings: Settings,
    progress: Callable[[int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    sink: Callable[[list[tuple[Any, ...]]], None] | None = None,
) -> Prepared:
    """Read, validate, deduplicate, render and price every receiver; spool the rows
    (or hand each chunk of rows to ``sink``: see :func:`_stream_campaign`)."""
    columns, number_column, rows, line_num = _rows_of(source, path, settings)
    template: Template | None = None
    if columns is not None and find_placeholders(req.message, columns):
        try:
            template = Template(req.message, columns, empty="error")
        except MergeError as exc:
            raise BadRequest(f"message: {exc}") from None
    job_text = compose_text(req.message, req.no_stop_clause, settings)
    job_info = describe_text(job_text)
    parser = FastReceivers(settings.default_region)
    decide = parser.decide_pair
    slow = parser.parse
    allowed = ctx.allowed
    rate_cache: dict[tuple[int, str], int] = {}

    def cost_of(parts: int, country: str) -> int:
        key = (parts, country)
        cost = rate_cache.get(key)
        if cost is None:
            cost = rate_cache[key] = ledger.to_milli(parts * settings.rates.per_part(country))
        return cost

    spool: IO[bytes] = io.BytesIO() if sink is not None else tempfile.TemporaryFile(prefix="textos-campaign-")
    prepared = Prepared(spool=spool, job_text=job_text, merged=template is not None)
    if sink is not None:
        emit = sink
    else:

        def emit(rows: list[tuple[Any, ...]]) -> None:
            pickle.dump(rows, spool, protocol=pickle.HIGHEST_PROTOCOL)

    invalid = prepared.invalid
    sample = prepared.valid_sample
    chunk: list[tuple[Any, ...]] = []
    encoding, characters, parts = job_info.encoding.value, job_info.characters, job_info.parts
    last_progress = time.monotonic()
    stop_clause = "" if req.no_stop_clause else settings.stop_clause

    seen: set[int] = set()  # E.164 numbers as ints: ~64 MB for a million (see numbers_fast.dedupe)
    seen_add = seen.add

    distinct = rows_read = invalid_count = total_milli = 0
    e164: str
    country: str
    try:
        for row in rows:
            rows_read += 1
            raw = row[number_column]
            found = decide(raw)
            if found is None:
                try:
                    receiver = slow(raw)
                    found = (receiver.e164, receiver.country)
                except InvalidReceiver:
                    found = INVALID
            if found is INVALID or found[1] not in allowed:  # type: ignore[index]
                invalid_count += 1
                if len(invalid) < REPORT_LIMIT:
                    invalid.append(raw)
                continue
            e164, country = found  # type: ignore[misc]
            key = int(e164[1:])
            if key in seen:
                continue
            seen_add(key)
            distinct += 1
            if template is not None:
                try:
                    text = template.render(row, line_num()) + stop_clause
                except MergeError as exc:
                    raise BadRequest(f"message: {exc}") from None
                info = describe_text(text)
                cost = cost_of(info.parts, country)
                chunk.append((e164, country, text, info.encoding.value, info.characters, info.parts, cost))
            else:
                cost = cost_of(parts, country)
                chunk.append((e164, country, None, encoding, characters, parts, cost))
            total_milli += cost
            if len(sample) < REPORT_LIMIT:
                sample.append(e164)
            if len(chunk) >= CHUNK:
                emit(chunk)
                chunk = []
                now = time.monotonic()
                if now - last_progress >= PROGRESS_EVERY:
                    last_progress = now
                    if cancelled is not None and cancelled():
                        raise Conflict("batch: canceled while its receivers were being read")
                    if progress is not None:
                        progress(rows_read)
        if chunk:
            emit(chunk)
        prepared.count = distinct
        prepared.duplicates = rows_read - invalid_count - distinct
    except CsvError as exc:
        spool.close()
        raise BadRequest(f"{source.field}: {exc}") from None
    except BaseException:
        spool.close()
        raise
    finally:
        prepared.rows_read, prepared.invalid_count, prepared.total_milli = rows_read, invalid_count, total_milli
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    if not distinct:
        spool.close()
        shown = ", ".join(invalid[:10])
        raise BadRequest(
            f"{source.field}: no valid receiver (invalid or outside allowed countries "
            f"{', '.join(sorted(allowed))}){': ' + shown if shown else ''}"
        )
    return prepared


# --------------------------------------------------------------------------- commit

_COLUMNS = (
    "account_id", "job_id", "receiver", "country", "text", "sender", "tag", "encoding", "characters", "parts",
    "credits_milli", "priority", "status", "ptt", "dlr", "differed_period", "send_at", "expires_at", "created_at",
    "attempts", "hidden",
)  # fmt: skip


_ROW_COLUMNS = ("receiver", "country", "text", "encoding", "characters", "parts", "credits_milli")
"""Per-row values, in the order of a spooled row tuple."""
_SHARED_COLUMNS = (
    "account_id", "job_id", "sender", "tag", "priority", "status", "ptt", "dlr", "differed_period",
    "send_at", "expires_at", "created_at", "attempts", "hidden",
)  # fmt: skip


def _sqlite_literal(value: Any) -> str | None:
    """``value`` as an SQLite literal, or None if it cannot be written safely as one."""
    if type(value) is int:
        return str(value)
    if type(value) is str and "\0" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


def _sqlite_time(moment: dt.datetime) -> str:
    """SQLAlchemy's SQLite DATETIME storage format (always with microseconds)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


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


def _pg_block_writer(common: dict[str, Any]) -> Callable[[list[tuple[Any, ...]]], str]:
    """Rows of a chunk as one COPY text block: the per-row values, then the columns every
    row of the campaign shares, formatted once."""
    suffix = "\t".join((
        str(common["account_id"]), str(common["job_id"]), _pg_text(common["sender"]), _pg_text(common["tag"]),
        str(common["priority"]), "queued", "0", "0", str(common["differed_period"]),
        common["send_at"].isoformat(" "), common["expires_at"].isoformat(" "), common["created_at"].isoformat(" "),
        "0", "f",
    )) + "\n"  # fmt: skip

    null = "\\N"
    shared: dict[tuple[Any, ...], str] = {}  # (encoding, characters, parts) → the row's end

    def block(chunk: list[tuple[Any, ...]]) -> str:
        if chunk[0][2] is None and chunk[-1][2] is None:  # no mail merge: one text for every row
            enc, chars, parts = chunk[0][3:6]
            if all(row[2] is None and row[3] == enc and row[4] == chars and row[5] == parts for row in chunk):
                key = (enc, chars, parts)
                end = shared.get(key) or shared.setdefault(key, f"\t{null}\t{enc}\t{chars}\t{parts}\t{suffix}")
                return "".join([f"{r}\t{c}\t{cost}{end}" for r, c, _t, _e, _ch, _p, cost in chunk])
        return "".join([
            f"{r}\t{c}\t{cost}\t{null if text is None else _pg_text(text)}\t{enc}\t{chars}\t{parts}\t{suffix}"
            for r, c, text, enc, chars, parts, cost in chunk
        ])  # fmt: skip

    return block


def _insert_messages(session: Session, prepared: Prepared, common: dict[str, Any], postgres: bool) -> None:
    """Insert every spooled row in the session's transaction, as fast as the backend allows."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    a, j, s, t = common["account_id"], common["job_id"], common["sender"], common["tag"]
    prio, diff = common["priority"], common["differed_period"]
    send_at, expires_at, now = common["send_at"], common["expires_at"], common["created_at"]
    cols = ", ".join(_COLUMNS)
    if postgres:
        with raw.cursor() as cur, cur.copy(_PG_COPY) as copy:
            block = _pg_block_writer(common)
            for chunk in prepared.chunks():
                copy.write(block(chunk))
        return
    send_at_s, expires_at_s, now_s = _sqlite_time(send_at), _sqlite_time(expires_at), _sqlite_time(now)
    shared = (a, j, s, t, prio, "queued", 0, 0, diff, send_at_s, expires_at_s, now_s, 0, 0)
    literals = [_sqlite_literal(v) for v in shared]
    cur = raw.cursor()
    try:
        if all(v is not None for v in literals):
            # the columns every row shares are written into the statement once: each row binds
            # only its own 7 values, straight from the spooled tuple (no per-row Python work)
            sql = f"INSERT INTO messages ({', '.join(_ROW_COLUMNS + _SHARED_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, {', '.join(literals)})"  # type: ignore[arg-type]
            for chunk in prepared.chunks():
                cur.executemany(sql, chunk)
            return
        sql = f"INSERT INTO messages ({cols}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        for chunk in prepared.chunks():
            cur.executemany(
                sql,
                [
                    (a, j, r, c, text, s, t, enc, chars, parts, cost, prio, "queued", 0, 0, diff, send_at_s, expires_at_s, now_s, 0, 0)
                    for r, c, text, enc, chars, parts, cost in chunk
                ],
            )
    finally:
        cur.close()


def _finish(session: Session, job_id: int, prepared: Prepared, batch_id: str | None, send_at: dt.datetime) -> list[int]:
    """Last step of a commit: the ids to report (small jobs only) and the batch marked INSERTED."""
    ids: list[int] = []
    if prepared.count <= REPORT_LIMIT:
        ids = list(session.scalars(select(Message.id).where(Message.job_id == job_id).order_by(Message.id)))
    if batch_id is not None:
        session.execute(
            update(Batch).where(Batch.id == batch_id).values(
                status="INSERTED", job_id=job_id, processed_records=prepared.rows_read,
                total_records=prepared.rows_read, credits_milli=prepared.total_milli,
                estimated_credits_milli=prepared.total_milli, updated_at=utcnow(), sent_at=send_at,
                errors=_errors_of(prepared),
            )
        )
    return ids


def commit(
    db: Database, prepared: Prepared, req: SendRequest, ctx: Context, actor: str, batch_id: str | None,
    send_at: dt.datetime | None = None,
) -> tuple[int, list[int]]:
    """Job, debit and messages in one transaction; returns ``(job id, ids if small)``."""
    now = utcnow()
    if send_at is None:
        send_at = now + dt.timedelta(minutes=req.differed_period)
    expires_at = send_at + dt.timedelta(minutes=req.validity_period)
    with db.session() as session:
        if batch_id is not None:  # a cancel that raced the end of preparing wins
            status = session.scalar(select(Batch.status).where(Batch.id == batch_id))
            if status in ("TO_CANCEL", "CANCELING", "CANCELED"):
                raise Conflict("batch: canceled before its messages were created")
        job = Job(
            account_id=ctx.account_id, text=prepared.job_text, sender=ctx.sender, sender_type=ctx.sender_type,
            tag=req.tag, priority=req.priority, message_class=req.message_class, no_stop_clause=req.no_stop_clause,
            sender_for_response=req.sender_for_response, differed_period=req.differed_period,
            validity_period=req.validity_period, receivers=prepared.count, credits_milli=prepared.total_milli,
            actor=actor, created_at=now, batch_id=batch_id,
        )
        session.add(job)
        session.flush()
        ledger.debit_job(session, ctx.account_id, job.id, prepared.total_milli, actor=actor, messages=prepared.count)
        common = dict(
            account_id=ctx.account_id, job_id=job.id, sender=ctx.sender, tag=req.tag,
            priority=PRIORITY_RANK[req.priority], differed_period=req.differed_period,
            send_at=send_at, expires_at=expires_at, created_at=now,
        )
        _insert_messages(session, prepared, common, postgres=not db.is_sqlite)
        return job.id, _finish(session, job.id, prepared, batch_id, send_at)


_END = object()


def _stream_campaign(
    db: Database, source: Source, path: str | None, req: SendRequest, ctx: Context, settings: Settings,
    actor: str, batch_id: str | None, send_at: dt.datetime | None,
    progress: Callable[[int], None] | None, cancelled: Callable[[], bool] | None,
) -> tuple[Prepared, list[int]]:
    """PostgreSQL: prepare and insert at the same time, still in one transaction.

    A writer thread opens the transaction, creates the job and ``COPY``s each chunk of
    rows as :func:`prepare` produces it, so the database's work (rows, indexes, foreign
    key checks) runs on the server meanwhile instead of after. When preparing is done
    the job's totals are set, the debit is posted and the transaction commits; if
    preparing fails (a refusal, a cancel) the transaction is rolled back: nothing is
    kept or charged, as with the two-phase path. Rows written but not committed are
    invisible to everyone else.
    """
    now = utcnow()
    if send_at is None:
        send_at = now + dt.timedelta(minutes=req.differed_period)
    expires_at = send_at + dt.timedelta(minutes=req.validity_period)
    chunks: queue.Queue[Any] = queue.Queue(maxsize=4)
    outcome: dict[str, Any] = {}

    def writer() -> None:
        try:
            with db.session() as session:
                job = Job(
                    account_id=ctx.account_id, text="", sender=ctx.sender, sender_type=ctx.sender_type,
                    tag=req.tag, priority=req.priority, message_class=req.message_class, no_stop_clause=req.no_stop_clause,
                    sender_for_response=req.sender_for_response, differed_period=req.differed_period,
                    validity_period=req.validity_period, receivers=0, credits_milli=0,
                    actor=actor, created_at=now, batch_id=batch_id,
                )
                session.add(job)
                session.flush()
                common = dict(
                    account_id=ctx.account_id, job_id=job.id, sender=ctx.sender, tag=req.tag,
                    priority=PRIORITY_RANK[req.priority], differed_period=req.differed_period,
                    send_at=send_at, expires_at=expires_at, created_at=now,
                )
                block = _pg_block_writer(common)
                raw = session.connection().connection.driver_connection
                assert raw is not None
                with raw.cursor() as cur, cur.copy(_PG_COPY) as copy:
                    while (item := chunks.get()) is not _END:
                        copy.write(block(item))
                prepared: Prepared | None = chunks.get()
                if prepared is None:  # preparing failed: roll back
                    raise _Abandoned()
                if batch_id is not None:  # a cancel that raced the end of preparing wins
                    status = session.scalar(select(Batch.status).where(Batch.id == batch_id))
                    if status in ("TO_CANCEL", "CANCELING", "CANCELED"):
                        raise Conflict("batch: canceled before its messages were created")
                job.text = prepared.job_text
                job.receivers = prepared.count
                job.credits_milli = prepared.total_milli
                ledger.debit_job(session, ctx.account_id, job.id, prepared.total_milli, actor=actor, messages=prepared.count)
                ids = _finish(session, job.id, prepared, batch_id, send_at)
                outcome["ids"] = ids
        except _Abandoned:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome["error"] = exc
            while True:  # unblock the producer
                try:
                    chunks.get_nowait()
                except queue.Empty:
                    if outcome.get("done"):
                        break
                    time.sleep(0.01)

    def put(item: Any) -> None:
        while True:
            if "error" in outcome:
                raise _Abandoned()
            try:
                chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=writer, name="textos-campaign-writer", daemon=True)
    thread.start()
    prepared: Prepared | None = None
    try:
        try:
            prepared = prepare(source, path, req, ctx, settings, progress, cancelled, sink=put)
        except _Abandoned:
            pass
        if prepared is not None and "error" not in outcome:
            if batch_id is not None:
                _set_batch(db, batch_id, processed_records=prepared.rows_read, total_records=prepared.rows_read,
                           estimated_credits_milli=prepared.total_milli)
            put(_END)
            put(prepared)
    except BaseException:
        if "error" not in outcome:
            with contextlib.suppress(_Abandoned):
                put(_END)
                put(None)
        raise
    finally:
        outcome["done"] = True
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    assert prepared is not None
    return prepared, outcome["ids"]


class _Abandoned(Exception):
    """Internal: the other side of a streamed campaign gave up."""


def _errors_of(prepared: Prepared) -> list[dict[str, str]]:
    """``sms.BatchError`` entries for invalid receivers (at most 1,000 listed)."""
    return [{"message": "invalid receiver or destination not allowed", "receiver": r} for r in prepared.invalid[:1000]]


def report_of(prepared: Prepared, ids: list[int], tag: str) -> SendingReport:
    return SendingReport(
        ids=ids,
        valid_receivers=prepared.valid_sample if prepared.count <= REPORT_LIMIT else [],
        invalid_receivers=prepared.invalid,
        total_credits_removed=ledger.to_credits(prepared.total_milli),
        tag=tag,
    )


# --------------------------------------------------------------------------- slots


def get_slot(session: Session, account_id: int, slot_id: int, field: str = "slotId") -> ReceiverSlot:
    slot = session.scalar(select(ReceiverSlot).where(ReceiverSlot.account_id == account_id, ReceiverSlot.slot_id == slot_id))
    if slot is None:
        raise NotFound(f"{field}: receivers slot {slot_id} does not exist")
    return slot


def parse_slot_id(value: Any, field: str) -> int:
    try:
        slot_id = int(str(value).strip())
    except (TypeError, ValueError):
        raise BadRequest(f"{field}: {value!r} is not a slot number") from None
    if slot_id not in SLOTS:
        raise BadRequest(f"{field}: slot numbers go from {SLOTS.start} to {SLOTS.stop - 1}, not {slot_id}")
    return slot_id


def fetch_slot_document(url: str, settings: Settings, field: str = "csvUrl") -> tuple[bytes, int]:
    """Download and check a slot document; returns ``(content, records)``."""
    with tempfile.NamedTemporaryFile(prefix="textos-slot-", suffix=".csv") as tmp:
        download(url, tmp, settings, field, max_bytes=min(settings.bulk_max_bytes, SLOT_MAX_BYTES))
        tmp.flush()
        records = _count_rows(tmp.name, settings, field)
        tmp.seek(0)
        return tmp.read(), records


def refresh_slot(db: Database, account_id: int, slot_id: int, settings: Settings, field: str) -> None:
    """``autoUpdate``: download the slot's URL again before it is used."""
    with db.read() as session:
        slot = get_slot(session, account_id, slot_id, field)
        url, auto = slot.csv_url, slot.auto_update
    if not auto or not url:
        return
    content, records = fetch_slot_document(url, settings, field)
    with db.session() as session:
        session.execute(
            update(ReceiverSlot).where(ReceiverSlot.account_id == account_id, ReceiverSlot.slot_id == slot_id)
            .values(content=content, records=records, updated_at=utcnow())
        )


def blacklisted_numbers(session: Session, account_id: int) -> set[str]:
    """Numbers that sent STOP to this account (E.164). Seam for the blacklist feature:
    there is no ``blacklists`` table yet, so nothing is blacklisted."""
    return set()


@dataclass(frozen=True)
class CleanReport:
    records: int
    invalid: int
    duplicates: int
    blacklisted: int


def clean_slot(session: Session, slot: ReceiverSlot, settings: Settings, apply: bool = True) -> CleanReport:
    """Drop invalid, duplicate and blacklisted rows from a slot's document (header kept)."""
    import csv
    import io

    blacklist = blacklisted_numbers(session, slot.account_id)
    parser = FastReceivers(settings.default_region)
    with tempfile.NamedTemporaryFile(prefix="textos-slot-", suffix=".csv") as tmp:
        tmp.write(slot.content)
        tmp.flush()
        try:
            layout, rows = read_receivers(tmp.name, max_rows=settings.bulk_max_rows)
        except CsvError as exc:
            raise BadRequest(f"slotId: {exc}") from None
        out = io.StringIO()
        writer = csv.writer(out, delimiter=layout.delimiter or ";", lineterminator="\n")
        if layout.has_header:
            writer.writerow(layout.columns)
        seen: set[str] = set()
        kept = invalid = duplicates = blocked = 0
        with rows:
            for row in rows:
                try:
                    e164 = parser.parse(row[layout.number_column]).e164
                except InvalidReceiver:
                    invalid += 1
                    continue
                if e164 in blacklist:
                    blocked += 1
                    continue
                if e164 in seen:
                    duplicates += 1
                    continue
                seen.add(e164)
                kept += 1
                writer.writerow([row[c] for c in layout.columns])
    if apply:
        slot.content = out.getvalue().encode("utf-8")
        slot.records = kept
        slot.updated_at = utcnow()
    return CleanReport(kept, invalid, duplicates, blocked)


# --------------------------------------------------------------------------- batches


_running: set[str] = set()
_running_lock = threading.Lock()
_ingests = 0
_switch_interval = sys.getswitchinterval()


def _busy(delta: int) -> None:
    """While an ingest runs, let other threads (API requests) take the GIL more often."""
    global _ingests
    with _running_lock:
        _ingests += delta
        sys.setswitchinterval(0.0005 if _ingests > 0 else _switch_interval)


def new_batch(
    session: Session, account: Account, req: SendRequest, source: Source, name: str,
    deferred: dt.datetime | None = None,
) -> Batch:
    now = utcnow()
    batch = Batch(
        id=str(uuid.uuid4()), account_id=account.id, name=name, status="PENDING", sender=req.sender,
        sender_for_response=req.sender_for_response, message=req.message, no_stop=req.no_stop_clause,
        slot_id=str(source.slot_id) if source.slot_id is not None else None,
        receivers=list(source.receivers) if source.receivers is not None and len(source.receivers) <= REPORT_LIMIT else None,
        tag=req.tag, deferred=deferred, errors=[], created_at=now, updated_at=now,
    )
    session.add(batch)
    session.flush()
    return batch


def _set_batch(db: Database, batch_id: str, **values: Any) -> None:
    with db.session() as session:
        session.execute(update(Batch).where(Batch.id == batch_id).values(updated_at=utcnow(), **values))


def run_campaign(
    db: Database, settings: Settings, account_id: int, req: SendRequest, source: Source, actor: str,
    batch_id: str | None = None, deferred: dt.datetime | None = None,
) -> SendingReport:
    """Prepare and commit one campaign; keeps its batch row (if any) up to date. Blocking."""
    if batch_id is not None:
        with _running_lock:
            _running.add(batch_id)
    tmp_path: str | None = None
    _busy(+1)
    try:
        if batch_id is not None:
            _set_batch(db, batch_id, status="INSERTING", started_at=utcnow())
        with db.read() as session:
            account = session.get(Account, account_id)
            assert account is not None
            ctx = load_context(session, account, req, settings)
        if source.slot_id is not None:
            refresh_slot(db, account_id, source.slot_id, settings, source.field)
        if source.document_url is not None or source.slot_id is not None:
            fd, tmp_path = tempfile.mkstemp(prefix="textos-receivers-", suffix=".csv")
            with os.fdopen(fd, "wb") as out:
                if source.document_url is not None:
                    download(source.document_url, out, settings, source.field)
                else:
                    with db.read() as session:
                        out.write(get_slot(session, account_id, source.slot_id, source.field).content)  # type: ignore[arg-type]
            path: str | None = tmp_path
        else:
            path = source.csv_path

        def progress(rows: int) -> None:
            if batch_id is not None:
                _set_batch(db, batch_id, processed_records=rows, total_records=rows)

        def cancelled() -> bool:
            if batch_id is None:
                return False
            with db.read() as session:
                return session.scalar(select(Batch.status).where(Batch.id == batch_id)) == "TO_CANCEL"

        if not db.is_sqlite:
            prepared, ids = _stream_campaign(db, source, path, req, ctx, settings, actor, batch_id, deferred, progress, cancelled)
            return report_of(prepared, ids, req.tag)
        prepared = prepare(source, path, req, ctx, settings, progress, cancelled)
        try:
            if batch_id is not None:
                _set_batch(db, batch_id, processed_records=prepared.rows_read, total_records=prepared.rows_read,
                           estimated_credits_milli=prepared.total_milli)
            _job_id, ids = commit(db, prepared, req, ctx, actor, batch_id, send_at=deferred)
        finally:
            prepared.spool.close()
        return report_of(prepared, ids, req.tag)
    except TextosError as exc:
        if batch_id is not None:
            canceled = isinstance(exc, Conflict) and "canceled" in exc.message
            _set_batch(db, batch_id, status="CANCELED" if canceled else "FAILED", finished_at=utcnow(),
                       errors=[{"message": exc.message, "receiver": ""}])
        raise
    except Exception as exc:
        log.exception("campaign %s failed", batch_id)
        if batch_id is not None:
            _set_batch(db, batch_id, status="FAILED", finished_at=utcnow(),
                       errors=[{"message": f"internal error: {type(exc).__name__}", "receiver": ""}])
        raise
    finally:
        _busy(-1)
        if tmp_path is not None:
            os.unlink(tmp_path)
        if batch_id is not None:
            with _running_lock:
                _running.discard(batch_id)


def start_campaign(
    db: Database, settings: Settings, account_id: int, req: SendRequest, source: Source, actor: str,
    batch_id: str, deferred: dt.datetime | None = None, on_done: Callable[[], None] | None = None,
) -> threading.Thread:
    """Run :func:`run_campaign` in a background thread (``POST /batches``)."""

    def work() -> None:
        try:
            run_campaign(db, settings, account_id, req, source, actor, batch_id, deferred)
        except TextosError:
            pass  # recorded on the batch
        except Exception:  # noqa: BLE001 - recorded on the batch and logged
            pass
        finally:
            if on_done is not None:
                on_done()

    with _running_lock:
        _running.add(batch_id)
    thread = threading.Thread(target=work, name=f"textos-batch-{batch_id[:8]}", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class Stats:
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    sent: int = 0
    cancelled: int = 0
    credits_milli: int = 0

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.pending + self.sent + self.cancelled


def batch_stats(session: Session, batch: Batch) -> Stats:
    if batch.job_id is None:
        return Stats()
    counts: dict[str, int] = {}
    credits = 0
    for status, n, c in session.execute(
        select(Message.status, func.count(), func.coalesce(func.sum(Message.credits_milli), 0))
        .where(Message.job_id == batch.job_id).group_by(Message.status)
    ):
        counts[status] = n
        credits += int(c)
    return Stats(
        delivered=counts.get("delivered", 0),
        failed=sum(counts.get(s, 0) for s in FAILED_STATUSES),
        pending=sum(counts.get(s, 0) for s in PENDING_STATUSES),
        sent=counts.get("sent", 0),
        cancelled=counts.get("cancelled", 0),
        credits_milli=credits,
    )


def refresh_status(db: Database, batch_id: str) -> None:
    """Move a batch on once its state is known: INSERTED → COMPLETED when nothing is left to hand
    to a carrier; PENDING/INSERTING left behind by a stopped process → FAILED (nothing was charged)."""
    with db.read() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            return
        status, job_id = batch.status, batch.job_id
        left = None
        if status == "INSERTED" and job_id is not None:
            left = session.scalar(
                select(func.count()).select_from(Message).where(Message.job_id == job_id, Message.status.in_(PENDING_STATUSES))
            )
    with _running_lock:
        running = batch_id in _running
    if status == "INSERTED" and left == 0:
        with db.session() as session:
            session.execute(update(Batch).where(Batch.id == batch_id, Batch.status == "INSERTED")
                            .values(status="COMPLETED", finished_at=utcnow(), updated_at=utcnow()))
    elif status in ("PENDING", "INSERTING", "TO_CANCEL") and not running:
        with db.session() as session:
            session.execute(update(Batch).where(Batch.id == batch_id, Batch.status == status).values(
                status="CANCELED" if status == "TO_CANCEL" else "FAILED", finished_at=utcnow(), updated_at=utcnow(),
                errors=[{"message": "interrupted: the server stopped before the batch was inserted; nothing was charged", "receiver": ""}],
            ))


def cancel_batch(db: Database, batch_id: str, actor: str) -> None:
    """Cancel a batch whose SMS are not sent yet: stop its ingest, or refund its queued messages."""
    with db.session() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise NotFound(f"id: batch {batch_id} does not exist")
        if batch.status in ("PENDING", "INSERTING"):
            batch.status = "TO_CANCEL"
            batch.updated_at = utcnow()
            return
        if batch.status != "INSERTED" or batch.job_id is None:
            raise Conflict(f"id: batch {batch_id} is {batch.status} and cannot be canceled")
        handed = session.scalar(
            select(func.count()).select_from(Message)
            .where(Message.job_id == batch.job_id, Message.status.not_in(("queued", "cancelled")))
        )
        if handed:
            raise Conflict(f"id: batch {batch_id} has {handed} SMS already handed to a carrier; it can no longer be canceled")
        batch.status = "CANCELING"
        job_id = batch.job_id
    with db.session() as session:
        ids = list(session.scalars(select(Message.id).where(Message.job_id == job_id, Message.status == "queued")))
        for start in range(0, len(ids), 5000):
            close_unsent(session, ids[start:start + 5000], from_statuses=("queued",), to_status="cancelled",
                         actor=actor, reason=f"batch {batch_id} canceled")
        session.execute(update(Batch).where(Batch.id == batch_id).values(
            status="CANCELED", finished_at=utcnow(), updated_at=utcnow()))


def deferred_minutes(deferred: dt.datetime | None) -> int:
    if deferred is None:
        return 0
    return max(0, math.ceil((deferred - utcnow()).total_seconds() / 60))


def local_source(path: str | Path) -> Source:
    return Source(csv_path=str(path))
