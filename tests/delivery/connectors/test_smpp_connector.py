"""SmppConnector: the Connector interface over the SMPP client, against the SMSC simulator
over loopback TCP. What SMPP says (command_status, message states, UDH/SAR places)
reaches the dispatcher in Textos's words."""

from __future__ import annotations

import asyncio

import pytest

from carrier_doubles import Sink, sms, smsc_and_connector, until
from textos.delivery.connector import IncomingPartInfo, OutboundMessage, SubmitOutcome
from textos.delivery.connectors.smpp import DELIVERY_STATES, TEMPORARY_STATUSES, SmppConnector, outcome_of
from textos.domain import encoding as enc
from textos.domain.encoding import Concatenation, Encoding
from textos.domain.lifecycle import DeliveryState
from textos.simulator.scenario import Rule
from textos.smpp import pdu as P
from textos.smpp.carrier_config import SmppCarrierConfig
from textos.smpp.client import LINK_DOWN, TIMEOUT, UNENCODABLE
from textos.smpp.receipt_text import MessageState

pytestmark = pytest.mark.timeout(30)

LONG_GSM = ("Textos est un clone [OVH] {SMS} € " * 12)[:370]  # 3 parts even at 152 septets
EDGE_GSM = "a" * 306  # 2 parts of 153, 3 of 152
EDGE_UCS2 = "é😀" + "ç" * 131  # 134 units: 2 parts of 67, 3 of 66


