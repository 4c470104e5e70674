"""SQLite write transactions of one process take turns on a lock, and a waiting writer starts the moment the previous one ends;
a writer that must not wait (``session(wait=False)``) is refused at once while any writer holds the lock."""

from __future__ import annotations

from typing import Iterator

import sqlite3
import threading
import time

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from helpers import BACKENDS
from textos.storage import db as db_module
from textos.storage.db import Database, WriterBusy
from textos.storage.models import Account


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


@pytest.fixture
def sqlite_db(make_database) -> Iterator[Database]:
    db = Database(make_database("sqlite"))
    db.migrate()
    yield db
    db.dispose()


def _credits(db: Database) -> list[int]:
    with db.read() as s:
        return list(s.scalars(select(Account.credits_milli)))


@pytest.mark.skipif("sqlite" not in BACKENDS, reason="SQLite's writers")
def test_a_writer_that_must_not_wait_is_refused_while_another_thread_writes(sqlite_db: Database):
    db = sqlite_db
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with db.session() as s:
            s.connection().exec_driver_sql("SELECT 1")
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(10)
    started = time.monotonic()
    with pytest.raises(WriterBusy), db.session(wait=False):
        raise AssertionError("the body must not run")
    assert time.monotonic() - started < 0.5, "refused at once, not after waiting"
    leave.set()
    holder.join(10)
    with db.session(wait=False) as s:  # the lock is free again
        s.connection().exec_driver_sql("SELECT 1")


@pytest.mark.skipif("sqlite" not in BACKENDS, reason="SQLite's writers")
def test_a_writer_that_must_not_wait_is_refused_while_another_process_writes(sqlite_db: Database):
    db = sqlite_db
    other = sqlite3.connect(make_url(db.url).database or "", isolation_level=None, check_same_thread=False)  # another process's connection
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE accounts SET credits_milli = credits_milli")
    started = time.monotonic()
    with pytest.raises(WriterBusy), db.session(wait=False) as s:
        s.connection().exec_driver_sql("UPDATE accounts SET credits_milli = 1")
    assert time.monotonic() - started < 0.5, "refused at once, not after SQLite's busy timeout"
    other.rollback()

    # the same pooled connection waits again for other processes when told to wait
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, other.rollback).start()
    started = time.monotonic()
    with db.session() as s:
        s.connection().exec_driver_sql("UPDATE accounts SET credits_milli = 7")
    assert time.monotonic() - started >= 0.25, "waited for the other process's transaction"
    assert set(_credits(db)) <= {7}
    other.close()


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL")
def test_postgresql_has_no_writer_that_must_not_wait(make_database):
    db = Database(make_database("postgresql"))
    with pytest.raises(ValueError, match="SQLite"), db.session(wait=False):
        pass
    db.dispose()


def _backend_pid(db: Database) -> int:
    with db.session() as s:
        return int(s.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


@pytest.fixture
def pg_db(make_database) -> Iterator[Database]:
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL")
    db = Database(make_database("postgresql"))
    yield db
    db.dispose()


@pytest.fixture
def pings(pg_db: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each ping the pool sends before handing a connection out (its count)."""
    sent: list[int] = []
    ping = pg_db.engine.dialect.do_ping

    def counted(dbapi_conn):  # type: ignore[no-untyped-def]
        sent.append(1)
        return ping(dbapi_conn)

    monkeypatch.setattr(pg_db.engine.dialect, "do_ping", counted)
    return sent


def test_a_pooled_postgresql_connection_used_a_moment_ago_is_handed_out_without_a_ping(pg_db: Database, pings: list[int]):
    first = _backend_pid(pg_db)
    for _ in range(3):
        assert _backend_pid(pg_db) == first, "the same pooled connection"
    assert pings == []


def test_a_pooled_postgresql_connection_idle_too_long_is_pinged_first(pg_db: Database, pings: list[int], monkeypatch: pytest.MonkeyPatch):
    first = _backend_pid(pg_db)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 0.0)
    time.sleep(0.01)
    assert _backend_pid(pg_db) == first
    assert pings == [1]


def test_a_pooled_postgresql_connection_the_server_ended_is_replaced_without_an_error(pg_db: Database, pings: list[int]):
    """A server restarting, or ending idle sessions, closes them: the next transaction gets a new connection."""
    first = _backend_pid(pg_db)
    with psycopg.connect(make_url(pg_db.url).set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (first,)).fetchone()[0] is True
        deadline = time.monotonic() + 10
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (first,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.01)
    again = _backend_pid(pg_db)
    assert again != first
    assert pings == [1], "the ended connection's socket had its goodbye to read: pinged, failed, replaced"
