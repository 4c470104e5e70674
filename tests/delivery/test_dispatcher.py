"""The dispatcher's loop against a real database (SQLite and PostgreSQL), with in-process
carriers: recovery at start, results that could not be stored, what listeners hear,
and messages charged for the parts a carrier took."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from lifecycle_helpers import SETTINGS, credits, new_account, send, statuses, until_status
from textos.delivery.connector import OutboundMessage, Receipt, SubmitOutcome, SubmitResult
from textos.delivery.connectors.simulator import SimulatorConnector
from textos.delivery.dispatcher import Dispatcher
from textos.delivery.ownership import Instance
from textos.delivery.routing import Router
from textos.domain.lifecycle import DeliveryState
from textos.storage import fastsql
from textos.services.jobs import SendRequest, accept_job
from textos.storage.messages import claim_due, claim_listed
from textos.storage.models import Account, Message, PendingReceipt, utcnow
from textos.storage.receipts import apply_receipts


@pytest.fixture
def account(db):
    return new_account(db)


def claim(db, limit: int, instance: int | None) -> None:
    with db.session() as s:
        claim_due(s, limit, OutboundMessage, instance=instance)


def run_dispatcher(db, connector: Any, until: Any, **settings: Any) -> None:
    """Run a dispatcher over ``connector`` until the coroutine ``until()`` returns."""

    async def main() -> None:
        dispatcher = Dispatcher(db, Router.single(connector), interval=0.01)
        for name, value in settings.items():
            setattr(dispatcher, name, value)
        await dispatcher.start()
        try:
            await until()
        finally:
            await dispatcher.stop()

    asyncio.run(main())


def test_a_dispatcher_starting_queues_again_what_a_gone_one_left_in_flight(db, account):
    ids = send(db, account, [f"+336123456{i:02d}" for i in range(20)])
    claim(db, 8, instance=424242)  # a dispatcher that crashed (nobody holds its number)
    sim = SimulatorConnector(receipt_delay=0.01)
    run_dispatcher(db, sim, lambda: until_status(db, ids))
    assert statuses(db, ids) == ["delivered"] * 20
    assert sorted(m.id for m in sim.submitted) == sorted(ids)  # each exactly once: the crashed one never sent them
    assert credits(db, account) == 80


def test_results_that_could_not_be_stored_are_queued_again_without_a_restart(db, account):
    """The database refuses the submit results of a batch (it was away): the messages stay
    *submitting*, no batch holds them any more, and the sweep queues them again."""
    ids = send(db, account, ["+33612345678", "+33612345679"])
    sim = SimulatorConnector(receipt_delay=0.01)

    async def main() -> None:
        dispatcher = Dispatcher(db, Router.single(sim), interval=0.01)
        dispatcher.store_retry_delays = (0.01,)
        dispatcher.orphan_sweep = 0.05
        real_store, failures = dispatcher._writer.store, [2]

        async def flaky_store(*args: Any) -> None:
            if failures[0]:
                failures[0] -= 1
                raise RuntimeError("database away")
            await real_store(*args)

        dispatcher._writer.store = flaky_store  # type: ignore[method-assign]
        await dispatcher.start()
        try:
            await until_status(db, ids)
        finally:
            await dispatcher.stop()

    asyncio.run(main())
    assert statuses(db, ids) == ["delivered", "delivered"]
    with db.read() as s:
        assert [s.get_one(Message, i).attempts for i in ids] == [2, 2]  # claimed again after the failed store
    assert sorted(m.id for m in sim.submitted) == sorted(ids * 2)  # sent twice, as after a crash: the bound


class SpyCursor:
    """A driver cursor that remembers each statement's text and parameters."""

    def __init__(self, cursor: Any, seen: list[tuple[str, list[Any]]]) -> None:
        self._cursor, self._seen = cursor, seen

    def execute(self, sql: str, params: Any = ()) -> Any:
        self._seen.append((sql, list(params)))
        return self._cursor.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> Any:
        rows = list(rows)
        self._seen.append((sql, [value for row in rows for value in row]))
        return self._cursor.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def test_the_stranded_sweep_binds_the_instance_number_instead_of_writing_it_into_the_sql(db, account, monkeypatch):
    ids = send(db, account, ["+33612345678", "+33612345679"])
    dispatcher = Dispatcher(db, Router.single(SimulatorConnector()))
    dispatcher.instance = Instance(db)
    try:
        number = dispatcher.instance.number = 987654321
        claim(db, 2, instance=number)
        seen: list[tuple[str, list[Any]]] = []
        real_cursor = fastsql._cursor
        monkeypatch.setattr(fastsql, "_cursor", lambda session: (SpyCursor(real_cursor(session)[0], seen), real_cursor(session)[1]))
        dispatcher._holding = set(ids[:1])  # the first is still held by a batch of ours
        dispatcher._requeue_stranded()
    finally:
        dispatcher.instance.close()
    assert statuses(db, ids) == ["submitting", "queued"]
    assert seen and not [sql for sql, _ in seen if str(number) in sql]
    assert [sql for sql, params in seen if "UPDATE" in sql and number in params]


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
    ids = send(db, account, ["+33612345678", "+33612345679"])
    heard: dict[int, list[str]] = {i: [] for i in ids}

    def listener(changed: list[int]) -> None:  # reads what was committed before it was told
        for i, status in zip(changed, statuses(db, changed)):
            heard[i].append(status)

    db.changes.subscribe(listener)
    run_dispatcher(db, RacingCarrier(), lambda: until_status(db, ids))
    assert statuses(db, ids) == ["delivered", "delivered"]
    assert [told[-1:] for told in heard.values()] == [["delivered"], ["delivered"]], heard


