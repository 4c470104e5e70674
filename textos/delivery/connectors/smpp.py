"""The SMPP carrier connector: ``SmppConnector``, a thin mapping over ``textos.smpp``'s client.

It maps the ``Connector`` interface onto an ``SmppClient`` (links, window, throttling,
submit_sm building and receipt reading live there) and SMPP's words onto Textos's:

* ``OutboundMessage`` → the client's submit (the message is what the client reads);
* what became of each message (command_status) → ``SubmitOutcome`` (``outcome_of``,
  with ``TEMPORARY_STATUSES``);
* ``smpp.receipt_text.MessageState`` → ``DeliveryState`` (``DELIVERY_STATES``);
* an incoming SMS (or part) → ``IncomingMessage``.

The carrier's options (``SmppCarrierConfig``) are read in ``textos.smpp.carrier_config``.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from textos.delivery.connector import (
    Events,
    IncomingMessage,
    IncomingPartInfo,
    OutboundMessage,
    Receipt,
    SubmitOutcome,
    SubmitResult,
)
from textos.domain.lifecycle import DeliveryState
from textos.smpp import pdu as P
from textos.smpp.carrier_config import SmppCarrierConfig
from textos.smpp.client import LINK_DOWN, TIMEOUT, SmppClient, Submission
from textos.smpp.deliver_sm import IncomingSms
from textos.smpp.receipt_text import MessageState

__all__ = ["DELIVERY_STATES", "TEMPORARY_STATUSES", "SmppConnector", "outcome_of"]

DELIVERY_STATES: dict[MessageState, DeliveryState] = {
    MessageState.ENROUTE: DeliveryState.ENROUTE,
    MessageState.ACCEPTED: DeliveryState.ACCEPTED,
    MessageState.DELIVERED: DeliveryState.DELIVERED,
    MessageState.EXPIRED: DeliveryState.EXPIRED,
    MessageState.DELETED: DeliveryState.DELETED,
    MessageState.UNDELIVERABLE: DeliveryState.UNDELIVERABLE,
    MessageState.REJECTED: DeliveryState.REJECTED,
    MessageState.UNKNOWN: DeliveryState.UNKNOWN,
}
"""SMPP receipt states (``stat:`` or the message_state TLV) → what the carrier reported, in Textos's words."""

TEMPORARY_STATUSES: dict[int, float] = {
    P.Status.ESME_RTHROTTLED: 1.0,
    P.Status.ESME_RMSGQFUL: 1.0,
    P.Status.ESME_RSYSERR: 1.0,
    P.Status.ESME_RX_T_APPN: 1.0,
    P.Status.ESME_RUNKNOWNERR: 1.0,
    P.Status.ESME_RSUBMITFAIL: 1.0,
}
"""command_status → pause factor (× ``throttle_backoff``) of the refusals that mean "not
taken, try later": the client sends the part again, slower, until the submit deadline;
a message still refused then is RETRY. Every other non-zero status is a permanent rejection."""

UNKNOWN_FATE = frozenset((TIMEOUT, LINK_DOWN))
"""No answer, or the link went first: nothing of the message is known taken, send it all later."""


def outcome_of(submission: Submission) -> SubmitOutcome:
    """ACCEPTED when every part was; RETRY when no part was and the refusal was temporary
    (or its fate unknown); REJECTED otherwise — partial messages too (parts cannot be recalled)."""
    if submission.status == 0:
        return SubmitOutcome.ACCEPTED
    if submission.accepted == 0 and (submission.status in TEMPORARY_STATUSES or submission.status in UNKNOWN_FATE):
        return SubmitOutcome.RETRY
    return SubmitOutcome.REJECTED


class SmppConnector:
    """``Connector`` over SMPP 3.4 (an ESME of one carrier account)."""

    def __init__(self, config: SmppCarrierConfig, name: str | None = None) -> None:
        self.config = config
        self.name = name or config.name
        self.events: Events | None = None
        self.client: SmppClient[Receipt] = SmppClient(
            config,
            retry_statuses=TEMPORARY_STATUSES,
            make_receipt=self._receipt,
            on_receipts=self._on_receipts,
            on_incoming=self._on_incoming,
        )

    async def start(self, events: Events) -> None:
        self.events = events
        self.client.start()

    @property
    def is_up(self) -> bool:
        return self.client.is_up

    def window_in_use(self) -> tuple[int, int]:
        """Parts awaiting their submit response, and the windows' room (for ``/metrics``)."""
        return self.client.window_in_use()

    @property
    def throttled(self) -> int:
        """Parts the carrier refused as "try later" so far (for ``/metrics``)."""
        return self.client.throttled

    async def wait_up(self, timeout: float = 5.0) -> None:
        """Wait until at least one transmitting bind is up."""
        await self.client.wait_up(timeout)

    async def close(self) -> None:
        await self.client.close()

    async def submit(self, messages: Sequence[OutboundMessage]) -> list[SubmitResult]:
        return [self._result(s) for s in await self.client.submit(messages)]

    def _result(self, s: Submission) -> SubmitResult:
        mid = s.message.id
        if s.status == 0:  # the common case first
            return SubmitResult(mid, SubmitOutcome.ACCEPTED, tuple(s.part_ids))  # type: ignore[arg-type]
        outcome = outcome_of(s)
        if outcome is SubmitOutcome.RETRY:
            after = self.config.throttle_backoff if s.status in TEMPORARY_STATUSES else self.client.retry_after
            return SubmitResult(mid, outcome, error=s.error, retry_after=after)
        error = f"partial {s.accepted}/{len(s.part_ids)}: {s.error}" if s.accepted else s.error
        return SubmitResult(mid, outcome, error=error)

    # ── what the carrier sends back ─────────────────────────────────────────

    def _receipt(self, carrier_id: str, state: MessageState, error: str | None, done_at: dt.datetime | None) -> Receipt:
        return Receipt(carrier_id, DELIVERY_STATES[state], error, done_at, self.name)

    async def _on_receipts(self, receipts: list[Receipt]) -> None:
        assert self.events is not None
        await self.events.on_receipts(receipts)

    async def _on_incoming(self, sms: IncomingSms) -> None:
        assert self.events is not None
        part = IncomingPartInfo(sms.concat.ref, sms.concat.total, sms.concat.seq) if sms.concat is not None else None
        await self.events.on_incoming(IncomingMessage(sms.sender, sms.receiver, sms.text, connector=self.name, part=part))
