"""New messages announce themselves to listening dispatchers when (and only if) their transaction commits."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from helpers import BACKENDS, wait_until
from textos.storage import message_rows
from textos.storage.db import Database
from textos.storage.message_rows import Shared
from textos.storage.wakeups import Listener

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="LISTEN/NOTIFY is PostgreSQL's")


@pytest.fixture
def pg(make_database) -> Database:
    database = Database(make_database("postgresql"))
    database.migrate()
    yield database
    database.dispose()


def _write_messages(db: Database, fail: bool = False) -> None:
    now = dt.datetime(2026, 1, 1)
    shared = Shared(account_id=1, job_id=1, sender="T", tag="", priority=0, differed_period=0, send_at=now,
                    expires_at=now, created_at=now)
    with db.session() as s:
        message_rows.insert(s, shared, [("+33612345678", "FR", None, "7bit", 2, 1, 1000)])
        if fail:
            raise RuntimeError("rolled back")


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
