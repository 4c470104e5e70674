"""Batches: named campaigns (``/sms/{serviceName}/batches``, ``textos send``) and their progress.

A batch row follows one acceptance (``services.jobs.accept``) from the outside:

    PENDING → INSERTING → INSERTED → COMPLETED        (messages written, then every one final: delivered, failed, no_receipt…)
                 │  └──────────────→ FAILED          (refused: nothing written nor charged)
                 └─ cancel → TO_CANCEL → CANCELED    (stopped while its receivers were read)
    INSERTED ── cancel → CANCELING → CANCELED        (queued messages cancelled and refunded)

The process that ingests a batch (:func:`run`, :func:`start`) writes its progress
and keeps its ``updated_at`` fresh (a heartbeat). Reads never write: a batch moves
on to COMPLETED, or to FAILED when the process ingesting it stopped, only through
:func:`complete_finished`, which a writer runs periodically (``textos.server``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Iterator

from sqlalchemy import Update, func, select, update
from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain.clock import iso, utcnow
from textos.domain.pricing import to_credits
from textos.domain.errors import Conflict, NotFound, TextosError
from textos.domain.lifecycle import FAILED_STATUSES, FINAL, PENDING, MessageStatus
from textos.services.campaigns import Source
from textos.services.jobs import REPORT_LIMIT, SendingReport, SendRequest, accept
from textos.services.recipients import ConcatFor, Priced
from textos.storage.messages import close_unsent
from textos.storage.db import Database
from textos.storage.job_rows import NewJob
from textos.storage.models import Account, Blacklist, Job, Message
from textos.storage.models_bulk import Batch

__all__ = [
    "BatchStatus", "Canceled", "Stats", "batch_stats", "cancel_batch", "complete_finished", "deferred_minutes",
    "new_batch", "remove_batch", "rename_batch", "run", "start",
]  # fmt: skip

log = logging.getLogger("textos.batches")

HEARTBEAT = 5.0
"""Seconds between two touches of a batch's ``updated_at`` by the process ingesting it."""
ABANDONED_AFTER = 30.0
"""A batch being ingested whose ``updated_at`` is older than this was left by a stopped process."""


class BatchStatus(str, Enum):
    """``sms.BatchStatusEnum``."""

    PENDING = "PENDING"
    INSERTING = "INSERTING"
    INSERTED = "INSERTED"
    COMPLETED = "COMPLETED"
    TO_CANCEL = "TO_CANCEL"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    FAILED = "FAILED"


INGESTING = (BatchStatus.PENDING.value, BatchStatus.INSERTING.value, BatchStatus.TO_CANCEL.value)
ENDED = (BatchStatus.COMPLETED.value, BatchStatus.CANCELED.value, BatchStatus.FAILED.value)
_PENDING = [s.value for s in PENDING]
_UNFINISHED = [s.value for s in MessageStatus if s not in FINAL]
"""Statuses of a message whose outcome may still change on its own (queued, submitting, sent)."""


INTERRUPTED = "interrupted: the server stopped before the batch was inserted; nothing was charged"


class Canceled(Conflict):
    """The batch was canceled before its messages were created (nothing is kept nor charged)."""


