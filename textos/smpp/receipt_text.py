"""Delivery receipts in SMPP's words: the message states, the message_state TLV values
and the text form of SMPP 3.4 Appendix B (read here, and written by the SMSC simulator)::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...

(What a state means to Textos is the SMPP connector's ``DELIVERY_STATES`` table.)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "MessageState",
    "ReceiptText",
    "parse_receipt_text",
    "format_receipt_text",
    "parse_receipt_date",
    "receipt_date",
    "state_of",
    "MESSAGE_STATE",
    "STATE_CODE",
]


class MessageState(str, Enum):
    """SMPP 3.4 message states (§5.2.28), as receipts spell them in ``stat:``."""

    ENROUTE = "ENROUTE"
    DELIVERED = "DELIVRD"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"
    UNDELIVERABLE = "UNDELIV"
    ACCEPTED = "ACCEPTD"
    UNKNOWN = "UNKNOWN"
    REJECTED = "REJECTD"


MESSAGE_STATE: dict[int, MessageState] = {
    1: MessageState.ENROUTE,
    2: MessageState.DELIVERED,
    3: MessageState.EXPIRED,
    4: MessageState.DELETED,
    5: MessageState.UNDELIVERABLE,
    6: MessageState.ACCEPTED,
    7: MessageState.UNKNOWN,
    8: MessageState.REJECTED,
}
"""message_state TLV value → state (SMPP 3.4 §5.2.28)."""

STATE_CODE: dict[MessageState, int] = {v: k for k, v in MESSAGE_STATE.items()}

_STAT_ALIASES: dict[str, MessageState] = {
    **{s.value: s for s in MessageState},
    "DELIVERED": MessageState.DELIVERED,
    "UNDELIVERABLE": MessageState.UNDELIVERABLE,
    "ACCEPTED": MessageState.ACCEPTED,
    "REJECTED": MessageState.REJECTED,
    "FAILED": MessageState.UNDELIVERABLE,
    "ENROUTE": MessageState.ENROUTE,
}
"""``stat:`` spellings seen in the field → state."""


def state_of(stat: str) -> MessageState:
    """The state a ``stat:`` word names (any case, field spellings included); UNKNOWN if none."""
    return _STAT_ALIASES.get(stat.upper(), MessageState.UNKNOWN)

_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err|text)\s*:", re.I)


@dataclass(frozen=True, slots=True)
class ReceiptText:
    message_id: str
    state: MessageState
    error: str | None = None
    submitted_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    sub: str | None = None
    dlvrd: str | None = None
    text: str = ""


def parse_receipt_date(value: str) -> dt.datetime | None:
    """``YYMMDDhhmm`` or ``YYMMDDhhmmss`` (UTC assumed) → datetime, else None."""
    if len(value) not in (10, 12) or not value.isdigit():
        return None
    try:
        return dt.datetime(
            2000 + int(value[0:2]),
            int(value[2:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[8:10]),
            int(value[10:12] or 0),
            tzinfo=dt.timezone.utc,
        )
    except ValueError:
        return None


_STANDARD = re.compile(
    r"id:(?P<id>\S+) sub:(?P<sub>\S*) dlvrd:(?P<dlvrd>\S*) submit date:(?P<submit>\d*) "
    r"done date:(?P<done>\d*) stat:(?P<stat>\S+) err:(?P<err>\S*)(?: text:(?P<text>.*))?",
    re.S | re.I,
)


def parse_receipt_text(text: str) -> ReceiptText | None:
    """Parse the text form; None when it has no ``id:`` or no ``stat:``.

    The standard layout is read with one regex; anything else (fields reordered,
    missing, odd spacing) field by field.
    """
    m = _STANDARD.match(text)
    if m is not None:
        return ReceiptText(
            message_id=m["id"],
            state=state_of(m["stat"]),
            error=m["err"],
            submitted_at=parse_receipt_date(m["submit"]),
            done_at=parse_receipt_date(m["done"]),
            sub=m["sub"],
            dlvrd=m["dlvrd"],
            text=m["text"] or "",
        )
    matches = list(_FIELD.finditer(text))
    fields: dict[str, str] = {}
    for i, m2 in enumerate(matches):
        key = m2.group(1).lower()
        end = len(text) if key == "text" else (matches[i + 1].start() if i + 1 < len(matches) else len(text))
        fields.setdefault(key, text[m2.end() : end].strip())
        if key == "text":
            break
    if not fields.get("id") or "stat" not in fields:
        return None
    return ReceiptText(
        message_id=fields["id"],
        state=state_of(fields["stat"]),
        error=fields.get("err"),
        submitted_at=parse_receipt_date(fields.get("submit date", "")),
        done_at=parse_receipt_date(fields.get("done date", "")),
        sub=fields.get("sub"),
        dlvrd=fields.get("dlvrd"),
        text=fields.get("text", ""),
    )


def receipt_date(moment: dt.datetime) -> str:
    """``YYMMDDhhmm`` (UTC): how the text form writes a date (``parse_receipt_date`` reads it)."""
    return moment.astimezone(dt.timezone.utc).strftime("%y%m%d%H%M")


def format_receipt_text(
    message_id: str, state: MessageState, *, submit_date: str, done_date: str, error: str = "000", text: str = ""
) -> str:
    """The text form of a receipt; dates as ``receipt_date`` writes them."""
    delivered = "001" if state is MessageState.DELIVERED else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{submit_date} done date:{done_date}"
        f" stat:{state.value} err:{error} text:{text[:20]}"
    )
