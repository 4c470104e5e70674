"""The delivery pipeline against a real database (SQLite and PostgreSQL), without HTTP.

Expiry and refunds, priority order, receipts racing ahead of submit results,
multi-part settlement, and recovery after a crash.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text, update

from textos.config import Settings
from textos.delivery.connector import Receipt, DeliveryState, SubmitOutcome, SubmitResult
from textos.delivery.connectors.simulator import SimulatorConnector
from textos.delivery.dispatcher import Dispatcher, claim_due, recover, store_results
from textos.delivery.routing import Router
from textos.delivery.receipts import carrier_id_variants
from textos.services import admin
from textos.storage import ledger
from textos.services.jobs import SendRequest, accept_job
from textos.storage.fastsql import run
from textos.storage.models import Account, LedgerEntry, Message, PendingReceipt, utcnow

SETTINGS = Settings()


@pytest.fixture
def account(db):
    with db.session() as s:
        admin.create_customer(s, "pp12345-test", "pw")
        acc = admin.create_account(s, "pp12345-test", 100)
    return acc


def send(db, account, receivers, **kw):
    with db.session() as s:
        acc = s.get(Account, account.id)
        return accept_job(s, acc, SendRequest(message=kw.pop("message", "hi"), receivers=receivers, no_stop_clause=True, **kw), SETTINGS, "test")


async def until_delivered(db, ids: list[int], timeout: float = 10.0) -> None:
    """Poll (while the dispatcher runs in this loop) until every message is delivered."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        with db.read() as s:
            if all(s.get(Message, i).status == "delivered" for i in ids):
                return
        await asyncio.sleep(0.02)


def credits(db, account):
    with db.read() as s:
        assert ledger.verify(s, account.id)
        return ledger.to_credits(s.get(Account, account.id).credits_milli)


def test_carrier_id_forms():
    assert carrier_id_variants("1A2B") == {"1a2b", "6699"}
    assert "1a2b" in carrier_id_variants("6699")
    assert carrier_id_variants("00042") >= {"42", "2a"}
    assert carrier_id_variants("msg-7") == {"msg-7"}


