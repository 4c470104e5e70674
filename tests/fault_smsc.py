"""An SMSC that misbehaves on cue: the SMSC simulator (``textos.simulator.smsc``) with faults
a test scripts, for the carrier-fault table (``tests/delivery/test_carrier_faults.py``).

Everything it does right is the simulator's own (binds, ids, receipts queued and sent again
until acknowledged); what it does wrong is set on the instance:

* ``refuse_binds``: refuse that many binds (``bind_refusal``), then accept (``None``: refuse every one);
* ``next_submits``: what to do with the next submit_sm, one entry per submit, in order: a
  callable ``(session, pdu) -> bool`` that answers it (True) or lets the simulator (False).
  ``answer``, ``nack``, ``answer_with``, ``write_then`` and ``accept_as`` make the usual ones;
* ``deaf_after`` / ``mute_after``: after that many accepted submits, the session goes *deaf*
  (reads nothing, sends nothing: a hung SMSC) or *mute* (takes submits, answers nothing, not even
  enquire_link: its answers are lost), until the ESME drops the connection; the next one is normal;
* ``extra_receipt``: an extra receipt after each accepted part, ``submitted id -> (reported id,
  state)``: the same again (a duplicate), another state, or an id it never gave;
* ``receipt_first``: each submit_sm_resp is held until the part's receipt was acknowledged.

``trace`` records, in order, what it did that a test may want to see (``("resp", id)``,
``("receipt acked", id)``, ``("wrote", label)``…).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from textos.simulator.smsc import SmscSimulator, _Outbound
from textos.smpp import pdu as P
from textos.smpp.receipt_text import MessageState
from textos.smpp.session import Session

SubmitHandler = Callable[["FaultSession", P.ShortMessage], bool]


class FaultSession(Session):
    """A simulator session that can go deaf or mute, and hold its submit responses."""

    def __init__(self, smsc: "FaultySmsc", *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.smsc = smsc
        self.deaf = False
        self.mute = False

    def _dispatch(self, command_id: int, status: int, seq: int, body: bytes) -> None:
        if not self.deaf:
            super()._dispatch(command_id, status, seq, body)

    def _send(self, data: bytes) -> None:
        if not (self.deaf or self.mute):
            super()._send(data)

    def respond(self, command_id: int, sequence: int, status: int = 0, body: bytes = b"") -> None:
        if command_id == P.CommandId.SUBMIT_SM_RESP and status == 0:
            message_id = body.rstrip(b"\0").decode("latin-1")
            if self.smsc.receipt_first:
                self.smsc.held[message_id] = (self, sequence, body)
                return
            self.smsc.trace.append(("resp", message_id))
        super().respond(command_id, sequence, status, body)

    def request_body(self, command_id: int, body: bytes, callback: Any) -> int:
        """The simulator's deliver_sm: tell the SMSC when a receipt was acknowledged."""

        def answered(status: int, resp: P.Pdu | None) -> None:
            callback(status, resp)
            if status == 0 and resp is not None:
                pdu = P.decode_body(command_id, 0, 0, body)
                receipted = getattr(pdu, "tlvs", {}).get(P.Tag.RECEIPTED_MESSAGE_ID)
                if receipted:
                    self.smsc.receipt_acked(receipted.rstrip(b"\0").decode("latin-1"))

        return super().request_body(command_id, body, answered)

    def write_raw(self, data: bytes, label: str) -> None:
        """Put bytes on the wire as they are (after what is already queued)."""
        self._flush()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.smsc.trace.append(("wrote", label))


