"""SMPP 3.4 carrier connector (ESME): ``SmppConnector`` and ``SmppCarrierConfig``.

Submits
    Every message is split with ``textos.domain.encoding`` and each part becomes one
    submit_sm (UDH 8-bit / 16-bit reference, or SAR TLVs).  Parts of the whole batch
    go out through a shared queue over all transmitting binds, at most ``window``
    outstanding per bind (matched by sequence number, per-PDU response timeout) and
    at most ``tps`` per second per bind.

Outcome of a message (never duplicate a part the SMSC accepted)
    * all parts accepted → ACCEPTED with the part ids in part order;
    * a part refused permanently (e.g. ESME_RINVDSTADR) → REJECTED; parts not yet
      sent are withdrawn (if some were already accepted the error says
      ``partial k/n``: they cannot be recalled);
    * a part refused *temporarily* (ESME_RTHROTTLED, ESME_RMSGQFUL, ...) was definitely
      not taken: the bind pauses ``throttle_backoff`` seconds (slow down) and the part
      is queued again, until ``submit_deadline``;
    * a part whose fate is unknown (response timeout, connection lost in flight):
      if no part of the message was accepted → RETRY (the dispatcher resends the whole
      message later); if some part was accepted → only the missing parts are queued
      again (waiting for a reconnect) until ``submit_deadline``, then REJECTED
      ``partial k/n``.
    * no bind up (or closing) and nothing of the message accepted → RETRY.
    So a part is sent twice only if it was in flight when its response timed out or
    its connection dropped: at most ``window × binds`` parts per such incident.

Receipts and MO
    deliver_sm with the receipt bit is read from the receipted_message_id /
    message_state TLVs, else from the text form; receipts that arrive while a batch is
    being stored go to ``events.on_receipts`` together, in the next call.  Other deliver_sm
    (and data_sm, which some SMSCs use instead, the text in ``message_payload``)
    are MO messages for ``events.on_incoming``, one call per part of a concatenated
    one (UDH or SAR; the incoming pipeline stores parts and reassembles them).
    deliver_sm_resp (data_sm_resp) is sent only after the callback returned (ESME_RX_T_APPN if it
    raised), so receipts and MO are at-least-once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import dataclasses
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence
from urllib.parse import parse_qs, unquote, urlsplit

from textos.delivery.connector import (
    Encoding,
    Events,
    IncomingMessage,
    IncomingPartInfo,
    OutboundMessage,
    DeliveryState,
    Receipt,
    SubmitOutcome,
    SubmitResult,
)
from textos.domain import encoding as enc
from textos.smpp import pdu as P
from textos.smpp import udh
from textos.smpp.receipt_text import MESSAGE_STATE, MessageState, parse_receipt_text
from textos.smpp.session import LINK_DOWN, TIMEOUT, Session

__all__ = ["DELIVERY_STATES", "SmppCarrierConfig", "SmppConnector", "TEMPORARY_STATUSES", "data_coding_for", "decode_short_message"]

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

log = logging.getLogger("textos.smpp.connector")

# ── tables ──────────────────────────────────────────────────────────────────

TEMPORARY_STATUSES: dict[int, float] = {
    P.Status.ESME_RTHROTTLED: 1.0,
    P.Status.ESME_RMSGQFUL: 1.0,
    P.Status.ESME_RSYSERR: 1.0,
    P.Status.ESME_RX_T_APPN: 1.0,
    P.Status.ESME_RUNKNOWNERR: 1.0,
    P.Status.ESME_RSUBMITFAIL: 1.0,
}
"""command_status → pause factor (× ``throttle_backoff``) for refusals worth retrying.
Every other non-zero status is a permanent rejection."""

SOURCE_TON_NPI: dict[str, tuple[int, int]] = {
    "alpha": (5, 0),  # alphanumeric, unknown plan
    "numeric": (1, 1),  # international, ISDN/E.164
    "virtual": (1, 1),
    "shortcode": (3, 0),  # network specific
}
"""sender_type → (source_addr_ton, source_addr_npi); overridable per carrier."""

PRIORITY_FLAG: dict[str, int] = {"veryLow": 0, "low": 1, "medium": 2, "high": 3}
"""OVH priority → SMPP priority_flag."""

MESSAGE_CLASS: dict[str, int] = {"flash": 0, "phoneDisplay": 1, "sim": 2, "toolkit": 3}
"""OVH class → GSM message class (carried in data_coding)."""

BIND_COMMANDS: dict[str, int] = {
    "trx": P.CommandId.BIND_TRANSCEIVER,
    "tx": P.CommandId.BIND_TRANSMITTER,
    "rx": P.CommandId.BIND_RECEIVER,
}

RECEIPT_ESM_TYPES = {0x04, 0x20}
"""esm_class message-type bits (mask 0x3C) of an SMSC delivery receipt / intermediate notification."""


def data_coding_for(encoding: Encoding, message_class: str | None) -> int:
    """GSM default alphabet 0x00 / UCS-2 0x08; with a class: 0xF0|class / 0x18|class."""
    cls = MESSAGE_CLASS.get(message_class or "")
    if encoding is Encoding.UCS2:
        return 0x08 if cls is None else 0x18 | cls
    return 0x00 if cls is None else 0xF0 | cls


def decode_short_message(data: bytes, data_coding: int) -> str:
    """Text of a short_message payload (UDH already removed)."""
    if data_coding in (0x08, 0x18, 0x19, 0x1A, 0x1B) or (data_coding & 0xEC) == 0x08 and data_coding < 0x40:
        return enc.decode_ucs2(data)
    if data_coding == 0x03:
        return data.decode("latin-1")
    if data_coding in (0x01,):
        return data.decode("ascii", "replace")
    return enc.decode_gsm7(data)


# ── configuration ───────────────────────────────────────────────────────────


@dataclass
class SmppCarrierConfig:
    """One SMPP carrier account (host, credentials, binds, flow control)."""

    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    bind_mode: str = "trx"
    """'trx' (transceiver binds) or 'tx+rx' (a transmitter and a receiver per bind)."""
    binds: int = 1
    window: int = 64
    tps: float | None = None
    """Max submits per second per bind (None: no cap)."""
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    reconnect_backoff: tuple[float, float] = (0.5, 30.0)
    source_ton_npi: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(SOURCE_TON_NPI))
    dest_ton_npi: tuple[int, int] = (1, 1)
    concatenation: str = "udh8"
    """'udh8', 'udh16' or 'sar'."""
    registered_delivery: bool = True
    service_type: str = ""
    throttle_backoff: float = 1.0
    """Seconds a bind pauses after ESME_RTHROTTLED / ESME_RMSGQFUL."""
    submit_deadline: float = 30.0
    """How long a submit() call keeps retrying parts (see module docstring)."""
    receipt_batch_delay: float = 0.0
    """Seconds to wait for more receipts before storing a batch. No wait by default: while
    one batch is being stored the next one gathers anyway, and waiting only holds the
    SMSC's receipt window (a window of 64 with 5 ms here capped receipts at ~6k/s)."""
    name: str = "smpp"

    def __post_init__(self) -> None:
        if self.bind_mode not in ("trx", "tx+rx"):
            raise ValueError("bind_mode must be 'trx' or 'tx+rx'")
        if self.concatenation not in ("udh8", "udh16", "sar"):
            raise ValueError("concatenation must be 'udh8', 'udh16' or 'sar'")
        if self.window < 1 or self.binds < 1:
            raise ValueError("window and binds must be >= 1")

    @classmethod
    def from_url(cls, url: str, **overrides: object) -> "SmppCarrierConfig":
        """``smpp://system_id:password@host:port?window=64&tps=500&binds=2&bind=trx``.

        Query keys are the options of ``CARRIER_OPTIONS`` (an unknown key is an error).
        """
        parts = urlsplit(url)
        if parts.scheme not in ("smpp", "smpps"):
            raise ValueError(f"not an smpp:// URL: {url!r}")
        kw: dict[str, object] = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 2775,
            "system_id": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
        }
        _apply_options(kw, {k: v[-1] for k, v in parse_qs(parts.query).items()}, where=f"smpp URL {_redacted(parts)}")
        if "name" not in kw:
            kw["name"] = f"smpp:{kw['system_id']}@{kw['host']}"
        kw.update(overrides)
        return cls(**kw)  # type: ignore[arg-type]

    @classmethod
    def from_table(cls, name: str, table: dict[str, Any]) -> "SmppCarrierConfig":
        """A ``[carriers.NAME]`` table of textos.toml: ``url`` plus any ``CARRIER_OPTIONS``
        key (``window = 64``, ``ton_npi_alpha = [5, 0]``…), which win over the URL's query."""
        if "url" not in table:
            raise ValueError(f"carriers.{name}: 'url' is required (smpp://system_id:password@host:port)")
        config = cls.from_url(str(table["url"]), name=name)
        kw: dict[str, Any] = {"source_ton_npi": config.source_ton_npi}
        _apply_options(kw, {k: v for k, v in table.items() if k != "url"}, where=f"carriers.{name}")
        kw["name"] = name
        return dataclasses.replace(config, **kw)