def test_expired_messages_are_refunded_once(db, account):
    report = send(db, account, ["+33612345678", "+33612345679"])
    assert credits(db, account) == 98
    with db.session() as s:
        s.execute(update(Message).where(Message.id == report.ids[0]).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    from textos.services.refunds import expire_overdue

    with db.session() as s:
        assert expire_overdue(s) == 1
    with db.session() as s:
        assert expire_overdue(s) == 0
    assert credits(db, account) == 99
    with db.read() as s:
        m = s.get(Message, report.ids[0])
        assert (m.status, m.ptt, m.dlr, m.credits_milli) == ("expired", 8, 16, 0)
        kinds = s.scalars(select(LedgerEntry.kind).where(LedgerEntry.account_id == account.id).order_by(LedgerEntry.id)).all()
    assert kinds == ["adjustment", "job_debit", "refund"]


def test_claim_orders_by_priority_then_age_and_skips_deferred(db, account):
    low = send(db, account, ["+33612345601"], priority="veryLow").ids[0]
    high1 = send(db, account, ["+33612345602"], priority="high").ids[0]
    medium = send(db, account, ["+33612345603"], priority="medium").ids[0]
    high2 = send(db, account, ["+33612345604"], priority="high").ids[0]
    later = send(db, account, ["+33612345605"], priority="high", differed_period=10).ids[0]
    with db.session() as s:
        batch = claim_due(s, 10, postgres=not db.is_sqlite)
    assert [m.id for m in batch] == [high1, high2, medium, low]
    assert later not in [m.id for m in batch]
    with db.session() as s:
        assert claim_due(s, 10, postgres=not db.is_sqlite) == []  # already claimed


def test_receipt_before_submit_result_is_kept_and_applied(db, account):
    from textos.delivery.receipts import apply_receipts

    mid = send(db, account, ["+33612345678"], message="x" * 200).ids[0]  # 2 parts
    with db.session() as s:
        [msg] = claim_due(s, 10, postgres=not db.is_sqlite)
        assert msg.parts == 2
    with db.session() as s:  # receipts arrive first, part 2 in decimal form
        changed, pending = apply_receipts(s, [Receipt("a1", DeliveryState.DELIVERED), Receipt(str(0xA2), DeliveryState.DELIVERED)])
        assert (changed, pending) == ([], 2)
    with db.session() as s:
        assert store_results(s, [SubmitResult(mid, SubmitOutcome.ACCEPTED, part_ids=("A1", "A2"))], {mid: "sim"}) == [mid]
    with db.read() as s:
        m = s.get(Message, mid)
        assert (m.status, m.ptt, m.dlr) == ("delivered", 4, 1)


def test_message_fails_when_one_part_fails(db, account):
    from textos.delivery.receipts import apply_receipts

    mid = send(db, account, ["+33612345678"], message="y" * 400).ids[0]  # 3 parts
    with db.session() as s:
        claim_due(s, 10, postgres=not db.is_sqlite)
        store_results(s, [SubmitResult(mid, SubmitOutcome.ACCEPTED, part_ids=("b1", "b2", "b3"))], {})
    with db.session() as s:
        apply_receipts(s, [Receipt("b1", DeliveryState.DELIVERED), Receipt("b2", DeliveryState.DELIVERED)])
    with db.read() as s:
        assert s.get(Message, mid).status == "sent"
    with db.session() as s:
        apply_receipts(s, [Receipt("b3", DeliveryState.UNDELIVERABLE, "001")])
    with db.read() as s:
        m = s.get(Message, mid)
        assert (m.status, m.ptt, m.dlr, m.error) == ("failed", 5, 2, "001")


def test_retry_goes_back_to_queue_and_rejection_refunds(db, account):
    ids = send(db, account, ["+33612345678", "+33612345679"]).ids
    with db.session() as s:
        claim_due(s, 10, postgres=not db.is_sqlite)
        store_results(s, [
            SubmitResult(ids[0], SubmitOutcome.RETRY, error="throttled", retry_after=0.0),
            SubmitResult(ids[1], SubmitOutcome.REJECTED, error="0x0000000B"),
        ], {})
    assert credits(db, account) == 99
    with db.read() as s:
        assert s.get(Message, ids[0]).status == "queued"
        assert s.get(Message, ids[1]).status == "rejected"


def test_restart_requeues_in_flight_messages_and_delivers_each_once(db, account):
    ids = send(db, account, [f"+336123456{i:02d}" for i in range(20)]).ids
    with db.session() as s:  # a crashed process had claimed 8 of them
        claim_due(s, 8, postgres=not db.is_sqlite)
    with db.session() as s:
        assert recover(s) == 8

    async def run() -> SimulatorConnector:
        sim = SimulatorConnector(receipt_delay=0.01)
        dispatcher = Dispatcher(db, Router.single(sim), interval=0.01)
        await dispatcher.start()
        await until_delivered(db, ids)
        await dispatcher.stop()
        return sim

    sim = asyncio.run(run())
    submitted = [m.id for m in sim.submitted]
    assert sorted(submitted) == sorted(ids)  # each exactly once
    assert credits(db, account) == 80


def test_receipt_kept_while_its_result_commits_concurrently_is_applied_by_the_follow_up_replay(db, account):
    """PostgreSQL writes receipts and submit results on two connections: a receipt can be
    kept by a transaction that cannot see the result, while the result's transaction
    cannot see the kept receipt. The receipt writer replays after committing."""
    from textos.delivery.receipts import apply_receipts, replay_pending

    if db.is_sqlite:
        pytest.skip("SQLite has one writer: the two transactions cannot overlap")
    mid = send(db, account, ["+33612345678"]).ids[0]
    with db.session() as s:
        claim_due(s, 10, postgres=True)
    receipts = db.session()
    r = receipts.__enter__()
    assert apply_receipts(r, [Receipt("c1", DeliveryState.DELIVERED)]) == ([], 1)  # not committed yet
    with db.session() as s:  # the result commits; its replay cannot see the kept receipt
        store_results(s, [SubmitResult(mid, SubmitOutcome.ACCEPTED, part_ids=("C1",))], {mid: "sim"})
    receipts.__exit__(None, None, None)
    with db.read() as s:
        assert s.get(Message, mid).status == "sent"
    with db.session() as s:  # the receipt writer's replay
        assert replay_pending(s, ["c1"]) == 1
    with db.read() as s:
        assert s.get(Message, mid).status == "delivered"
        assert s.execute(select(func.count()).select_from(PendingReceipt)).scalar() == 0


def test_receipt_replayed_before_its_result_commits_stays_kept_for_the_result_writer(db, account):
    """The other order: the receipt writer's replay runs while the result is still
    uncommitted. It must leave the kept receipt alone; the result writer's replay after
    its commit applies it."""
    from textos.delivery.receipts import apply_receipts, replay_pending

    if db.is_sqlite:
        pytest.skip("SQLite has one writer: the two transactions cannot overlap")
    mid = send(db, account, ["+33612345678"]).ids[0]
    with db.session() as s:
        claim_due(s, 10, postgres=True)
    results = db.session()
    res = results.__enter__()
    store_results(res, [SubmitResult(mid, SubmitOutcome.ACCEPTED, part_ids=("E1",))], {mid: "sim"})
    with db.session() as s:
        assert apply_receipts(s, [Receipt("e1", DeliveryState.DELIVERED)]) == ([], 1)
    with db.session() as s:  # the receipt writer's replay: the message is not visible yet
        assert replay_pending(s, ["e1"]) == 0
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(PendingReceipt)).scalar() == 1
    results.__exit__(None, None, None)
    with db.session() as s:  # the result writer's replay
        assert replay_pending(s, ["e1"]) == 1
    with db.read() as s:
        assert s.get(Message, mid).status == "delivered"


