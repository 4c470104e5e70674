"""submit_sm bodies for an outgoing SMS, one per part: addresses by kind of sender,
priority, validity, receipt request, data_coding, and the parts tied as the carrier's
``concat`` says (``short_message.part_bodies``).

Messages of a campaign differ only by their receiver: a single-part message's body is
its template's head + destination_addr + tail, the template being built once per
(text, sender, options).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any, Protocol

from textos.domain.encoding import Encoding
from textos.smpp import pdu as P
from textos.smpp.carrier_config import SmppCarrierConfig
from textos.smpp.short_message import data_coding_for, part_bodies, payloads

__all__ = ["PRIORITY_FLAG", "OutgoingSms", "SubmitSmBuilder"]

PRIORITY_FLAG: dict[str, int] = {"veryLow": 0, "low": 1, "medium": 2, "high": 3}
"""Priority (``textos.domain.priority``) → SMPP priority_flag."""


class OutgoingSms(Protocol):
    """What the client reads of a message to submit (``delivery.connector.OutboundMessage`` is one)."""

    @property
    def id(self) -> int:
        """The caller's reference, handed back with the message's fate."""

    @property
    def sender(self) -> str: ...

    @property
    def sender_type(self) -> str:
        """'alpha', 'numeric', 'shortcode' or 'virtual': picks the source TON/NPI."""

    @property
    def receiver(self) -> str:
        """E.164 with a leading '+'."""

    @property
    def text(self) -> str: ...

    @property
    def encoding(self) -> Encoding: ...

    @property
    def message_class(self) -> str | None: ...

    @property
    def priority(self) -> str: ...

    @property
    def validity_until(self) -> dt.datetime | None: ...

    @property
    def want_receipt(self) -> bool: ...


class SubmitSmBuilder:
    """Builds the submit_sm bodies of messages for one carrier account."""

    def __init__(self, config: SmppCarrierConfig) -> None:
        self.config = config
        self._ref = itertools.count(random.randrange(0x10000))
        self._templates: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}

    def bodies(self, message: OutgoingSms) -> list[bytes]:
        """The submit_sm body of every part, in part order (ValueError or PduError if it cannot be sent)."""
        key = (
            message.text, message.encoding, message.sender, message.sender_type, message.priority,
            message.validity_until, message.want_receipt, message.message_class,
        )
        template = self._templates.get(key)
        if template is None:
            bodies = self._build(message)
            if len(bodies) > 1:
                return bodies
            # the same body with an empty destination_addr, cut where the address goes
            body = self._build(message, destination="")[0]
            cut = body.index(b"\0", len(self.config.service_type) + 3) + 3  # after source_addr and dest TON/NPI
            if len(self._templates) >= 256:
                self._templates.clear()
            self._templates[key] = (body[:cut], body[cut:])
            return bodies
        head, tail = template
        return [head + message.receiver.removeprefix("+").encode("latin-1") + tail]

    def _build(self, message: OutgoingSms, destination: str | None = None) -> list[bytes]:
        cfg = self.config
        parts = payloads(message.text, message.encoding, cfg.concatenation)
        src_ton, src_npi = cfg.source_ton_npi.get(message.sender_type, (1, 1) if message.sender.startswith("+") else (5, 0))
        dst_ton, dst_npi = cfg.dest_ton_npi
        validity = ""
        if message.validity_until is not None:
            validity = message.validity_until.astimezone(dt.timezone.utc).strftime("%y%m%d%H%M%S") + "000+"
        pdu = P.ShortMessage(
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
        return part_bodies(pdu, parts, next(self._ref) if len(parts) > 1 else 0, cfg.concatenation)
