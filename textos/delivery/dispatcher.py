"""The dispatcher: claims due messages, hands them to connectors, persists every step.

Every state change (``storage.messages``, the message lifecycle) is written before the
next step starts: claim, submit, store the results, apply receipts, expire, and settle
as *no_receipt* what waited for its receipt longer than ``receipt_timeout``.

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
go through writer threads (``delivery.writer``) that coalesce whatever is waiting into
one transaction (see ``Dispatcher.__init__``). Listeners to message state changes
subscribe to ``Database.changes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any, Callable, Sequence

from sqlalchemy.orm import Session

from textos.delivery.connector import Connector, IncomingMessage, OutboundMessage, Receipt, SubmitOutcome, SubmitResult
from textos.delivery.incoming import PART_TTL, store_incoming, sweep_parts
from textos.delivery.ownership import Instance, requeue_orphans
from textos.delivery.routing import Router
from textos.delivery.writer import Writer
from textos.observability import instruments
from textos.storage import messages
from textos.storage.db import Database
from textos.storage.outages import Outage
from textos.storage.receipts import forget_kept, replay_pending
from textos.storage.wakeups import Listener

log = logging.getLogger("textos.dispatcher")

ORPHAN_SWEEP = 2.0
"""Seconds between looks for messages in flight that nobody holds any more: those of
stopped dispatchers (PostgreSQL), and our own whose submit results could not be stored."""

IncomingHandler = Callable[[Session, int], None]
"""What an incoming message causes (attribution, charging, STOP, automatic answers, callbacks),
done in the transaction that stores it: called with that session and the message's id."""

RECEIPT_CHUNKS = 10
"""Transactions of ``storage.messages.CHUNK`` overdue messages settled as *no_receipt* per sweep (at most)."""

KEPT_RECEIPT_TTL = 259_200.0
"""Seconds a receipt kept for an id not stored yet is kept (``storage.receipts.forget_kept``) when the
dispatcher has no ``receipt_timeout``; with one, that."""

OUTAGE_PAUSE = 1.0
"""Seconds between two ticks while the database is unavailable (``storage.outages``), unless woken
sooner: by a new job, or on PostgreSQL by the listener connecting again (``storage.wakeups``)."""


