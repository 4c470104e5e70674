"""SmppClient against the SMSC simulator over loopback TCP: binds, window, pacing,
reconnects, keep-alive, and receipts acknowledged only once handled."""

from __future__ import annotations

import asyncio
import gc

import pytest

from carrier_doubles import Sink, client_of, sms, smsc_and_client, until
from fault_smsc import FaultySmsc
from textos.simulator.smsc import SmscSimulator
from textos.smpp import pdu as P
from textos.smpp.carrier_config import SmppCarrierConfig
from textos.smpp.client import LINK_DOWN, TIMEOUT
from textos.smpp.receipt_text import MessageState

pytestmark = pytest.mark.timeout(30)


def run(coro, timeout: float = 20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_every_part_accepted_gives_the_part_ids_in_order():
    async def main():
        async with smsc_and_client() as (smsc, client, sink):
            [done] = await client.submit([sms(1, "x" * 400)])
            assert (done.status, done.accepted, done.error) == (0, 3, None)
            assert done.part_ids == [r.message_id for r in smsc.records]

    run(main())


def test_a_delivered_batch_leaves_no_reference_cycle_for_the_garbage_collector():
    """Everything a submit built is freed by reference counting the moment it is dropped: nothing
    waits for the collector, whose pauses would fall on every request of the process."""
    async def main():
        async with smsc_and_client() as (smsc, client, sink):
            await client.submit([sms(0, "warm")])
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                done = await client.submit([sms(i, "x" * 200 if i % 2 else f"t{i}", f"+336{i:08d}") for i in range(1, 50)])
                assert {s.status for s in done} == {0}
                del done
                gc.collect()
                left = {type(o).__name__ for o in gc.garbage}
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
            assert not left & {"Submission", "_Batch", "_Part", "OutgoingSms"}, left

    run(main())


def test_throttling_slows_down_nothing_lost_nothing_duplicated():
    async def main():
        async with smsc_and_client(smsc_kw={"tps_limit": 400}, throttle_backoff=0.05) as (smsc, client, sink):
            done = await client.submit([sms(i, f"t{i}", f"+336{i:08d}") for i in range(300)])
            assert {s.status for s in done} == {0}
            assert smsc.throttled > 0
            assert smsc.submits == 300
            assert len({r.destination_addr for r in smsc.records}) == 300

    run(main())


def test_tps_cap_on_the_client_side():
    async def main():
        async with smsc_and_client(smsc_kw={"tps_limit": 200}, tps=150) as (smsc, client, sink):
            done = await client.submit([sms(i, f"t{i}", f"+336{i:08d}") for i in range(60)])
            assert {s.status for s in done} == {0}
            assert smsc.throttled == 0

    run(main())


def test_dropped_connection_mid_window():
    window = 64

    async def main():
        async with smsc_and_client(smsc_kw={"drop_after": 150}, window=window) as (smsc, client, sink):
            msgs = {i: sms(i, f"d{i}", f"+336{i:08d}") for i in range(400)}
            done = await client.submit(list(msgs.values()))
            assert {s.status for s in done} <= {0, LINK_DOWN}
            again = [s.message.id for s in done if s.status]
            assert again and all(s.accepted == 0 for s in done if s.status)
            accepted = {s.message.id for s in done if s.status == 0}
            assert smsc.drops == 1
            await client.wait_up()  # reconnected with backoff
            while again:  # what the dispatcher does with RETRY
                done = await client.submit([msgs[i] for i in again])
                accepted |= {s.message.id for s in done if s.status == 0}
                again = [s.message.id for s in done if s.status]
            assert accepted == set(msgs)
            assert 0 <= smsc.submits - len(msgs) <= window  # only parts in flight at the drop went twice

    run(main())


def test_a_submit_left_unanswered_drops_its_link_which_binds_again():
    """An SMSC that takes submits and answers nothing (not even enquire_link): at the first
    response timeout the link is dropped, not at the next enquire_link (30 s here), so nothing
    more goes to it (what the dispatcher sends again waits for the new bind)."""

    async def main():
        smsc = FaultySmsc(port=0, accounts={"acme": "secret"}, receipt_delay=0.01)
        smsc.mute_after = 1
        await smsc.start()
        config = SmppCarrierConfig(port=smsc.port, system_id="acme", password="secret", response_timeout=0.3,
                                   enquire_link_interval=30, reconnect_backoff=(0.05, 0.1))
        client = client_of(config, Sink())
        client.start()
        await client.wait_up()
        done = await client.submit([sms(i, f"m{i}", f"+336{i:08d}") for i in range(4)])
        assert [s.status for s in done].count(0) == 1 and {s.status for s in done if s.status} <= {TIMEOUT, LINK_DOWN}
        await until(lambda: smsc.binds == 2 and client.is_up, timeout=3)
        assert smsc.submits == 4
        await client.close()
        await smsc.stop()

    run(main())


def test_enquire_link_keepalive():
    async def main():
        async with smsc_and_client(enquire_link_interval=0.05) as (smsc, client, sink):
            await until(lambda: smsc.enquire_links >= 3)
            assert client.is_up

    run(main())


def test_bind_refused_with_wrong_password():
    async def main():
        smsc = SmscSimulator(port=0, accounts={"acme": "secret"})
        await smsc.start()
        client = client_of(SmppCarrierConfig(port=smsc.port, system_id="acme", password="nope", reconnect_backoff=(0.05, 0.1)), Sink())
        client.start()
        with pytest.raises(asyncio.TimeoutError):
            await client.wait_up(0.3)
        assert not client.is_up and smsc.binds == 0
        [done] = await client.submit([sms(1)])
        assert (done.status, done.error) == (LINK_DOWN, "link down")
        await client.close()
        await smsc.stop()

    run(main())


def test_receipts_at_least_once_when_the_handler_fails():
    async def main():
        async with smsc_and_client(Sink(fail_first=1)) as (smsc, client, sink):
            [done] = await client.submit([sms(1)])
            await until(lambda: sink.receipts, timeout=5)
            assert sink.receipts[0].carrier_id == done.part_ids[0] and sink.calls >= 2
            assert sink.receipts[0].state is MessageState.DELIVERED

    run(main())


def test_a_transmitter_and_a_receiver_per_bind():
    async def main():
        async with smsc_and_client(bind_mode="tx+rx", binds=2) as (smsc, client, sink):
            await until(lambda: len(smsc.sessions) == 4)
            assert sorted(s.bind_command for s in smsc.sessions) == sorted(
                [P.CommandId.BIND_TRANSMITTER, P.CommandId.BIND_RECEIVER] * 2
            )
            done = await client.submit([sms(i, f"m{i}", f"+336{i:08d}") for i in range(20)])
            assert {s.status for s in done} == {0}
            await until(lambda: len(sink.receipts) == 20)

    run(main())


def test_closing_ends_what_is_still_queued():
    async def main():
        async with smsc_and_client(smsc_kw={"tps_limit": 5}, tps=5) as (smsc, client, sink):
            pending = asyncio.ensure_future(client.submit([sms(i, f"c{i}", f"+336{i:08d}") for i in range(50)]))
            await until(lambda: smsc.submits >= 1)
            await client.close()
            done = await pending
            assert len(done) == 50 and {s.status for s in done} <= {0, LINK_DOWN}
            assert sum(s.status == 0 for s in done) == smsc.submits < 50

    run(main())
