"""The dispatcher's writes: submit results and receipts, coalesced into few transactions.

A ``Writer`` is one thread; what callers hand it while it writes is committed
together in its next transaction, so the database sees a few large transactions
instead of one per batch or per receipt. The message state changes are published by
``Database.session()`` after each commit (``storage.events``).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy.orm import Session

from textos.delivery.connector import Receipt, SubmitOutcome, SubmitResult
from textos.storage import messages
from textos.storage.db import Database
from textos.storage.outages import Outage
from textos.storage.receipts import apply_receipts, replay_pending

log = logging.getLogger("textos.dispatcher")


def store_results(session: Session, results: Sequence[SubmitResult], connector_of: Mapping[int, str], charged: Mapping[int, int]) -> None:
    """Store a batch's submit results: sent (by ``connector_of``'s carrier, charged as
    sent against ``charged`` parts), rejected and refunded, or queued again for later."""
    accepted: list[SubmitResult] = []
    rejected: list[SubmitResult] = []
    retry: list[SubmitResult] = []
    lists = {SubmitOutcome.ACCEPTED: accepted, SubmitOutcome.REJECTED: rejected, SubmitOutcome.RETRY: retry}
    for r in results:
        lists[r.outcome].append(r)
    messages.store_sent(session, accepted, connector_of, charged)
    if rejected:
        messages.store_rejected(session, rejected)
    if retry:
        messages.store_retries(session, retry)


class Writer:
    """One thread for the dispatcher's writes; what waits meanwhile is committed together."""

    def __init__(self, db: Database, name: str = "textos-writer", *, concurrent: bool = False) -> None:
        self.db = db
        self.concurrent = concurrent
        """Receipts and submit results are written by two writers at once (PostgreSQL).
        A receipt can then be kept (its message not yet visible) while the transaction
        that stores its message cannot see the kept receipt. So each writer, after
        committing, replays in a new transaction: the receipt writer what it kept, the
        result writer the ids it stored. Whichever commits last sees both; a replay
        takes only receipts that match, and only one replay takes each (see
        ``replay_pending``)."""
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._results: list[tuple[Sequence[SubmitResult], Mapping[int, str], Mapping[int, int], asyncio.Future[None]]] = []
        self._receipts: list[tuple[Sequence[Receipt], asyncio.Future[None]]] = []
        self._busy = False
        self._outage = Outage(log, name)

    async def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the writer's thread."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    async def store(self, results: Sequence[SubmitResult], connector_of: Mapping[int, str], charged: Mapping[int, int]) -> None:
        """Store a batch's submit results (see ``store_results``), with whatever else waits."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._results.append((results, connector_of, charged, fut))
        self._kick()
        await fut

    async def receipts(self, receipts: Sequence[Receipt]) -> None:
        """Apply receipts (kept if their message is not stored yet), with whatever else waits."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._receipts.append((receipts, fut))
        self._kick()
        await fut

    def _kick(self) -> None:
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._results or self._receipts:
                results, self._results = self._results, []
                receipts, self._receipts = self._receipts, []

                def work() -> None:
                    again: list[str] = []
                    with self.db.session() as s:
                        for stored, connector_of, charged, _ in results:
                            store_results(s, stored, connector_of, charged)
                            again += [pid for r in stored if r.outcome is SubmitOutcome.ACCEPTED for pid in r.part_ids]
                        for applied, _ in receipts:
                            if apply_receipts(s, applied)[1]:
                                again += [receipt.carrier_id for receipt in applied]
                    if again and self.concurrent:
                        with self.db.session() as s:
                            replay_pending(s, again)

                futures = [item[-1] for item in results] + [item[-1] for item in receipts]
                try:
                    await self.call(work)
                    self._outage.succeeded()
                except Exception as exc:
                    if not self._outage.failed(exc):
                        log.exception("could not store %d results / %d receipt batches", len(results), len(receipts))
                    for fut in futures:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for fut in futures:
                    if not fut.done():
                        fut.set_result(None)
        finally:
            self._busy = False

    def close(self) -> None:
        self.executor.shutdown(wait=True)
