"""What an SMSC delivers (deliver_sm, or data_sm with the text in ``message_payload``):
delivery receipts and incoming messages, each answered only once it was handled.

Receipts are read from the receipted_message_id / message_state TLVs, else from the
text form; those arriving while a batch is being handled go to the handler together, in
the next call. Other deliveries are incoming messages, or parts of one (their place read
from the UDH or the SAR TLVs), one call each. The answer (deliver_sm_resp / data_sm_resp)
goes out after the handler returned, ESME_RX_T_APPN if it raised: the SMSC sends again
what was not stored, so receipts and incoming messages are at-least-once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Generic, TypeVar

from textos.smpp import pdu as P
from textos.smpp.receipt_text import MESSAGE_STATE, MessageState, parse_receipt_text
from textos.smpp.session import Session
from textos.smpp.short_message import read_text
from textos.smpp.udh import Concat

__all__ = ["RECEIPT_ESM_TYPES", "Deliveries", "IncomingSms", "ReceiptFactory", "read_incoming", "read_receipt"]

log = logging.getLogger("textos.smpp")

R = TypeVar("R")

ReceiptFactory = Callable[[str, MessageState, str | None, dt.datetime | None], R]
"""``make(carrier_id, state, error, done_at)``: the owner's receipt object, built once per receipt."""

RECEIPT_ESM_TYPES = frozenset((0x04, 0x20))
"""esm_class message-type bits (mask 0x3C) of an SMSC delivery receipt / intermediate notification."""

_DELIVERIES = frozenset((P.CommandId.DELIVER_SM, P.CommandId.DATA_SM))
_MESSAGE_STATE_TAG = P.Tag.MESSAGE_STATE.value
_RECEIPTED_ID_TAG = P.Tag.RECEIPTED_MESSAGE_ID.value
_NETWORK_ERROR_TAG = P.Tag.NETWORK_ERROR_CODE.value
_DELIVERED_STATE = bytes((2,))  # message_state DELIVERED (§5.2.28)


@dataclass(frozen=True, slots=True)
class IncomingSms:
    """An incoming message, or one part of a concatenated one (``concat``)."""

    sender: str
    """E.164 with '+' when the SMSC gave an international number, else as given."""
    receiver: str
    text: str
    concat: Concat | None = None


def read_incoming(pdu: P.ShortMessage) -> IncomingSms:
    """The incoming message (or part) a deliver_sm / data_sm carries."""
    text, concat = read_text(pdu)
    sender = ("+" + pdu.source_addr) if pdu.source_addr_ton == 1 and pdu.source_addr.isdigit() else pdu.source_addr
    return IncomingSms(sender, pdu.destination_addr, text, concat)


def read_receipt(pdu: P.ShortMessage, make: ReceiptFactory[R]) -> R | None:
    """The receipt a deliver_sm / data_sm carries (None if it names no id or no state)."""
    tlvs = pdu.tlvs
    if tlvs:
        fast = _fast_receipt(pdu, tlvs, make)
        if fast is not None:
            return fast
    body = pdu.short_message or tlvs.get(P.Tag.MESSAGE_PAYLOAD, b"")  # data_sm: the text form is in the payload
    text = parse_receipt_text(body.decode("latin-1")) if body else None
    carrier_id = tlvs.get(P.Tag.RECEIPTED_MESSAGE_ID, b"").rstrip(b"\0").decode("latin-1")
    state_tlv = tlvs.get(P.Tag.MESSAGE_STATE)
    state = MESSAGE_STATE.get(state_tlv[0]) if state_tlv else None
    if not carrier_id and text:
        carrier_id = text.message_id
    if state is None and text:
        state = text.state
    if not carrier_id or state is None:
        return None
    error = text.error if text else None
    net = tlvs.get(P.Tag.NETWORK_ERROR_CODE)
    if net and len(net) == 3 and (not error or error.strip("0") == ""):
        code = int.from_bytes(net[1:], "big")
        if code:
            error = str(code)
    return make(carrier_id, state, error, text.done_at if text else None)