def test_a_kept_receipt_is_applied_by_one_replay_only(db, account):
    """Two replays of the same kept receipt: the second finds it already taken."""
    from textos.delivery.receipts import apply_receipts, replay_pending

    mid = send(db, account, ["+33612345678"]).ids[0]
    with db.session() as s:
        claim_due(s, 10, postgres=not db.is_sqlite)
    with db.session() as s:
        apply_receipts(s, [Receipt("d1", DeliveryState.DELIVERED)])
    with db.session() as s:
        run(s, "UPDATE messages SET status = 'sent', carrier_id = 'd1' WHERE id = ?", (mid,))
    if db.is_sqlite:
        with db.session() as s:
            assert replay_pending(s, ["d1"]) == 1
        with db.session() as s:
            assert replay_pending(s, ["d1"]) == 0
        return
    first = db.session()
    a = first.__enter__()
    assert replay_pending(a, ["d1"]) == 1  # holds the deleted row until it commits
    with ThreadPoolExecutor(1) as pool:
        def second() -> int:
            with db.session() as s:
                return replay_pending(s, ["d1"])

        later = pool.submit(second)
        deadline = time.monotonic() + 30
        while not _someone_waits_for_a_lock(db):  # the second replay is blocked on the row
            assert time.monotonic() < deadline and not later.done()
            time.sleep(0.01)
        first.__exit__(None, None, None)
        assert later.result(timeout=30) == 0
    with db.read() as s:
        assert s.get(Message, mid).status == "delivered"


def _someone_waits_for_a_lock(db) -> bool:
    with db.read() as s:
        return bool(s.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )).scalar())


def test_a_dispatcher_instance_holds_its_number_and_sees_who_is_gone(db):
    from textos.delivery.ownership import AnotherDispatcher, Instance

    first = Instance(db)
    try:
        if db.is_sqlite:
            with pytest.raises(AnotherDispatcher):
                Instance(db)
            return
        second = Instance(db)
        assert second.number != first.number
        assert not second.owner_gone(first.number)  # alive: its lock is held
        first._conn.close()  # its connection drops (a crash, a network cut)
        assert second.owner_gone(first.number)
        second.release(first.number)
        assert first.alive() is False  # noticed, and took its number again
        assert first.alive() is True and not second.owner_gone(first.number)
        second.close()
    finally:
        first.close()


def test_results_that_could_not_be_stored_are_queued_again_without_a_restart(db, account):
    """The database refuses the submit results of a batch (it was away): the messages stay
    *submitting*, no batch holds them any more, and the sweep queues them again."""
    ids = send(db, account, ["+33612345678", "+33612345679"]).ids

    async def run() -> SimulatorConnector:
        sim = SimulatorConnector(receipt_delay=0.01)
        dispatcher = Dispatcher(db, Router.single(sim), interval=0.01)
        dispatcher.store_retry_delays = (0.01,)
        dispatcher.orphan_sweep = 0.05
        real_store, failures = dispatcher._writer.store, [2]

        async def flaky_store(results, connector_of):  # type: ignore[no-untyped-def]
            if failures[0]:
                failures[0] -= 1
                raise RuntimeError("database away")
            await real_store(results, connector_of)

        dispatcher._writer.store = flaky_store  # type: ignore[method-assign]
        await dispatcher.start()
        try:
            await until_delivered(db, ids)
        finally:
            await dispatcher.stop()
        return sim

    sim = asyncio.run(run())
    with db.read() as s:
        assert [s.get(Message, i).status for i in ids] == ["delivered", "delivered"]
        assert [s.get(Message, i).attempts for i in ids] == [2, 2]  # claimed again after the failed store
    assert sorted(m.id for m in sim.submitted) == sorted(ids * 2)  # sent twice, as after a crash: the bound


class RacingCarrier:
    """A carrier whose receipts come back before its submit responses are even read."""

    name = "racing"
    is_up = True

    async def start(self, events) -> None:  # type: ignore[no-untyped-def]
        self.events = events

    async def submit(self, messages):  # type: ignore[no-untyped-def]
        await self.events.on_receipts([Receipt(f"r{m.id}", DeliveryState.DELIVERED) for m in messages])
        return [SubmitResult(m.id, SubmitOutcome.ACCEPTED, part_ids=(f"r{m.id}",)) for m in messages]

    async def close(self) -> None:
        pass


def test_listeners_hear_of_messages_settled_by_receipts_that_came_first(db, account):
    ids = send(db, account, ["+33612345678", "+33612345679"]).ids
    heard: list[list[int]] = []

    async def run() -> None:
        dispatcher = Dispatcher(db, Router.single(RacingCarrier()), interval=0.01)  # type: ignore[arg-type]
        dispatcher.listeners.append(lambda changed: heard.append(sorted(changed)))
        await dispatcher.start()
        try:
            await until_delivered(db, ids)
            for _ in range(100):  # the notice follows the commit
                if sum(call.count(i) for call in heard for i in ids) >= 4:
                    break
                await asyncio.sleep(0.02)
        finally:
            await dispatcher.stop()

    asyncio.run(run())
    with db.read() as s:
        assert [s.get(Message, i).status for i in ids] == ["delivered", "delivered"]
    for i in ids:  # once sent, once delivered by the kept receipt
        assert sum(call.count(i) for call in heard) == 2, heard
