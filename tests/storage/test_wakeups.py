"""New messages announce themselves to listening dispatchers when (and only if) their transaction commits:
on PostgreSQL by ``NOTIFY``, on SQLite by the database's doorbell, rung from another process."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from psycopg import pq
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from helpers import BACKENDS, wait_until
from textos.storage import message_rows
from textos.storage.db import Database
from textos.storage.message_rows import Shared
from textos.storage.models import Message, PendingReceipt
from textos.storage.wakeups import CHANNEL, Doorbell, Listener, note_new_messages

needs_postgresql = pytest.mark.skipif("postgresql" not in BACKENDS, reason="LISTEN/NOTIFY is PostgreSQL's")


@pytest.fixture
def fresh(make_database):
    """``fresh(backend)``: a new database at the latest revision, disposed of after the test."""
    made: list[Database] = []

    def make(backend: str) -> Database:
        made.append(Database(make_database(backend)))
        made[-1].migrate()
        return made[-1]

    yield make
    for database in made:
        database.dispose()


@pytest.fixture
def pg(fresh) -> Database:
    return fresh("postgresql")


def _write_messages(db: Database, fail: bool = False) -> None:
    now = dt.datetime(2026, 1, 1)
    shared = Shared(account_id=1, job_id=1, sender="T", tag="", priority=0, differed_period=0, send_at=now,
                    expires_at=now, created_at=now)
    with db.session() as s:
        message_rows.insert(s, shared, [("+33612345678", "FR", None, "7bit", 2, 1, 1000)])
        if fail:
            raise RuntimeError("rolled back")


@needs_postgresql
def test_a_commit_with_new_messages_wakes_every_listener_once(pg: Database):
    woken = [threading.Event(), threading.Event()]
    counts = [0, 0]

    def waker(i: int):
        def wake() -> None:
            counts[i] += 1
            woken[i].set()
        return wake

    listeners = [Listener(pg.url, waker(i)) for i in range(2)]
    try:
        for listener in listeners:
            assert listener.listening.wait(10)
        wait_until(lambda: counts == [1, 1], what="the wake-up after connecting")
        for event in woken:
            event.clear()
        with pytest.raises(RuntimeError):
            _write_messages(pg, fail=True)
        assert not woken[0].wait(0.3), "a rolled back transaction announces nothing"
        _write_messages(pg)
        assert all(event.wait(5) for event in woken)
        assert counts == [2, 2]
    finally:
        for listener in listeners:
            listener.close()


@needs_postgresql
def test_the_notify_goes_with_the_commit_and_what_the_orm_still_held_is_written_before(pg: Database, tmp_path: Path):
    """On PostgreSQL the announcement ends the transaction: the session's objects not yet flushed
    are written, then ``NOTIFY`` and ``COMMIT`` go as one query (one round trip, not two); the
    session's own commit sends nothing more. Read from libpq's trace of what the client sent."""
    woken = threading.Event()
    listener = Listener(pg.url, woken.set)
    trace = tmp_path / "libpq.trace"
    try:
        assert listener.listening.wait(10)
        assert woken.wait(5)  # the wake-up after connecting
        woken.clear()
        now = dt.datetime(2026, 1, 1)
        shared = Shared(account_id=1, job_id=1, sender="T", tag="", priority=0, differed_period=0, send_at=now,
                        expires_at=now, created_at=now)
        with open(trace, "w") as out:
            with pg.session() as s:
                pgconn = s.connection().connection.driver_connection.pgconn
                pgconn.trace(out.fileno())
                pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
                message_rows.insert(s, shared, [("+33612345678", "FR", None, "7bit", 2, 1, 1000)])
                s.add(PendingReceipt(carrier_id="held-by-the-orm", state="DELIVRD"))  # pending, not flushed
            pgconn.untrace()
        sent = [line for line in trace.read_text().splitlines() if line.startswith("F")]
        commits = [line for line in sent if "COMMIT" in line]
        assert len(commits) == 1 and f"NOTIFY {CHANNEL}; COMMIT" in commits[0], sent
        receipt = next(i for i, line in enumerate(sent) if "INSERT INTO pending_receipts" in line)
        assert receipt < sent.index(commits[0])
        assert woken.wait(5)
        with pg.read() as r:
            assert r.scalar(select(func.count()).select_from(Message)) == 1
            assert r.scalars(select(PendingReceipt.carrier_id)).all() == ["held-by-the-orm"]
    finally:
        listener.close()


@needs_postgresql
def test_a_notify_and_commit_that_fails_reaches_the_caller_as_a_database_error(pg: Database):
    """The transaction's end is a statement of the session's connection: its failure (here a deferred
    constraint checked at the commit) reaches the caller as SQLAlchemy's ``DBAPIError``, which
    ``storage.outages`` and the accept writer's fallback read, not as the driver's own exception."""
    with pytest.raises(DBAPIError, match="unique"):
        with pg.session() as s:
            s.execute(text("CREATE TEMP TABLE twice (n int, UNIQUE (n) DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP"))
            s.execute(text("INSERT INTO twice VALUES (1), (1)"))
            note_new_messages(s)


# ── SQLite: the doorbell ─────────────────────────────────────────────────────


@pytest.fixture
def lite(fresh) -> Database:
    return fresh("sqlite")


def _write_in_another_process(url: str, fail: bool) -> None:
    """``_write_messages`` run by a separate Python process (its own ``Database`` of the same file)."""
    code = textwrap.dedent(f"""
        import sys
        sys.path[:0] = {sys.path!r}
        from test_wakeups import _write_messages
        from textos.storage.db import Database
        db = Database({url!r})
        try:
            _write_messages(db, fail={fail!r})
        except RuntimeError:
            pass
        db.dispose()
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=str(Path(__file__).parent))


async def _rings(db: Database, action, settle: float = 0.0) -> int:
    """How many times ``db``'s doorbell, answered here, wakes this loop while ``action`` runs (in a thread)."""
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()
    count = 0

    def wake() -> None:
        nonlocal count
        count += 1
        woken.set()

    assert db.doorbell is not None and db.doorbell.answer(loop, wake)
    try:
        await asyncio.to_thread(action)
        if settle:
            await asyncio.sleep(settle)
        else:
            await asyncio.wait_for(woken.wait(), 10)
        return count
    finally:
        db.doorbell.stop_answering(loop)


def test_a_commit_with_new_messages_in_another_process_rings_the_dispatchers_doorbell(lite: Database):
    assert asyncio.run(_rings(lite, lambda: _write_in_another_process(lite.url, fail=False))) >= 1


def test_a_rolled_back_transaction_rings_nothing(lite: Database):
    assert asyncio.run(_rings(lite, lambda: _write_in_another_process(lite.url, fail=True), settle=0.3)) == 0


def test_the_process_whose_dispatcher_answers_does_not_ring_itself(lite: Database):
    """Its dispatcher is woken directly (``AppState.wake``): a datagram would be a second, useless wake-up."""
    assert asyncio.run(_rings(lite, lambda: _write_messages(lite), settle=0.3)) == 0


def test_one_answerer_per_database_and_a_ring_nobody_answers_is_dropped(lite: Database):
    lonely = Doorbell(lite.url.removeprefix("sqlite:///"))
    lonely.ring()  # no dispatcher: nothing happens, nothing fails
    lonely.close()

    async def twice() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        first = lite.doorbell.answer(loop, lambda: None)
        second = Doorbell(lite.url.removeprefix("sqlite:///")).answer(loop, lambda: None)
        lite.doorbell.stop_answering(loop)
        return first, second

    assert asyncio.run(twice()) == (True, False)