class FaultySmsc(SmscSimulator):
    """The SMSC simulator with scripted faults (see the module docstring)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.refuse_binds: int | None = 0
        self.bind_refusal = P.Status.ESME_RBINDFAIL
        self.binds_refused = 0
        self.next_submits: deque[SubmitHandler] = deque()
        self.deaf_after: int | None = None
        self.mute_after: int | None = None
        self.extra_receipt: Callable[[str], tuple[str, MessageState]] | None = None
        self.receipt_first = False
        self.held: dict[str, tuple[FaultSession, int, bytes]] = {}
        self.trace: list[tuple[str, str]] = []

    def heal(self) -> None:
        """The fault ends: from now on it behaves as the simulator does."""
        self.refuse_binds = 0
        self.next_submits.clear()
        self.deaf_after = self.mute_after = None
        self.extra_receipt = None
        self.receipt_first = False
        self.rules = []

    def _new_session(self) -> Session:
        return FaultSession(self, self._on_request, response_timeout=self.response_timeout, on_lost=self._on_lost, name="faulty-smsc")

    def _bind(self, session: Session, pdu: P.Bind) -> None:
        if self.refuse_binds is None or self.refuse_binds > 0:
            if self.refuse_binds:
                self.refuse_binds -= 1
            self.binds_refused += 1
            session.respond(pdu.command_id | P.RESPONSE_BIT, pdu.sequence, self.bind_refusal)
            return
        super()._bind(session, pdu)

    def _submit(self, session: Session, pdu: P.ShortMessage) -> None:
        assert isinstance(session, FaultSession)
        if self.next_submits and self.next_submits.popleft()(session, pdu):
            return
        self.accept(session, pdu)

    def accept(self, session: FaultSession, pdu: P.ShortMessage) -> None:
        """What the simulator does with a submit_sm, then the scripted extras."""
        before = len(self.records)
        super()._submit(session, pdu)
        if len(self.records) == before:
            return  # not accepted (throttled, rejected, dropped)
        message_id = self.records[-1].message_id
        if self.extra_receipt is not None:
            reported, state = self.extra_receipt(message_id)
            body = self._receipt_body(pdu, reported, state, "000" if state is MessageState.DELIVERED else "001")
            self._schedule(_Outbound(session.system_id, body, "receipt"), self.receipt_delay)
        for after, mode in ((self.deaf_after, "deaf"), (self.mute_after, "mute")):
            if after is not None and self.submits >= after:
                setattr(session, mode, True)
                setattr(self, f"{mode}_after", None)
                self.trace.append((mode, message_id))

    def receipt_acked(self, reported: str) -> None:
        self.trace.append(("receipt acked", reported))
        held = self.held.pop(reported, None)
        if held is not None:
            session, sequence, body = held
            self.trace.append(("resp", reported))
            Session.respond(session, P.CommandId.SUBMIT_SM_RESP, sequence, 0, body)


# ── what to do with the next submit_sm (entries of ``next_submits``) ─────────


def answer(status: int) -> SubmitHandler:
    """Refuse it with a submit_sm_resp of ``status``."""

    def handle(session: FaultSession, pdu: P.ShortMessage) -> bool:
        session.respond(P.CommandId.SUBMIT_SM_RESP, pdu.sequence, status)
        return True

    return handle


def nack(status: int, sequence: int | None = None) -> SubmitHandler:
    """Answer it with a generic_nack of ``status`` (for its sequence number, or ``sequence``)."""

    def handle(session: FaultSession, pdu: P.ShortMessage) -> bool:
        session.respond(P.CommandId.GENERIC_NACK, pdu.sequence if sequence is None else sequence, status)
        return True

    return handle


def answer_with(command_id: int, body: bytes = b"") -> SubmitHandler:
    """Answer it, status 0, with a PDU of another command (an enquire_link_resp, a bind_resp…)."""

    def handle(session: FaultSession, pdu: P.ShortMessage) -> bool:
        Session.respond(session, command_id, pdu.sequence, 0, body)
        return True

    return handle


def accept_as(message_id: str) -> SubmitHandler:
    """Accept it as the simulator does, but under ``message_id`` (in its answer, its record and its
    receipt); ``""``: answer without an id, and report the receipt under the simulator's own."""

    def handle(session: FaultSession, pdu: P.ShortMessage) -> bool:
        smsc = session.smsc
        respond, receipt_body = session.respond, smsc._receipt_body
        answer = message_id.encode("latin-1") + b"\0" if message_id else b""

        def respond_with_id(command_id: int, sequence: int, status: int = 0, body: bytes = b"") -> None:
            respond(command_id, sequence, status, answer if command_id == P.CommandId.SUBMIT_SM_RESP and status == 0 else body)

        session.respond = respond_with_id  # type: ignore[method-assign]
        smsc._receipt_body = lambda pdu, mid, state, error: receipt_body(pdu, message_id or mid, state, error)  # type: ignore[method-assign]
        try:
            before = len(smsc.records)
            smsc.accept(session, pdu)
            if message_id and len(smsc.records) > before:
                smsc.records[-1].message_id = message_id
        finally:
            del session.respond, smsc._receipt_body
        return True

    return handle


def write_then(data: bytes, label: str) -> SubmitHandler:
    """Write ``data`` raw on the connection first, then let the simulator answer the submit."""

    def handle(session: FaultSession, pdu: P.ShortMessage) -> bool:
        session.write_raw(data, label)
        return False

    return handle


def pdu_bytes(command_id: int, body: bytes = b"", *, sequence: int = 0x7000_0001, status: int = 0, length: int | None = None) -> bytes:
    """A PDU as bytes, its command_length ``length`` if given (a lie), else the true one."""
    return P.HEADER.pack(16 + len(body) if length is None else length, command_id, status, sequence) + body
