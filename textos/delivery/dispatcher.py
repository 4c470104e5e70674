"""The dispatcher: claims due messages, hands them to connectors, persists every step.

Every state change is written before the next step starts:

    queued ──claim──▶ submitting ──submit result──▶ sent ──receipts──▶ delivered | failed
       │                   │                          (rejected: refunded)
       └─ expired (refunded)                           (retry: back to queued, later)

Guarantee: a message accepted by the API is submitted at least once, and more than
once only if its submit result is lost: its dispatcher stops, or cannot store the
result, while the message is *submitting* (claimed, handed to the carrier). Messages left *submitting* are queued again
once their dispatcher is known to be gone (``delivery.ownership``: at the start of
SQLite's one dispatcher; on PostgreSQL, by any dispatcher that can take the gone one's
lock; and a dispatcher's own whose submit results it could not store, by its sweep),
so the possible duplicates are bounded by what was in flight:
``batch × max_inflight`` messages per stopped dispatcher at most (the SMPP window bounds
it further, since parts not yet written to the socket were never sent).

Throughput: up to ``max_inflight`` batches are submitted concurrently; database writes
go through writer threads that coalesce whatever is waiting into one transaction
(see ``Dispatcher.__init__``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from sqlalchemy.orm import Session

from textos.delivery.connector import Connector, IncomingMessage, OutboundMessage, Receipt, SubmitOutcome, SubmitResult
from textos.delivery.incoming import PART_TTL, store_incoming, sweep_parts
from textos.delivery.ownership import Instance, requeue_orphans
from textos.delivery.receipts import apply_receipts, canonical_carrier_id, replay_pending
from textos.delivery.routing import Router
from textos.domain.encoding import Encoding
from textos.domain.priority import name_of as priority_name
from textos.services.refunds import close_unsent, expire_overdue
from textos.storage.db import Database
from textos.storage.fastsql import db_time, marks, read_time, run, run_many
from textos.storage.models import utcnow

log = logging.getLogger("textos.dispatcher")

ORPHAN_SWEEP = 2.0
"""Seconds between looks for messages in flight that nobody holds any more: those of
stopped dispatchers (PostgreSQL), and our own whose submit results could not be stored."""


def recover(session: Session) -> int:
    """Queue again everything in flight: what the previous run of SQLite's one dispatcher
    left (see the module's guarantee; PostgreSQL: ``ownership.requeue_orphans``)."""
    return run(session, "UPDATE messages SET status = 'queued' WHERE status = 'submitting'").rowcount or 0


def claim_due(session: Session, limit: int, postgres: bool, instance: int | None = None) -> list[OutboundMessage]:
    """Move up to ``limit`` due messages to *submitting* under dispatcher ``instance``:
    by priority, then longest due first."""
    lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
    rows = run(
        session,
        "UPDATE messages SET status = 'submitting', attempts = attempts + 1, claimed_by = ? WHERE id IN ("
        " SELECT id FROM messages WHERE status = 'queued' AND send_at <= ? ORDER BY priority, send_at, id LIMIT ?" + lock + ")"
        " RETURNING id, job_id, sender, receiver, text, encoding, parts, priority, expires_at",
        (instance, db_time(session, utcnow()), limit),
    ).fetchall()
    if not rows:
        return []
    job_ids = sorted({r[1] for r in rows})
    jobs = {
        jid: (text, sender_type, message_class)
        for jid, text, sender_type, message_class in run(
            session, f"SELECT id, text, sender_type, message_class FROM jobs WHERE id IN ({marks(len(job_ids))})", job_ids
        ).fetchall()
    }
    rows.sort(key=lambda r: (r[7], r[0]))
    out: list[OutboundMessage] = []
    append = out.append
    times: dict[Any, dt.datetime | None] = {}  # messages of a job share their expiry
    encodings = _ENCODINGS
    for mid, jid, sender, receiver, text, encoding, parts, priority, expires_at in rows:
        job_text, sender_type, message_class = jobs[jid]
        try:
            validity = times[expires_at]
        except KeyError:
            validity = times[expires_at] = read_time(expires_at)
        append(
            OutboundMessage(
                mid,
                sender,
                sender_type,
                receiver,
                text if text is not None else job_text,
                encodings.get(encoding) or Encoding(encoding),
                parts,
                message_class,
                priority_name(priority),
                validity,
            )
        )
    return out


_ENCODINGS = {e.value: e for e in Encoding}


def store_results(session: Session, results: Sequence[SubmitResult], connector_of: dict[int, str]) -> list[int]:
    """Persist submit results: sent with part ids, rejected and refunded, or queued for retry.
    Returns the ids of messages that receipts kept ahead of their result then settled."""
    settled: list[int] = []
    now = db_time(session, utcnow())
    accepted = [r for r in results if r.outcome is SubmitOutcome.ACCEPTED]
    if accepted:
        run_many(
            session,
            "UPDATE messages SET status = 'sent', ptt = 3, dlr = 4, sent_at = ?, carrier_id = ?, connector = ? "
            "WHERE id = ? AND status = 'submitting'",
            [
                (now, canonical_carrier_id(r.part_ids[0]) if r.part_ids else None, connector_of.get(r.message_id), r.message_id)
                for r in accepted
            ],
        )
        parts = [
            (r.message_id, i + 1, canonical_carrier_id(pid))
            for r in accepted
            if len(r.part_ids) > 1
            for i, pid in enumerate(r.part_ids)
        ]
        run_many(session, "INSERT INTO message_parts (message_id, part_no, carrier_id) VALUES (?, ?, ?)", parts)
        replay_pending(session, [pid for r in accepted for pid in r.part_ids], settled)
    for r in results:
        if r.outcome is SubmitOutcome.REJECTED:
            close_unsent(
                session, [r.message_id], from_statuses=("submitting",), to_status="rejected",
                actor="dispatcher", reason=f"rejected at submit: {r.error}", error=r.error,
            )
    by_delay: dict[float, list[int]] = defaultdict(list)
    for r in results:
        if r.outcome is SubmitOutcome.RETRY:
            by_delay[r.retry_after or 1.0].append(r.message_id)
    for delay, ids in by_delay.items():
        later = db_time(session, utcnow() + dt.timedelta(seconds=delay))
        run_many(
            session,
            "UPDATE messages SET status = 'queued', send_at = ? WHERE id = ? AND status = 'submitting'",
            [(later, mid) for mid in ids],
        )
    return settled


class _Writer:
    """One thread for the dispatcher's writes; what waits meanwhile is committed together."""

    def __init__(
        self, db: Database, name: str = "textos-writer", *, concurrent: bool = False,
        on_settled: Callable[[list[int]], None] | None = None,
    ) -> None:
        self.db = db
        self.on_settled = on_settled
        """Told (in the event loop) of messages settled by kept receipts while storing."""
        self.concurrent = concurrent
        """Receipts and submit results are written by two writers at once (PostgreSQL).
        A receipt can then be kept (its message not yet visible) while the transaction
        that stores its message cannot see the kept receipt. So each writer, after
        committing, replays in a new transaction: the receipt writer what it kept, the
        result writer the ids it stored. Whichever commits last sees both; a replay
        takes only receipts that match, and only one replay takes each (see
        ``replay_pending``)."""
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._results: list[tuple[Sequence[SubmitResult], dict[int, str], asyncio.Future[None]]] = []
        self._receipts: list[tuple[Sequence[Receipt], asyncio.Future[list[int]]]] = []
        self._busy = False

    async def call(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    async def store(self, results: Sequence[SubmitResult], connector_of: dict[int, str]) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._results.append((results, connector_of, fut))
        self._kick()
        await fut

    async def receipts(self, receipts: Sequence[Receipt]) -> list[int]:
        fut: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._receipts.append((receipts, fut))
        self._kick()
        return await fut

    def _kick(self) -> None:
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._results or self._receipts:
                results, self._results = self._results, []
                receipts, self._receipts = self._receipts, []

                settled: list[int] = []

                def work() -> list[list[int]]:
                    again: list[str] = []
                    with self.db.session() as s:
                        for stored, connector_of, _ in results:
                            settled.extend(store_results(s, stored, connector_of))
                            again += [pid for r in stored if r.outcome is SubmitOutcome.ACCEPTED for pid in r.part_ids]
                        changed = []
                        for applied, _ in receipts:
                            ids, pending = apply_receipts(s, applied)
                            changed.append(ids)
                            if pending:
                                again += [receipt.carrier_id for receipt in applied]
                    if again and self.concurrent:
                        with self.db.session() as s:
                            replay_pending(s, again, settled)
                    return changed

                try:
                    changed = await self.call(work)
                except Exception as exc:
                    log.exception("could not store %d results / %d receipt batches", len(results), len(receipts))
                    for *_, fut in results + receipts:  # type: ignore[operator]
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for *_, fut in results:
                    if not fut.done():
                        fut.set_result(None)
                for (_, fut), ids in zip(receipts, changed):
                    if not fut.done():
                        fut.set_result(ids)
                if settled and self.on_settled is not None:
                    self.on_settled(settled)
        finally:
            self._busy = False

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class Dispatcher:
    """Runs the delivery loop inside the server's event loop; the database does the remembering."""

    def __init__(
        self, db: Database, router: Router, *, batch: int = 500, interval: float = 0.05, max_inflight: int = 4,
        part_ttl: float = PART_TTL,
    ) -> None:
        self.db = db
        self.part_ttl = part_ttl
        """Seconds to wait for the missing parts of a long incoming message."""
        self.router = router
        self.batch = batch
        self.interval = interval
        self.max_inflight = max_inflight
        self.listeners: list[Callable[[list[int]], None]] = []
        """Called with ids of messages whose state changed (callbacks, dashboards); must not block."""
        self._writer = _Writer(db, concurrent=not db.is_sqlite, on_settled=self._notify)
        self._claimer = self._writer if db.is_sqlite else _Writer(db, "textos-claimer")
        self._receipter = self._writer if db.is_sqlite else _Writer(db, "textos-receipts", concurrent=True, on_settled=self._notify)
        """On PostgreSQL, claims (with sweeps), submit results and receipts are written by
        three threads on three connections, so that a receipt never waits behind a claim
        or a batch of results: the SMSC holds back further receipts until it has our
        answer. SQLite has one writer at a time anyway: one thread does all three."""
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._last_sweep = 0.0
        self._last_replay = 0.0
        self._last_orphans = time.monotonic()
        self.instance: Instance | None = None
        """This dispatcher's identity (``delivery.ownership``), from ``start()``."""
        self._holding: set[int] = set()
        """Ids this dispatcher has claimed and whose submit results are not stored yet."""
        self.store_retry_delays: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
        """Waits between attempts to store a batch's submit results before giving up."""
        self.orphan_sweep = ORPHAN_SWEEP

    # Events (called by connectors)
    async def on_receipts(self, receipts: Sequence[Receipt]) -> None:
        self._notify(await self._receipter.receipts(receipts))

    async def on_incoming(self, message: IncomingMessage) -> None:
        """Store an incoming message or part (the connector acknowledges it afterwards)."""

        def work() -> int | None:
            with self.db.session() as s:
                return store_incoming(s, message)

        await self._receipter.call(work)

    def _notify(self, ids: list[int]) -> None:
        if not ids:
            return
        for listener in self.listeners:
            try:
                listener(ids)
            except Exception:  # a listener must never break delivery
                log.exception("state listener failed")

    # Lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()

        def boot() -> int:
            self.instance = Instance(self.db)
            if self.db.is_sqlite:
                with self.db.session() as s:
                    return recover(s)
            return requeue_orphans(self.db, self.instance, at_start=True)

        requeued = await self._claimer.call(boot)
        log.info("dispatcher instance %d started", self.instance.number if self.instance else 0)
        if requeued:
            log.warning("requeued %d messages left in flight by a stopped dispatcher", requeued)
        for connector in self.router.connectors:
            await connector.start(self)
        self._task = asyncio.create_task(self._run(), name="dispatcher")

    def wake(self) -> None:
        """Tell the loop new work may be due (safe from any thread)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=30)
        for connector in self.router.connectors:
            await connector.close()
        for writer in {self._writer, self._claimer, self._receipter}:
            writer.close()
        if self.instance is not None:
            self.instance.close()  # only now: what it had in flight is settled or stays ours

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            try:
                claimed = await self.tick()
            except Exception:
                log.exception("dispatcher tick failed")
                claimed = False
            if claimed:
                continue
            self._wake.clear()
            waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.wait(waiters + list(self._inflight), return_when=asyncio.FIRST_COMPLETED), self.interval)
            for w in waiters:
                w.cancel()

    async def tick(self) -> bool:
        """Sweep expiries (at most once a second); claim and launch one batch if there is room."""
        now = time.monotonic()
        if now - self._last_sweep >= 1.0:
            self._last_sweep = now
            holding = frozenset(self._holding)  # claims come after the sweep: this stays true during it
            await self._claimer.call(lambda: self._sweep(holding))
        if len(self._inflight) >= self.max_inflight:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)

        def claim() -> list[OutboundMessage]:
            with self.db.session() as s:
                return claim_due(s, self.batch, postgres=not self.db.is_sqlite, instance=self.instance.number if self.instance else None)

        batch = await self._claimer.call(claim)
        if not batch:
            return False
        self._holding.update(m.id for m in batch)
        task = asyncio.create_task(self._deliver(batch))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return True

    async def _deliver(self, batch: list[OutboundMessage]) -> None:
        groups: dict[int, tuple[Connector, list[OutboundMessage]]] = {}
        unrouted: list[SubmitResult] = []
        for message in batch:
            connector = self.router.route(message)
            if connector is None:
                unrouted.append(SubmitResult(message.id, SubmitOutcome.RETRY, error="no route", retry_after=5.0))
                continue
            groups.setdefault(id(connector), (connector, []))[1].append(message)
        outcomes = await asyncio.gather(*(self._submit(c, msgs) for c, msgs in groups.values()))
        results = [r for group in outcomes for r in group] + unrouted
        connector_of = {m.id: c.name for c, msgs in groups.values() for m in msgs}
        for delay in (*self.store_retry_delays, None):
            try:
                await self._writer.store(results, connector_of)
                break
            except Exception:
                if delay is None:
                    log.error("gave up storing %d submit results; the sweep will queue them again", len(results))
                    self._holding.difference_update(m.id for m in batch)  # stranded: see _requeue_stranded
                    return
                await asyncio.sleep(delay)
        self._holding.difference_update(m.id for m in batch)
        self._notify([r.message_id for r in results if r.outcome is not SubmitOutcome.RETRY])
        if any(r.outcome is SubmitOutcome.RETRY for r in results) and self._wake is not None:
            self._loop.call_later(min((r.retry_after or 1.0) for r in results if r.outcome is SubmitOutcome.RETRY), self._wake.set)  # type: ignore[union-attr]

    async def _submit(self, connector: Connector, messages: list[OutboundMessage]) -> list[SubmitResult]:
        try:
            results = await connector.submit(messages)
        except Exception as exc:  # a broken link: retry later, never drop
            log.warning("connector %s failed: %s", connector.name, exc)
            return [SubmitResult(m.id, SubmitOutcome.RETRY, error=str(exc)[:200], retry_after=2.0) for m in messages]
        seen = {r.message_id for r in results}
        missing = [SubmitResult(m.id, SubmitOutcome.RETRY, error="no result", retry_after=1.0) for m in messages if m.id not in seen]
        return list(results) + missing

    def _requeue_stranded(self, holding: frozenset[int]) -> None:
        """Queue again our own *submitting* messages that no batch of ours holds any more:
        their submit results could not be stored (the database was away). Like a crash,
        without the restart: they may be sent twice, as the module's guarantee says."""
        assert self.instance is not None
        with self.db.session() as s:
            ours = [row[0] for row in run(
                s, "SELECT id FROM messages WHERE status = 'submitting' AND claimed_by = ?", (self.instance.number,)
            ).fetchall()]
            stranded = [mid for mid in ours if mid not in holding]
            if stranded:
                run_many(
                    s, "UPDATE messages SET status = 'queued' WHERE id = ? AND status = 'submitting' AND claimed_by = "
                    + str(int(self.instance.number)), [(mid,) for mid in stranded],
                )
        if stranded:
            log.warning("requeued %d of our messages whose submit results could not be stored", len(stranded))

    def _sweep(self, holding: frozenset[int]) -> None:
        with self.db.session() as s:
            expired = expire_overdue(s)
        if expired:
            log.info("expired %d messages", expired)
        now = time.monotonic()
        if self.instance is not None and now - self._last_orphans >= self.orphan_sweep:
            self._last_orphans = now
            if not self.db.is_sqlite:
                self.instance.alive()
                requeued = requeue_orphans(self.db, self.instance)
                if requeued:
                    log.warning("requeued %d messages left in flight by a stopped dispatcher", requeued)
            self._requeue_stranded(holding)
        if now - self._last_replay >= 30.0:
            self._last_replay = now
            settled: list[int] = []
            with self.db.session() as s:
                replay_pending(s, changed=settled)
            if settled and self._loop is not None:
                self._loop.call_soon_threadsafe(self._notify, settled)
            with self.db.session() as s:
                sweep_parts(s, self.part_ttl)