def run(coro, timeout: float = 20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_plain_message_and_receipt():
    async def main():
        async with smsc_and_connector() as (smsc, conn, sink):
            [res] = await conn.submit([sms(1, "Hello world")])
            assert res.outcome is SubmitOutcome.ACCEPTED and len(res.part_ids) == 1
            [rec] = list(smsc.records)
            assert (rec.destination_addr, rec.source_addr, rec.text) == ("33611223344", "Textos", "Hello world")
            assert (rec.data_coding, rec.esm_class, rec.registered_delivery) == (0x00, 0x00, 1)
            await until(lambda: sink.receipts)
            [receipt] = sink.receipts
            assert (receipt.carrier_id, receipt.state, receipt.connector) == (res.part_ids[0], DeliveryState.DELIVERED, conn.name)
            assert receipt.done_at is not None

    run(main())


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar"])
@pytest.mark.parametrize("text", [LONG_GSM, EDGE_GSM, EDGE_UCS2], ids=["gsm", "gsm-306", "ucs2-134"])
def test_long_messages_go_in_the_parts_their_carrier_is_charged_for(concat, text):
    how = Concatenation(concat)
    expected = enc.analyze(text, how).parts

    async def main():
        async with smsc_and_connector(concatenation=concat) as (smsc, conn, sink):
            [res] = await conn.submit([sms(2, text, concat=how)])
            assert res.outcome is SubmitOutcome.ACCEPTED and len(res.part_ids) == expected
            recs = list(smsc.records)
            assert tuple(r.message_id for r in recs) == res.part_ids
            places = [r.concat for r in recs]
            assert [c.seq for c in places] == list(range(1, expected + 1)) and {c.total for c in places} == {expected}
            assert len({c.ref for c in places}) == 1
            if how is Concatenation.SAR:
                assert all(r.udh == b"" and r.esm_class == 0 and P.Tag.SAR_MSG_REF_NUM in r.tlvs for r in recs)
            else:
                assert all(r.esm_class & 0x40 for r in recs)
                assert {r.udh[1] for r in recs} == {0x08 if how is Concatenation.UDH16 else 0x00}
            limit = 140 if enc.analyze(text).encoding is Encoding.UCS2 else 159  # octets (GSM: septets unpacked)
            assert all(len(r.udh) + len(r.payload) <= limit for r in recs)
            assert "".join(r.text for r in recs) == text
            await until(lambda: len(sink.receipts) == expected)
            assert {r.carrier_id for r in sink.receipts} == set(res.part_ids)

    run(main())


def test_udh16_needs_one_part_more_at_the_edge():
    assert (enc.analyze(EDGE_GSM).parts, enc.analyze(EDGE_GSM, Concatenation.UDH16).parts) == (2, 3)
    assert (enc.analyze(EDGE_UCS2).parts, enc.analyze(EDGE_UCS2, Concatenation.UDH16).parts) == (2, 3)


def test_long_ucs2_never_cuts_a_surrogate_pair():
    text = "Bonjour 😀 ça va? " * 12

    async def main():
        async with smsc_and_connector() as (smsc, conn, sink):
            [res] = await conn.submit([sms(3, text)])
            assert res.outcome is SubmitOutcome.ACCEPTED
            recs = list(smsc.records)
            assert len(recs) == len(res.part_ids) == enc.analyze(text).parts > 1
            assert all(r.data_coding == 0x08 for r in recs)
            for r in recs:  # every part decodes alone: no surrogate pair was cut
                assert not any(0xD800 <= ord(c) <= 0xDFFF for c in r.text)

    run(main())


def test_receipts_the_dispatcher_could_not_store_come_again():
    async def main():
        async with smsc_and_connector(Sink(fail_first=1)) as (smsc, conn, sink):
            [res] = await conn.submit([sms(1)])
            await until(lambda: sink.receipts, timeout=5)
            assert sink.receipts[0].carrier_id == res.part_ids[0] and sink.calls >= 2

    run(main())


def test_scripted_outcomes_and_rejection():
    rules = [Rule("33700", "undeliverable", error="001"), Rule("re:0002$", "expired"), Rule("33999", "rejected")]

    async def main():
        async with smsc_and_connector(smsc_kw={"rules": rules}) as (smsc, conn, sink):
            results = await conn.submit([sms(1, "a", "+33700000001"), sms(2, "b", "+33611110002"), sms(3, "c", "+33999000000")])
            by_id = {r.message_id: r for r in results}
            assert by_id[3].outcome is SubmitOutcome.REJECTED and by_id[3].error == "ESME_RINVDSTADR"
            await until(lambda: len(sink.receipts) == 2)
            states = {r.carrier_id: r for r in sink.receipts}
            assert states[by_id[1].part_ids[0]].state is DeliveryState.UNDELIVERABLE
            assert states[by_id[1].part_ids[0]].error_code == "001"
            assert states[by_id[2].part_ids[0]].state is DeliveryState.EXPIRED

    run(main())


def test_a_text_that_cannot_be_encoded_is_rejected_not_sent():
    async def main():
        async with smsc_and_connector() as (smsc, conn, sink):
            bad = OutboundMessage(1, "Textos", "alpha", "+33611223344", "smile 😀", Encoding.GSM7, 1)
            [res] = await conn.submit([bad])
            assert res.outcome is SubmitOutcome.REJECTED and res.error.startswith("encoding:")
            assert smsc.submits == 0

    run(main())


def test_link_down_gives_retry_and_reconnects():
    async def main():
        async with smsc_and_connector() as (smsc, conn, sink):
            smsc.drop_connections()
            await until(lambda: not conn.is_up)
            [res] = await conn.submit([sms(1)])
            assert res.outcome is SubmitOutcome.RETRY and res.error == "link down" and res.retry_after
            await conn.wait_up()
            [res] = await conn.submit([sms(1)])
            assert res.outcome is SubmitOutcome.ACCEPTED

    run(main())


def test_throttled_until_the_deadline_is_retry_after_the_throttle_backoff():
    rules = [Rule("336", "rejected", status=P.Status.ESME_RTHROTTLED)]

    async def main():
        async with smsc_and_connector(smsc_kw={"rules": rules}, throttle_backoff=0.05, submit_deadline=0.2) as (smsc, conn, sink):
            [res] = await conn.submit([sms(1, receiver="+33611223344")])
            assert (res.outcome, res.error, res.retry_after) == (SubmitOutcome.RETRY, "ESME_RTHROTTLED", 0.05)
            assert smsc.rejected > 1  # sent again, slower, until the deadline

    run(main())


def test_a_message_cut_off_after_some_parts_is_rejected_as_partial():
    """Part 1 is accepted, the link drops under part 2 and stays down past the deadline:
    the accepted part cannot be recalled, so the message is rejected, saying how much went."""

    async def main():
        async with smsc_and_connector(
            smsc_kw={"drop_after": 1}, window=1, submit_deadline=0.3, reconnect_backoff=(5.0, 5.0)
        ) as (smsc, conn, sink):
            [res] = await conn.submit([sms(1, LONG_GSM)])
            assert res.outcome is SubmitOutcome.REJECTED and res.error == "partial 1/3: link down"
            assert smsc.submits == 1

    run(main())


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar"])
def test_incoming_parts_handed_over_with_their_place(concat):
    """Each part of a long incoming message reaches the incoming pipeline with its
    reference, count and number (the pipeline stores and reassembles them)."""
    long_text = "Réponse très longue 😀 " * 10

    async def main():
        async with smsc_and_connector(bind_mode="tx+rx") as (smsc, conn, sink):
            await until(lambda: len(smsc.sessions) == 2)
            assert smsc.inject_mo("+33612345678", "36123", "STOP") == 1
            n = smsc.inject_mo("+33612345678", "36123", long_text, concat=concat)
            assert n == enc.analyze(long_text, Concatenation(concat)).parts
            await until(lambda: len(sink.incoming) == 1 + n)
            stop, *parts = sink.incoming
            assert (stop.sender, stop.receiver, stop.text, stop.part, stop.connector) == ("+33612345678", "36123", "STOP", None, conn.name)
            assert all(isinstance(p.part, IncomingPartInfo) for p in parts)
            assert {(p.part.ref, p.part.total) for p in parts} == {(parts[0].part.ref, n)}
            assert sorted(p.part.seq for p in parts) == list(range(1, n + 1))
            assert "".join(p.text for p in sorted(parts, key=lambda p: p.part.seq)) == long_text

    run(main())


def test_receipts_and_incoming_messages_as_data_sm():
    """Some SMSCs deliver receipts and incoming messages with data_sm (text in
    message_payload): both are read, and answered with data_sm_resp once handled."""
    long_text = "Une réponse en plusieurs parties, envoyée en data_sm. " * 4

    async def main():
        async with smsc_and_connector(smsc_kw={"deliver_with": "data_sm"}) as (smsc, conn, sink):
            [res] = await conn.submit([sms(1, "Hello")])
            await until(lambda: sink.receipts and smsc.receipts_acked == 1)
            assert (sink.receipts[0].carrier_id, sink.receipts[0].state) == (res.part_ids[0], DeliveryState.DELIVERED)
            n = smsc.inject_mo("+33612345678", "36111", long_text)
            await until(lambda: len(sink.incoming) == n)
            parts = sorted(sink.incoming, key=lambda m: m.part.seq)
            assert "".join(p.text for p in parts) == long_text and parts[0].sender == "+33612345678"

    run(main())


def test_every_smpp_receipt_state_has_a_delivery_state():
    assert set(DELIVERY_STATES) == set(MessageState)
    assert DELIVERY_STATES[MessageState.DELIVERED] is DeliveryState.DELIVERED
    assert DELIVERY_STATES[MessageState.UNDELIVERABLE] is DeliveryState.UNDELIVERABLE


class Fate:
    """A settled ``Submission`` as the client reports it."""

    def __init__(self, status: int, accepted: int, parts: int, error: str | None = None) -> None:
        self.message = sms(7)
        self.status, self.accepted, self.error = status, accepted, error
        self.part_ids = [f"id{i}" if i < accepted else None for i in range(parts)]


@pytest.mark.parametrize(
    "fate, outcome, error",
    [
        (Fate(0, 2, 2), SubmitOutcome.ACCEPTED, None),
        (Fate(P.Status.ESME_RTHROTTLED, 0, 1, "ESME_RTHROTTLED"), SubmitOutcome.RETRY, "ESME_RTHROTTLED"),
        (Fate(P.Status.ESME_RMSGQFUL, 0, 1, "ESME_RMSGQFUL"), SubmitOutcome.RETRY, "ESME_RMSGQFUL"),
        (Fate(TIMEOUT, 0, 2, "timeout"), SubmitOutcome.RETRY, "timeout"),
        (Fate(LINK_DOWN, 0, 1, "link down"), SubmitOutcome.RETRY, "link down"),
        (Fate(P.Status.ESME_RINVDSTADR, 0, 1, "ESME_RINVDSTADR"), SubmitOutcome.REJECTED, "ESME_RINVDSTADR"),
        (Fate(0x400, 0, 1, "0x00000400"), SubmitOutcome.REJECTED, "0x00000400"),
        (Fate(UNENCODABLE, 0, 0, "encoding: bad"), SubmitOutcome.REJECTED, "encoding: bad"),
        (Fate(LINK_DOWN, 1, 3, "link down"), SubmitOutcome.REJECTED, "partial 1/3: link down"),
        (Fate(P.Status.ESME_RINVDSTADR, 2, 3, "ESME_RINVDSTADR"), SubmitOutcome.REJECTED, "partial 2/3: ESME_RINVDSTADR"),
    ],
)
def test_what_became_of_a_message_maps_to_an_outcome(fate, outcome, error):
    conn = SmppConnector(SmppCarrierConfig(throttle_backoff=0.7, reconnect_backoff=(0.3, 9.0)))
    result = conn._result(fate)
    assert outcome_of(fate) is outcome and (result.message_id, result.outcome, result.error) == (7, outcome, error)
    if outcome is SubmitOutcome.ACCEPTED:
        assert result.part_ids == ("id0", "id1")
    if outcome is SubmitOutcome.RETRY:
        assert result.retry_after == (0.7 if fate.status in TEMPORARY_STATUSES else 0.3)


def test_the_connector_tells_its_window_and_throttling_refusals_for_metrics():
    async def main():
        async with smsc_and_connector(smsc_kw={"tps_limit": 400}, throttle_backoff=0.05, window=8) as (smsc, conn, sink):
            assert conn.window_in_use() == (0, 8) and conn.throttled == 0  # one bound transmitting bind, nothing waiting
            submitting = asyncio.ensure_future(conn.submit([sms(i, f"m{i}", receiver=f"+336110{i:05d}") for i in range(600)]))
            await until(lambda: conn.window_in_use()[0] > 0)
            assert conn.window_in_use()[0] <= 8
            results = await submitting
            assert all(r.outcome is SubmitOutcome.ACCEPTED for r in results)
            assert conn.throttled == smsc.throttled > 0  # every refusal the SMSC made was counted, then sent again
            assert conn.window_in_use() == (0, 8)

    run(main())
