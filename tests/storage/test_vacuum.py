"""Vacuuming on PostgreSQL while its autovacuum is off (``storage.vacuum``): a table is vacuumed
(or analysed) by autovacuum's rule, by one process at a time, never on SQLite or when told not to."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from helpers import wait_until
from textos.config import Settings, load_settings
from textos.storage import vacuum
from textos.storage.db import Database
from textos.storage.vacuum import TableStats, due


@pytest.mark.parametrize("stats, expected", [
    (TableStats("messages", live=600_000, dead=121_001, changed_since_analyze=0), "VACUUM (ANALYZE)"),
    (TableStats("messages", live=600_000, dead=120_999, changed_since_analyze=0), None),  # 1,000 + 20 % of the live rows
    (TableStats("report_deltas", live=0, dead=1_001, changed_since_analyze=0), "VACUUM (ANALYZE)"),
    (TableStats("report_deltas", live=0, dead=1_000, changed_since_analyze=5_000), "ANALYZE"),
    (TableStats("jobs", live=100_000, dead=0, changed_since_analyze=11_001), "ANALYZE"),  # inserts only: analysed
    (TableStats("jobs", live=100_000, dead=0, changed_since_analyze=10_999), None),
], ids=["many dead", "not yet", "an empty queue table", "dead under the floor", "inserted", "inserted, not yet"])
def test_a_table_is_due_by_autovacuums_rule(stats, expected):
    assert due([stats]) == ([] if expected is None else [(stats.name, expected)])


@pytest.fixture
def pg(databases):
    db = Database(databases.migrated("postgresql"))
    yield db
    db.dispose()
    databases.discard(db.url)


def churn(db: Database, table: str, rows: int) -> None:
    """A table of ``rows`` dead rows (inserted, then deleted), its statistics flushed."""
    with db.engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id int)"))
        conn.execute(text(f"INSERT INTO {table} SELECT generate_series(1, {rows})"))
        conn.execute(text(f"DELETE FROM {table}"))
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_force_next_flush()"))
        conn.commit()
    wait_until(lambda: dead_rows(db, table) >= rows, timeout=10)


def dead_rows(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}).scalar() or 0


def vacuumed(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}).scalar() or 0


def test_always_vacuums_the_tables_that_are_due_and_only_those(pg):
    churn(pg, "churned", 5_000)
    churn(pg, "quiet", 500)

    done = vacuum.vacuum_due(pg, "always")

    assert "VACUUM (ANALYZE) churned" in done
    assert not any(statement.endswith(" quiet") for statement in done)
    wait_until(lambda: vacuumed(pg, "churned") == 1, timeout=10)  # what it reclaims is PostgreSQL's business
    assert vacuumed(pg, "quiet") == 0


def test_auto_vacuums_only_while_the_servers_autovacuum_is_off(pg):
    churn(pg, "churned", 5_000)
    with pg.engine.connect() as conn:
        autovacuum_off = not vacuum.autovacuum_on(conn)

    done = vacuum.vacuum_due(pg, "auto")

    assert ("VACUUM (ANALYZE) churned" in done) is autovacuum_off


def test_one_process_at_a_time(pg):
    churn(pg, "churned", 5_000)
    with pg.engine.connect() as other:  # another process at it
        assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": vacuum.LOCK_KEY}).scalar()
        assert vacuum.vacuum_due(pg, "always") == []
        other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": vacuum.LOCK_KEY})
    assert "VACUUM (ANALYZE) churned" in vacuum.vacuum_due(pg, "always")


def test_off_and_sqlite_run_nothing(pg, databases):
    churn(pg, "churned", 5_000)
    assert vacuum.vacuum_due(pg, "off") == []
    assert vacuumed(pg, "churned") == 0
    lite = Database(databases.migrated("sqlite"))
    try:
        assert vacuum.vacuum_due(lite, "always") == []
    finally:
        lite.dispose()


def test_the_setting_takes_three_values(monkeypatch, tmp_path):
    assert Settings().vacuum == "auto"
    monkeypatch.setenv("TEXTOS_VACUUM", "off")
    assert load_settings(tmp_path / "none.toml").vacuum == "off"
    with pytest.raises(ValueError, match="vacuum: one of auto, always, off"):
        Settings(vacuum="sometimes")
