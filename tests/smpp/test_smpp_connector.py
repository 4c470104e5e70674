"""SmppConnector against the built-in SMSC simulator, over real loopback TCP."""

from __future__ import annotations

import asyncio
import datetime as dt
from contextlib import asynccontextmanager

import pytest

from textos.delivery.connector import OutboundMessage, DeliveryState, SubmitOutcome
from textos.delivery.connectors.smpp import SmppCarrierConfig, SmppConnector
from textos.domain import encoding as enc
from textos.simulator.scenario import Rule
from textos.simulator.smsc import SmscSimulator

from textos.smpp.message_id import message_id_variants, normalize_message_id
from textos.smpp.pdu import Tag

pytestmark = pytest.mark.timeout(30)


def run(coro, timeout: float = 20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Sink:
    def __init__(self, fail_first: int = 0) -> None:
        self.receipts = []
        self.incoming = []
        self.calls = 0
        self.fail_first = fail_first

    async def on_receipts(self, receipts):
        self.calls += 1
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("database down")
        self.receipts.extend(receipts)

    async def on_incoming(self, message):
        self.incoming.append(message)


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def pair(sink: Sink | None = None, smsc_kw: dict | None = None, **cfg_kw):
    smsc = SmscSimulator(port=0, accounts={"acme": "secret"}, receipt_delay=0.01, **(smsc_kw or {}))
    await smsc.start()
    cfg_kw.setdefault("reconnect_backoff", (0.05, 0.2))
    cfg = SmppCarrierConfig(port=smsc.port, system_id="acme", password="secret", **cfg_kw)
    sink = sink or Sink()
    conn = SmppConnector(cfg)
    await conn.start(sink)
    await conn.wait_up()
    try:
        yield smsc, conn, sink
    finally:
        await conn.close()
        await smsc.stop()


def message(i: int, text: str = "Hello", receiver: str = "+33611223344", **kw) -> OutboundMessage:
    info = enc.analyze(text)
    return OutboundMessage(i, kw.pop("sender", "Textos"), kw.pop("sender_type", "alpha"), receiver, text, info.encoding, info.parts, **kw)


def test_plain_message_and_receipt():
    async def main():
        async with pair() as (smsc, conn, sink):
            [res] = await conn.submit([message(1, "Hello world")])
            assert res.outcome is SubmitOutcome.ACCEPTED and len(res.part_ids) == 1
            [rec] = list(smsc.records)
            assert (rec.destination_addr, rec.source_addr, rec.text) == ("33611223344", "Textos", "Hello world")
            assert (rec.data_coding, rec.esm_class, rec.registered_delivery) == (0x00, 0x00, 1)
            await until(lambda: sink.receipts)
            assert sink.receipts[0].carrier_id == res.part_ids[0]
            assert sink.receipts[0].state is DeliveryState.DELIVERED

    run(main())


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar"])
def test_long_gsm_three_parts(concat):
    text = ("Textos est un clone [OVH] {SMS} € " * 12)[:370]  # 3 parts even at 152 septets
    async def main():
        async with pair(concatenation=concat) as (smsc, conn, sink):
            [res] = await conn.submit([message(2, text)])
            assert res.outcome is SubmitOutcome.ACCEPTED and len(res.part_ids) == 3
            recs = list(smsc.records)
            assert tuple(r.message_id for r in recs) == res.part_ids
            concats = [r.concat for r in recs]
            assert [c.seq for c in concats] == [1, 2, 3] and {c.total for c in concats} == {3}
            assert len({c.ref for c in concats}) == 1
            if concat == "sar":
                assert all(r.udh == b"" and r.esm_class == 0 and Tag.SAR_MSG_REF_NUM in r.tlvs for r in recs)
            else:
                assert all(r.esm_class & 0x40 for r in recs)
                assert {r.udh[1] for r in recs} == {0x08 if concat == "udh16" else 0x00}
                assert all(len(r.udh) + len(r.payload) <= (160 if concat == "udh16" else 159) for r in recs)
            assert "".join(r.text for r in recs) == text
            await until(lambda: len(sink.receipts) == 3)
            assert {r.carrier_id for r in sink.receipts} == set(res.part_ids)

    run(main())


def test_long_ucs2_with_emoji():
    text = "Bonjour 😀 ça va? " * 12  # surrogate pairs everywhere
    async def main():
        async with pair() as (smsc, conn, sink):
            [res] = await conn.submit([message(3, text)])
            assert res.outcome is SubmitOutcome.ACCEPTED
            recs = list(smsc.records)
            assert len(recs) == len(res.part_ids) == enc.analyze(text).parts > 1
            assert all(r.data_coding == 0x08 and len(r.payload) <= 134 for r in recs)
            for r in recs:  # every part decodes alone: no surrogate pair was cut
                assert not any(0xD800 <= ord(c) <= 0xDFFF for c in r.text)
            assert "".join(r.text for r in recs) == text

    run(main())


@pytest.mark.parametrize("form", ["same", "decimal"])
def test_receipt_id_forms_matched(form):
    async def main():
        async with pair(smsc_kw={"receipt_id_format": form}) as (smsc, conn, sink):
            results = await conn.submit([message(i, f"msg {i}", f"+3361000{i:04d}") for i in range(20)])
            part_ids = {normalize_message_id(p) for r in results for p in r.part_ids}
            await until(lambda: len(sink.receipts) == 20)
            for receipt in sink.receipts:
                matches = part_ids & message_id_variants(receipt.carrier_id)
                assert len(matches) == 1
                if form == "decimal":
                    assert normalize_message_id(receipt.carrier_id) not in part_ids
                assert receipt.done_at is not None and receipt.connector == conn.name

    run(main())


def test_scripted_outcomes_and_rejection():
    rules = [Rule("33700", "undeliverable", error="001"), Rule("re:0002$", "expired"), Rule("33999", "rejected")]
    async def main():
        async with pair(smsc_kw={"rules": rules}) as (smsc, conn, sink):
            results = await conn.submit(
                [message(1, "a", "+33700000001"), message(2, "b", "+33611110002"), message(3, "c", "+33999000000")]
            )
            by_id = {r.message_id: r for r in results}
            assert by_id[3].outcome is SubmitOutcome.REJECTED and by_id[3].error == "ESME_RINVDSTADR"
            await until(lambda: len(sink.receipts) == 2)
            states = {r.carrier_id: r for r in sink.receipts}
            assert states[by_id[1].part_ids[0]].state is DeliveryState.UNDELIVERABLE
            assert states[by_id[1].part_ids[0]].error_code == "001"
            assert states[by_id[2].part_ids[0]].state is DeliveryState.EXPIRED

    run(main())


def test_message_fields_on_the_wire():
    until_ = dt.datetime(2031, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
    async def main():
        async with pair() as (smsc, conn, sink):
            await conn.submit(
                [
                    message(1, "flash!", message_class="flash", priority="high", validity_until=until_, want_receipt=False),
                    message(2, "numeric", sender="+33612345678", sender_type="numeric", priority="veryLow"),
                ]
            )
            a, b = sorted(smsc.records, key=lambda r: r.text)
            assert (a.data_coding, a.priority_flag, a.validity_period, a.registered_delivery) == (0xF0, 3, "310203040506000+", 0)
            assert (b.source_addr, b.priority_flag) == ("33612345678", 0)

    run(main())


def test_throttling_slows_down_nothing_lost_nothing_duplicated():
    async def main():
        async with pair(smsc_kw={"tps_limit": 400}, throttle_backoff=0.05) as (smsc, conn, sink):
            results = await conn.submit([message(i, f"t{i}", f"+336{i:08d}") for i in range(300)])
            assert all(r.outcome is SubmitOutcome.ACCEPTED for r in results)
            assert smsc.throttled > 0
            assert smsc.submits == 300
            assert len({r.destination_addr for r in smsc.records}) == 300

    run(main())


def test_tps_cap_on_the_connector_side():
    async def main():
        async with pair(smsc_kw={"tps_limit": 200}, tps=150) as (smsc, conn, sink):
            results = await conn.submit([message(i, f"t{i}", f"+336{i:08d}") for i in range(60)])
            assert all(r.outcome is SubmitOutcome.ACCEPTED for r in results)
            assert smsc.throttled == 0

    run(main())


def test_dropped_connection_mid_window():
    window = 64
    async def main():
        async with pair(smsc_kw={"drop_after": 150}, window=window) as (smsc, conn, sink):
            msgs = {i: message(i, f"d{i}", f"+336{i:08d}") for i in range(400)}
            results = await conn.submit(list(msgs.values()))
            outcomes = {r.outcome for r in results}
            assert outcomes <= {SubmitOutcome.ACCEPTED, SubmitOutcome.RETRY}
            retry = [r.message_id for r in results if r.outcome is SubmitOutcome.RETRY]
            assert retry and all(r.retry_after for r in results if r.outcome is SubmitOutcome.RETRY)
            accepted = {r.message_id for r in results if r.outcome is SubmitOutcome.ACCEPTED}
            assert smsc.drops == 1
            await conn.wait_up()  # reconnected with backoff
            while retry:  # the dispatcher's retry loop
                again = await conn.submit([msgs[i] for i in retry])
                accepted |= {r.message_id for r in again if r.outcome is SubmitOutcome.ACCEPTED}
                retry = [r.message_id for r in again if r.outcome is SubmitOutcome.RETRY]
            assert accepted == set(msgs)
            duplicates = smsc.submits - len(msgs)
            assert 0 <= duplicates <= window  # only parts in flight at the drop

    run(main())


def test_enquire_link_keepalive():
    async def main():
        async with pair(enquire_link_interval=0.05) as (smsc, conn, sink):
            await until(lambda: smsc.enquire_links >= 3)
            assert conn.is_up

    run(main())


def test_link_down_gives_retry_and_reconnects():
    async def main():
        async with pair() as (smsc, conn, sink):
            smsc.drop_connections()
            await until(lambda: not conn.is_up)
            [res] = await conn.submit([message(1)])
            assert res.outcome is SubmitOutcome.RETRY and res.retry_after
            await conn.wait_up()
            [res] = await conn.submit([message(1)])
            assert res.outcome is SubmitOutcome.ACCEPTED

    run(main())


def test_receipts_at_least_once_when_the_sink_fails():
    async def main():
        async with pair(Sink(fail_first=1)) as (smsc, conn, sink):
            [res] = await conn.submit([message(1)])
            await until(lambda: sink.receipts, timeout=5)
            assert sink.receipts[0].carrier_id == res.part_ids[0] and sink.calls >= 2

    run(main())


def test_receipt_loss_is_scripted():
    async def main():
        async with pair(smsc_kw={"receipt_loss_every": 2}) as (smsc, conn, sink):
            await conn.submit([message(i, f"x{i}", f"+336{i:08d}") for i in range(10)])
            await until(lambda: len(sink.receipts) == 5)
            assert smsc.receipts_lost == 5

    run(main())


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar"])
def test_incoming_parts_handed_over_with_their_place(concat):
    """Each part of a long incoming message reaches the incoming pipeline with its
    reference, count and number (the pipeline stores and reassembles them)."""
    long_text = "Réponse très longue 😀 " * 10
    async def main():
        async with pair(bind_mode="tx+rx") as (smsc, conn, sink):
            await until(lambda: len(smsc.sessions) == 2)
            assert smsc.inject_mo("+33612345678", "36123", "STOP") == 1
            n = smsc.inject_mo("+33612345678", "36123", long_text, concat=concat)
            assert n > 1
            await until(lambda: len(sink.incoming) == 1 + n)
            stop, *parts = sink.incoming
            assert (stop.sender, stop.receiver, stop.text, stop.part) == ("+33612345678", "36123", "STOP", None)
            assert {(p.part.ref, p.part.total) for p in parts} == {(parts[0].part.ref, n)}
            assert sorted(p.part.seq for p in parts) == list(range(1, n + 1))
            assert "".join(p.text for p in sorted(parts, key=lambda p: p.part.seq)) == long_text

    run(main())


def test_bind_refused_with_wrong_password():
    async def main():
        smsc = SmscSimulator(port=0, accounts={"acme": "secret"})
        await smsc.start()
        conn = SmppConnector(SmppCarrierConfig(port=smsc.port, system_id="acme", password="nope", reconnect_backoff=(0.05, 0.1)))
        await conn.start(Sink())
        with pytest.raises(asyncio.TimeoutError):
            await conn.wait_up(0.3)
        assert not conn.is_up and smsc.binds == 0
        await conn.close()
        await smsc.stop()

    run(main())


def test_config_from_url():
    cfg = SmppCarrierConfig.from_url("smpp://acme%40x:p%3Ass@smsc.example:2776?window=32&tps=500&binds=2&bind=tx%2Brx&concat=sar")
    assert (cfg.system_id, cfg.password, cfg.host, cfg.port) == ("acme@x", "p:ss", "smsc.example", 2776)
    assert (cfg.window, cfg.tps, cfg.binds, cfg.bind_mode, cfg.concatenation) == (32, 500.0, 2, "tx+rx", "sar")
    assert SmppCarrierConfig.from_url("smpp://a:b@h").port == 2775
    with pytest.raises(ValueError):
        SmppCarrierConfig.from_url("http://a:b@h")
    cfg = SmppCarrierConfig.from_url("smpp://a:b@h?ton_npi_alpha=5:9&ton_npi_dest=2:1&reconnect=1:60&dlr=0&enquire_link=15")
    assert (cfg.source_ton_npi["alpha"], cfg.source_ton_npi["numeric"], cfg.dest_ton_npi) == ((5, 9), (1, 1), (2, 1))
    assert (cfg.reconnect_backoff, cfg.registered_delivery, cfg.enquire_link_interval) == ((1.0, 60.0), False, 15.0)


@pytest.mark.parametrize("query, named", [("windw=3", "windw"), ("window=many", "window"), ("ton_npi_alpha=5", "ton_npi_alpha")])
def test_config_refuses_what_it_does_not_understand(query, named):
    with pytest.raises(ValueError) as refused:
        SmppCarrierConfig.from_url(f"smpp://acme:s3cret@h?{query}")
    assert named in str(refused.value) and "s3cret" not in str(refused.value)


def test_config_from_a_toml_table_wins_over_its_url():
    cfg = SmppCarrierConfig.from_table(
        "orange", {"url": "smpp://a:b@h:2776?window=8&tps=10&ton_npi_alpha=5:9", "window": 32, "ton_npi_shortcode": [6, 0]}
    )
    assert (cfg.name, cfg.port, cfg.window, cfg.tps) == ("orange", 2776, 32, 10.0)
    assert (cfg.source_ton_npi["shortcode"], cfg.source_ton_npi["alpha"]) == ((6, 0), (5, 9))
    with pytest.raises(ValueError, match="carriers.orange: bnds"):
        SmppCarrierConfig.from_table("orange", {"url": "smpp://a:b@h", "bnds": 2})
    with pytest.raises(ValueError, match="'url' is required"):
        SmppCarrierConfig.from_table("orange", {"window": 2})


def test_ton_npi_rules_reach_the_smsc():
    async def main():
        async with pair(source_ton_npi={"alpha": (5, 9), "numeric": (1, 1)}, dest_ton_npi=(2, 1)) as (smsc, conn, sink):
            await conn.submit([message(1, "a"), message(2, "b", sender="+33611111111", sender_type="numeric")])
            by_sender = {r.source_addr: r for r in smsc.records}
            assert by_sender["Textos"].source_ton_npi == (5, 9)
            assert by_sender["33611111111"].source_ton_npi == (1, 1)
            assert {r.dest_ton_npi for r in smsc.records} == {(2, 1)}

    run(main())


def test_receipts_and_incoming_messages_as_data_sm():
    """Some SMSCs deliver receipts and incoming messages with data_sm (text in
    message_payload): both are read, and answered with data_sm_resp once handled."""
    long_text = "Une réponse en plusieurs parties, envoyée en data_sm. " * 4

    async def main():
        async with pair(smsc_kw={"deliver_with": "data_sm"}) as (smsc, conn, sink):
            [res] = await conn.submit([message(1, "Hello")])
            await until(lambda: sink.receipts and smsc.receipts_acked == 1)
            assert (sink.receipts[0].carrier_id, sink.receipts[0].state) == (res.part_ids[0], DeliveryState.DELIVERED)
            n = smsc.inject_mo("+33612345678", "36111", long_text)
            await until(lambda: len(sink.incoming) == n)
            parts = sorted(sink.incoming, key=lambda m: m.part.seq)
            assert "".join(p.text for p in parts) == long_text and parts[0].sender == "+33612345678"

    run(main())
