"""Vacuuming Textos' own tables on PostgreSQL when the server's autovacuum is off.

Textos' tables churn: a message is updated three times on its way (queued → submitting →
sent → delivered), report deltas and pending receipts are inserted and deleted by the
thousand a second. Each update or delete leaves a dead row version that PostgreSQL's
autovacuum reclaims. With ``autovacuum = off`` (a setting some CI and benchmark servers
use) nothing does: the deltas' fold and the receipts' lookups step over ever more dead
versions, and delivery falls behind (seen in the soak, ``bench/soak.py``: 92,000 receipts
waiting after five minutes at 755 jobs a second; one ``VACUUM`` cleared them in 25 s).
Nothing analyses the tables either, so the planner works from stale row counts.

So, with ``vacuum = "auto"`` (the default), the process that runs delivery does
autovacuum's job for the tables of its own schema while the server's autovacuum is off, by
autovacuum's own rule (``due``): a table is vacuumed once its dead rows exceed
``VACUUM_THRESHOLD + VACUUM_SCALE × live rows``, analysed once its rows changed since the
last analysis exceed ``ANALYZE_THRESHOLD + ANALYZE_SCALE × live rows``. One process at a
time (an advisory lock); ``"always"`` does it even with autovacuum on, ``"off"`` never.
SQLite needs none of this: it reuses the pages of deleted rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from textos.storage.db import Database

__all__ = ["TableStats", "due", "vacuum_due"]

log = logging.getLogger("textos.vacuum")

VACUUM_THRESHOLD = 1_000
VACUUM_SCALE = 0.2
ANALYZE_THRESHOLD = 1_000
ANALYZE_SCALE = 0.1
"""autovacuum's rule (its defaults are 50, 0.2, 50 and 0.1), with a larger floor: a small
table is not worth a statement every round."""

LOCK_KEY = 0x7E_C705_0001
"""The advisory lock one vacuuming process holds (two would only wait on each other)."""

_STATS = text(
    "SELECT relname, n_live_tup, n_dead_tup, n_mod_since_analyze FROM pg_stat_user_tables "
    "WHERE schemaname = current_schema() ORDER BY relname"
)


@dataclass(frozen=True, slots=True)
class TableStats:
    """What ``pg_stat_user_tables`` says of one table."""

    name: str
    live: int
    dead: int
    changed_since_analyze: int


def due(tables: list[TableStats]) -> list[tuple[str, str]]:
    """The statement each table is due, by autovacuum's rule: ``(name, "VACUUM (ANALYZE)")``,
    ``(name, "ANALYZE")``, or nothing for a table that is not due."""
    statements = []
    for t in tables:
        if t.dead > VACUUM_THRESHOLD + VACUUM_SCALE * t.live:
            statements.append((t.name, "VACUUM (ANALYZE)"))
        elif t.changed_since_analyze > ANALYZE_THRESHOLD + ANALYZE_SCALE * t.live:
            statements.append((t.name, "ANALYZE"))
    return statements


def autovacuum_on(conn: Connection) -> bool:
    return conn.exec_driver_sql("SHOW autovacuum").scalar() == "on"


_said: set[str] = set()


def _say_once(mode: str) -> None:
    if mode not in _said:
        _said.add(mode)
        why = "PostgreSQL's autovacuum is off" if mode == "auto" else "vacuum = always"
        log.warning("%s: this process vacuums and analyses Textos' tables when they are due (storage.vacuum)", why)


def vacuum_due(db: Database, mode: str = "auto") -> list[str]:
    """Vacuum or analyse the tables that are due (``due``), unless ``mode`` (``config.VACUUM_MODES``:
    ``auto``, only while the server's autovacuum is off; ``always``; ``off``) says not to or
    another process is at it; returns the statements run (``"VACUUM (ANALYZE) messages"``)."""
    if db.is_sqlite or mode == "off":
        return []
    done: list[str] = []
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # VACUUM runs outside a transaction
        if mode == "auto" and autovacuum_on(conn):
            return []
        _say_once(mode)
        if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar():
            return []
        try:
            tables = [TableStats(*row) for row in conn.execute(_STATS)]
            quote = conn.dialect.identifier_preparer.quote
            for name, statement in due(tables):
                conn.exec_driver_sql(f"{statement} {quote(name)}")
                done.append(f"{statement} {name}")
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
    if done:
        log.debug("vacuumed (vacuum = %s): %s", mode, "; ".join(done))
    return done
