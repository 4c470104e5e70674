"""The SMSC simulator as an SMPP client sees it: scripted fates, receipts (ids in the
form asked, losses, data_sm), its rate limit, and incoming messages in parts."""

from __future__ import annotations

import asyncio
import time

import pytest

from carrier_doubles import sms, smsc_and_client, until
from textos.domain import encoding as enc
from textos.domain.encoding import Concatenation
from textos.simulator.scenario import Rule
from textos.smpp import pdu as P
from textos.smpp.receipt_text import MessageState

pytestmark = pytest.mark.timeout(30)


def run(coro, timeout: float = 20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_scripted_outcomes():
    rules = [Rule("33700", "undeliverable", error="001"), Rule("re:0002$", "expired"), Rule("33999", "rejected")]

    async def main():
        async with smsc_and_client(smsc_kw={"rules": rules}) as (smsc, client, sink):
            done = await client.submit([sms(1, "a", "+33700000001"), sms(2, "b", "+33611110002"), sms(3, "c", "+33999000000")])
            by_id = {s.message.id: s for s in done}
            assert (by_id[3].status, smsc.rejected) == (P.Status.ESME_RINVDSTADR, 1)
            await until(lambda: len(sink.receipts) == 2)
            got = {r.carrier_id: r for r in sink.receipts}
            assert (got[by_id[1].part_ids[0]].state, got[by_id[1].part_ids[0]].error) == (MessageState.UNDELIVERABLE, "001")
            assert got[by_id[2].part_ids[0]].state is MessageState.EXPIRED
            assert [r.destination_addr for r in smsc.records] == ["33700000001", "33611110002"]

    run(main())


def test_each_submit_is_recorded_with_its_wall_clock_arrival():
    async def main():
        async with smsc_and_client() as (smsc, client, sink):
            before = time.time()
            await client.submit([sms(1, "a", "+33611110001"), sms(2, "b", "+33611110002")])
            after = time.time()
            assert all(before <= r.received_at <= after for r in smsc.records)

    run(main())


@pytest.mark.parametrize("form", ["same", "decimal"])
def test_receipt_ids_in_the_form_asked(form):
    async def main():
        async with smsc_and_client(smsc_kw={"receipt_id_format": form}) as (smsc, client, sink):
            done = await client.submit([sms(i, f"msg {i}", f"+3361000{i:04d}") for i in range(20)])
            await until(lambda: len(sink.receipts) == 20)
            hex_ids = {s.part_ids[0] for s in done}
            reported = {r.carrier_id for r in sink.receipts}
            assert reported == (hex_ids if form == "same" else {str(int(i, 16)) for i in hex_ids})

    run(main())


def test_receipt_loss_is_scripted():
    async def main():
        async with smsc_and_client(smsc_kw={"receipt_loss_every": 2}) as (smsc, client, sink):
            await client.submit([sms(i, f"x{i}", f"+336{i:08d}") for i in range(10)])
            await until(lambda: len(sink.receipts) == 5)
            await asyncio.sleep(0.05)
            assert len(sink.receipts) == smsc.receipts_lost == 5

    run(main())


def test_beyond_its_rate_it_answers_throttled():
    async def main():
        async with smsc_and_client(smsc_kw={"tps_limit": 50}, throttle_backoff=0.02) as (smsc, client, sink):
            done = await client.submit([sms(i, f"t{i}", f"+336{i:08d}") for i in range(20)])
            assert {s.status for s in done} == {0} and smsc.throttled > 0 and smsc.submits == 20

    run(main())


def test_receipts_as_data_sm_are_acknowledged():
    async def main():
        async with smsc_and_client(smsc_kw={"deliver_with": "data_sm"}) as (smsc, client, sink):
            [done] = await client.submit([sms(1, "Hello")])
            await until(lambda: smsc.receipts_acked == 1)
            assert [r.carrier_id for r in sink.receipts] == done.part_ids

    run(main())


@pytest.mark.parametrize("concat", list(Concatenation))
@pytest.mark.parametrize("text", ["Réponse très longue 😀 " * 10, "Oui pour jeudi, à 14 h [salle B] " * 9], ids=["ucs2", "gsm"])
def test_incoming_messages_go_in_the_parts_of_their_concatenation(concat, text):
    async def main():
        async with smsc_and_client() as (smsc, client, sink):
            n = smsc.inject_mo("+33612345678", "36111", text, concat=concat)
            assert n == enc.analyze(text, concat).parts > 1
            await until(lambda: len(sink.incoming) == n)
            parts = sorted(sink.incoming, key=lambda m: m.concat.seq)
            assert [p.concat.total for p in parts] == [n] * n and len({p.concat.ref for p in parts}) == 1
            assert "".join(p.text for p in parts) == text and {p.sender for p in parts} == {"+33612345678"}
            assert smsc.mo_sent == n

    run(main())


def test_a_handset_scripted_to_stop_answers_stop_to_the_clause_number_or_else_to_the_sender():
    rules = [Rule("336993", "stop")]

    async def main():
        async with smsc_and_client(smsc_kw={"rules": rules}) as (smsc, client, sink):
            long_text = "Soldes d'hiver, tout à -50 % " * 8 + "\nSTOP 36111"
            await client.submit([sms(1, long_text, "+33699300001"), sms(2, "Code 1234", "+33699300002", sender="Shop"),
                                 sms(3, "Promo\nSTOP 36111", "+33611110003")])
            await until(lambda: len(sink.incoming) == 2 and len(sink.receipts) >= 3)
            answers = sorted((m.sender, m.receiver, m.text) for m in sink.incoming)
            assert answers == [("+33699300001", "36111", "STOP"), ("+33699300002", "Shop", "STOP")]  # once per message, not per part
            assert {r.state for r in sink.receipts} == {MessageState.DELIVERED}

    run(main())


def test_a_bind_must_come_first():
    async def main():
        async with smsc_and_client() as (smsc, client, sink):
            reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port)
            writer.write(P.encode(P.ShortMessage(P.CommandId.SUBMIT_SM, sequence=5, destination_addr="33611223344")))
            answer = P.decode(await reader.readexactly(16))
            assert (answer.command_id, answer.status, answer.sequence) == (P.CommandId.SUBMIT_SM_RESP, P.Status.ESME_RINVBNDSTS, 5)
            writer.close()
            assert smsc.submits == 0

    run(main())


def test_a_handset_answers_the_last_message_it_received_to_the_number_it_came_from():
    async def main():
        async with smsc_and_client() as (smsc, client, sink):
            with pytest.raises(LookupError):
                smsc.reply_to_last("+33612345678", "Hello?")
            await client.submit([sms(1, "Coming?", "+33612345678", sender="36042", sender_type="shortcode"),
                                 sms(2, "And you?", "+33698765432", sender="36043", sender_type="shortcode")])
            await client.submit([sms(3, "Sure?", "+33612345678", sender="36044", sender_type="shortcode")])
            assert smsc.reply_to_last("+33612345678", "YES") == ("36044", 1)
            assert smsc.reply_to_last("33698765432", "NO") == ("36043", 1)  # with or without its +
            await until(lambda: len(sink.incoming) == 2)
            assert sorted((m.sender, m.receiver, m.text) for m in sink.incoming) == [
                ("+33612345678", "36044", "YES"), ("+33698765432", "36043", "NO")]

    run(main())
