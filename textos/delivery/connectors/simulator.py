"""An in-process carrier: accepts every submit and reports receipts after a delay.

It needs no socket, which makes it the fastest way to exercise the dispatcher (the
``Connector`` counterpart of httpx's ``MockTransport``). Outcomes can be scripted by
receiver prefix with the words of SMPP receipts (``{"+3361000": "UNDELIV"}``, read as
the SMPP connector reads them); the special outcome ``REJECT`` refuses the submit
permanently.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from typing import Mapping, Sequence

from textos.delivery.connector import Events, OutboundMessage, Receipt, SubmitOutcome, SubmitResult
from textos.delivery.connectors.smpp import DELIVERY_STATES
from textos.domain.lifecycle import DeliveryState
from textos.smpp.receipt_text import state_of

log = logging.getLogger("textos.simulator")

REJECT = "REJECT"
"""The scripted outcome refusing the submit itself (a permanent refusal)."""


class SimulatorConnector:
    """The built-in simulator behind the ``Connector`` interface."""

    def __init__(
        self,
        name: str = "simulator",
        *,
        receipt_delay: float = 0.2,
        outcomes: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.receipt_delay = receipt_delay
        self.outcomes = dict(outcomes or {})
        self.submitted: list[OutboundMessage] = []
        self._ids = itertools.count(0x10000)
        self._events: Events | None = None
        self._due: list[tuple[float, Receipt]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._up = False

    @property
    def is_up(self) -> bool:
        return self._up

    async def start(self, events: Events) -> None:
        self._events = events
        self._up = True
        self._task = asyncio.create_task(self._report_loop(), name=f"{self.name}-receipts")

    def _outcome(self, receiver: str) -> str:
        best = ""
        outcome = "DELIVRD"
        for prefix, value in self.outcomes.items():
            if receiver.startswith(prefix) and len(prefix) > len(best):
                best, outcome = prefix, value
        return outcome

    def _new_id(self) -> str:
        return format(next(self._ids), "x")

    async def submit(self, messages: Sequence[OutboundMessage]) -> list[SubmitResult]:
        if not self._up:
            return [SubmitResult(m.id, SubmitOutcome.RETRY, error="link down", retry_after=1.0) for m in messages]
        results = []
        loop = asyncio.get_running_loop()
        due = loop.time() + self.receipt_delay
        for message in messages:
            outcome = self._outcome(message.receiver)
            if outcome == REJECT:
                results.append(SubmitResult(message.id, SubmitOutcome.REJECTED, error="0x0000000B"))
                continue
            self.submitted.append(message)
            part_ids = tuple(self._new_id() for _ in range(message.parts))
            results.append(SubmitResult(message.id, SubmitOutcome.ACCEPTED, part_ids=part_ids))
            if message.want_receipt:
                state = DELIVERY_STATES[state_of(outcome)]
                now = dt.datetime.now(dt.timezone.utc)
                for pid in part_ids:
                    self._due.append((due, Receipt(pid, state, None if state is DeliveryState.DELIVERED else "001", now, self.name)))
        self._wake.set()
        return results

    async def _report_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._due:
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = min(t for t, _ in self._due) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            now = loop.time()
            ready = [r for t, r in self._due if t <= now]
            self._due = [(t, r) for t, r in self._due if t > now]
            if ready and self._events is not None:
                try:
                    await self._events.on_receipts(ready)
                except Exception:  # not stored: report them again later, as an SMSC would
                    log.exception("receipts not accepted, retrying in 1 s")
                    self._due.extend((now + 1.0, r) for r in ready)

    async def close(self) -> None:
        self._up = False
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