def new_batch(
    session: Session, account: Account, req: SendRequest, name: str, *, slot_id: int | None = None,
    deferred: dt.datetime | None = None,
) -> Batch:
    now = utcnow()
    batch = Batch(
        id=str(uuid.uuid4()), account_id=account.id, name=name, status=BatchStatus.PENDING.value, sender=req.sender or req.virtual_number,
        sender_for_response=req.sender_for_response, message=req.message, no_stop=req.no_stop_clause,
        slot_id=str(slot_id) if slot_id is not None else None,
        receivers=list(req.receivers) if req.receivers and len(req.receivers) <= REPORT_LIMIT else None,
        tag=req.tag, deferred=deferred, errors=[], created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(batch)
    session.flush()
    return batch


def deferred_minutes(deferred: dt.datetime | None) -> int:
    if deferred is None:
        return 0
    return max(0, math.ceil((deferred - utcnow()).total_seconds() / 60))


def _moved(session: Session, stmt: Update) -> int:
    """How many batches an UPDATE moved."""
    return len(session.execute(stmt.returning(Batch.id)).all())


def _set(db: Database, batch_id: str, *conditions: Any, **values: Any) -> int:
    with db.session() as session:
        return _moved(session, update(Batch).where(Batch.id == batch_id, *conditions).values(updated_at=utcnow(), **values))


# --------------------------------------------------------------------------- ingesting

_running: set[str] = set()
_running_lock = threading.Lock()


@contextlib.contextmanager
def _ingesting(db: Database, batch_id: str) -> Iterator[None]:
    """Mark the batch as ingested by this process, and touch its ``updated_at`` meanwhile."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT):
            try:
                _set(db, batch_id, Batch.status.in_(INGESTING))
            except Exception:  # noqa: BLE001 - the next beat tries again
                log.warning("batch %s: heartbeat failed", batch_id, exc_info=True)

    with _running_lock:
        _running.add(batch_id)
    heart = threading.Thread(target=beat, name=f"textos-batch-beat-{batch_id[:8]}", daemon=True)
    heart.start()
    try:
        yield
    finally:
        stop.set()
        heart.join()
        with _running_lock:
            _running.discard(batch_id)


@dataclass(frozen=True)
class _BatchFollower:
    """The batch row of an acceptance (``services.jobs.Follower``)."""

    db: Database
    batch_id: str

    def progress(self, rows: int, estimated_milli: int | None = None) -> None:
        with self.db.read() as session:
            if session.scalar(select(Batch.status).where(Batch.id == self.batch_id)) == BatchStatus.TO_CANCEL.value:
                raise Canceled("batch: canceled while its receivers were being read")
        values: dict[str, Any] = {"processed_records": rows, "total_records": rows}
        if estimated_milli is not None:
            values["estimated_credits_milli"] = estimated_milli
        _set(self.db, self.batch_id, **values)

    def accepted(self, session: Session, job: NewJob, priced: Priced, send_at: dt.datetime) -> None:
        invalid = [{"message": "invalid receiver or destination not allowed", "receiver": r} for r in priced.invalid[:1000]]
        moved = _moved(session, update(Batch).where(Batch.id == self.batch_id, Batch.status == BatchStatus.INSERTING.value).values(
            status=BatchStatus.INSERTED.value, job_id=job.id, processed_records=priced.rows_read, total_records=priced.rows_read,
            credits_milli=priced.total_milli, estimated_credits_milli=priced.total_milli, updated_at=utcnow(), sent_at=send_at,
            errors=invalid,
        ))  # fmt: skip
        if not moved:  # a cancel that raced the end of reading wins
            raise Canceled("batch: canceled before its messages were created")


def _record_failure(db: Database, batch_id: str, status: BatchStatus, message: str) -> None:
    try:
        _set(db, batch_id, status=status.value, finished_at=utcnow(), errors=[{"message": message, "receiver": ""}])
    except Exception:  # noqa: BLE001 - logged: nothing else can be done about it
        log.exception("batch %s: could not record that it ended %s (%s)", batch_id, status.value, message)


def run(
    db: Database, settings: Settings, account_id: int, req: SendRequest, actor: str, batch_id: str, *,
    source: Source | None = None, deferred: dt.datetime | None = None, concat_for: ConcatFor | None = None,
) -> SendingReport:
    """Accept the batch's job (``services.jobs.accept``), keeping its row up to date. Blocking.

    A refusal or a cancel is recorded on the batch and raised; so is an unexpected
    error, after it is logged with the batch id."""
    with _ingesting(db, batch_id):
        try:
            if not _set(db, batch_id, Batch.status == BatchStatus.PENDING.value, status=BatchStatus.INSERTING.value, started_at=utcnow()):
                raise Canceled("batch: canceled before it started")
            return accept(db, account_id, req, settings, actor=actor, source=source, concat_for=concat_for,
                          follower=_BatchFollower(db, batch_id), send_at=deferred)
        except Canceled as exc:
            _record_failure(db, batch_id, BatchStatus.CANCELED, exc.message)
            raise
        except TextosError as exc:
            _record_failure(db, batch_id, BatchStatus.FAILED, exc.message)
            raise
        except Exception as exc:
            log.exception("batch %s failed", batch_id)
            _record_failure(db, batch_id, BatchStatus.FAILED, f"internal error: {type(exc).__name__}")
            raise


def start(
    db: Database, settings: Settings, account_id: int, req: SendRequest, actor: str, batch_id: str, *,
    source: Source | None = None, deferred: dt.datetime | None = None, concat_for: ConcatFor | None = None,
    on_done: Callable[[], None] | None = None,
) -> threading.Thread:
    """:func:`run` in a background thread (``POST /batches``); the outcome is read on the batch."""

    def work() -> None:
        try:
            run(db, settings, account_id, req, actor, batch_id, source=source, deferred=deferred, concat_for=concat_for)
        except Exception:  # noqa: BLE001 - run() recorded it on the batch (and logged it unless a refusal)
            return
        finally:
            if on_done is not None:
                on_done()

    with _running_lock:
        _running.add(batch_id)  # until run() takes over: never seen as abandoned meanwhile
    thread = threading.Thread(target=work, name=f"textos-batch-{batch_id[:8]}", daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------- completion


def _unfinished_left(session: Session, job_id: int) -> bool:
    """Whether a message of the job is not final yet: still to hand to a carrier, or sent and
    waiting for its receipt (the newest ids first: they go last)."""
    return session.scalar(
        select(Message.id).where(Message.job_id == job_id, Message.status.in_(_UNFINISHED)).order_by(Message.id.desc()).limit(1)
    ) is not None


def _settled_at(session: Session, job_id: int, default: dt.datetime) -> dt.datetime:
    """When the job's last message settled (``messages.settled_at``); ``default`` when none says
    (messages settled before migration 0013)."""
    return session.scalar(select(func.max(Message.settled_at)).where(Message.job_id == job_id)) or default


_checks: dict[str, tuple[float, float]] = {}
"""INSERTED batch id → (monotonic time of its next check, interval): a batch still sending is
checked less and less often (1 s, 2 s, … 16 s), since the check may scan its job's messages."""
_checks_lock = threading.Lock()
_clock = time.monotonic


def _due(batch_id: str) -> bool:
    """Whether to check the batch now (and when to check it next, if it is not finished)."""
    now = _clock()
    with _checks_lock:
        at, interval = _checks.get(batch_id, (now, 0.5))
        if now < at:
            return False
        interval = min(2 * interval, 16.0)
        _checks[batch_id] = (now + interval, interval)
        if len(_checks) > 10_000:  # ended batches are never checked again: forget them
            _checks.clear()
        return True


def complete_finished(db: Database, batch_id: str | None = None) -> int:
    """Move batches on (all, or ``batch_id``); returns how many moved. Run by a writer, never on a read.

    - INSERTED whose messages are all final (a sent one waits for its receipt, or for
      ``receipt_timeout`` to settle it as *no_receipt*) → COMPLETED, finished when its last
      message settled (not when this call saw it: the same whenever it runs);
    - PENDING/INSERTING/TO_CANCEL not ingested by this process and not touched for
      ``ABANDONED_AFTER`` seconds (their process stopped) → FAILED, or CANCELED when a
      cancel was asked; nothing was written nor charged for them.

    Reads first; a write transaction is opened only when something moves. Of all batches,
    one still sending is checked less often as time goes (at most every 16 s); a batch
    named by ``batch_id`` is checked at each call."""
    now = utcnow()
    stale = now - dt.timedelta(seconds=ABANDONED_AFTER)
    only = [Batch.id == batch_id] if batch_id is not None else []
    with db.read() as session:
        inserted = session.execute(
            select(Batch.id, Batch.job_id).where(Batch.status == BatchStatus.INSERTED.value, Batch.job_id.is_not(None), *only)
        ).all()
        due = inserted if batch_id is not None else [(bid, job_id) for bid, job_id in inserted if _due(bid)]
        finished = [(bid, _settled_at(session, job_id, now)) for bid, job_id in due
                    if job_id is not None and not _unfinished_left(session, job_id)]
        left = session.execute(
            select(Batch.id, Batch.status).where(Batch.status.in_(INGESTING), Batch.updated_at < stale, *only)
        ).all()
    with _running_lock:
        abandoned = [(bid, status) for bid, status in left if bid not in _running]
    if not finished and not abandoned:
        return 0
    moved = 0
    with db.session() as session:
        for bid, settled in finished:
            moved += _moved(session, update(Batch).where(Batch.id == bid, Batch.status == BatchStatus.INSERTED.value)
                            .values(status=BatchStatus.COMPLETED.value, finished_at=settled, updated_at=now))
        for bid, status in abandoned:
            ended = BatchStatus.CANCELED if status == BatchStatus.TO_CANCEL.value else BatchStatus.FAILED
            moved += _moved(session, update(Batch).where(Batch.id == bid, Batch.status == status, Batch.updated_at < stale).values(
                status=ended.value, finished_at=now, updated_at=now, errors=[{"receiver": "", "message": INTERRUPTED}],
            ))  # fmt: skip
    return moved


# --------------------------------------------------------------------------- reading, canceling, removing


@dataclass(frozen=True)
class Stats:
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    sent: int = 0
    cancelled: int = 0
    credits_milli: int = 0
    no_receipt: int = 0
    """Of ``failed``: sent, but no receipt came within ``receipt_timeout``."""
    blacklisted: int = 0
    """Not sent: their receiver had answered STOP to the account (status ``blacklisted``, 0 credits)."""
    stopped: int = 0
    """Sent, and answered STOP: numbers the batch's messages got blacklisted (``blacklists.batch_id``)."""

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.pending + self.sent + self.cancelled + self.blacklisted

    @property
    def stoplisted(self) -> int:
        """``sms.BatchStatistics.stoplisted``: SMS of the batch a STOP concerns, refused (to a number
        already blacklisted) or answered (the STOP came in reply); never both for one SMS."""
        return self.blacklisted + self.stopped


def batch_stats(session: Session, batch: Batch) -> Stats:
    """How the batch's messages stand (``sms.BatchStatistics``)."""
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
    stopped = session.scalar(select(func.count()).select_from(Blacklist).where(
        Blacklist.account_id == batch.account_id, Blacklist.batch_id == batch.id)) or 0
    return Stats(
        blacklisted=counts.get(MessageStatus.BLACKLISTED.value, 0),
        stopped=int(stopped),
        delivered=counts.get(MessageStatus.DELIVERED.value, 0),
        failed=sum(counts.get(s.value, 0) for s in FAILED_STATUSES),
        pending=sum(counts.get(s, 0) for s in _PENDING),
        sent=counts.get(MessageStatus.SENT.value, 0),
        cancelled=counts.get(MessageStatus.CANCELLED.value, 0),
        credits_milli=credits,
        no_receipt=counts.get(MessageStatus.NO_RECEIPT.value, 0),
    )


def cancel_batch(db: Database, batch_id: str, actor: str) -> None:
    """Cancel a batch whose SMS are not sent yet: stop its ingest, or refund its queued messages."""
    queued = MessageStatus.QUEUED.value
    with db.session() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise NotFound(f"id: batch {batch_id} does not exist")
        stopping = _moved(session, update(Batch)
                          .where(Batch.id == batch_id, Batch.status.in_((BatchStatus.PENDING.value, BatchStatus.INSERTING.value)))
                          .values(status=BatchStatus.TO_CANCEL.value, updated_at=utcnow()))
        if stopping:  # its ingest sees it and stops: nothing will be written nor charged
            return
        session.refresh(batch)
        if batch.status != BatchStatus.INSERTED.value or batch.job_id is None:
            raise Conflict(f"id: batch {batch_id} is {batch.status} and cannot be canceled")
        handed = session.scalar(
            select(func.count()).select_from(Message)
            .where(Message.job_id == batch.job_id,
                   Message.status.not_in((queued, MessageStatus.CANCELLED.value, MessageStatus.BLACKLISTED.value)))
        )
        if handed:
            raise Conflict(f"id: batch {batch_id} has {handed} SMS already handed to a carrier; it can no longer be canceled")
        batch.status = BatchStatus.CANCELING.value
        job_id = batch.job_id
    with db.session() as session:
        ids = list(session.scalars(select(Message.id).where(Message.job_id == job_id, Message.status == queued)))
        for first in range(0, len(ids), 5000):
            close_unsent(session, ids[first:first + 5000], from_statuses=(queued,), to_status=MessageStatus.CANCELLED.value,
                         actor=actor, reason=f"batch {batch_id} canceled")
        session.execute(update(Batch).where(Batch.id == batch_id).values(
            status=BatchStatus.CANCELED.value, finished_at=utcnow(), updated_at=utcnow()))


def rename_batch(batch: Batch, name: str) -> None:
    """``PUT /batches/{id}``: a new name, and ``updatedAt`` says when it changed."""
    batch.name = name
    batch.updated_at = utcnow()


def remove_batch(session: Session, batch: Batch) -> None:
    """Delete a batch that has ended (its job and SMS stay in the history, without it)."""
    ended = batch.status in ENDED or (
        batch.status == BatchStatus.INSERTED.value and batch.job_id is not None and not _unfinished_left(session, batch.job_id)
    )
    if not ended:
        raise Conflict(f"id: batch {batch.id} is {batch.status}; cancel it or wait for it to complete before removing it")
    session.execute(update(Job).where(Job.batch_id == batch.id).values(batch_id=None))
    session.delete(batch)


# --------------------------------------------------------------------------- reads and views


def get_batch(session: Session, account_id: int, batch_id: str) -> Batch:
    batch = session.scalar(select(Batch).where(Batch.id == batch_id, Batch.account_id == account_id))
    if batch is None:
        raise NotFound(f"id: batch {batch_id} does not exist")
    return batch


def valid_receivers(session: Session, batch: Batch) -> int:
    """Distinct valid receivers of the batch's job (0 until it is accepted)."""
    return (session.scalar(select(Job.receivers).where(Job.id == batch.job_id)) or 0) if batch.job_id else 0


def list_batches(session: Session, account_id: int) -> list[Batch]:
    return list(session.scalars(select(Batch).where(Batch.account_id == account_id).order_by(Batch.created_at)))


def batch_view(batch: Batch) -> dict[str, Any]:
    """``sms.Batch``."""
    return {
        "accountID": batch.account_id,
        "createdAt": iso(batch.created_at),
        "errors": list(batch.errors or []),
        "estimatedCredits": to_credits(batch.estimated_credits_milli),
        "finishedAt": iso(batch.finished_at),
        "from": batch.sender,
        "id": batch.id,
        "message": batch.message,
        "name": batch.name,
        "processedRecords": batch.processed_records,
        "receivers": batch.receivers,
        "sentAt": iso(batch.sent_at),
        "slotID": batch.slot_id,
        "startedAt": iso(batch.started_at),
        "status": batch.status,
        "totalRecords": batch.total_records,
        "updatedAt": iso(batch.updated_at),
    }


def statistics_view(batch: Batch, stats: Stats) -> dict[str, Any]:
    """``sms.BatchStatistics``, and ``noReceipt`` (Textos's): those of ``failed`` whose receipt never came."""
    return {
        "credits": to_credits(stats.credits_milli),
        "delivered": stats.delivered,
        "estimatedCredits": to_credits(batch.estimated_credits_milli),
        "failed": stats.failed,
        "id": batch.id,
        "noReceipt": stats.no_receipt,
        "pending": stats.pending,
        "sent": stats.sent,
        "stoplisted": stats.stoplisted,
    }