class Dispatcher:
    """Runs the delivery loop inside the server's event loop; the database does the remembering."""

    def __init__(
        self, db: Database, router: Router, *, batch: int = 500, interval: float = 0.05, max_inflight: int = 4,
        part_ttl: float = PART_TTL, receipt_timeout: float | None = None, on_incoming: IncomingHandler | None = None,
    ) -> None:
        self.db = db
        self.on_incoming_stored = on_incoming
        """Called for each whole incoming message in the transaction that stores it (the composition
        root passes ``services.incoming.handle``): the SMSC is acknowledged only after both commit."""
        self.part_ttl = part_ttl
        """Seconds to wait for the missing parts of a long incoming message."""
        self.receipt_timeout = receipt_timeout
        """Seconds a sent message waits for its receipt before it settles as *no_receipt*
        (``Settings.receipt_deadline``); ``None``: for ever."""
        self.router = router
        self.batch = batch
        self.interval = interval
        self.max_inflight = max_inflight
        self._writer = Writer(db, concurrent=not db.is_sqlite)
        self._claimer = self._writer if db.is_sqlite else Writer(db, "textos-claimer")
        self._receipter = self._writer if db.is_sqlite else Writer(db, "textos-receipts", concurrent=True)
        """On PostgreSQL, claims (with sweeps), submit results and receipts are written by
        three threads on three connections, so that a receipt never waits behind a claim
        or a batch of results: the SMSC holds back further receipts until it has our
        answer. SQLite has one writer at a time anyway: one thread does all three."""
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots_taken = 0
        """Batches in flight or about to be: its own claims, and groups handed to it (``room``),
        at most ``max_inflight`` (the bound on what a crash may send twice)."""
        self._slots_lock = threading.Lock()
        self._stopping = False
        self._last_sweep = 0.0
        self._last_replay = 0.0
        self._last_orphans = time.monotonic()
        self.instance: Instance | None = None
        """This dispatcher's identity (``delivery.ownership``), from ``start()``."""
        self._holding: set[int] = set()
        """Ids this dispatcher has claimed and whose submit results are not stored yet."""
        self._drained = False
        """Its last claim took every due message (none older waits in the queue): ``room`` may let
        new messages be handed to it as they are accepted."""
        self.store_retry_delays: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
        """Waits between attempts to store a batch's submit results before giving up."""
        self.orphan_sweep = ORPHAN_SWEEP
        self._throttled_seen: dict[str, int] = {}
        """Each connector's throttling count at the last ``sample_carriers``."""
        self._outage = Outage(log, "dispatcher")
        self._listener: Listener | None = None
        """PostgreSQL: woken by the ``NOTIFY`` of transactions that write new messages, in any
        process (``storage.wakeups``); SQLite: by the database's ``Doorbell``, rung by other
        processes; in the API's own process ``wake()`` is also called."""

    # Events (called by connectors)
    async def on_receipts(self, receipts: Sequence[Receipt]) -> None:
        for receipt in receipts:
            instruments.carrier_receipts.labels(receipt.connector or "unknown", receipt.state.value).inc()
        await self._receipter.receipts(receipts)

    async def on_incoming(self, message: IncomingMessage) -> None:
        """Store an incoming message or part (the connector acknowledges it afterwards)."""

        def work() -> int | None:
            with self.db.session() as s:
                incoming_id = store_incoming(s, message)
                if incoming_id is not None and self.on_incoming_stored is not None:
                    self.on_incoming_stored(s, incoming_id)
                return incoming_id

        try:
            await self._receipter.call(work)
        except Exception as exc:
            if not self._outage.failed(exc):
                log.exception("could not store an incoming message")
            raise

    # Lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()

        def boot() -> int:
            self.instance = Instance(self.db)
            if self.db.is_sqlite:
                with self.db.session() as s:  # everything in flight is ours: see ownership
                    return messages.requeue(s)
            return requeue_orphans(self.db, self.instance, at_start=True)

        requeued = await self._claimer.call(boot)
        log.info("dispatcher instance %d started", self.instance.number if self.instance else 0)
        if requeued:
            log.warning("requeued %d messages left in flight by a stopped dispatcher", requeued)
        for connector in self.router.connectors:
            await connector.start(self)
        self._task = asyncio.create_task(self._run(), name="dispatcher")
        if self.db.doorbell is not None:
            self.db.doorbell.answer(self._loop, self.wake)
        elif not self.db.is_sqlite:
            self._listener = Listener(self.db.url, self.wake)

    def wake(self) -> None:
        """Tell the loop new work may be due (safe from any thread)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        self._stopping = True
        if self._listener is not None:
            await asyncio.to_thread(self._listener.close)
        if self.db.doorbell is not None and self._loop is not None:
            self.db.doorbell.stop_answering(self._loop)
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
            self._wake.clear()  # before the claim: a wake-up arriving during it is not lost
            try:
                claimed = await self.tick()
                self._outage.succeeded()
            except Exception as exc:
                if not self._outage.failed(exc):
                    log.exception("dispatcher tick failed")
                claimed = False
            if claimed:
                continue
            pause = OUTAGE_PAUSE if self._outage.down else self.interval
            waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.wait(waiters + list(self._inflight), return_when=asyncio.FIRST_COMPLETED), pause)
            for w in waiters:
                w.cancel()

    async def tick(self) -> bool:
        """Sweep expiries (at most once a second); claim and launch one batch if there is room."""
        now = time.monotonic()
        if now - self._last_sweep >= 1.0:
            self._last_sweep = now
            self.sample_carriers()
            await self._claimer.call(self._sweep)
        while not self._take_slot():
            if self._inflight:
                await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            else:  # every slot taken by groups handed to it, their transactions committing
                await asyncio.sleep(0.001)

        def claim() -> list[OutboundMessage]:
            with self.db.session() as s:
                return messages.claim_due(s, self.batch, OutboundMessage, instance=self.instance.number if self.instance else None)

        try:
            batch = await self._claimer.call(claim)
        except BaseException:
            self._free_slot()
            raise
        self._drained = len(batch) < self.batch
        if not batch:
            self._free_slot()
            return False
        self._launch(batch)
        return True

    def _take_slot(self) -> bool:
        """One of the ``max_inflight`` slots for a batch, if one is free (any thread)."""
        with self._slots_lock:
            if self._slots_taken >= self.max_inflight:
                return False
            self._slots_taken += 1
            return True

    def _free_slot(self, *_: object) -> None:
        with self._slots_lock:
            self._slots_taken -= 1

    def _launch(self, batch: list[OutboundMessage]) -> None:
        """Deliver a batch claimed for this dispatcher, on a slot taken for it (in flight, and the
        slot taken, until its results are stored)."""
        self._holding.update(m.id for m in batch)
        task = asyncio.create_task(self._deliver(batch))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        task.add_done_callback(self._free_slot)

    # Messages handed as they are accepted (``services.accept_writer.Handoff``)
    def room(self) -> messages.Room | None:
        """What it takes now of messages being accepted in this process: a batch, while the queue is
        drained (nothing older or of higher priority waits: behind a backlog it claims full batches,
        in order) and a batch may start; otherwise None, and they wait in the queue for a claim.
        Each group it takes is one claim transaction fewer (a woken dispatcher claims about a
        group at a time anyway). From the accept writer's thread; a room given takes a batch slot,
        given back by ``take`` (once that batch is delivered) or ``release``: exactly one of them
        follows each room given."""
        if self._stopping or self.instance is None or not self._drained or self._outage.down or not self._take_slot():
            return None
        return messages.Room(self.batch, self.instance.number, OutboundMessage)

    def hold(self, claimed: list[OutboundMessage]) -> None:
        """Messages being claimed for this dispatcher in the transaction accepting them (``room``),
        before it commits: held from now on, so that no sweep takes them for stranded between that
        commit and ``take``. From the accept writer's thread (a set update is atomic)."""
        self._holding.update(m.id for m in claimed)

    def release(self, claimed: list[OutboundMessage]) -> None:
        """The room given is not used: the transaction that was claiming them (if any, held) did not
        commit. Any thread."""
        self._holding.difference_update(m.id for m in claimed)
        self._free_slot()

    def take(self, claimed: list[OutboundMessage]) -> None:
        """Messages held (``hold``) and now committed: delivered at once, as a batch of its own
        claims, on the slot its room took (none claimed: the slot is free again). In the event loop."""
        if claimed:
            self._launch(claimed)
        else:
            self._free_slot()

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
        charged = {m.id: m.parts for m in batch}
        for delay in (*self.store_retry_delays, None):
            try:
                await self._writer.store(results, connector_of, charged)
                break
            except Exception:
                if delay is None:
                    log.error("gave up storing %d submit results; the sweep will queue them again", len(results))
                    self._holding.difference_update(m.id for m in batch)  # stranded: see _requeue_stranded
                    return
                await asyncio.sleep(delay)
        self._holding.difference_update(m.id for m in batch)
        if any(r.outcome is SubmitOutcome.RETRY for r in results) and self._wake is not None:
            self._loop.call_later(min((r.retry_after or 1.0) for r in results if r.outcome is SubmitOutcome.RETRY), self._wake.set)  # type: ignore[union-attr]

    async def _submit(self, connector: Connector, batch: list[OutboundMessage]) -> list[SubmitResult]:
        started = time.perf_counter()
        try:
            results = await connector.submit(batch)
        except Exception as exc:  # a broken link: retry later, never drop
            log.warning("connector %s failed: %s", connector.name, exc)
            instruments.carrier_submits.labels(connector.name, SubmitOutcome.RETRY.value).inc(len(batch))
            return [SubmitResult(m.id, SubmitOutcome.RETRY, error=str(exc)[:200], retry_after=2.0) for m in batch]
        instruments.carrier_submit_seconds.labels(connector.name).observe(time.perf_counter() - started)
        seen = {r.message_id for r in results}
        missing = [SubmitResult(m.id, SubmitOutcome.RETRY, error="no result", retry_after=1.0) for m in batch if m.id not in seen]
        counts: dict[str, int] = {}
        for r in results:
            counts[r.outcome.value] = counts.get(r.outcome.value, 0) + 1
        if missing:
            counts[SubmitOutcome.RETRY.value] = counts.get(SubmitOutcome.RETRY.value, 0) + len(missing)
        for outcome, n in counts.items():
            instruments.carrier_submits.labels(connector.name, outcome).inc(n)
        return list(results) + missing

    def sample_carriers(self) -> None:
        """Carrier gauges for ``/metrics`` (about once a second): bound or not, window occupancy and the
        throttling refusals since the last sample, for the connectors that tell them (SMPP)."""
        for connector in self.router.connectors:
            name = connector.name
            instruments.carrier_up.labels(name).set(1 if connector.is_up else 0)
            window = getattr(connector, "window_in_use", None)
            if window is not None:
                used, size = window()
                instruments.carrier_window_in_use.labels(name).set(used)
                instruments.carrier_window_size.labels(name).set(size)
            throttled = getattr(connector, "throttled", None)
            if throttled is not None:
                seen = self._throttled_seen.get(name, 0)
                if throttled > seen:
                    instruments.carrier_throttled.labels(name).inc(throttled - seen)
                self._throttled_seen[name] = throttled

    def carriers(self) -> dict[str, bool]:
        """Each carrier and whether it can take submits now (``/ready``)."""
        return {c.name: bool(c.is_up) for c in self.router.connectors}

    def _close_without_receipt(self, timeout: float) -> None:
        """Settle sent messages whose receipt is overdue as *no_receipt*: a few bounded
        transactions per sweep, so a backlog never holds the writer for long."""
        closed = 0
        for _ in range(RECEIPT_CHUNKS):
            with self.db.session() as s:
                moved = len(messages.close_without_receipt(s, timeout))
            closed += moved
            if moved < messages.CHUNK:
                break
        if closed:
            log.warning("%d sent messages got no receipt within %g s: settled as no_receipt", closed, timeout)

    def _requeue_stranded(self) -> None:
        """Queue again our own *submitting* messages that no batch of ours holds any more:
        their submit results could not be stored (the database was away). Like a crash,
        without the restart: they may be sent twice, as the module's guarantee says.

        What is held is read after what is in flight: a message claimed and committed by the
        time of that read was held before (a claim of ours in the loop before this sweep, or one
        in the accept writer's transaction, ``hold``, before it committed); one whose batch let it
        go since has its results stored, and the guarded requeue leaves it as they are."""
        assert self.instance is not None
        number = self.instance.number
        with self.db.session() as s:
            in_flight = messages.in_flight(s, number)
            holding = frozenset(self._holding)
            stranded = [mid for mid in in_flight if mid not in holding]
            requeued = messages.requeue(s, stranded, claimed_by=number) if stranded else 0
        if requeued:
            log.warning("requeued %d of our messages whose submit results could not be stored", requeued)

    def _sweep(self) -> None:
        with self.db.session() as s:
            expired = messages.expire_overdue(s)
        if expired:
            log.info("expired %d messages", expired)
        if self.receipt_timeout is not None:
            self._close_without_receipt(self.receipt_timeout)
        now = time.monotonic()
        if self.instance is not None and now - self._last_orphans >= self.orphan_sweep:
            self._last_orphans = now
            if not self.db.is_sqlite:
                self.instance.alive()
                requeued = requeue_orphans(self.db, self.instance)
                if requeued:
                    log.warning("requeued %d messages left in flight by a stopped dispatcher", requeued)
            self._requeue_stranded()
        if now - self._last_replay >= 30.0:
            self._last_replay = now
            with self.db.session() as s:
                replay_pending(s)
            with self.db.session() as s:
                forgotten = forget_kept(s, self.receipt_timeout or KEPT_RECEIPT_TTL)
            if forgotten:
                log.warning("%d receipts kept for ids never stored were forgotten", forgotten)
            with self.db.session() as s:
                for incoming_id in sweep_parts(s, self.part_ttl):
                    if self.on_incoming_stored is not None:
                        self.on_incoming_stored(s, incoming_id)
