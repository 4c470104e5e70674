"""One SMPP connection (either side) as an asyncio ``Protocol``.

Framing, sequence numbers, outstanding requests matched by sequence number with a
per-PDU response timeout, enquire_link keep-alive, and the automatic answers every
peer owes (enquire_link_resp, unbind_resp, generic_nack).  What to do with
submit_sm / deliver_sm / bind is the owner's ``on_request`` callback.

A faulty peer costs no more than it must: a response of another command than its request's
(an enquire_link_resp to a submit_sm) is no answer, and the request times out as if none
came; a request whose handler raises is answered ESME_RSYSERR (the peer may send it again)
and the connection stays up; a PDU that does not decode is answered generic_nack.

Speed matters here (tens of thousands of PDUs per second in one process): writes
are coalesced into one ``transport.write`` per loop iteration, responses resolve
plain callbacks (no task or future per PDU), and timeouts are found by one periodic
sweep over the outstanding requests, which are kept in send order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from textos.smpp import pdu as P

__all__ = ["Session", "ResponseCallback", "TIMEOUT", "LINK_DOWN", "SessionClosed"]

log = logging.getLogger("textos.smpp")

TIMEOUT = -1
"""Pseudo command_status given to a callback when no response came in time."""
LINK_DOWN = -2
"""Pseudo command_status given to a callback when the connection was lost first."""

ResponseCallback = Callable[[int, "P.Pdu | None"], None]
"""``callback(command_status, response_pdu_or_None)``."""

_HEADER = P.HEADER
_RESPONSE_BIT = P.RESPONSE_BIT
_GENERIC_NACK = P.CommandId.GENERIC_NACK
_ENQUIRE_LINK = P.CommandId.ENQUIRE_LINK
_UNBIND = P.CommandId.UNBIND


class SessionClosed(ConnectionError):
    """The connection was lost while a request was waiting for its response."""


class Session(asyncio.Protocol):
    """An SMPP peer connection. ``on_request(session, pdu)`` receives requests."""

    def __init__(
        self,
        on_request: Callable[["Session", P.Pdu], None],
        *,
        response_timeout: float = 10.0,
        enquire_link_interval: float | None = None,
        on_lost: Callable[["Session", Exception | None], None] | None = None,
        name: str = "smpp",
    ) -> None:
        self.on_request = on_request
        self.on_lost = on_lost
        self.response_timeout = response_timeout
        self.enquire_link_interval = enquire_link_interval
        self.name = name
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.bound = False
        self.system_id = ""
        self.bind_command = 0
        self.enquire_links_received = 0
        self._loop = asyncio.get_running_loop()
        self._buf = bytearray()
        self._out: list[bytes] = []
        self._flush_pending = False
        self._seq = 0
        self._pending: dict[int, tuple[ResponseCallback, float, int]] = {}
        """sequence → (callback, deadline, the response command expected)."""
        self._sweeper: asyncio.TimerHandle | None = None
        self._keepalive: asyncio.TimerHandle | None = None

    # ── asyncio.Protocol ────────────────────────────────────────────────────

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._sweeper = self._loop.call_later(self._sweep_every, self._sweep)
        if self.enquire_link_interval:
            self._keepalive = self._loop.call_later(self.enquire_link_interval, self._enquire)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos, end = 0, len(buf)
        unpack = _HEADER.unpack_from
        try:
            while end - pos >= 16:
                length, command_id, status, seq = unpack(buf, pos)
                if length < 16 or length > P.MAX_PDU_LENGTH:
                    log.warning("%s: bad command_length %d, closing", self.name, length)
                    self._send(_HEADER.pack(16, _GENERIC_NACK, P.Status.ESME_RINVCMDLEN, seq))
                    self.close()
                    return
                if end - pos < length:
                    break
                body = bytes(buf[pos + 16 : pos + length])
                pos += length
                self._dispatch(command_id, status, seq, body)
        finally:
            if pos:
                del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.bound = False
        for handle in (self._sweeper, self._keepalive):
            if handle:
                handle.cancel()
        pending, self._pending = self._pending, {}
        for callback, _, _ in pending.values():
            try:
                callback(LINK_DOWN, None)
            except Exception:  # pragma: no cover - a callback bug must not stop the others
                log.exception("%s: response callback failed", self.name)
        if not self.closed.done():
            self.closed.set_result(exc)
        if self.on_lost:
            self.on_lost(self, exc)

    # ── sending ─────────────────────────────────────────────────────────────

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.closed.done() and not self.transport.is_closing()

    @property
    def outstanding(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    def next_sequence(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def request_body(self, command_id: int, body: bytes, callback: ResponseCallback) -> int:
        """Send a request whose body is already encoded; ``callback`` gets the response."""
        seq = self.next_sequence()
        self._pending[seq] = (callback, time.monotonic() + self.response_timeout, command_id | _RESPONSE_BIT)
        self._send(_HEADER.pack(16 + len(body), command_id, 0, seq) + body)
        return seq

    def request(self, pdu: P.Pdu) -> asyncio.Future[P.Pdu]:
        """Send a request PDU; the future resolves to its response (any status)."""
        fut: asyncio.Future[P.Pdu] = self._loop.create_future()

        def done(status: int, resp: P.Pdu | None) -> None:
            if fut.done():
                return
            if resp is not None:
                fut.set_result(resp)
            elif status == TIMEOUT:
                fut.set_exception(TimeoutError(f"no response to 0x{pdu.command_id:08x}"))
            else:
                fut.set_exception(SessionClosed("connection lost"))

        pdu.sequence = self.next_sequence()
        self._pending[pdu.sequence] = (done, time.monotonic() + self.response_timeout, pdu.command_id | _RESPONSE_BIT)
        self._send(P.encode(pdu))
        return fut

    def respond(self, command_id: int, sequence: int, status: int = 0, body: bytes = b"") -> None:
        """Answer request ``sequence`` (``command_id`` is the *_resp id)."""
        self._send(_HEADER.pack(16 + len(body), command_id, status, sequence) + body)

    def _send(self, data: bytes) -> None:
        self._out.append(data)
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        out, self._out = self._out, []
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def close(self) -> None:
        """Flush what is queued and close the connection."""
        if self.transport is not None and not self.transport.is_closing():
            self._flush()
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once (a peer that stopped answering; tests: a carrier cutting the line)."""
        if self.transport is not None:
            self._out.clear()
            self.transport.abort()

    async def unbind(self, timeout: float = 2.0) -> None:
        """Send unbind, wait (briefly) for unbind_resp, close."""
        if self.is_open:
            self.bound = False
            try:
                await asyncio.wait_for(self.request(P.Empty(_UNBIND)), timeout)
            except (TimeoutError, SessionClosed, asyncio.TimeoutError):
                pass
        self.close()

    # ── receiving ───────────────────────────────────────────────────────────

    def _dispatch(self, command_id: int, status: int, seq: int, body: bytes) -> None:
        if command_id & _RESPONSE_BIT:
            entry = self._pending.get(seq)
            if entry is None:
                if command_id != _GENERIC_NACK:
                    log.debug("%s: unexpected response 0x%08x seq %d", self.name, command_id, seq)
                return
            if command_id != entry[2] and command_id != _GENERIC_NACK:
                log.warning("%s: 0x%08x is no answer to request %d (0x%08x expected): ignored", self.name, command_id, seq, entry[2])
                return
            del self._pending[seq]
            try:
                resp = P.decode_body(command_id, status, seq, body)
            except P.PduError:
                resp = P.Empty(command_id, status or P.Status.ESME_RSYSERR, seq)
            try:
                entry[0](status if status or command_id != _GENERIC_NACK else P.Status.ESME_RSYSERR, resp)
            except Exception:  # a callback bug must not stop the connection
                log.exception("%s: response callback failed", self.name)
            return
        if command_id == _ENQUIRE_LINK:
            self.enquire_links_received += 1
            self.respond(command_id | _RESPONSE_BIT, seq)
            return
        if command_id == _UNBIND:
            self.bound = False
            self.respond(command_id | _RESPONSE_BIT, seq)
            self.close()
            return
        try:
            pdu = P.decode_body(command_id, status, seq, body)
        except P.PduError as exc:
            self.respond(_GENERIC_NACK, seq, exc.status)
            return
        if isinstance(pdu, P.Raw):
            self.respond(_GENERIC_NACK, seq, P.Status.ESME_RINVCMDID)
            return
        try:
            self.on_request(self, pdu)
        except Exception:
            log.exception("%s: request 0x%08x seq %d could not be handled; answered ESME_RSYSERR", self.name, command_id, seq)
            self.respond(command_id | _RESPONSE_BIT, seq, P.Status.ESME_RSYSERR)

    # ── timers ──────────────────────────────────────────────────────────────

    @property
    def _sweep_every(self) -> float:
        return max(0.01, min(0.5, self.response_timeout / 4))

    def _sweep(self) -> None:
        now = time.monotonic()
        expired = []
        for seq, (_, deadline, _) in self._pending.items():
            if deadline > now:
                break
            expired.append(seq)
        for seq in expired:
            callback = self._pending.pop(seq)[0]
            callback(TIMEOUT, None)
        if not self.closed.done():
            self._sweeper = self._loop.call_later(self._sweep_every, self._sweep)

    def _enquire(self) -> None:
        if not self.is_open:
            return

        def answered(status: int, resp: P.Pdu | None) -> None:
            if resp is None and status == TIMEOUT:
                log.warning("%s: enquire_link unanswered, dropping the link", self.name)
                self.abort()

        self.request_body(_ENQUIRE_LINK, b"", answered)
        assert self.enquire_link_interval
        self._keepalive = self._loop.call_later(self.enquire_link_interval, self._enquire)