def _fast_receipt(pdu: P.ShortMessage, tlvs: dict[int, bytes], make: ReceiptFactory[R]) -> R | None:
    """A "delivered" receipt whose TLVs say it all (the common case), without parsing
    the text form: its ``err:`` is read with a search, ``done_at`` is the time the
    receipt came in (the text form only has minute precision anyway). Anything else
    (other states, no TLVs, no ``err:``) goes the full way."""
    state_tlv = tlvs.get(_MESSAGE_STATE_TAG)
    if state_tlv != _DELIVERED_STATE or _NETWORK_ERROR_TAG in tlvs:
        return None
    rid = tlvs.get(_RECEIPTED_ID_TAG)
    if not rid:
        return None
    carrier_id = rid.rstrip(b"\0").decode("latin-1")
    if not carrier_id:
        return None
    sm = pdu.short_message
    error = None
    if sm:
        at = sm.find(b" err:")
        if at < 0:
            return None
        end = sm.find(b" ", at + 5)
        error = (sm[at + 5 :] if end < 0 else sm[at + 5 : end]).decode("latin-1")
    return make(carrier_id, MessageState.DELIVERED, error, _received_at())


_clock: list[object] = [-1, None]


def _received_at() -> dt.datetime:
    """Now (UTC, to the second), recomputed once a second: receipt ``done_at`` when the
    text form is not parsed."""
    second = int(time.time())
    if second != _clock[0]:
        _clock[0] = second
        _clock[1] = dt.datetime.fromtimestamp(second, dt.timezone.utc)
    return _clock[1]  # type: ignore[return-value]


class Deliveries(Generic[R]):
    """Reads what the SMSC delivers on any session of one account and answers it once handled.

    ``on_request`` is the sessions' request callback. ``make_receipt`` builds the owner's
    receipt objects, ``on_receipts`` stores a batch of them, ``on_incoming`` one incoming
    message; both may raise to have the SMSC send again later, and log why themselves (the
    dispatcher's writers say a database outage in a line every few seconds, not one per
    delivery the SMSC sends again): here it is only a debug line."""

    def __init__(
        self,
        name: str,
        make_receipt: ReceiptFactory[R],
        on_receipts: Callable[[list[R]], Awaitable[None]],
        on_incoming: Callable[[IncomingSms], Awaitable[None]],
        *,
        batch_delay: float = 0.0,
    ) -> None:
        self.name = name
        self.make_receipt = make_receipt
        self.on_receipts = on_receipts
        self.on_incoming = on_incoming
        self.batch_delay = batch_delay
        self._receipts: list[tuple[R, Session, int, int]] = []  # receipt, session, sequence, response command
        self._receipt_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def on_request(self, session: Session, pdu: P.Pdu) -> None:
        """deliver_sm or data_sm from the SMSC: a receipt, or an incoming message (part)."""
        if not isinstance(pdu, P.ShortMessage) or pdu.command_id not in _DELIVERIES:
            session.respond(pdu.command_id | P.RESPONSE_BIT, pdu.sequence, P.Status.ESME_RINVCMDID)
            return
        if (pdu.esm_class & 0x3C) in RECEIPT_ESM_TYPES:
            receipt = read_receipt(pdu, self.make_receipt)
            if receipt is None:
                log.warning("%s: unreadable receipt %r", self.name, pdu.short_message[:80])
                session.respond(pdu.command_id | P.RESPONSE_BIT, pdu.sequence, 0, b"\0")
                return
            self._receipts.append((receipt, session, pdu.sequence, pdu.command_id | P.RESPONSE_BIT))
            if self._receipt_task is None:
                self._receipt_task = asyncio.create_task(self._flush_receipts())
            return
        message = read_incoming(pdu)
        task = asyncio.create_task(self._deliver_incoming(session, pdu.sequence, pdu.command_id | P.RESPONSE_BIT, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_receipts(self) -> None:
        try:
            await asyncio.sleep(self.batch_delay)
            while self._receipts:
                batch, self._receipts = self._receipts, []
                status = 0
                try:
                    await self.on_receipts([r for r, *_ in batch])
                except Exception:
                    log.debug("%s: receipts not stored; the SMSC will send them again", self.name, exc_info=True)
                    status = P.Status.ESME_RX_T_APPN
                for _, session, seq, resp in batch:
                    if session.is_open:
                        session.respond(resp, seq, status, b"\0")
        finally:
            self._receipt_task = None

    async def _deliver_incoming(self, session: Session, seq: int, resp: int, message: IncomingSms) -> None:
        status = 0
        try:
            await self.on_incoming(message)
        except Exception:
            log.debug("%s: incoming message not stored; the SMSC will send it again", self.name, exc_info=True)
            status = P.Status.ESME_RX_T_APPN
        if session.is_open:
            session.respond(resp, seq, status, b"\0")

    async def close(self) -> None:
        """Wait for the handlers still running."""
        if self._receipt_task:
            await asyncio.gather(self._receipt_task, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