def test_listeners_hear_of_messages_expired_and_rejected(db, account):
    late, refused = send(db, account, ["+33612345678", "+33699112345"])
    with db.session() as s:
        s.execute(update(Message).where(Message.id == late).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    heard: list[int] = []
    db.changes.subscribe(heard.extend)
    sim = SimulatorConnector(outcomes={"+336991": "REJECT"})

    async def until() -> None:
        await until_status(db, [late], "expired")
        await until_status(db, [refused], "rejected")

    run_dispatcher(db, sim, until)
    assert statuses(db, [late, refused]) == ["expired", "rejected"]
    assert late in heard and refused in heard
    assert credits(db, account) == 100  # both refunded


class OnePartCarrier:
    """A carrier that takes every message in one part, whatever it was charged for, and
    sends no receipt until told to (``report``)."""

    name = "one-part"
    is_up = True

    async def start(self, events) -> None:  # type: ignore[no-untyped-def]
        self.events = events

    async def submit(self, messages):  # type: ignore[no-untyped-def]
        return [SubmitResult(m.id, SubmitOutcome.ACCEPTED, part_ids=(f"p{m.id}",)) for m in messages]

    async def report(self, message_id: int, state: DeliveryState) -> None:
        await self.events.on_receipts([Receipt(f"p{message_id}", state)])

    async def close(self) -> None:
        pass


def test_a_message_is_charged_for_the_parts_its_carrier_took(db, account):
    short, long = send(db, account, ["+33612345678"])[0], send(db, account, ["+33612345679"], message="y" * 400)[0]
    assert credits(db, account) == 96  # 1 + 3 parts charged
    run_dispatcher(db, OnePartCarrier(), lambda: until_status(db, [short, long], "sent"))
    with db.read() as s:
        assert [(m.parts, m.credits_milli) for m in (s.get_one(Message, short), s.get_one(Message, long))] == [(1, 1000), (1, 1000)]
    assert credits(db, account) == 98  # the 2 parts not sent are refunded


def test_a_wake_up_during_an_empty_claim_is_not_lost(db, account):
    """New work committed, and its wake-up sent, while the dispatcher's claim found nothing:
    it is claimed at once, not after the poll interval (5 s here)."""
    sim = SimulatorConnector(receipt_delay=0.01)
    sent: list[int] = []

    async def main() -> float:
        dispatcher = Dispatcher(db, Router.single(sim), interval=5.0)
        real_tick = dispatcher.tick

        async def tick() -> bool:
            claimed = await real_tick()
            if not claimed and not sent:  # the job commits, and wakes us, just after the claim's read
                sent.extend(send(db, account, ["+33612345678"]))
                dispatcher.wake()
                await asyncio.sleep(0.01)  # the wake-up lands while the tick is still running
            return claimed

        dispatcher.tick = tick  # type: ignore[method-assign]
        await dispatcher.start()
        try:
            start = asyncio.get_running_loop().time()
            while not sim.submitted:
                await asyncio.sleep(0.005)
            return asyncio.get_running_loop().time() - start
        finally:
            await dispatcher.stop()

    assert asyncio.run(main()) < 1.0 and [m.id for m in sim.submitted] == sent


def test_a_message_whose_receipt_never_comes_settles_as_no_receipt_after_receipt_timeout(db, account):
    lost, late = send(db, account, ["+33612345678", "+33612345679"])
    heard: list[int] = []
    db.changes.subscribe(heard.extend)
    carrier = OnePartCarrier()

    async def until() -> None:
        await until_status(db, [lost, late], "sent")
        await until_status(db, [lost, late], "no_receipt")
        await carrier.report(late, DeliveryState.DELIVERED)  # after the deadline: the real outcome wins
        await until_status(db, [late], "delivered")

    run_dispatcher(db, carrier, until, receipt_timeout=0.5)
    assert statuses(db, [lost, late]) == ["no_receipt", "delivered"]
    with db.read() as s:
        assert [(m.ptt, m.dlr) for m in (s.get_one(Message, lost), s.get_one(Message, late))] == [(6, 2), (4, 1)]
    assert heard.count(lost) == 2 and heard.count(late) == 3  # sent, no_receipt (, delivered): each published
    assert credits(db, account) == 98  # both were sent: charged



def test_the_sweep_forgets_receipts_kept_longer_than_the_receipt_deadline(db):
    """Every 30 s the sweep replays the kept receipts, then forgets those kept past ``receipt_timeout``."""
    with db.session() as s:
        apply_receipts(s, [Receipt("never-stored", DeliveryState.DELIVERED)])
        s.execute(update(PendingReceipt).values(received_at=utcnow() - dt.timedelta(seconds=120)))
        apply_receipts(s, [Receipt("just-now", DeliveryState.DELIVERED)])
    dispatcher = Dispatcher(db, Router.single(SimulatorConnector()), receipt_timeout=60.0)
    dispatcher._sweep()
    with db.read() as s:
        assert s.execute(select(PendingReceipt.carrier_id)).scalars().all() == ["just-now"]


def test_messages_claimed_as_they_are_accepted_are_delivered_without_a_claim_of_its_own(db, account):
    """``room`` while the queue is drained; what is claimed under it (``claim_listed``, in the
    accepting transaction, ``hold`` before its commit) and handed over with ``take`` reaches the
    carrier with the dispatcher asleep (poll interval 5 s, never woken), and ends delivered and
    charged as any other. A sweep between the commit and ``take`` leaves them alone."""
    sim = SimulatorConnector(receipt_delay=0.01)

    async def main() -> tuple[Any, Any, list[int]]:
        dispatcher = Dispatcher(db, Router.single(sim), interval=5.0)
        before = dispatcher.room()  # not started: no instance yet
        await dispatcher.start()
        try:
            deadline = asyncio.get_running_loop().time() + 10
            while (room := dispatcher.room()) is None and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.005)  # its first claim, empty, drains the queue
            assert room is not None
            with db.session() as s:
                acc = s.get_one(Account, account.id)
                ids = list(accept_job(s, acc, SendRequest(message="hi", receivers=["+33612345678", "+33612345679"], no_stop_clause=True),
                                      SETTINGS, "test").ids)
                claimed = claim_listed(s, ids, room.build, instance=room.instance)
                dispatcher.hold(claimed)
            dispatcher._requeue_stranded()  # a sweep between the commit and take
            assert statuses(db, ids) == ["submitting", "submitting"], "held: not taken for stranded"
            dispatcher.take(claimed)
            await until_status(db, ids)
            return before, room, ids
        finally:
            await dispatcher.stop()

    before, room, ids = asyncio.run(main())
    assert before is None and room.limit == 500 and room.build is OutboundMessage
    assert sorted(m.id for m in sim.submitted) == sorted(ids)  # each once
    assert statuses(db, ids) == ["delivered", "delivered"] and credits(db, account) == 98


