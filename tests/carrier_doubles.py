"""Test doubles for carrier links: a recording sink (``Events`` for connectors, the
handlers of an ``SmppClient``), an async wait, message builders, and an SMSC simulator
paired with a connector or a client.

Imported by basename (``from carrier_doubles import Sink``) by the tests of
``textos.smpp``, ``textos.simulator`` and ``textos.delivery.connectors``.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

import datetime as dt
from typing import NamedTuple

from textos.delivery.connector import OutboundMessage
from textos.delivery.connectors.smpp import SmppConnector
from textos.domain import encoding as enc
from textos.domain.encoding import Concatenation
from textos.simulator.smsc import SmscSimulator
from textos.smpp import pdu as P
from textos.smpp.carrier_config import SmppCarrierConfig
from textos.smpp.client import SmppClient
from textos.smpp.receipt_text import MessageState

THROTTLING = {P.Status.ESME_RTHROTTLED: 1.0, P.Status.ESME_RMSGQFUL: 1.0}
"""The refusals an ``SmppClient`` under test sends again."""


class SmppReceipt(NamedTuple):
    """A receipt as an ``SmppClient`` under test hands it over (in SMPP's words)."""

    carrier_id: str
    state: MessageState
    error: str | None
    done_at: dt.datetime | None


class Sink:
    """Records what comes back (``Events`` of a connector; ``receipt``/``on_receipts``/
    ``on_incoming`` handlers of a client); the first ``fail_first`` calls of ``on_receipts`` raise."""

    def __init__(self, fail_first: int = 0) -> None:
        self.receipts: list[Any] = []
        self.incoming: list[Any] = []
        self.calls = 0
        self.fail_first = fail_first

    async def on_receipts(self, receipts: Any) -> None:
        self.calls += 1
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("database down")
        self.receipts.extend(receipts)

    async def on_incoming(self, message: Any) -> None:
        self.incoming.append(message)

    @staticmethod
    def receipt(carrier_id: str, state: MessageState, error: str | None, done_at: dt.datetime | None) -> SmppReceipt:
        return SmppReceipt(carrier_id, state, error, done_at)


async def until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it is true, or fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def sms(i: int, text: str = "Hello", receiver: str = "+33611223344", concat: Concatenation = Concatenation.UDH8, **kw: Any) -> OutboundMessage:
    """Message ``i`` as the dispatcher hands it over (parts counted for ``concat``)."""
    info = enc.analyze(text, concat)
    return OutboundMessage(i, kw.pop("sender", "Textos"), kw.pop("sender_type", "alpha"), receiver, text, info.encoding, info.parts, **kw)


def client_of(config: SmppCarrierConfig, sink: Sink) -> SmppClient[SmppReceipt]:
    """An ``SmppClient`` reporting to ``sink`` (receipts as ``SmppReceipt``), sending ``THROTTLING`` refusals again."""
    return SmppClient(config, retry_statuses=THROTTLING, make_receipt=sink.receipt, on_receipts=sink.on_receipts, on_incoming=sink.on_incoming)


@asynccontextmanager
async def _smsc_and(kind: str, sink: Sink | None, smsc_kw: dict[str, Any] | None, cfg_kw: dict[str, Any]) -> AsyncIterator[tuple[Any, ...]]:
    smsc = SmscSimulator(port=0, accounts={"acme": "secret"}, receipt_delay=0.01, **(smsc_kw or {}))
    await smsc.start()
    cfg_kw.setdefault("reconnect_backoff", (0.05, 0.2))
    config = SmppCarrierConfig(port=smsc.port, system_id="acme", password="secret", **cfg_kw)
    sink = sink or Sink()
    esme: Any
    if kind == "connector":
        esme = SmppConnector(config)
        await esme.start(sink)
    else:
        esme = client_of(config, sink)
        esme.start()
    await esme.wait_up()
    try:
        yield smsc, esme, sink
    finally:
        await esme.close()
        await smsc.stop()


def smsc_and_connector(sink: Sink | None = None, smsc_kw: dict[str, Any] | None = None, **cfg_kw: Any) -> Any:
    """``async with``: the SMSC simulator on a free loopback port and an ``SmppConnector`` bound to it."""
    return _smsc_and("connector", sink, smsc_kw, cfg_kw)


def smsc_and_client(sink: Sink | None = None, smsc_kw: dict[str, Any] | None = None, **cfg_kw: Any) -> Any:
    """``async with``: the SMSC simulator on a free loopback port and an ``SmppClient`` bound to it."""
    return _smsc_and("client", sink, smsc_kw, cfg_kw)
