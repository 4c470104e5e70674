"""The life of an outgoing message: its statuses, what carriers report, and the OVH codes of each.

    queued ──claim──▶ submitting ──accepted──▶ sent ──receipt──▶ delivered | failed
       │                  │                    └──receipt_timeout──▶ no_receipt ──late final receipt──▶ delivered | failed
       │                  │  └──retry──▶ queued (later)
       │                  └──refused──▶ rejected (refunded)
       ├──validity over──▶ expired (refunded)
       └──cancel──▶ cancelled (refunded)

    (accepted) ──receiver blacklisted, commercial job──▶ blacklisted (final at once, never charged)

``storage.messages`` applies these transitions to the ``messages`` table; this module
only names them. Carriers report each part in ``DeliveryState`` words (a connector
maps its protocol's vocabulary to them, e.g. SMPP's ``stat:DELIVRD``), and
``DELIVERY_OUTCOMES`` is the one table from a reported state to the message's status,
``ptt`` and ``deliveryReceipt`` (OVH's codes, ``domain.ptt``).
"""

from __future__ import annotations

from enum import Enum

from textos.domain.ptt import Dlr

__all__ = [
    "AWAITING_RECEIPT",
    "DELIVERY_OUTCOMES",
    "DeliveryState",
    "ERROR_STATES",
    "MessageStatus",
    "Outcome",
    "STATUS_CODES",
    "codes_of",
    "outcome_of",
]


