"""The connector interface: the one contract between the dispatcher and a carrier link.

The dispatcher knows only this module, in the shape of httpx's transports: a small
protocol (``start`` with an ``Events`` sink, ``submit`` batches, ``is_up``, ``close``)
and plain values in Textos's words (``OutboundMessage``, ``SubmitResult``, ``Receipt``
with a ``DeliveryState``, ``IncomingMessage``). Each carrier link is one implementation:
``connectors.simulator`` (in-process, the counterpart of httpx's ``MockTransport``),
``connectors.smpp`` (SMPP 3.4, over ``textos.smpp``), a future HTTP carrier; each maps
its protocol's vocabulary onto these values.

Every message the connector is handed is already persisted as *submitting*; the
connector never stores state of its own that is needed after a restart.  Part ids
returned by ``submit`` are persisted by the dispatcher before receipts are matched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, Sequence

from textos.domain.encoding import Encoding
from textos.domain.lifecycle import DeliveryState

__all__ = [
    "Connector",
    "Events",
    "IncomingMessage",
    "IncomingPartInfo",
    "OutboundMessage",
    "Receipt",
    "SubmitOutcome",
    "SubmitResult",
]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One SMS (all its parts) to hand to a carrier."""

    id: int
    """The message's id in the database (``messages.id``); its results carry it back."""
    sender: str
    """Alphanumeric sender, short code, or E.164 number with '+'."""
    sender_type: str
    """'alpha', 'numeric', 'shortcode' or 'virtual' (a carrier may address each kind its own way)."""
    receiver: str
    """E.164 with a leading '+'."""
    text: str
    """Full text as it must reach the handset (STOP clause included)."""
    encoding: Encoding
    parts: int
    """Number of parts, as counted and charged at acceptance (for the carriers of its route)."""
    message_class: str | None = None
    """'flash', 'phoneDisplay', 'sim', 'toolkit' or None (no class)."""
    priority: str = "high"
    """'high', 'medium', 'low', 'veryLow' (``textos.domain.priority``)."""
    validity_until: dt.datetime | None = None
    """UTC instant after which the carrier should drop the message."""
    want_receipt: bool = True


class SubmitOutcome(str, Enum):
    ACCEPTED = "accepted"
    """The carrier took the message; receipts will follow for ``part_ids``."""
    REJECTED = "rejected"
    """Permanent refusal at submit (never retried, refunded)."""
    RETRY = "retry"
    """Temporary refusal (throttled, queue full, link down): retry later, never drop."""


@dataclass(frozen=True, slots=True)
class SubmitResult:
    message_id: int
    outcome: SubmitOutcome
    part_ids: tuple[str, ...] = ()
    """Carrier message ids, one per part, in part order (ACCEPTED only)."""
    error: str | None = None
    """Carrier error code or text (REJECTED / RETRY)."""
    retry_after: float | None = None
    """Seconds to wait before retrying (RETRY only)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt for one part, in the domain's words (each connector maps its carrier's)."""

    carrier_id: str
    """Carrier message id of the part, in whatever form the carrier used (hex or decimal)."""
    state: DeliveryState
    error_code: str | None = None
    done_at: dt.datetime | None = None
    connector: str | None = None


@dataclass(frozen=True, slots=True)
class IncomingPartInfo:
    """Where one part of a concatenated incoming message belongs: the reference shared by
    its parts, how many there are, and this part's number (1-based)."""

    ref: int
    total: int
    seq: int


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A mobile-originated message (a reply, a STOP), or one part of a concatenated one
    (``part``): connectors hand parts over as they come, and the incoming pipeline
    (``delivery.incoming``) stores them until the message is whole."""

    sender: str
    receiver: str
    text: str
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    connector: str | None = None
    part: IncomingPartInfo | None = None


class Events(Protocol):
    """Where a connector reports what comes back from the carrier."""

    async def on_receipts(self, receipts: Sequence[Receipt]) -> None: ...

    async def on_incoming(self, message: IncomingMessage) -> None: ...


class Connector(Protocol):
    """A carrier link. Implementations: ``connectors.simulator`` (in-process), ``connectors.smpp``."""

    name: str

    async def start(self, events: Events) -> None:
        """Connect (or begin connecting) and start reporting to ``events``."""

    async def submit(self, messages: Sequence[OutboundMessage]) -> list[SubmitResult]:
        """Submit a batch; return one result per message, in any order."""

    @property
    def is_up(self) -> bool:
        """True while the link can accept submits (routing fails over when False)."""

    async def close(self) -> None:
        """Stop cleanly (say goodbye to the carrier); pending submits return RETRY."""