def test_no_room_while_older_messages_wait_or_every_batch_is_in_flight(db, account):
    """Messages accepted then wait in the queue for a claim: nothing overtakes a backlog, and no
    more than ``max_inflight`` batches, claimed or handed, are in flight at once (the bound on what
    a crash may send twice): a room given takes a slot until ``take``'s batch is delivered or
    ``release``."""
    ids = send(db, account, [f"+336123456{i:02d}" for i in range(5)])
    dispatcher = Dispatcher(db, Router.single(SimulatorConnector()), batch=2, max_inflight=3)
    dispatcher.instance = Instance(db)
    try:
        async def claim_once() -> bool:
            dispatcher._loop = asyncio.get_running_loop()
            claimed = await dispatcher.tick()
            for task in list(dispatcher._inflight):
                task.cancel()
            await asyncio.sleep(0)  # the cancelled batch ends: its slot is free
            return claimed

        assert asyncio.run(claim_once()) and dispatcher.room() is None  # two of five claimed: a backlog
        dispatcher._drained = True
        rooms = [dispatcher.room() for _ in range(4)]
        assert [r is not None for r in rooms] == [True, True, True, False], "three slots"
        dispatcher.release([])
        assert dispatcher.room() is not None, "a room released is free again"
        dispatcher.take([])  # nothing claimed under it: free again
        assert dispatcher.room() is not None

        async def claim_with_every_slot_taken() -> bool:
            dispatcher._loop = asyncio.get_running_loop()
            tick = asyncio.ensure_future(dispatcher.tick())
            await asyncio.sleep(0.05)
            assert not tick.done(), "the claim waits for a slot"
            dispatcher.release([])
            return await asyncio.wait_for(tick, 10)

        assert asyncio.run(claim_with_every_slot_taken())
    finally:
        for writer in {dispatcher._writer, dispatcher._claimer, dispatcher._receipter}:
            writer.close()
        dispatcher.instance.close()
    assert statuses(db, ids).count("submitting") == 4
