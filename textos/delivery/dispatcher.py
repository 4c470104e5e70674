"""The dispatcher: claims due messages, hands them to connectors, persists every step.

Every state change is written before the next step starts:

    queued ──claim──▶ submitting ──submit result──▶ sent ──receipts──▶ delivered | failed
       │                   │                          (rejected: refunded)
       └─ expired (refunded)                           (retry: back to queued, later)

Guarantee: a message accepted by the API is submitted at least once and at most
once per crash that happens while it is *submitting* (handed to the carrier, no
response stored yet). On start, messages left *submitting* by a crash are queued
again: the only possible duplicates are the in-flight window of the crashed
process, which SMPP cannot distinguish from losses.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import defaultdict
from typing import Callable, Sequence

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from textos.delivery.connector import Connector, IncomingMessage, OutboundMessage, Receipt, SubmitOutcome, SubmitResult
from textos.delivery.receipts import apply_receipts, canonical_carrier_id, replay_pending
from textos.delivery.routing import Router
from textos.domain.encoding import Encoding
from textos.services.refunds import close_unsent, expire_overdue
from textos.storage.db import Database
from textos.storage.models import IncomingSms, Job, Message, MessagePart, utcnow

log = logging.getLogger("textos.dispatcher")

PRIORITY_NAMES = {0: "high", 1: "medium", 2: "low", 3: "veryLow"}


def recover(session: Session) -> int:
    """Queue again what a previous process left in flight (see the module's guarantee)."""
    result = session.execute(update(Message).where(Message.status == "submitting").values(status="queued"))
    return result.rowcount or 0


def claim_due(session: Session, limit: int, postgres: bool) -> list[OutboundMessage]:
    """Move up to ``limit`` due messages, by priority then age, to *submitting*."""
    now = utcnow()
    stmt = (
        select(Message.id)
        .where(Message.status == "queued", Message.send_at <= now)
        .order_by(Message.priority, Message.id)
        .limit(limit)
    )
    if postgres:
        stmt = stmt.with_for_update(skip_locked=True)
    ids = session.scalars(stmt).all()
    if not ids:
        return []
    session.execute(
        update(Message)
        .where(Message.id.in_(ids))
        .values(status="submitting", attempts=Message.attempts + 1),
        execution_options={"synchronize_session": False},
    )
    rows = session.execute(
        select(
            Message.id, Message.sender, Message.receiver, Message.text, Message.encoding, Message.parts,
            Message.priority, Message.expires_at, Job.text.label("job_text"), Job.sender_type, Job.message_class,
        )
        .join(Job, Job.id == Message.job_id)
        .where(Message.id.in_(ids))
        .order_by(Message.priority, Message.id)
    ).all()
    return [
        OutboundMessage(
            id=r.id,
            sender=r.sender,
            sender_type=r.sender_type,
            receiver=r.receiver,
            text=r.text if r.text is not None else r.job_text,
            encoding=Encoding(r.encoding),
            parts=r.parts,
            message_class=r.message_class,
            priority=PRIORITY_NAMES.get(r.priority, "high"),
            validity_until=r.expires_at,
        )
        for r in rows
    ]


def store_results(session: Session, results: Sequence[SubmitResult], connector_of: dict[int, str]) -> None:
    """Persist submit results: sent with part ids, rejected and refunded, or queued for retry."""
    now = utcnow()
    accepted = [r for r in results if r.outcome is SubmitOutcome.ACCEPTED]
    if accepted:
        t = Message.__table__
        session.execute(
            update(t)
            .where(t.c.id == bindparam("b_id"), t.c.status == "submitting")
            .values(status="sent", ptt=3, dlr=4, sent_at=now, carrier_id=bindparam("b_cid"), connector=bindparam("b_conn")),
            [
                {"b_id": r.message_id, "b_cid": r.part_ids[0] if r.part_ids else None, "b_conn": connector_of.get(r.message_id)}
                for r in accepted
            ],
        )
        parts = [
            {"message_id": r.message_id, "part_no": i + 1, "carrier_id": canonical_carrier_id(pid)}
            for r in accepted
            for i, pid in enumerate(r.part_ids)
        ]
        if parts:
            session.execute(insert(MessagePart), parts)
            replay_pending(session, [p["carrier_id"] for p in parts])
    rejected = [r for r in results if r.outcome is SubmitOutcome.REJECTED]
    for r in rejected:
        close_unsent(
            session, [r.message_id], from_statuses=("submitting",), to_status="rejected",
            actor="dispatcher", reason=f"rejected at submit: {r.error}", error=r.error,
        )
    retry = [r for r in results if r.outcome is SubmitOutcome.RETRY]
    by_delay: dict[float, list[int]] = defaultdict(list)
    for r in retry:
        by_delay[r.retry_after or 1.0].append(r.message_id)
    for delay, ids in by_delay.items():
        session.execute(
            update(Message)
            .where(Message.id.in_(ids), Message.status == "submitting")
            .values(status="queued", send_at=now + dt.timedelta(seconds=delay)),
            execution_options={"synchronize_session": False},
        )


class Dispatcher:
    """Runs the delivery loop inside the server's event loop; the database does the remembering."""

    def __init__(self, db: Database, router: Router, *, batch: int = 500, interval: float = 0.05) -> None:
        self.db = db
        self.router = router
        self.batch = batch
        self.interval = interval
        self.listeners: list[Callable[[list[int]], None]] = []
        """Called (in a worker thread) with ids of messages whose state changed (callbacks, dashboards)."""
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_sweep = 0.0

    # Events (called by connectors)
    async def on_receipts(self, receipts: Sequence[Receipt]) -> None:
        def work() -> list[int]:
            with self.db.session() as s:
                changed, _ = apply_receipts(s, receipts)
            return changed

        changed = await asyncio.to_thread(work)
        self._notify(changed)

    async def on_incoming(self, message: IncomingMessage) -> None:
        def work() -> None:
            with self.db.session() as s:
                s.add(
                    IncomingSms(
                        sender=message.sender,
                        receiver=message.receiver,
                        text=message.text,
                        connector=message.connector,
                        created_at=message.received_at.replace(tzinfo=None),
                    )
                )

        await asyncio.to_thread(work)

    def _notify(self, ids: list[int]) -> None:
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
            with self.db.session() as s:
                return recover(s)

        requeued = await asyncio.to_thread(boot)
        if requeued:
            log.warning("requeued %d messages left in flight by a previous run", requeued)
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
        for connector in self.router.connectors:
            await connector.close()

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            try:
                busy = await self.tick()
            except Exception:
                log.exception("dispatcher tick failed")
                busy = False
            if not busy:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.interval)

    async def tick(self) -> bool:
        """One round: sweep expiries (at most once a second), claim, submit, store. True if it sent."""
        now = time.monotonic()
        if now - self._last_sweep >= 1.0:
            self._last_sweep = now
            await asyncio.to_thread(self._sweep)

        def claim() -> list[OutboundMessage]:
            with self.db.session() as s:
                return claim_due(s, self.batch, postgres=not self.db.is_sqlite)

        batch = await asyncio.to_thread(claim)
        if not batch:
            return False
        groups: dict[int, tuple[Connector, list[OutboundMessage]]] = {}
        unrouted: list[SubmitResult] = []
        for message in batch:
            connector = self.router.route(message)
            if connector is None:
                unrouted.append(SubmitResult(message.id, SubmitOutcome.RETRY, error="no route", retry_after=5.0))
                continue
            groups.setdefault(id(connector), (connector, []))[1].append(message)
        outcomes = await asyncio.gather(
            *(self._submit(connector, messages) for connector, messages in groups.values())
        )
        results = [r for group in outcomes for r in group] + unrouted
        connector_of = {m.id: c.name for c, msgs in groups.values() for m in msgs}

        def store() -> None:
            with self.db.session() as s:
                store_results(s, results, connector_of)

        await asyncio.to_thread(store)
        changed = [r.message_id for r in results if r.outcome is not SubmitOutcome.RETRY]
        self._notify(changed)
        return True

    async def _submit(self, connector: Connector, messages: list[OutboundMessage]) -> list[SubmitResult]:
        try:
            results = await connector.submit(messages)
        except Exception as exc:  # a broken link: retry later, never drop
            log.warning("connector %s failed: %s", connector.name, exc)
            return [SubmitResult(m.id, SubmitOutcome.RETRY, error=str(exc)[:200], retry_after=2.0) for m in messages]
        seen = {r.message_id for r in results}
        missing = [SubmitResult(m.id, SubmitOutcome.RETRY, error="no result", retry_after=1.0) for m in messages if m.id not in seen]
        return list(results) + missing

    def _sweep(self) -> None:
        with self.db.session() as s:
            expired = expire_overdue(s)
        if expired:
            log.info("expired %d messages", expired)
        if time.monotonic() % 60 < 1.0:
            with self.db.session() as s:
                replay_pending(s)
