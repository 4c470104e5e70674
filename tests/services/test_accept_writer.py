"""Group commit: jobs arriving together are accepted in one transaction, each in its own
savepoint, on SQLite and PostgreSQL; credits stay exact and a refusal touches nobody else.
On SQLite a group is written in the event loop when the write lock is free, else in the writer's thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from helpers import BACKENDS
from signed_calls import new_keys
from textos.config import Settings
from textos.domain.errors import BadRequest, NotEnoughCredits, NotFound
from textos.services.accept_writer import AcceptWriter
from textos.services.jobs import SendingReport, SendRequest, accept_listed
from textos.storage import ledger
from textos.storage.db import Database
from textos.storage.messages import Room
from textos.storage.models import Account, Job, LedgerEntry, Message


def _account(db: Database, credits: int) -> tuple[int, str]:
    """An account holding exactly ``credits``: ``(customer_id, service_name)``."""
    service = new_keys(db)[0]
    with db.session() as s:
        account = s.scalar(select(Account).where(Account.service_name == service))
        assert account is not None
        ledger.post(s, account.id, ledger.Movement(ledger.Kind.ADJUSTMENT, ledger.to_milli(credits) - account.credits_milli))
        return account.customer_id, service


def _one(receiver: str, **options: object) -> SendRequest:
    return SendRequest(message="code 1234", receivers=[receiver], no_stop_clause=True, **options)  # type: ignore[arg-type]


def _accept_together(writer: AcceptWriter, customer: int, service: str, requests: list[SendRequest]) -> list[object]:
    """Hand every request to the writer at once (they form one group); their outcomes in order."""

    async def run() -> list[object]:
        return await asyncio.gather(*(writer.accept(customer, service, r, actor="test") for r in requests), return_exceptions=True)

    return asyncio.run(run())


def test_concurrent_jobs_accept_exactly_what_the_credits_pay(db: Database):
    customer, service = _account(db, credits=20)
    woken: list[bool] = []
    writer = AcceptWriter(db, Settings(), on_accepted=lambda: woken.append(True))
    outcomes = _accept_together(writer, customer, service, [_one(f"+3361234{i:04d}") for i in range(40)])
    accepted = [o for o in outcomes if isinstance(o, SendingReport)]
    refused = [o for o in outcomes if isinstance(o, NotEnoughCredits)]
    assert len(accepted) == 20 and len(refused) == 20
    assert woken == [True], "one commit, one wake-up"
    with db.read() as s:
        account = s.scalar(select(Account).where(Account.service_name == service))
        assert account is not None and account.credits_milli == 0
        assert ledger.verify(s, account.id)
        assert s.scalar(select(func.count()).select_from(Job)) == 20
        assert sorted(s.scalars(select(Message.id))) == sorted(i for r in accepted for i in r.ids)
        debits = s.scalars(select(LedgerEntry.amount_milli).where(LedgerEntry.kind == ledger.Kind.JOB_DEBIT)).all()
        assert len(debits) == 20 and sum(debits) == -ledger.to_milli(20)
    writer.close()


def test_a_refused_job_in_a_group_is_rolled_back_alone(db: Database):
    customer, service = _account(db, credits=100)
    writer = AcceptWriter(db, Settings())
    requests = [
        _one("+33612340001"),
        _one("+33612340002", sender="NOTMINE"),  # not a sender of the account
        _one("+33612340003"),
        _one("not a number"),  # no valid receiver
        SendRequest(message="x", receivers=["+33612340005"], sender="A", sender_for_response=True),
        _one("+33612340006"),
    ]
    outcomes = _accept_together(writer, customer, service, requests)
    assert isinstance(outcomes[1], BadRequest) and "NOTMINE" in str(outcomes[1])
    assert isinstance(outcomes[3], BadRequest) and "no valid receiver" in str(outcomes[3])
    assert isinstance(outcomes[4], BadRequest) and "senderForResponse" in str(outcomes[4])
    kept = [outcomes[i] for i in (0, 2, 5)]
    assert all(isinstance(o, SendingReport) and len(o.ids) == 1 for o in kept)
    with db.read() as s:
        receivers = sorted(s.scalars(select(Message.receiver)))
        assert receivers == ["+33612340001", "+33612340003", "+33612340006"]
        assert s.scalar(select(func.count()).select_from(Job)) == 3
        account = s.scalar(select(Account).where(Account.service_name == service))
        assert account is not None and account.credits_milli == ledger.to_milli(97) and ledger.verify(s, account.id)
    writer.close()


def test_another_customers_account_is_not_found_and_wakes_nobody(db: Database):
    customer, service = _account(db, credits=5)
    woken: list[bool] = []
    writer = AcceptWriter(db, Settings(), on_accepted=lambda: woken.append(True))
    (outcome,) = _accept_together(writer, customer + 1, service, [_one("+33612345678")])
    assert isinstance(outcome, NotFound) and woken == []
    writer.close()


@pytest.mark.parametrize("size", [1, 120])
def test_groups_are_bounded_and_every_job_is_answered(db: Database, size: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("textos.services.accept_writer.GROUP_JOBS", 50)
    customer, service = _account(db, credits=1000)
    commits: list[bool] = []
    writer = AcceptWriter(db, Settings(), on_accepted=lambda: commits.append(True))
    outcomes = _accept_together(writer, customer, service, [_one(f"+3361230{i:04d}") for i in range(size)])
    assert all(isinstance(o, SendingReport) for o in outcomes)
    assert len(commits) == -(-size // 50), "groups of at most GROUP_JOBS jobs, one wake-up each"
    writer.close()


on_sqlite = pytest.mark.parametrize(
    "db", [pytest.param("sqlite", marks=pytest.mark.skipif("sqlite" not in BACKENDS, reason="SQLite's write lock"))], indirect=True)


def _threads_writing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads ``accept_listed`` runs in, in order."""
    names: list[str] = []
    real = accept_listed

    def recorded(*args: object, **kwargs: object) -> object:
        names.append(threading.current_thread().name)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("textos.services.accept_writer.accept_listed", recorded)
    return names


