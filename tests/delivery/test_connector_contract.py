"""The connector contract: one table of cases, run against every connector.

In the spirit of nyaruka/courier's shared handler test cases: each connector brings a
small harness (start it, script a failed delivery, throttle a receiver, take the link
down, show what reached the carrier), and every case runs against each of them. A
connector that cannot express a case says so in its harness (the test is skipped with
that reason), never silently.

Connectors: the in-process ``SimulatorConnector``, and ``SmppConnector`` against the SMSC
simulator over loopback with each way of tying parts (udh8, udh16, sar): the parts
submitted, and what the SMSC reassembles, must match ``analyze(text, concat)``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from carrier_doubles import Sink, sms, until
from textos.delivery.connector import SubmitOutcome
from textos.delivery.connectors.simulator import SimulatorConnector
from textos.delivery.connectors.smpp import SmppConnector
from textos.domain import encoding as enc
from textos.domain.encoding import Concatenation
from textos.domain.lifecycle import DeliveryState
from textos.simulator.scenario import Rule
from textos.simulator.smsc import SmscSimulator
from textos.smpp import pdu as P
from textos.smpp.carrier_config import SmppCarrierConfig

pytestmark = pytest.mark.timeout(30)

RECEIVER = "+33611223344"


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    script: str | None = None
    """What the harness arranges first: ``fail`` (the delivery fails), ``throttle``, ``link down``."""
    outcome: SubmitOutcome = SubmitOutcome.ACCEPTED
    receipt: DeliveryState | None = None
    """The state every part's receipt must report (None: receipts not awaited)."""


CASES = [
    Case("plain", "Hello from Textos"),
    Case("long GSM", "Rendez-vous jeudi [salle B] à 14 h. " * 8 + "ok"),  # 306 septets: 2 parts, 3 with udh16
    Case("long UCS-2", "Réunion 😀 " + "ç" * 123),  # 134 UTF-16 units: 2 parts, 3 with udh16
    Case("receipt delivered", "Delivered?", receipt=DeliveryState.DELIVERED),
    Case("receipt failed", "Nobody home", script="fail", receipt=DeliveryState.UNDELIVERABLE),
    Case("throttled", "Slow down", script="throttle", outcome=SubmitOutcome.RETRY),
    Case("link down", "Anyone there?", script="link down", outcome=SubmitOutcome.RETRY),
]


class InProcess:
    """``SimulatorConnector``: outcomes scripted by receiver prefix; no socket."""

    concat = Concatenation.UDH8
    cannot = {"throttle": "the in-process simulator has no rate limit to hit"}

    def __init__(self) -> None:
        self.connector = SimulatorConnector(receipt_delay=0.01)

    async def start(self, sink: Sink) -> None:
        await self.connector.start(sink)

    async def stop(self) -> None:
        await self.connector.close()

    async def script(self, what: str, receiver: str) -> None:
        if what == "fail":
            self.connector.outcomes[receiver] = "UNDELIV"
        elif what == "link down":
            await self.connector.close()

    def reassembled(self, part_ids: tuple[str, ...]) -> tuple[int, str]:
        [message] = [m for m in self.connector.submitted if m.receiver == RECEIVER]
        return message.parts, message.text  # it does not split: it keeps the message as handed over


class OverSmpp:
    """``SmppConnector`` against the SMSC simulator on a loopback port."""

    cannot: dict[str, str] = {}

    def __init__(self, concat: Concatenation) -> None:
        self.concat = concat
        self.smsc = SmscSimulator(port=0, accounts={"acme": "secret"}, receipt_delay=0.01)
        self.connector: SmppConnector | None = None

    async def start(self, sink: Sink) -> None:
        await self.smsc.start()
        config = SmppCarrierConfig(
            port=self.smsc.port, system_id="acme", password="secret", concatenation=self.concat,
            reconnect_backoff=(0.05, 0.2), throttle_backoff=0.05, submit_deadline=0.3,
        )
        self.connector = SmppConnector(config)
        await self.connector.start(sink)
        await self.connector.wait_up()

    async def stop(self) -> None:
        assert self.connector is not None
        await self.connector.close()
        await self.smsc.stop()

    async def script(self, what: str, receiver: str) -> None:
        assert self.connector is not None
        if what == "fail":
            self.smsc.rules.append(Rule(receiver, "undeliverable", error="001"))
        elif what == "throttle":
            self.smsc.rules.append(Rule(receiver, "rejected", status=P.Status.ESME_RTHROTTLED))
        elif what == "link down":
            await self.smsc.stop()
            await until(lambda: not self.connector.is_up)  # type: ignore[union-attr]

    def reassembled(self, part_ids: tuple[str, ...]) -> tuple[int, str]:
        records = [r for r in self.smsc.records if r.message_id in part_ids]
        if len(records) > 1:
            records.sort(key=lambda r: r.concat.seq)  # type: ignore[union-attr]
            assert {r.concat.total for r in records} == {len(records)}  # type: ignore[union-attr]
        return len(records), "".join(r.text for r in records)


HARNESSES = {
    "inprocess": InProcess,
    "smpp-udh8": lambda: OverSmpp(Concatenation.UDH8),
    "smpp-udh16": lambda: OverSmpp(Concatenation.UDH16),
    "smpp-sar": lambda: OverSmpp(Concatenation.SAR),
}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("kind", list(HARNESSES))
def test_connector_contract(kind: str, case: Case) -> None:
    harness = HARNESSES[kind]()
    if case.script in harness.cannot:
        pytest.skip(f"{kind} cannot express {case.name!r}: {harness.cannot[case.script]}")
    parts = enc.analyze(case.text, harness.concat).parts

    async def main() -> None:
        sink = Sink()
        await harness.start(sink)
        try:
            if case.script:
                await harness.script(case.script, RECEIVER)
            [result] = await harness.connector.submit([sms(1, case.text, RECEIVER, concat=harness.concat)])
            assert (result.message_id, result.outcome) == (1, case.outcome), result
            if case.outcome is SubmitOutcome.RETRY:
                assert result.retry_after and result.retry_after > 0 and result.part_ids == ()
                return
            assert len(result.part_ids) == len(set(result.part_ids)) == parts
            assert harness.reassembled(result.part_ids) == (parts, case.text)
            if case.receipt is not None:
                await until(lambda: len(sink.receipts) == parts)
                assert {r.carrier_id for r in sink.receipts} == set(result.part_ids)
                assert {r.state for r in sink.receipts} == {case.receipt}
                assert {r.connector for r in sink.receipts} == {harness.connector.name}
        finally:
            await harness.stop()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_the_long_cases_sit_on_the_edge_between_udh8_and_udh16():
    for case in CASES[1:3]:
        assert (enc.analyze(case.text).parts, enc.analyze(case.text, Concatenation.UDH16).parts) == (2, 3), case.name