def _redacted(parts: Any) -> str:
    return f"smpp://{parts.username or ''}@{parts.hostname or ''}:{parts.port or 2775}"


def _pair(conv: Callable[[str], Any]) -> Callable[[Any], tuple[Any, Any]]:
    """``"5:0"`` or ``[5, 0]`` → ``(5, 0)``."""

    def parse(value: Any) -> tuple[Any, Any]:
        items = value.split(":") if isinstance(value, str) else list(value)
        if len(items) != 2:
            raise ValueError("two values expected, as 5:0")
        return conv(items[0]), conv(items[1])

    return parse


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() not in ("0", "false", "no", "off")


def _bind_mode(value: Any) -> str:
    bind = str(value).lower().replace(" ", "+")
    return {"trx": "trx", "transceiver": "trx", "tx+rx": "tx+rx", "txrx": "tx+rx"}.get(bind, bind)


def _tps(value: Any) -> float | None:
    return None if str(value) in ("", "0", "none") else float(value)


CARRIER_OPTIONS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "window": ("window", int),
    "binds": ("binds", int),
    "bind": ("bind_mode", _bind_mode),
    "tps": ("tps", _tps),
    "enquire_link": ("enquire_link_interval", float),
    "timeout": ("response_timeout", float),
    "reconnect": ("reconnect_backoff", _pair(float)),
    "throttle_backoff": ("throttle_backoff", float),
    "deadline": ("submit_deadline", float),
    "system_type": ("system_type", str),
    "service_type": ("service_type", str),
    "concat": ("concatenation", str),
    "dlr": ("registered_delivery", _flag),
    "name": ("name", str),
    "ton_npi_dest": ("dest_ton_npi", _pair(int)),
}
"""Carrier options, in an ``smpp://`` URL's query or a ``[carriers.NAME]`` table:
key → (``SmppCarrierConfig`` field, parser). ``ton_npi_<sender type>`` (alpha, numeric,
virtual, shortcode) sets the source TON:NPI used for that kind of sender."""


