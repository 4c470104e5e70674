"""CPU of one write transaction's frame, in process: what every lone accept, claim or receipt pays.

With one message at a time nothing is grouped, so each of a message's transactions (its job
accepted, its claim, its submit result, its receipt) pays the fixed cost of a transaction
however little it writes. This measures, with ``time.thread_time`` (the calling thread
only), the least of 3 blocks of 2,000, on a fresh SQLite file at the latest revision:

* ``Database.session`` with nothing in it (``BEGIN IMMEDIATE``, ``COMMIT``, the outbox and
  wake-up hooks), and with one ``UPDATE`` matching no row;
* the same frame without Textos's hooks (a bare ORM session), and as SQLAlchemy Core
  (``engine.begin()``);
* a read session with ``SELECT 1``;
* the driver alone: a pooled connection, ``BEGIN IMMEDIATE``, ``COMMIT``; and sqlite3 with one
  ``UPDATE`` of one row.

    PYTHONPATH=$PWD .venv/bin/python bench/transaction_cost.py
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line, make_db  # noqa: E402
from textos.storage.db import Database  # noqa: E402

NO_ROW = text("UPDATE accounts SET credits_milli = credits_milli WHERE id = 0")


def least_us(work: Callable[[], object], n: int = 2000, blocks: int = 3) -> float:
    """CPU microseconds per call of ``work``: the least of ``blocks`` blocks of ``n``, after a warm-up."""
    for _ in range(100):
        work()
    best = float("inf")
    for _ in range(blocks):
        started = time.thread_time()
        for _ in range(n):
            work()
        best = min(best, (time.thread_time() - started) / n * 1e6)
    return best


def main() -> None:
    print(machine_line())
    url, _ = make_db("sqlite", Path(tempfile.mkdtemp(prefix="textos-bench-txn-")))
    db = Database(url)
    db.migrate()
    raw = sqlite3.connect(make_url(url).database or "", isolation_level=None)

    def session_empty() -> None:
        with db.session() as s:
            s.connection()

    def session_update() -> None:
        with db.session() as s:
            s.execute(NO_ROW)

    def bare_orm() -> None:
        with db._writer() as s, s.begin():
            s.connection()

    def core() -> None:
        with db.engine.begin():
            pass

    def read_select() -> None:
        with db.read() as s:
            s.execute(text("SELECT 1"))

    def pooled_driver() -> None:
        conn = db.engine.raw_connection()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("COMMIT")
        conn.close()

    def sqlite3_one_row() -> None:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("UPDATE auth_version SET version = version WHERE id = 1")
        raw.execute("COMMIT")

    for name, work in (
        ("Database.session, nothing written", session_empty),
        ("Database.session, one UPDATE matching no row", session_update),
        ("bare ORM session (no Textos hooks)", bare_orm),
        ("SQLAlchemy Core engine.begin()", core),
        ("Database.read, SELECT 1", read_select),
        ("pooled driver connection, BEGIN IMMEDIATE + COMMIT", pooled_driver),
        ("sqlite3 alone, UPDATE of one row", sqlite3_one_row),
    ):
        print(f"{name}: {least_us(work):.0f} us CPU")
    raw.close()
    db.dispose()


if __name__ == "__main__":
    main()
