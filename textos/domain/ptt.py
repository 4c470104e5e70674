"""OVH delivery codes: ``ptt`` (state of an SMS) and ``deliveryReceipt`` (DLR id).

Tables from OVH's "Everything you need to know about SMS users" guide. Which codes a
message status or a carrier report gives is ``domain.lifecycle``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PttDetails:
    description: str
    comment: str
    duration: str
    """``sms.PttDurationTypeEnum``: indeterminated, permanent, temporary."""


PTT: dict[int, PttDetails] = {
    0: PttDetails("Pending", "The message is waiting to be sent to the operator.", "temporary"),
    1: PttDetails("Intermediate", "Not yet delivered: a phone-related problem, being retried.", "temporary"),
    2: PttDetails("Intermediate", "Not yet delivered: an operator-related problem, being retried in the network.", "temporary"),
    3: PttDetails("Accepted", "Accepted by the operator, waiting for the delivery receipt.", "temporary"),
    4: PttDetails("Delivered", "Delivered to the handset.", "permanent"),
    5: PttDetails("Undelivered", "Confirmed undelivered, no detailed reason.", "permanent"),
    6: PttDetails("Unknown", "Cannot determine whether delivered or failed: no final status from the operator.", "indeterminated"),
    8: PttDetails("Expired", "Expired before delivery, no failure reason.", "permanent"),
    20: PttDetails("Undeliverable", "Undeliverable in its current form.", "permanent"),
    21: PttDetails("Credit problem", "Subscriber credit problem until expiry.", "temporary"),
    23: PttDetails("Invalid number", "Invalid, blacklisted or permanently barred MSISDN for this operator.", "permanent"),
    24: PttDetails("Absent subscriber", "Subscriber temporarily absent (phone off or not located).", "temporary"),
    25: PttDetails("Network error", "Temporary network condition (SS7, SMSC or gateway).", "temporary"),
    26: PttDetails("Handset error", "Temporary phone error (SIM full, SME busy, memory exceeded).", "temporary"),
    27: PttDetails("Incompatible handset", "Handset permanently incompatible.", "permanent"),
    28: PttDetails("Spam", "Rejected as suspected spam.", "permanent"),
    29: PttDetails("Content not permitted", "Content not permitted on the network or short code.", "permanent"),
    33: PttDetails("Parental lock", "Adult content blocked by parental lock.", "permanent"),
    39: PttDetails("Operator failure", "New operator failure.", "permanent"),
    73: PttDetails("Ported number unreachable", "Ported combinations unreachable.", "permanent"),
    74: PttDetails("Roaming", "MSISDN roaming.", "temporary"),
    76: PttDetails("Ported number blocked", "Ported combinations blocked for the client.", "permanent"),
    202: PttDetails("Ported number blocked", "Ported combinations blocked for the client, contact support.", "permanent"),
}


class Dlr:
    """``deliveryReceipt`` ids (the ``description`` parameter of DLR callbacks)."""

    PENDING = 0
    SUCCESS = 1
    FAILED = 2
    WAITING = 4
    BUFFERED = 8
    NOT_BILLED = 16


DLR_DESCRIPTIONS: dict[int, str] = {
    Dlr.PENDING: "Creating or pending",
    Dlr.SUCCESS: "Success",
    Dlr.FAILED: "Failed",
    Dlr.WAITING: "Pending",
    Dlr.BUFFERED: "Buffered",
    Dlr.NOT_BILLED: "Error, not billed",
}