class MessageStatus(str, Enum):
    """Where an outgoing message is (``messages.status``)."""

    QUEUED = "queued"
    """Accepted and charged; waiting for its send time and a dispatcher."""
    SUBMITTING = "submitting"
    """Claimed by a dispatcher and being handed to a carrier."""
    SENT = "sent"
    """Accepted by the carrier; waiting for its delivery receipt."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """The carrier reported it undelivered (charged: it was sent)."""
    REJECTED = "rejected"
    """Refused by the carrier at submit (refunded)."""
    EXPIRED = "expired"
    """Its validity ended before it could be sent (refunded)."""
    CANCELLED = "cancelled"
    """Cancelled before it was sent (refunded)."""
    NO_RECEIPT = "no_receipt"
    """Sent, but no receipt came within ``receipt_timeout``: whether it was delivered cannot be
    determined (OVH's ptt 6). Final and charged (it was sent); a receipt that still comes
    settles it with the real outcome (``AWAITING_RECEIPT``)."""
    BLACKLISTED = "blacklisted"
    """A commercial message (``noStopClause`` false) to a number that answered STOP to the account:
    written final at acceptance, never sent, never charged (0 credits; ``services.blacklists``)."""

    @property
    def is_final(self) -> bool:
        return self in FINAL

    @property
    def is_pending(self) -> bool:
        """Not yet handed to a carrier for good (a job's ``GET /jobs`` still lists it)."""
        return self in PENDING


PENDING = frozenset({MessageStatus.QUEUED, MessageStatus.SUBMITTING})
IN_FLIGHT = frozenset({MessageStatus.SUBMITTING, MessageStatus.SENT})
"""Statuses a receipt may settle (a receipt can overtake its submit result)."""
AWAITING_RECEIPT = IN_FLIGHT | {MessageStatus.NO_RECEIPT}
"""Statuses a *final* receipt may settle: in flight, or given up on after ``receipt_timeout``
(a late receipt's real outcome wins over "no receipt"; a late intermediate one changes nothing)."""
FINAL = frozenset({
    MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.REJECTED, MessageStatus.EXPIRED, MessageStatus.CANCELLED,
    MessageStatus.NO_RECEIPT, MessageStatus.BLACKLISTED,
})  # fmt: skip
REFUNDED = frozenset({MessageStatus.REJECTED, MessageStatus.EXPIRED, MessageStatus.CANCELLED})
"""Never sent: their credits go back to the account, once."""
FAILED_STATUSES = frozenset({MessageStatus.FAILED, MessageStatus.REJECTED, MessageStatus.EXPIRED, MessageStatus.NO_RECEIPT})
"""What batch statistics count as failed (``sms.BatchStatistics`` has no "unknown": a message
without a receipt is counted there, as its ``deliveryReceipt`` 2 says, and also on its own)."""
ERROR_STATES = frozenset({MessageStatus.FAILED, MessageStatus.NO_RECEIPT, MessageStatus.EXPIRED, MessageStatus.REJECTED})
"""What a campaign report counts as errors (``errorRate``, ``errorsByPtt``): messages that did not
reach their receiver (cancelled and blacklisted ones were never meant to be sent)."""


class DeliveryState(str, Enum):
    """What a carrier reports about one part, in Textos's words (stored in ``message_parts.state``)."""

    ENROUTE = "enroute"
    """In the network, being retried."""
    ACCEPTED = "accepted"
    """Accepted by the network, not yet delivered."""
    DELIVERED = "delivered"
    EXPIRED = "expired"
    """The network gave up when the validity period ended."""
    DELETED = "deleted"
    UNDELIVERABLE = "undeliverable"
    REJECTED = "rejected"
    """Refused by the network after submit (barred, invalid number)."""
    UNKNOWN = "unknown"
    """No final status could be determined."""

    @property
    def is_final(self) -> bool:
        return self not in (DeliveryState.ENROUTE, DeliveryState.ACCEPTED)


Outcome = tuple[MessageStatus, int, int]
"""A message's ``(status, ptt, deliveryReceipt)``."""

DELIVERY_OUTCOMES: dict[DeliveryState, Outcome] = {
    DeliveryState.DELIVERED: (MessageStatus.DELIVERED, 4, Dlr.SUCCESS),
    DeliveryState.UNDELIVERABLE: (MessageStatus.FAILED, 5, Dlr.FAILED),
    DeliveryState.EXPIRED: (MessageStatus.FAILED, 8, Dlr.FAILED),
    DeliveryState.DELETED: (MessageStatus.FAILED, 5, Dlr.FAILED),
    DeliveryState.REJECTED: (MessageStatus.FAILED, 23, Dlr.FAILED),
    DeliveryState.UNKNOWN: (MessageStatus.FAILED, 6, Dlr.FAILED),
    DeliveryState.ACCEPTED: (MessageStatus.SENT, 3, Dlr.WAITING),
    DeliveryState.ENROUTE: (MessageStatus.SENT, 2, Dlr.BUFFERED),
}
"""Carrier report of a part → the message's status, ``ptt`` and ``deliveryReceipt``."""

STATUS_CODES: dict[MessageStatus, tuple[int, int]] = {
    MessageStatus.QUEUED: (0, Dlr.PENDING),
    MessageStatus.SUBMITTING: (0, Dlr.PENDING),
    MessageStatus.SENT: (3, Dlr.WAITING),
    MessageStatus.DELIVERED: (4, Dlr.SUCCESS),
    MessageStatus.FAILED: (5, Dlr.FAILED),
    MessageStatus.REJECTED: (20, Dlr.NOT_BILLED),
    MessageStatus.EXPIRED: (8, Dlr.NOT_BILLED),
    MessageStatus.CANCELLED: (0, Dlr.NOT_BILLED),
    MessageStatus.NO_RECEIPT: (6, Dlr.FAILED),
    MessageStatus.BLACKLISTED: (23, Dlr.NOT_BILLED),
}
"""A status's ``(ptt, deliveryReceipt)`` when no carrier report says more.

``NO_RECEIPT`` has OVH's ptt 6 ("cannot determine whether delivered or failed: no final status
from the operator"). OVH's DLR ids have no "unknown": of its final ones (1 success, 2 failed,
16 not billed) it takes 2, as a carrier's own ``UNKNOWN`` report does (the message was
charged, and not confirmed delivered); ptt 6 tells the two kinds of failure apart.

``BLACKLISTED`` has ptt 23 ("invalid, blacklisted or permanently barred MSISDN", permanent: do not
send again) and DLR 16 ("error / not billed"): it was refused and costs nothing. (OVH's SMPP
service reports receipt error code 53 for it; the HTTP API's codes are these.)"""


def outcome_of(state: DeliveryState | str) -> Outcome:
    """The message outcome of a part's reported state (an unknown word reads as UNKNOWN)."""
    try:
        return DELIVERY_OUTCOMES[DeliveryState(state)]
    except ValueError:
        return DELIVERY_OUTCOMES[DeliveryState.UNKNOWN]


def codes_of(status: MessageStatus | str) -> tuple[int, int]:
    """``(ptt, deliveryReceipt)`` of a status."""
    return STATUS_CODES[MessageStatus(status)]
