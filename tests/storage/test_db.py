"""SQLite write transactions of one process take turns on a lock, and a waiting writer starts the moment the previous one ends."""

from __future__ import annotations

import threading
import time

import pytest

from helpers import BACKENDS
from textos.storage.db import Database


@pytest.mark.skipif("sqlite" not in BACKENDS, reason="SQLite's writers")
def test_a_waiting_writer_starts_as_soon_as_the_previous_one_commits(make_database):
    db = Database(make_database("sqlite"))
    db.migrate()
    started: list[float] = []

    def second() -> None:
        with db.session() as s:
            started.append(time.monotonic())
            s.connection().exec_driver_sql("SELECT 1")

    with db.session() as s:
        s.connection().exec_driver_sql("UPDATE accounts SET credits_milli = 0 WHERE id = 0")
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)  # SQLite's busy handler would be sleeping 100 ms at a time by now
        assert not started
    ended = time.monotonic()
    waiter.join(timeout=10)
    assert started and started[0] - ended < 0.05
    with db.session():
        with db.session():  # same thread: the lock is re-entrant (SQLite itself still has one writer)
            pass
    db.dispose()
