"""An SMPP 3.4 client (ESME) for one carrier account: ``SmppClient``.

Links
    ``binds`` binds (transceivers, or a transmitter and a receiver each), each one
    reconnecting with backoff (``link.Link``) and kept alive by enquire_link (``session``).

Submits
    Each message becomes one submit_sm per part (``submit_sm.SubmitSmBuilder``). Parts of
    every pending ``submit`` call go out through one queue over all transmitting binds,
    at most ``window`` outstanding per bind (matched by sequence number, with a response
    timeout) and at most ``tps`` per second per bind (``throttle.TokenBucket``).

What becomes of a message (``Submission.status``; never a part the SMSC accepted twice)
    * every part accepted → 0, with the part ids in part order;
    * a part refused with a status of ``retry_statuses`` was not taken: its bind pauses
      ``throttle_backoff`` × the status's factor, and the part is queued again until
      ``submit_deadline``; past it, the message ends with that status;
    * any other refusal ends the message with that status (parts not yet sent are withdrawn);
    * a part whose fate is unknown (``TIMEOUT``, ``LINK_DOWN``): if no part of the message
      was accepted, the message ends with that status (sending it all again is safe);
      otherwise only the missing parts are queued again (waiting for a reconnect) until
      ``submit_deadline``. A part left unanswered past ``response_timeout`` drops its bind
      (as Kannel does by default): the rest of its window is as uncertain, and nothing more
      goes to an SMSC that stopped answering; the bind connects again with backoff;
    * no bind up (or closing) and nothing of the message accepted → ``LINK_DOWN``.
    ``accepted`` counts the parts taken: a message that ends with some of them is partial.
    A part is sent twice only if it was in flight when its connection dropped (or its
    response timed out, which drops it): at most ``window`` parts per bind that drops.

Deliveries
    Receipts and incoming messages are read and answered by ``deliver_sm.Deliveries``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from typing import Awaitable, Callable, Generic, Mapping, Sequence, TypeVar

from textos.smpp import pdu as P
from textos.smpp.carrier_config import SmppCarrierConfig
from textos.smpp.deliver_sm import Deliveries, IncomingSms, ReceiptFactory
from textos.smpp.link import Link
from textos.smpp.session import LINK_DOWN, TIMEOUT, Session
from textos.smpp.submit_sm import OutgoingSms, SubmitSmBuilder

__all__ = ["LINK_DOWN", "TIMEOUT", "UNENCODABLE", "SmppClient", "Submission"]

R = TypeVar("R")

log = logging.getLogger("textos.smpp")

UNENCODABLE = -3
"""Pseudo command_status of a message that could not be made into submit_sm (never sent)."""


class _Batch:
    __slots__ = ("remaining", "done", "future")

    def __init__(self, count: int, future: asyncio.Future[list["Submission"]]) -> None:
        self.remaining = count
        self.done: list[Submission] = []
        self.future = future


class Submission:
    """One message handed to ``submit``, and what became of it."""

    __slots__ = ("message", "batch", "part_ids", "accepted", "inflight", "queued", "failed", "done", "deadline", "status", "error")

    def __init__(self, message: OutgoingSms, batch: _Batch, n: int, deadline: float) -> None:
        self.message = message
        self.batch: _Batch | None = batch
        """Until it ends (``_end``): the batch then lists it, and a link back would make each
        submission a reference cycle, left for the garbage collector to find (its pauses)."""
        self.part_ids: list[str | None] = [None] * n
        """Carrier message id of each accepted part, in part order."""
        self.accepted = 0
        """Parts the SMSC accepted."""
        self.inflight = 0
        self.queued = 0
        self.failed: list[_Part] = []
        self.done = False
        self.deadline = deadline
        self.status = 0
        """0 when every part was accepted; else the command_status (or ``TIMEOUT``,
        ``LINK_DOWN``, ``UNENCODABLE``) of the last refusal."""
        self.error: str | None = None
        """That refusal in words (``ESME_RTHROTTLED``, ``timeout``, ``link down``, ``encoding: …``)."""


class _Part:
    __slots__ = ("submission", "index", "body")

    def __init__(self, submission: Submission, index: int, body: bytes) -> None:
        self.submission = submission
        self.index = index
        self.body = body


class SmppClient(Generic[R]):
    """An ESME bound to one SMSC account (see the module docstring for the guarantees).

    ``make_receipt`` / ``on_receipts`` / ``on_incoming``: see ``deliver_sm.Deliveries``.
    ``retry_statuses``: command_status → pause factor of the refusals worth sending again.
    """

    def __init__(
        self,
        config: SmppCarrierConfig,
        *,
        retry_statuses: Mapping[int, float],
        make_receipt: ReceiptFactory[R],
        on_receipts: Callable[[list[R]], Awaitable[None]],
        on_incoming: Callable[[IncomingSms], Awaitable[None]],
    ) -> None:
        self.config = config
        self.name = config.name
        self.retry_statuses = retry_statuses
        self.closing = False
        self.retry_after = config.reconnect_backoff[0]
        self.deliveries = Deliveries(config.name, make_receipt, on_receipts, on_incoming, batch_delay=config.receipt_batch_delay)
        self.builder = SubmitSmBuilder(config)
        roles = ["trx"] if config.bind_mode == "trx" else ["tx", "rx"]
        self.links = [Link(self, role, i, self.deliveries.on_request) for i in range(config.binds) for role in roles]
        self._tx_links = [link for link in self.links if link.role != "rx"]
        self._queue: deque[_Part] = deque()
        self._again: deque[_Part] = deque()
        """Parts to send again (before new ones), in the order they failed."""
        self._pumping = False
        self._partials: set[Submission] = set()
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._up = asyncio.Event()
        self.throttled = 0
        """Parts the SMSC refused as "try later" (throttled, queue full...) so far: read by metrics."""

    # ── lifecycle ───────────────────────────────────────────────────────────

    def start(self) -> None:
        self.closing = False
        for link in self.links:
            link.start()

    @property
    def is_up(self) -> bool:
        """True while at least one transmitting bind is bound."""
        return any(link.can_submit for link in self._tx_links)

    def window_in_use(self) -> tuple[int, int]:
        """Parts awaiting their submit_sm_resp, and the room there is (``window`` per bound transmitting bind)."""
        sessions = [link.session for link in self._tx_links if link.can_submit and link.session is not None]
        return sum(s.outstanding for s in sessions if s is not None), self.config.window * len(sessions)

    async def wait_up(self, timeout: float = 5.0) -> None:
        """Wait until at least one transmitting bind is up."""
        await asyncio.wait_for(self._up.wait(), timeout)

    async def close(self) -> None:
        """Unbind every link; what is still queued ends (``LINK_DOWN``, or partial)."""
        self.closing = True
        await asyncio.gather(*(link.unbind() for link in self.links), return_exceptions=True)
        await asyncio.gather(*(link.stop() for link in self.links))
        self._settle_stranded(force=True)
        await self.deliveries.close()

    def link_up(self, link: Link) -> None:
        self._up.set()
        self._pump()

    def link_down(self, link: Link) -> None:
        if not self.is_up:
            self._up.clear()
            self._settle_stranded(force=self.closing)

    # ── submit ──────────────────────────────────────────────────────────────

    async def submit(self, messages: Sequence[OutgoingSms]) -> list[Submission]:
        """Send every part of every message; return each message's ``Submission`` once it
        is settled, in the order they settled."""
        if not messages:
            return []
        batch = _Batch(len(messages), asyncio.get_running_loop().create_future())
        deadline = time.monotonic() + self.config.submit_deadline
        if self.closing or not self.is_up:
            for message in messages:
                self._end(Submission(message, batch, 0, deadline), LINK_DOWN, "link down")
            return batch.done
        for message in messages:
            try:
                bodies = self.builder.bodies(message)
            except (ValueError, P.PduError) as exc:
                self._end(Submission(message, batch, 0, deadline), UNENCODABLE, f"encoding: {exc}")
                continue
            submission = Submission(message, batch, len(bodies), deadline)
            submission.queued = len(bodies)
            self._queue.extend(_Part(submission, i, body) for i, body in enumerate(bodies))
        self._pump()
        return await batch.future

    def _pump(self) -> None:
        """Hand queued parts to the binds with room in their window (and tokens)."""
        if self._pumping:
            return
        self._pumping = True
        try:
            fresh, again = self._queue, self._again
            window = self.config.window
            now = time.monotonic()
            for link in self._tx_links:
                if not fresh and not again:
                    break
                session = link.session
                if not link.can_submit or session is None:
                    continue
                if link.paused_until > now:
                    self._wake(link, link.paused_until - now)
                    continue
                bucket = link.bucket
                while (again or fresh) and session.outstanding < window:
                    queue = again or fresh
                    part = queue[0]
                    if part.submission.done:
                        queue.popleft()
                        continue
                    if bucket is not None and not bucket.take(now):
                        self._wake(link, bucket.interval)
                        break
                    queue.popleft()
                    self._send(link, session, part)
        finally:
            self._pumping = False

    def _wake(self, link: Link, delay: float) -> None:
        if link.wakeup is None:

            def wake() -> None:
                link.wakeup = None
                self._pump()

            link.wakeup = asyncio.get_running_loop().call_later(delay, wake)

    def _send(self, link: Link, session: Session, part: _Part) -> None:
        submission = part.submission
        submission.queued -= 1
        submission.inflight += 1
        session.request_body(P.CommandId.SUBMIT_SM, part.body, lambda status, resp: self._on_submit_resp(link, part, status, resp))

    def _on_submit_resp(self, link: Link, part: _Part, status: int, resp: P.Pdu | None) -> None:
        s = part.submission
        s.inflight -= 1
        if status == 0 and isinstance(resp, P.MessageResp):
            s.part_ids[part.index] = resp.message_id
            s.accepted += 1
        elif status in self.retry_statuses:
            self.throttled += 1
            pause = self.config.throttle_backoff * self.retry_statuses[status]
            link.paused_until = max(link.paused_until, time.monotonic() + pause)
            s.status, s.error = status, P.status_name(status)
            if not s.done and not self.closing and time.monotonic() < s.deadline:
                s.queued += 1
                self._again.append(part)  # definitely not taken: send again, slower
            else:
                s.failed.append(part)
        elif status in (TIMEOUT, LINK_DOWN):
            s.status, s.error = status, "timeout" if status == TIMEOUT else "link down"
            s.failed.append(part)
            session = link.session
            if status == TIMEOUT and session is not None and session.is_open:
                log.warning("%s: submit_sm unanswered after %g s, dropping the link", link.name, self.config.response_timeout)
                session.abort()
        else:
            self._end(s, status, P.status_name(status))
        if not s.done and s.inflight == 0:
            self._settle(s)
        self._pump()

    # ── outcomes ────────────────────────────────────────────────────────────

    def _settle(self, s: Submission, force: bool = False) -> None:
        """Decide what becomes of a message when none of its parts is in flight."""
        n = len(s.part_ids)
        if s.accepted == n:
            self._end(s, 0, None)
        elif not s.failed and not force:
            return  # parts still queued
        elif s.accepted == 0 or force or self.closing or time.monotonic() >= s.deadline:
            self._end(s, s.status, s.error)
        else:
            failed, s.failed = s.failed, []
            s.queued += len(failed)
            self._again.extend(sorted(failed, key=lambda p: p.index))
            self._partials.add(s)
            self._arm_deadline()

    def _end(self, s: Submission, status: int, error: str | None) -> None:
        if s.done:
            return
        s.done = True
        s.status, s.error = status, error
        self._partials.discard(s)
        batch, s.batch = s.batch, None
        assert batch is not None  # ended once (``done``)
        batch.done.append(s)
        batch.remaining -= 1
        if batch.remaining == 0 and not batch.future.done():
            batch.future.set_result(batch.done)

    def _settle_stranded(self, force: bool = False) -> None:
        """No bind up (or closing): end the queued messages that cannot wait."""
        stranded: dict[int, Submission] = {}
        for part in itertools.chain(self._again, self._queue):
            s = part.submission
            if not s.done and s.inflight == 0 and (force or s.accepted == 0):
                stranded[id(s)] = s
        for s in stranded.values():
            if s.accepted == 0 and not s.error:
                s.status, s.error = LINK_DOWN, "link down"
            self._settle(s, force=True)
        self._drop_ended()

    def _arm_deadline(self) -> None:
        if self._deadline_timer is None:
            self._deadline_timer = asyncio.get_running_loop().call_later(0.25, self._check_deadlines)

    def _check_deadlines(self) -> None:
        self._deadline_timer = None
        now = time.monotonic()
        for s in list(self._partials):
            if s.done:
                self._partials.discard(s)
            elif now >= s.deadline and s.inflight == 0:
                self._end(s, s.status, s.error)
        self._drop_ended()
        if self._partials:
            self._arm_deadline()

    def _drop_ended(self) -> None:
        self._queue = deque(p for p in self._queue if not p.submission.done)
        self._again = deque(p for p in self._again if not p.submission.done)
