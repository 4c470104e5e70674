"""SMSC simulator: a real SMPP 3.4 server for development, tests and benchmarks.

Accepts binds (``accounts``: system_id → password; None accepts anyone), answers
submit_sm, sends delivery receipts (deliver_sm, esm_class 0x04, receipted_message_id
+ message_state TLVs and the text form) after ``receipt_delay`` seconds, and can be
scripted: outcomes by receiver (``Rule``), a rate limit answering ESME_RTHROTTLED,
a dropped connection after N submits, receipt loss (every k-th), receipt ids in
decimal while submit_sm_resp ids are hex, and injected MO messages (``inject_mo``).

Receipts and MO wait in a queue until a receiving bind of the account is up and
are re-sent if their deliver_sm is not acknowledged (at-least-once, like a real SMSC).

It is built from ``textos.smpp``'s own pieces (sessions, the parts of a long text,
data_coding, the receipt text form, the token bucket), so it writes and reads PDUs by
the same rules as the client it serves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import logging
import re
import struct
import time
from collections import deque
from dataclasses import dataclass, field

from textos.domain import encoding as enc
from textos.domain.encoding import Concatenation
from textos.simulator.scenario import OUTCOMES, Rule, outcome_for
from textos.smpp import pdu as P
from textos.smpp import udh
from textos.smpp.receipt_text import STATE_CODE, MessageState, format_receipt_text, receipt_date
from textos.smpp.session import Session
from textos.smpp.short_message import data_coding_for, decode_short_message, part_bodies, payloads
from textos.smpp.throttle import TokenBucket
from textos.smpp.udh import Concat

__all__ = ["SmscSimulator", "SubmitRecord", "Rule"]

log = logging.getLogger("textos.smsc")

_TLV = struct.Struct(">HH")
LAST_FROM = 100_000
"""Handsets whose last sender the simulator remembers (for ``reply_to_last``)."""
_STOP_CLAUSE = re.compile(r"STOP\D{0,8}?(\d{3,8})\b", re.IGNORECASE)
"""A STOP clause in a message (``STOP 36111``, ``STOP au 36180``): where a handset answers STOP."""
_RECEIVING_BINDS = {P.CommandId.BIND_RECEIVER, P.CommandId.BIND_TRANSCEIVER}
_SENDING_BINDS = {P.CommandId.BIND_TRANSMITTER, P.CommandId.BIND_TRANSCEIVER}


@dataclass(slots=True)
class SubmitRecord:
    """One submit_sm as the simulator received it."""

    message_id: str
    system_id: str
    source_addr: str
    destination_addr: str
    data_coding: int
    esm_class: int
    registered_delivery: int
    priority_flag: int
    validity_period: str
    payload: bytes
    udh: bytes = b""
    tlvs: dict[int, bytes] = field(default_factory=dict)
    status: int = 0
    source_ton_npi: tuple[int, int] = (0, 0)
    dest_ton_npi: tuple[int, int] = (0, 0)
    received_at: float = 0.0
    """Wall clock (``time.time()``) when the submit_sm was read: benchmarks compare it with their send times."""

    @property
    def concat(self) -> Concat | None:
        return udh.parse_udh(self.udh) if self.udh else udh.parse_sar(self.tlvs)

    @property
    def text(self) -> str:
        return decode_short_message(self.payload, self.data_coding)


@dataclass(slots=True)
class _Outbound:
    """A deliver_sm waiting for a receiving bind (receipt or MO part)."""

    system_id: str
    body: bytes
    kind: str  # "receipt" | "mo"
    command: int = P.CommandId.DELIVER_SM


class SmscSimulator:
    """An asyncio SMPP server. ``await start()``; ``.port`` is the bound port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 2775,
        accounts: dict[str, str] | None = None,
        *,
        receipt_delay: float = 0.05,
        rules: list[Rule] | None = None,
        tps_limit: float | None = None,
        drop_after: int | None = None,
        receipt_loss_every: int = 0,
        id_format: str = "hex",
        receipt_id_format: str = "same",
        deliver_window: int = 512,
        deliver_with: str = "deliver_sm",
        record_last: int = 1000,
        response_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.accounts = accounts
        self.receipt_delay = receipt_delay
        self.rules = list(rules or [])
        self.tps_limit = tps_limit
        self.drop_after = drop_after
        self.receipt_loss_every = receipt_loss_every
        self.id_format = id_format
        self.receipt_id_format = receipt_id_format
        self.deliver_window = deliver_window
        if deliver_with not in ("deliver_sm", "data_sm"):
            raise ValueError("deliver_with: deliver_sm or data_sm")
        self.deliver_with = deliver_with
        """Receipts and incoming messages as deliver_sm, or as data_sm (text in message_payload)."""
        self.response_timeout = response_timeout
        self.records: deque[SubmitRecord] = deque(maxlen=record_last)
        self.last_from: dict[str, tuple[str, str]] = {}
        """The last submit_sm to each destination (digits, no ``+``): its source address, and the
        destination as the handset's own address (``+`` when international); whom a
        handset answers (``reply_to_last``). Bounded: a long run keeps the last ``LAST_FROM`` handsets."""
        self.submits = 0
        """submit_sm accepted (answered ESME_ROK)."""
        self.throttled = 0
        self.rejected = 0
        self.receipts_sent = 0
        self.receipts_acked = 0
        self.receipts_lost = 0
        self.mo_sent = 0
        self.drops = 0
        self.binds = 0
        self._enquire_links_closed = 0
        self.sessions: set[Session] = set()
        self._server: asyncio.base_events.Server | None = None
        self._ids = itertools.count(0x10000 + 1)
        self._receipt_counter = 0
        self._due: list[tuple[float, int, _Outbound]] = []
        self._due_seq = itertools.count()
        self._ready: deque[_Outbound] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._bucket: TokenBucket | None = None
        self._mo_ref = itertools.count(1)
        self._stamp_at = 0.0
        self._stamp_text = ""

    # ── lifecycle ───────────────────────────────────────────────────────────

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_session, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._bucket = TokenBucket(self.tps_limit) if self.tps_limit else None
        log.info("SMSC simulator listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.close()
        if self._timer:
            self._timer.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def enquire_links(self) -> int:
        """enquire_link PDUs received (all sessions, past and present)."""
        return self._enquire_links_closed + sum(s.enquire_links_received for s in self.sessions)

    def drop_connections(self) -> None:
        """Cut every connection now (no unbind)."""
        for session in list(self.sessions):
            self.drops += 1
            session.abort()

    # ── sessions ────────────────────────────────────────────────────────────

    def _new_session(self) -> Session:
        return Session(self._on_request, response_timeout=self.response_timeout, on_lost=self._on_lost, name="smsc")

    def _on_lost(self, session: Session, exc: Exception | None) -> None:
        self.sessions.discard(session)
        self._enquire_links_closed += session.enquire_links_received

    def _on_request(self, session: Session, pdu: P.Pdu) -> None:
        if isinstance(pdu, P.Bind):
            self._bind(session, pdu)
        elif not session.bound:
            session.respond(pdu.command_id | P.RESPONSE_BIT, pdu.sequence, P.Status.ESME_RINVBNDSTS)
        elif isinstance(pdu, P.ShortMessage) and pdu.command_id == P.CommandId.SUBMIT_SM:
            self._submit(session, pdu)
        else:
            session.respond(P.CommandId.GENERIC_NACK, pdu.sequence, P.Status.ESME_RINVCMDID)

    def _bind(self, session: Session, pdu: P.Bind) -> None:
        resp_id = pdu.command_id | P.RESPONSE_BIT
        status = 0
        if session.bound:
            status = P.Status.ESME_RALYBND
        elif self.accounts is not None:
            if pdu.system_id not in self.accounts:
                status = P.Status.ESME_RINVSYSID
            elif self.accounts[pdu.system_id] != pdu.password:
                status = P.Status.ESME_RINVPASWD
        session.respond(resp_id, pdu.sequence, status, b"TextosSMSC\0")
        if status == 0:
            session.bound = True
            session.system_id = pdu.system_id
            session.bind_command = pdu.command_id
            self.sessions.add(session)
            self.binds += 1
            self._pump()

    def _submit(self, session: Session, pdu: P.ShortMessage) -> None:
        received_at = time.time()
        if session.bind_command not in _SENDING_BINDS:
            session.respond(P.CommandId.SUBMIT_SM_RESP, pdu.sequence, P.Status.ESME_RINVBNDSTS)
            return
        if self.drop_after is not None and self.submits >= self.drop_after:
            self.drop_after = None
            self.drops += 1
            log.info("SMSC simulator: dropping the connection (scripted)")
            session.abort()
            return
        if self._bucket is not None and not self._bucket.take(time.monotonic()):
            self.throttled += 1
            session.respond(P.CommandId.SUBMIT_SM_RESP, pdu.sequence, P.Status.ESME_RTHROTTLED)
            return
        rule = outcome_for(self.rules, pdu.destination_addr) if self.rules else None
        if rule is not None and rule.outcome == "rejected":
            self.rejected += 1
            session.respond(P.CommandId.SUBMIT_SM_RESP, pdu.sequence, rule.status)
            return
        n = next(self._ids)
        message_id = format(n, "x") if self.id_format == "hex" else str(n)
        self.submits += 1
        session.respond(P.CommandId.SUBMIT_SM_RESP, pdu.sequence, 0, message_id.encode() + b"\0")
        header, payload = udh.split_udh(pdu.short_message) if pdu.esm_class & udh.UDHI else (b"", pdu.short_message)
        last_from = self.last_from
        destination = pdu.destination_addr.removeprefix("+")
        last_from.pop(destination, None)
        last_from[destination] = (pdu.source_addr, ("+" if pdu.dest_addr_ton == 1 else "") + destination)
        if len(last_from) > LAST_FROM:
            del last_from[next(iter(last_from))]
        record = SubmitRecord(
            message_id,
            session.system_id,
            pdu.source_addr,
            pdu.destination_addr,
            pdu.data_coding,
            pdu.esm_class,
            pdu.registered_delivery,
            pdu.priority_flag,
            pdu.validity_period,
            payload,
            header,
            pdu.tlvs,
            source_ton_npi=(pdu.source_addr_ton, pdu.source_addr_npi),
            dest_ton_npi=(pdu.dest_addr_ton, pdu.dest_addr_npi),
            received_at=received_at,
        )
        self.records.append(record)
        if rule is not None and rule.outcome == "stop":
            self._answer_stop(session.system_id, pdu, record)
        if pdu.registered_delivery & 0x03:
            state = (OUTCOMES[rule.outcome] if rule else None) or MessageState.DELIVERED
            if pdu.registered_delivery & 0x03 == 2 and state is MessageState.DELIVERED:
                return  # receipt on failure only
            self._receipt_counter += 1
            if self.receipt_loss_every and self._receipt_counter % self.receipt_loss_every == 0:
                self.receipts_lost += 1
                return
            body = self._receipt_body(pdu, message_id, state, rule.error if rule else "000")
            if self.deliver_with == "data_sm":
                self._schedule(_Outbound(session.system_id, _as_data_sm(body), "receipt", P.CommandId.DATA_SM), self.receipt_delay)
            else:
                self._schedule(_Outbound(session.system_id, body, "receipt"), self.receipt_delay)

    def _answer_stop(self, system_id: str, pdu: P.ShortMessage, record: SubmitRecord) -> None:
        """A handset scripted to answer STOP (``Rule`` outcome ``stop``): once its message is whole
        (a single part, or the last one), it sends "STOP" to the number the message's STOP clause
        shows (``STOP 36111``), or else to the message's sender, after the receipt."""
        concat = record.concat
        if concat is not None and concat.seq != concat.total:
            return
        try:
            text = record.text
        except ValueError:
            text = ""
        clause = _STOP_CLAUSE.findall(text)
        to = clause[-1] if clause else (("+" if pdu.source_addr_ton == 1 else "") + pdu.source_addr)
        handset = ("+" if pdu.dest_addr_ton == 1 else "") + pdu.destination_addr
        asyncio.get_running_loop().call_later(
            self.receipt_delay + 0.05, lambda: self.inject_mo(handset, to, "STOP", system_id=system_id))

    def _receipt_body(self, pdu: P.ShortMessage, message_id: str, state: MessageState, error: str) -> bytes:
        if self.receipt_id_format == "decimal" and self.id_format == "hex":
            reported = str(int(message_id, 16))
        elif self.receipt_id_format == "hex" and self.id_format != "hex":
            reported = format(int(message_id), "x")
        else:
            reported = message_id
        stamp = self._stamp()
        text = format_receipt_text(reported, state, submit_date=stamp, done_date=stamp, error=error).encode("latin-1")
        rid = reported.encode() + b"\0"
        # deliver_sm body, built directly (this runs for every receipt)
        return b"".join(
            (
                b"\0",
                bytes((pdu.dest_addr_ton, pdu.dest_addr_npi)),
                pdu.destination_addr.encode("latin-1"),
                b"\0",
                bytes((pdu.source_addr_ton, pdu.source_addr_npi)),
                pdu.source_addr.encode("latin-1"),
                b"\0\x04\x00\x00\0\0\0\0\0\0",
                bytes((len(text),)),
                text,
                _TLV.pack(P.Tag.RECEIPTED_MESSAGE_ID, len(rid)),
                rid,
                _TLV.pack(P.Tag.MESSAGE_STATE, 1),
                bytes((STATE_CODE[state],)),
            )
        )

    def _stamp(self) -> str:
        """``YYMMDDhhmm`` of now (UTC), recomputed once a second at most."""
        now = time.time()
        if now - self._stamp_at >= 1.0:
            self._stamp_at = now
            self._stamp_text = receipt_date(dt.datetime.now(dt.timezone.utc))
        return self._stamp_text

    # ── MO injection ────────────────────────────────────────────────────────

    def inject_mo(
        self, sender: str, receiver: str, text: str, *, system_id: str | None = None, concat: Concatenation | str = Concatenation.UDH8
    ) -> int:
        """Queue an incoming message (a reply, a STOP) for ``system_id`` (default: any bound
        account); long texts go in parts tied by ``concat`` (UDH or SAR). Returns the number of parts."""
        how = Concatenation(concat)
        encoding = enc.detect_encoding(text)
        parts = payloads(text, encoding, how)
        mo = P.ShortMessage(
            P.CommandId.DELIVER_SM,
            source_addr_ton=1 if sender.startswith("+") else 0,
            source_addr_npi=1,
            source_addr=sender.removeprefix("+"),
            dest_addr_ton=1 if receiver.startswith("+") else 0,
            dest_addr_npi=1,
            destination_addr=receiver.removeprefix("+"),
            data_coding=data_coding_for(encoding, None),
        )
        target = system_id if system_id is not None else self._any_receiver()
        for body in part_bodies(mo, parts, next(self._mo_ref), how):
            if self.deliver_with == "data_sm":
                self._ready.append(_Outbound(target, _as_data_sm(body), "mo", P.CommandId.DATA_SM))
            else:
                self._ready.append(_Outbound(target, body, "mo"))
        self._pump()
        return len(parts)

    def reply_to_last(self, handset: str, text: str, *, concat: Concatenation | str = Concatenation.UDH8) -> tuple[str, int]:
        """``handset`` answers the last message it received, to the address it came from: returns
        that address and the number of parts (``LookupError`` if it received none)."""
        last = self.last_from.get(handset.strip().removeprefix("+"))
        if last is None:
            raise LookupError(f"{handset} has received no message")
        origin, address = last
        return origin, self.inject_mo(address, origin, text, concat=concat)

    def _any_receiver(self) -> str:
        for s in self.sessions:
            if s.bind_command in _RECEIVING_BINDS:
                return s.system_id
        return next(iter(self.accounts), "") if self.accounts else ""

    # ── outbound deliver_sm queue ───────────────────────────────────────────

    def _schedule(self, item: _Outbound, delay: float) -> None:
        due = time.monotonic() + delay
        heapq.heappush(self._due, (due, next(self._due_seq), item))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_at(asyncio.get_running_loop().time() + delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = time.monotonic()
        due = self._due
        while due and due[0][0] <= now:
            self._ready.append(heapq.heappop(due)[2])
        self._pump()
        if due:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(loop.time() + max(0.001, due[0][0] - now), self._on_timer)

    def _pump(self) -> None:
        """Send ready deliver_sm to receiving binds, within ``deliver_window`` each."""
        ready = self._ready
        if not ready:
            return
        receivers: dict[str, list[Session]] = {}
        for s in self.sessions:
            if s.bound and s.bind_command in _RECEIVING_BINDS and s.is_open:
                receivers.setdefault(s.system_id, []).append(s)
        if not receivers:
            return
        waiting: deque[_Outbound] = deque()
        rr = 0
        while ready:
            item = ready.popleft()
            candidates = receivers.get(item.system_id) or (receivers.get(next(iter(receivers))) if not item.system_id else None)
            session = None
            if candidates:
                for k in range(len(candidates)):
                    c = candidates[(rr + k) % len(candidates)]
                    if c.outstanding < self.deliver_window:
                        session = c
                        rr += 1
                        break
            if session is None:
                if candidates:  # every bind of the account has a full window
                    ready.appendleft(item)
                    break
                waiting.append(item)  # account not bound: keep for later
                continue
            self._deliver(session, item)
        if waiting:
            ready.extendleft(reversed(waiting))

    def _deliver(self, session: Session, item: _Outbound) -> None:
        if item.kind == "receipt":
            self.receipts_sent += 1
        else:
            self.mo_sent += 1

        def answered(status: int, resp: P.Pdu | None) -> None:
            if status == 0 and resp is not None:
                if item.kind == "receipt":
                    self.receipts_acked += 1
            else:  # refused, timed out or link lost: send again later
                self._schedule(item, min(1.0, max(0.05, self.receipt_delay)))
            self._pump()

        session.request_body(item.command, item.body, answered)


def _as_data_sm(deliver_sm_body: bytes) -> bytes:
    """The same receipt or message as a data_sm: the text moves to ``message_payload``."""
    pdu = P.decode_body(P.CommandId.DELIVER_SM, 0, 0, deliver_sm_body)
    assert isinstance(pdu, P.ShortMessage)
    pdu.command_id = P.CommandId.DATA_SM
    pdu.tlvs = {**pdu.tlvs, P.Tag.MESSAGE_PAYLOAD: pdu.short_message}
    pdu.short_message = b""
    return P.data_sm_body(pdu)

