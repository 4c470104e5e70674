"""Interop with independent SMPP implementations: smpp34 (Rust) server, smpplib client."""

from __future__ import annotations

import asyncio

import pytest
import smpp34
import smpplib.client
import smpplib.consts
from carrier_doubles import Sink, sms, until
from helpers import free_port

from textos.delivery.connector import SubmitOutcome
from textos.delivery.connectors.smpp import SmppConnector
from textos.domain import encoding as enc
from textos.domain.lifecycle import DeliveryState
from textos.simulator.smsc import SmscSimulator
from textos.smpp import udh
from textos.smpp.carrier_config import SmppCarrierConfig

pytestmark = pytest.mark.timeout(30)


def test_connector_against_smpp34_server():
    """smpp34 plays the SMSC: throttles the first submits, answers hex ids, sends decimal receipts and an MO."""

    async def main():
        port = free_port()
        server = smpp34.Server("127.0.0.1", port, system_id="RUSTSMSC")
        await server.start()
        submits: list[smpp34.SubmitSmEvent] = []
        esmes: list[smpp34.Esme] = []
        throttle_first = 3

        async def smsc() -> None:
            nonlocal throttle_first
            n = 0x1A2B
            while True:
                ev = await server.next()
                if isinstance(ev, smpp34.Esme):
                    esmes.append(ev)
                elif isinstance(ev, smpp34.SubmitSmEvent):
                    if throttle_first:
                        throttle_first -= 1
                        ev.reject(smpp34.ESME_RTHROTTLED)
                        continue
                    submits.append(ev)
                    ev.accept(format(n, "x"))
                    n += 1

        task = asyncio.create_task(smsc())
        sink = Sink()
        conn = SmppConnector(
            SmppCarrierConfig(port=port, system_id="acme", password="pw", throttle_backoff=0.05, enquire_link_interval=0.2)
        )
        await conn.start(sink)
        await conn.wait_up()
        try:
            long_gsm = "x" * 400
            emoji = "Coucou 😀 " * 10
            results = await conn.submit([sms(1, "plain"), sms(2, long_gsm), sms(3, emoji)])
            by_id = {r.message_id: r for r in results}
            assert all(r.outcome is SubmitOutcome.ACCEPTED for r in results)
            assert [len(by_id[i].part_ids) for i in (1, 2, 3)] == [1, 3, enc.analyze(emoji).parts]
            assert len(submits) == 1 + 3 + enc.analyze(emoji).parts  # throttled ones re-sent, none twice

            gsm_parts = [s for s in submits if s.data_coding == 0 and s.esm_class & 0x40]
            assert len(gsm_parts) == 3
            seq = lambda s: udh.parse_udh(udh.split_udh(s.short_message)[0]).seq
            assert sorted(seq(s) for s in gsm_parts) == [1, 2, 3]  # retried parts may come later
            ucs2 = sorted((s for s in submits if s.data_coding == 0x08), key=seq)
            text = "".join(enc.decode_ucs2(udh.split_udh(s.short_message)[1]) for s in ucs2)
            assert text == emoji

            # receipt with the id in decimal (text form + TLVs), then an MO
            esme = esmes[0]
            pid = by_id[1].part_ids[0]
            dec = str(int(pid, 16))
            body = f"id:{dec} sub:001 dlvrd:001 submit date:2506011200 done date:2506011201 stat:DELIVRD err:000 text:plain"
            resp = await esme.deliver_sm(
                "Textos",
                body.encode(),
                source_addr="33611223344",
                esm_class=0x04,
                tlvs=[smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, dec.encode() + b"\0"), smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, b"\x02")],
            )
            assert resp.is_success
            await until(lambda: sink.receipts)
            assert (sink.receipts[0].state, sink.receipts[0].carrier_id) == (DeliveryState.DELIVERED, dec)  # as reported
            resp = await esme.deliver_sm("36123", b"STOP", source_addr="33612345678", source_addr_ton=1, source_addr_npi=1)
            assert resp.is_success
            await until(lambda: sink.incoming)
            assert (sink.incoming[0].sender, sink.incoming[0].text) == ("+33612345678", "STOP")
        finally:
            await conn.close()
            task.cancel()
            await server.stop()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_smpplib_client_against_simulator():
    """python-smpplib (blocking, in a thread) binds, submits and gets its receipt."""

    async def main():
        smsc = SmscSimulator(port=0, accounts={"lib": "pw"}, receipt_delay=0.01, receipt_id_format="decimal")
        await smsc.start()

        def esme() -> tuple[str, list]:
            received: list = []
            sent: list[str] = []
            client = smpplib.client.Client("127.0.0.1", smsc.port, timeout=5, allow_unknown_opt_params=True)
            client.set_message_received_handler(lambda pdu: received.append(pdu))
            client.set_message_sent_handler(lambda pdu: sent.append(pdu.message_id.decode()))
            client.connect()
            client.bind_transceiver(system_id="lib", password="pw")
            client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                source_addr="Lib",
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                dest_addr="33611223344",
                short_message=b"hello from smpplib",
                registered_delivery=True,
            )
            while not (sent and received):
                client.read_once()
            client.unbind()
            client.disconnect()
            return sent[0], received

        message_id, received = await asyncio.to_thread(esme)
        [rec] = list(smsc.records)
        assert rec.text == "hello from smpplib" and rec.message_id == message_id
        dlr = received[0]
        assert dlr.esm_class & 0x04
        assert str(int(message_id, 16)) in dlr.short_message.decode()
        assert b"stat:DELIVRD" in dlr.short_message
        await smsc.stop()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_connector_resends_what_smpp34_left_unanswered_when_it_unbinds_mid_window():
    """smpp34 answers five submits, holds the next ones, then unbinds. The connector
    reports what got no answer (or was never sent) as RETRY, which the dispatcher queues
    again; submitted again once the link is back, they all go through, and only the
    unanswered ones reached the SMSC twice."""

    async def main():
        port = free_port()
        server = smpp34.Server("127.0.0.1", port, system_id="RUSTSMSC")
        await server.start()
        by_bind: dict[int, list[str]] = {}  # destinations submitted, by bind (1st, 2nd)
        held: list[smpp34.SubmitSmEvent] = []
        esmes: list[smpp34.Esme] = []
        unbound = asyncio.Event()

        async def smsc() -> None:
            n = 0x100
            while True:
                ev = await server.next()
                if isinstance(ev, smpp34.Esme):
                    esmes.append(ev)
                elif isinstance(ev, smpp34.SubmitSmEvent):
                    by_bind.setdefault(len(esmes), []).append(ev.destination_addr)
                    if len(esmes) == 1 and len(by_bind[1]) > 5:
                        held.append(ev)  # no answer: still in the window when the link goes
                        # the 13th submit fills the window of 8 again after the five answers: the connector
                        # has read them all (smpp34 may otherwise write its unbind before them)
                        if len(held) == 8:
                            unbound.set()
                            asyncio.ensure_future(esmes[0].unbind())  # its answer may never come: the link goes
                        continue
                    ev.accept(format(n, "x"))
                    n += 1

        task = asyncio.create_task(smsc())
        conn = SmppConnector(
            SmppCarrierConfig(port=port, system_id="acme", password="pw", window=8, reconnect_backoff=(0.05, 0.2), response_timeout=5)
        )
        await conn.start(Sink())
        await conn.wait_up()
        try:
            messages = [sms(i, f"m{i}", receiver=f"+336110000{i:02d}") for i in range(20)]
            results = await asyncio.wait_for(conn.submit(messages), 15)
            assert unbound.is_set()
            accepted = {r.message_id for r in results if r.outcome is SubmitOutcome.ACCEPTED}
            retry = {r.message_id for r in results if r.outcome is SubmitOutcome.RETRY}
            assert len(accepted) == 5 and accepted | retry == set(range(20))
            await conn.wait_up(5)
            again = await asyncio.wait_for(conn.submit([m for m in messages if m.id in retry]), 15)
            assert {r.message_id for r in again if r.outcome is SubmitOutcome.ACCEPTED} == retry
            assert len(esmes) == 2, "the connector bound again"
            first, second = by_bind[1], by_bind[2]
            unanswered = {ev.destination_addr for ev in held}
            sent = first + second
            assert set(sent) == {f"336110000{i:02d}" for i in range(20)}
            assert {d for d in sent if sent.count(d) > 1} <= unanswered  # only what had no answer went twice
            assert all(sent.count(d) <= 2 for d in sent)
        finally:
            await conn.close()
            task.cancel()
            await server.stop()

    asyncio.run(asyncio.wait_for(main(), 25))