def _apply_options(kw: dict[str, Any], options: dict[str, Any], *, where: str) -> None:
    for key, value in options.items():
        try:
            if key.startswith("ton_npi_") and key[8:] in SOURCE_TON_NPI:
                current = dict(kw.get("source_ton_npi") or SOURCE_TON_NPI)  # type: ignore[call-overload]
                current[key[8:]] = _pair(int)(value)
                kw["source_ton_npi"] = current
                continue
            if key not in CARRIER_OPTIONS:
                known = sorted([*CARRIER_OPTIONS, *(f"ton_npi_{t}" for t in SOURCE_TON_NPI)])
                raise ValueError(f"unknown option (known: {', '.join(known)})")
            attr, conv = CARRIER_OPTIONS[key]
            kw[attr] = conv(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {key}={value!r}: {exc}") from None


# ── submit bookkeeping ──────────────────────────────────────────────────────


class _Batch:
    __slots__ = ("remaining", "results", "future")

    def __init__(self, count: int, future: asyncio.Future[list[SubmitResult]]) -> None:
        self.remaining = count
        self.results: list[SubmitResult] = []
        self.future = future


class _Tracker:
    """One message in flight: its parts' fates."""

    __slots__ = ("message", "batch", "part_ids", "accepted", "inflight", "queued", "failed", "done", "deadline", "error")

    def __init__(self, message: OutboundMessage, batch: _Batch, n: int, deadline: float) -> None:
        self.message = message
        self.batch = batch
        self.part_ids: list[str | None] = [None] * n
        self.accepted = 0
        self.inflight = 0
        self.queued = 0
        self.failed: list[_Part] = []
        self.done = False
        self.deadline = deadline
        self.error: str | None = None


class _Part:
    __slots__ = ("tracker", "index", "body")

    def __init__(self, tracker: _Tracker, index: int, body: bytes) -> None:
        self.tracker = tracker
        self.index = index
        self.body = body


class _Link:
    """One bind (a TCP connection) and its reconnect loop."""

    def __init__(self, connector: "SmppConnector", role: str, number: int) -> None:
        self.connector = connector
        self.role = role
        self.name = f"{connector.name}#{number}{role}"
        self.session: Session | None = None
        self.task: asyncio.Task[None] | None = None
        self.paused_until = 0.0
        self.tokens = 1.0
        self.token_time = 0.0
        self.wakeup: asyncio.TimerHandle | None = None
        self.binds = 0

    @property
    def can_submit(self) -> bool:
        s = self.session
        return self.role != "rx" and s is not None and s.bound and s.is_open

    async def run(self) -> None:
        cfg = self.connector.config
        loop = asyncio.get_running_loop()
        backoff = cfg.reconnect_backoff[0]
        while not self.connector.closing:
            session: Session | None = None
            try:
                _, connected = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: Session(
                            self.connector._on_request,
                            response_timeout=cfg.response_timeout,
                            enquire_link_interval=cfg.enquire_link_interval,
                            name=self.name,
                        ),
                        cfg.host,
                        cfg.port,
                    ),
                    cfg.response_timeout,
                )
                session = connected
                bind = P.Bind(
                    BIND_COMMANDS[self.role],
                    system_id=cfg.system_id,
                    password=cfg.password,
                    system_type=cfg.system_type,
                )
                resp = await asyncio.wait_for(session.request(bind), cfg.response_timeout)
                if resp.status != 0:
                    log.warning("%s: bind refused: %s", self.name, P.status_name(resp.status))
                    session.close()
                else:
                    session.bound = True
                    self.session = session
                    self.binds += 1
                    backoff = cfg.reconnect_backoff[0]
                    log.info("%s: bound to %s:%s", self.name, cfg.host, cfg.port)
                    self.connector._link_up(self)
                    await session.closed
                    if not self.connector.closing:
                        log.warning("%s: connection lost", self.name)
            except (OSError, asyncio.TimeoutError, TimeoutError, ConnectionError) as exc:
                log.warning("%s: connect/bind failed: %s", self.name, exc)
                if session is not None:
                    session.abort()
            finally:
                self.session = None
                self.connector._link_down(self)
            if self.connector.closing:
                break
            self.connector.retry_after = backoff
            await asyncio.sleep(backoff * (0.8 + 0.4 * random.random()))
            backoff = min(backoff * 2, cfg.reconnect_backoff[1])

    def take_token(self, now: float) -> bool:
        """Rate cap (token bucket, burst of a tenth of a second)."""
        tps = self.connector.config.tps
        if not tps:
            return True
        self.tokens = min(max(1.0, tps / 10), self.tokens + (now - self.token_time) * tps)
        self.token_time = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# ── the connector ───────────────────────────────────────────────────────────