@on_sqlite
def test_on_sqlite_a_group_is_written_in_the_event_loop_when_the_write_lock_is_free(db: Database, monkeypatch: pytest.MonkeyPatch):
    customer, service = _account(db, credits=10)
    threads = _threads_writing(monkeypatch)
    writer = AcceptWriter(db, Settings())
    outcomes = _accept_together(writer, customer, service, [_one("+33612340001"), _one("+33612340002")])
    assert all(isinstance(o, SendingReport) for o in outcomes)
    assert threads == [threading.main_thread().name], "one group, written by the loop's own thread"
    writer.close()


@on_sqlite
def test_on_sqlite_a_big_group_is_written_in_the_writers_thread(db: Database, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("textos.services.accept_writer.INLINE_RECEIVERS", 3)
    customer, service = _account(db, credits=10)
    threads = _threads_writing(monkeypatch)
    writer = AcceptWriter(db, Settings())
    small = SendRequest(message="code 1234", receivers=["+33612340001", "+33612340002", "+33612340003"], no_stop_clause=True)
    big = SendRequest(message="code 1234", receivers=["+33612340004", "+33612340005", "+33612340006", "+33612340007"], no_stop_clause=True)
    assert all(isinstance(o, SendingReport) for o in _accept_together(writer, customer, service, [small]))
    assert all(isinstance(o, SendingReport) for o in _accept_together(writer, customer, service, [big]))
    assert threads[0] == threading.main_thread().name, "3 receivers: in the loop"
    assert threads[1].startswith("textos-accept"), "4 receivers: the loop would stall while it is written"
    writer.close()


@on_sqlite
def test_on_sqlite_a_group_waits_in_the_writers_thread_while_another_process_writes(db: Database, monkeypatch: pytest.MonkeyPatch):
    customer, service = _account(db, credits=10)
    threads = _threads_writing(monkeypatch)
    writer = AcceptWriter(db, Settings())
    other = sqlite3.connect(make_url(db.url).database or "", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction
    released = threading.Event()

    async def run() -> tuple[object, bool]:
        pending = asyncio.ensure_future(writer.accept(customer, service, _one("+33612340001"), actor="test"))
        await asyncio.sleep(0.2)
        answered_early = pending.done()
        other.rollback()
        released.set()
        return await asyncio.wait_for(pending, 10), answered_early

    outcome, answered_early = asyncio.run(run())
    assert not answered_early, "nothing is answered before it is committed"
    assert isinstance(outcome, SendingReport) and released.is_set()
    assert len(threads) == 1 and threads[0].startswith("textos-accept"), "the loop never waited on the lock"
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1
    other.close()
    writer.close()


def test_a_job_authenticated_under_an_auth_version_no_longer_current_is_refused_and_writes_nothing(make_database):
    """SQLite's on-the-fly path authenticates from memory without asking whether a key changed; the
    group's transaction asks once, and a job checked under an older version is handed back."""
    from textos.services.accept_writer import StaleAuthentication
    from textos.storage import auth_version

    db = Database(make_database("sqlite"))
    db.migrate()
    customer, service = _account(db, credits=10)
    writer = AcceptWriter(db, Settings())
    with db.read() as s:
        current = auth_version.sqlite_version_in(s)
    with db.session() as s:  # a credential or an application changes (as the mapper events do)
        auth_version.bump(s.connection())

    async def run() -> list[object]:
        return await asyncio.gather(
            writer.accept(customer, service, _one("+33612340001"), actor="test", auth_version=current),
            writer.accept(customer, service, _one("+33612340002"), actor="test"),  # checked against the database
            return_exceptions=True,
        )

    stale, fresh = asyncio.run(run())
    assert isinstance(stale, StaleAuthentication) and isinstance(fresh, SendingReport)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1
        now = auth_version.sqlite_version_in(s)
    assert now != current
    again = asyncio.run(writer.accept(customer, service, _one("+33612340001"), actor="test", auth_version=now))
    assert isinstance(again, SendingReport)
    writer.close()
    db.dispose()


on_postgresql = pytest.mark.parametrize(
    "db", [pytest.param("postgresql", marks=pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL's round trips"))],
    indirect=True)


@on_postgresql
def test_on_postgresql_a_group_of_jobs_takes_six_round_trips(db: Database, tmp_path):
    """BEGIN; the account (its credits as read); the jobs; the messages with their report counts; the
    debit with its ledger entries (the account's row locked from here); NOTIFY with COMMIT. Each
    round trip is a wake-up of both processes when requests come one by one, and the account stays
    locked for the last two only."""
    from psycopg import pq

    customer, service = _account(db, credits=10)
    writer = AcceptWriter(db, Settings())
    _accept_together(writer, customer, service, [_one("+33612340000")])  # the account read once, the pool warm
    trace = tmp_path / "libpq.trace"
    with open(trace, "w") as out:
        def traced(dbapi_connection, _record, _proxy) -> None:
            dbapi_connection.pgconn.trace(out.fileno())
            dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

        event.listen(db.engine, "checkout", traced)
        try:
            outcomes = _accept_together(writer, customer, service, [_one("+33612340001"), _one("+33612340002")])
        finally:
            event.remove(db.engine, "checkout", traced)
    writer.close()
    assert all(isinstance(o, SendingReport) for o in outcomes)
    sent = [line.split("\t")[2].split(" ")[0] for line in trace.read_text().splitlines() if line.startswith("F\t")]
    assert sent.count("Sync") + sent.count("Query") == 6, sent


@on_postgresql
def test_credits_spent_between_the_groups_read_and_its_debit_make_it_written_again_locking_first(
    db: Database, monkeypatch: pytest.MonkeyPatch,
):
    """The group judged what the account could pay on its credits as read (10), unlocked; another
    transaction spent 8.5 of them before the debit. The debit refuses, nothing of the first attempt
    is committed, and the group written again under the lock pays exactly what is left."""
    from textos.services import accounts

    customer, service = _account(db, credits=10)
    read = accounts.customer_account
    spent: list[int] = []

    def read_then_spent_elsewhere(session: Any, customer_id: int, service_name: str) -> Account:
        account = read(session, customer_id, service_name)
        if not spent:
            with db.session() as other:
                spent.append(ledger.post(other, account.id, ledger.Movement(ledger.Kind.ADJUSTMENT, -8500)).id)
        return account

    monkeypatch.setattr(accounts, "customer_account", read_then_spent_elsewhere)
    writer = AcceptWriter(db, Settings())
    outcomes = _accept_together(writer, customer, service, [_one(f"+3361234000{i}") for i in range(3)])
    writer.close()
    assert isinstance(outcomes[0], SendingReport)
    assert all(isinstance(o, NotEnoughCredits) for o in outcomes[1:]), outcomes
    with db.read() as s:
        account = s.scalar(select(Account).where(Account.service_name == service))
        assert account is not None and account.credits_milli == 500
        assert ledger.verify(s, account.id)
        assert s.scalar(select(func.count()).select_from(Job)) == 1
        assert s.scalar(select(func.count()).select_from(Message)) == 1


class _Claimed:
    def __init__(self, id: int, *_columns: object) -> None:
        self.id = id


class _Dispatcher:
    """A dispatcher as the accept writer sees it (``Handoff``): its room, and what it was handed,
    with the status each message had in the database when it was handed."""

    def __init__(self, db: Database, room: Room | None) -> None:
        self.db, self._room = db, room
        self.taken: list[list[tuple[int, str]]] = []
        self.held: set[int] = set()
        self.given = self.concluded = 0
        """Rooms given; ``take`` or ``release`` calls: one for each."""

    def room(self) -> Room | None:
        self.given += self._room is not None
        return self._room

    def hold(self, claimed: list[Any]) -> None:
        self.held.update(m.id for m in claimed)

    def release(self, claimed: list[Any]) -> None:
        self.held.difference_update(m.id for m in claimed)
        self.concluded += 1

    def take(self, claimed: list[Any]) -> None:
        assert {m.id for m in claimed} <= self.held, "held before it is taken"
        self.concluded += 1
        if not claimed:
            return
        with self.db.read() as s:  # read apart: only what was committed
            self.taken.append([(m.id, s.get_one(Message, m.id).status) for m in claimed])


def test_the_due_messages_of_a_group_are_claimed_for_this_processs_dispatcher_and_handed_once_committed(db: Database):
    customer, service = _account(db, credits=10)
    woken: list[bool] = []
    writer = AcceptWriter(db, Settings(), on_accepted=lambda: woken.append(True))
    writer.handoff = dispatcher = _Dispatcher(db, Room(10, 4242, _Claimed))
    outcomes = _accept_together(writer, customer, service, [_one("+33612345001"), _one("+33612345002")])
    writer.close()
    ids = sorted(i for o in outcomes if isinstance(o, SendingReport) for i in o.ids)
    assert len(ids) == 2
    assert dispatcher.taken == [[(ids[0], "submitting"), (ids[1], "submitting")]]
    assert dispatcher.given == dispatcher.concluded == 1
    assert woken == [], "everything was handed: the dispatcher need not look for more"
    with db.read() as s:
        rows = s.execute(select(Message.status, Message.claimed_by, Message.attempts).where(Message.id.in_(ids))).all()
    assert [tuple(r) for r in rows] == [("submitting", 4242, 1)] * 2


def test_deferred_messages_and_those_beyond_its_room_wait_in_the_queue_and_the_dispatcher_is_woken(db: Database):
    customer, service = _account(db, credits=10)
    woken: list[bool] = []
    writer = AcceptWriter(db, Settings(), on_accepted=lambda: woken.append(True))
    writer.handoff = dispatcher = _Dispatcher(db, Room(1, 4242, _Claimed))
    now, later, beyond = _accept_together(writer, customer, service, [
        _one("+33612345003"), _one("+33612345004", differed_period=60), _one("+33612345005")])
    writer.handoff = nothing = _Dispatcher(db, None)  # no room: nothing claimed
    (unhanded,) = _accept_together(writer, customer, service, [_one("+33612345006")])
    writer.close()
    assert all(isinstance(o, SendingReport) for o in (now, later, beyond, unhanded))
    assert dispatcher.taken == [[(now.ids[0], "submitting")]] and nothing.taken == []  # type: ignore[union-attr]
    assert dispatcher.given == dispatcher.concluded == 1
    assert woken == [True, True]
    with db.read() as s:
        assert [s.get_one(Message, o.ids[0]).status for o in (later, beyond, unhanded)] == ["queued"] * 3  # type: ignore[union-attr]


def test_messages_held_for_the_dispatcher_are_released_when_their_transaction_does_not_commit(db: Database, monkeypatch: pytest.MonkeyPatch):
    customer, service = _account(db, credits=10)
    writer = AcceptWriter(db, Settings())
    writer.handoff = dispatcher = _Dispatcher(db, Room(10, 4242, _Claimed))
    held: list[set[int]] = []

    def failing_commit(session: object) -> bool:
        held.append(set(dispatcher.held))
        raise RuntimeError("the commit failed")

    monkeypatch.setattr("textos.storage.db.announce", failing_commit)
    (outcome,) = _accept_together(writer, customer, service, [_one("+33612345007")])
    writer.close()
    assert isinstance(outcome, RuntimeError)
    assert len(held) == 1 and len(held[0]) == 1, "held before the commit"
    assert dispatcher.held == set() and dispatcher.taken == []
    assert dispatcher.given == dispatcher.concluded == 1, "the room given is released"
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.receiver == "+33612345007")) == 0


def test_groups_that_queued_behind_another_transaction_are_not_handed(db: Database, monkeypatch: pytest.MonkeyPatch):
    """Claiming makes a group's transaction longer: under load (jobs queued behind the writer) the
    dispatcher claims them itself; only the group that came to an idle writer is handed."""
    monkeypatch.setattr("textos.services.accept_writer.GROUP_JOBS", 1)
    customer, service = _account(db, credits=10)
    writer = AcceptWriter(db, Settings())
    writer.handoff = dispatcher = _Dispatcher(db, Room(10, 4242, _Claimed))
    first, second = _accept_together(writer, customer, service, [_one("+33612345008"), _one("+33612345009")])
    writer.close()
    assert dispatcher.taken == [[(first.ids[0], "submitting")]]  # type: ignore[union-attr]
    assert dispatcher.given == dispatcher.concluded == 1
    with db.read() as s:
        assert s.get_one(Message, second.ids[0]).status == "queued"  # type: ignore[union-attr]