class SmppConnector:
    """``Connector`` over SMPP 3.4 (see the module docstring for the guarantees)."""

    def __init__(self, config: SmppCarrierConfig, name: str | None = None) -> None:
        self.config = config
        self.name = name or config.name
        self.closing = False
        self.retry_after = config.reconnect_backoff[0]
        self.events: Events | None = None
        roles = ["trx"] if config.bind_mode == "trx" else ["tx", "rx"]
        self.links = [_Link(self, role, i) for i in range(config.binds) for role in roles]
        self._tx_links = [link for link in self.links if link.role != "rx"]
        self._queue: deque[_Part] = deque()
        self._again: deque[_Part] = deque()
        """Parts to send again (before new ones), in the order they failed."""
        self._pumping = False
        self._ref = itertools.count(random.randrange(0x10000))
        self._templates: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
        self._receipts: list[tuple[Receipt, Session, int, int]] = []  # receipt, session, sequence, response command
        self._receipt_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._partials: set[_Tracker] = set()
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._up = asyncio.Event()
        self.stats = {"submitted": 0, "accepted": 0, "throttled": 0, "receipts": 0, "incoming": 0}

    # ── Connector API ───────────────────────────────────────────────────────

    async def start(self, events: Events) -> None:
        self.events = events
        self.closing = False
        for link in self.links:
            link.task = asyncio.create_task(link.run(), name=link.name)

    @property
    def is_up(self) -> bool:
        return any(link.can_submit for link in self._tx_links)

    async def wait_up(self, timeout: float = 5.0) -> None:
        """Wait until at least one transmitting bind is up."""
        await asyncio.wait_for(self._up.wait(), timeout)

    async def close(self) -> None:
        self.closing = True
        await asyncio.gather(
            *(link.session.unbind(self.config.response_timeout) for link in self.links if link.session),
            return_exceptions=True,
        )
        for link in self.links:
            if link.task:
                link.task.cancel()
        await asyncio.gather(*(link.task for link in self.links if link.task), return_exceptions=True)
        self._settle_stranded(force=True)
        if self._receipt_task:
            await asyncio.gather(self._receipt_task, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def submit(self, messages: Sequence[OutboundMessage]) -> list[SubmitResult]:
        if not messages:
            return []
        loop = asyncio.get_running_loop()
        if self.closing or not self.is_up:
            return [self._retry(m.id, "link down") for m in messages]
        batch = _Batch(len(messages), loop.create_future())
        deadline = time.monotonic() + self.config.submit_deadline
        for message in messages:
            try:
                bodies = self._encode(message)
            except (ValueError, P.PduError) as exc:
                self._finish_result(batch, SubmitResult(message.id, SubmitOutcome.REJECTED, error=f"encoding: {exc}"))
                continue
            tracker = _Tracker(message, batch, len(bodies), deadline)
            tracker.queued = len(bodies)
            self._queue.extend(_Part(tracker, i, body) for i, body in enumerate(bodies))
        self._pump()
        return await batch.future

    # ── building submit_sm ──────────────────────────────────────────────────

    def _split(self, message: OutboundMessage) -> list[bytes]:
        """Encoded payload of each part."""
        texts = enc.split(message.text, message.encoding)
        payloads = [enc.encode(t, message.encoding) for t in texts]
        if len(payloads) > 1 and self.config.concatenation == "udh16":
            limit = 152 if message.encoding is Encoding.GSM7 else 132  # one more UDH octet
            if any(len(p) > limit for p in payloads):
                payloads = _resplit(message.text, message.encoding, limit)
        return payloads

    def _encode(self, message: OutboundMessage) -> list[bytes]:
        """The submit_sm body of every part, in part order.

        Messages of a campaign differ only by their receiver: a single-part message's
        body is its template's head + destination_addr + tail, the template being built
        once per (text, sender, options)."""
        key = (
            message.text, message.encoding, message.sender, message.sender_type, message.priority,
            message.validity_until, message.want_receipt, message.message_class,
        )
        template = self._templates.get(key)
        if template is None:
            bodies = self._encode_full(message)
            if len(bodies) > 1:
                return bodies
            # the same body with an empty destination_addr, cut where the address goes
            body = self._encode_full(message, destination="")[0]
            cut = body.index(b"\0", len(self.config.service_type) + 3) + 3  # after source_addr and dest TON/NPI
            if len(self._templates) >= 256:
                self._templates.clear()
            self._templates[key] = (body[:cut], body[cut:])
            return bodies
        head, tail = template
        return [head + message.receiver.removeprefix("+").encode("latin-1") + tail]

    def _encode_full(self, message: OutboundMessage, destination: str | None = None) -> list[bytes]:
        cfg = self.config
        payloads = self._split(message)
        src_ton, src_npi = cfg.source_ton_npi.get(message.sender_type, (1, 1) if message.sender.startswith("+") else (5, 0))
        dst_ton, dst_npi = cfg.dest_ton_npi
        validity = ""
        if message.validity_until is not None:
            validity = message.validity_until.astimezone(dt.timezone.utc).strftime("%y%m%d%H%M%S") + "000+"
        base = P.ShortMessage(
            P.CommandId.SUBMIT_SM,
            service_type=cfg.service_type,
            source_addr_ton=src_ton,
            source_addr_npi=src_npi,
            source_addr=message.sender.removeprefix("+"),
            dest_addr_ton=dst_ton,
            dest_addr_npi=dst_npi,
            destination_addr=message.receiver.removeprefix("+") if destination is None else destination,
            priority_flag=PRIORITY_FLAG.get(message.priority, 0),
            validity_period=validity,
            registered_delivery=1 if (message.want_receipt and cfg.registered_delivery) else 0,
            data_coding=data_coding_for(message.encoding, message.message_class),
        )
        total = len(payloads)
        if total == 1:
            base.short_message = payloads[0]
            return [P.short_message_body(base)]
        if total > 255:
            raise ValueError("more than 255 parts")
        ref = next(self._ref)
        bodies = []
        for i, payload in enumerate(payloads, 1):
            if cfg.concatenation == "sar":
                base.short_message, base.tlvs = payload, udh.sar_tlvs(ref, total, i)
            else:
                base.esm_class = udh.UDHI
                base.short_message = udh.build_udh(ref, total, i, ref16=cfg.concatenation == "udh16") + payload
            bodies.append(P.short_message_body(base))
        return bodies

    # ── the pump: queue → binds ─────────────────────────────────────────────

    def _pump(self) -> None:
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
                while (again or fresh) and session.outstanding < window:
                    queue = again or fresh
                    part = queue[0]
                    if part.tracker.done:
                        queue.popleft()
                        continue
                    if not link.take_token(now):
                        self._wake(link, 1.0 / (self.config.tps or 1.0))
                        break
                    queue.popleft()
                    self._send(link, session, part)
        finally:
            self._pumping = False

    def _wake(self, link: _Link, delay: float) -> None:
        if link.wakeup is None:

            def wake() -> None:
                link.wakeup = None
                self._pump()

            link.wakeup = asyncio.get_running_loop().call_later(delay, wake)

    def _send(self, link: _Link, session: Session, part: _Part) -> None:
        tracker = part.tracker
        tracker.queued -= 1
        tracker.inflight += 1
        self.stats["submitted"] += 1
        session.request_body(
            P.CommandId.SUBMIT_SM,
            part.body,
            lambda status, resp: self._on_submit_resp(link, part, status, resp),
        )

    def _on_submit_resp(self, link: _Link, part: _Part, status: int, resp: P.Pdu | None) -> None:
        tracker = part.tracker
        tracker.inflight -= 1
        if status == 0 and isinstance(resp, P.MessageResp):
            tracker.part_ids[part.index] = resp.message_id
            tracker.accepted += 1
            self.stats["accepted"] += 1
        elif status in TEMPORARY_STATUSES:
            self.stats["throttled"] += 1
            pause = self.config.throttle_backoff * TEMPORARY_STATUSES[status]
            link.paused_until = max(link.paused_until, time.monotonic() + pause)
            tracker.error = P.status_name(status)
            if not tracker.done and not self.closing and time.monotonic() < tracker.deadline:
                tracker.queued += 1
                self._again.append(part)  # definitely not taken: send again, slower
            else:
                tracker.failed.append(part)
        elif status in (TIMEOUT, LINK_DOWN):
            tracker.error = "timeout" if status == TIMEOUT else "link down"
            tracker.failed.append(part)
        else:
            tracker.error = P.status_name(status)
            self._finish(tracker, SubmitOutcome.REJECTED)
        if not tracker.done and tracker.inflight == 0:
            self._settle(tracker)
        self._pump()

    # ── outcomes ────────────────────────────────────────────────────────────

    def _settle(self, tracker: _Tracker, force: bool = False) -> None:
        """Decide a message's outcome when none of its parts is in flight."""
        n = len(tracker.part_ids)
        if tracker.accepted == n:
            self._finish(tracker, SubmitOutcome.ACCEPTED)
        elif not tracker.failed and not force:
            return  # parts still queued
        elif tracker.accepted == 0:
            self._finish(tracker, SubmitOutcome.RETRY)
        elif force or self.closing or time.monotonic() >= tracker.deadline:
            tracker.error = f"partial {tracker.accepted}/{n}: {tracker.error}"
            self._finish(tracker, SubmitOutcome.REJECTED)
        else:
            failed, tracker.failed = tracker.failed, []
            tracker.queued += len(failed)
            self._again.extend(sorted(failed, key=lambda p: p.index))
            self._partials.add(tracker)
            self._arm_deadline()

    def _finish(self, tracker: _Tracker, outcome: SubmitOutcome) -> None:
        if tracker.done:
            return
        tracker.done = True
        self._partials.discard(tracker)
        mid = tracker.message.id
        if outcome is SubmitOutcome.ACCEPTED:
            result = SubmitResult(mid, outcome, tuple(tracker.part_ids))  # type: ignore[arg-type]
        elif outcome is SubmitOutcome.RETRY:
            pause = self.config.throttle_backoff if tracker.error and tracker.error.startswith("ESME_") else None
            result = self._retry(mid, tracker.error or "retry", pause)
        else:
            result = SubmitResult(mid, outcome, error=tracker.error)
        self._finish_result(tracker.batch, result)

    def _finish_result(self, batch: _Batch, result: SubmitResult) -> None:
        batch.results.append(result)
        batch.remaining -= 1
        if batch.remaining == 0 and not batch.future.done():
            batch.future.set_result(batch.results)

    def _retry(self, message_id: int, error: str, after: float | None = None) -> SubmitResult:
        return SubmitResult(message_id, SubmitOutcome.RETRY, error=error, retry_after=after or self.retry_after)

    def _settle_stranded(self, force: bool = False) -> None:
        """No bind up (or closing): resolve queued messages that cannot wait."""
        stranded: dict[int, _Tracker] = {}
        for part in itertools.chain(self._again, self._queue):
            t = part.tracker
            if not t.done and t.inflight == 0 and (force or t.accepted == 0):
                stranded[id(t)] = t
        for t in stranded.values():
            if t.accepted == 0 and not t.error:
                t.error = "link down"
            self._settle(t, force=True)
        self._queue = deque(p for p in self._queue if not p.tracker.done)
        self._again = deque(p for p in self._again if not p.tracker.done)

    def _arm_deadline(self) -> None:
        if self._deadline_timer is None:
            self._deadline_timer = asyncio.get_running_loop().call_later(0.25, self._check_deadlines)

    def _check_deadlines(self) -> None:
        self._deadline_timer = None
        now = time.monotonic()
        for t in list(self._partials):
            if t.done:
                self._partials.discard(t)
            elif now >= t.deadline and t.inflight == 0:
                t.error = f"partial {t.accepted}/{len(t.part_ids)}: {t.error}"
                self._finish(t, SubmitOutcome.REJECTED)
        self._queue = deque(p for p in self._queue if not p.tracker.done)
        self._again = deque(p for p in self._again if not p.tracker.done)
        if self._partials:
            self._arm_deadline()

    def _link_up(self, link: _Link) -> None:
        self._up.set()
        self._pump()

    def _link_down(self, link: _Link) -> None:
        if not self.is_up:
            self._up.clear()
            self._settle_stranded(force=self.closing)

    # ── deliver_sm: receipts and MO ─────────────────────────────────────────

    def _on_request(self, session: Session, pdu: P.Pdu) -> None:
        """deliver_sm or data_sm from the SMSC: a receipt, or an incoming message (part)."""
        if not isinstance(pdu, P.ShortMessage) or pdu.command_id not in _DELIVERIES:
            session.respond(pdu.command_id | P.RESPONSE_BIT, pdu.sequence, P.Status.ESME_RINVCMDID)
            return
        if (pdu.esm_class & 0x3C) in RECEIPT_ESM_TYPES:
            receipt = self._parse_receipt(pdu)
            if receipt is None:
                log.warning("%s: unreadable receipt %r", self.name, pdu.short_message[:80])
                session.respond(pdu.command_id | P.RESPONSE_BIT, pdu.sequence, 0, b"\0")
                return
            self._receipts.append((receipt, session, pdu.sequence, pdu.command_id | P.RESPONSE_BIT))
            if self._receipt_task is None:
                self._receipt_task = asyncio.create_task(self._flush_receipts())
            return
        self._on_mo(session, pdu)

    def _parse_receipt(self, pdu: P.ShortMessage) -> Receipt | None:
        tlvs = pdu.tlvs
        if tlvs:
            fast = self._fast_receipt(pdu, tlvs)
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
        return Receipt(carrier_id, DELIVERY_STATES[state], error, text.done_at if text else None, self.name)

    def _fast_receipt(self, pdu: P.ShortMessage, tlvs: dict[int, bytes]) -> Receipt | None:
        """A "delivered" receipt whose TLVs say it all (the common case), without
        parsing the text form: its ``err:`` is read with a search, ``done_at`` is the
        time the receipt came in (the text form only has minute precision anyway).
        Anything else (other states, no TLVs, no ``err:``) goes the full way."""
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
        return Receipt(carrier_id, DeliveryState.DELIVERED, error, _received_at(), self.name)

    async def _flush_receipts(self) -> None:
        try:
            await asyncio.sleep(self.config.receipt_batch_delay)
            while self._receipts:
                batch, self._receipts = self._receipts, []
                status = 0
                try:
                    assert self.events is not None
                    await self.events.on_receipts([r for r, *_ in batch])
                    self.stats["receipts"] += len(batch)
                except Exception:
                    log.exception("%s: on_receipts failed; the SMSC will re-send", self.name)
                    status = P.Status.ESME_RX_T_APPN
                for _, session, seq, resp in batch:
                    if session.is_open:
                        session.respond(resp, seq, status, b"\0")
        finally:
            self._receipt_task = None

    def _on_mo(self, session: Session, pdu: P.ShortMessage) -> None:
        payload, concat = pdu.short_message or pdu.tlvs.get(P.Tag.MESSAGE_PAYLOAD, b""), None
        if pdu.esm_class & udh.UDHI:
            header, payload = udh.split_udh(payload)
            concat = udh.parse_udh(header)
        elif P.Tag.SAR_MSG_REF_NUM in pdu.tlvs:
            concat = udh.parse_sar(pdu.tlvs)
        try:
            text = decode_short_message(payload, pdu.data_coding)
        except Exception:
            text = payload.decode("latin-1")
        sender = ("+" + pdu.source_addr) if pdu.source_addr_ton == 1 and pdu.source_addr.isdigit() else pdu.source_addr
        receiver = pdu.destination_addr
        part = IncomingPartInfo(concat.ref, concat.total, concat.seq) if concat is not None and concat.total > 1 else None
        message = IncomingMessage(sender, receiver, text, connector=self.name, part=part)
        task = asyncio.create_task(self._deliver_mo(session, pdu.sequence, pdu.command_id | P.RESPONSE_BIT, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_mo(self, session: Session, seq: int, resp: int, message: IncomingMessage) -> None:
        status = 0
        try:
            assert self.events is not None
            await self.events.on_incoming(message)
            self.stats["incoming"] += 1
        except Exception:
            log.exception("%s: on_incoming failed; the SMSC will re-send", self.name)
            status = P.Status.ESME_RX_T_APPN
        if session.is_open:
            session.respond(resp, seq, status, b"\0")


_DELIVERIES = {P.CommandId.DELIVER_SM, P.CommandId.DATA_SM}
_MESSAGE_STATE_TAG = P.Tag.MESSAGE_STATE.value
_RECEIPTED_ID_TAG = P.Tag.RECEIPTED_MESSAGE_ID.value
_NETWORK_ERROR_TAG = P.Tag.NETWORK_ERROR_CODE.value
_DELIVERED_STATE = bytes((2,))  # message_state DELIVERED (§5.2.28)
_clock: list[Any] = [-1, None]


def _received_at() -> dt.datetime:
    """Now (UTC, to the second), recomputed once a second: receipt ``done_at`` when the
    text form is not parsed."""
    second = int(time.time())
    if second != _clock[0]:
        _clock[0] = second
        _clock[1] = dt.datetime.fromtimestamp(second, dt.timezone.utc)
    return _clock[1]


def _resplit(text: str, encoding: Encoding, limit: int) -> list[bytes]:
    """Greedy split into payloads of at most ``limit`` octets, never inside a character."""
    out: list[bytes] = []
    current = bytearray()
    for ch in text:
        b = enc.encode(ch, encoding)
        if len(current) + len(b) > limit:
            out.append(bytes(current))
            current = bytearray()
        current += b
    if current:
        out.append(bytes(current))
    return out
