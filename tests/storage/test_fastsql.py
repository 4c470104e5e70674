"""Plain SQL for the hot path (``storage.fastsql``): long ``IN`` lists sent to PostgreSQL as one array;
guarded updates that return the rows they changed."""

from __future__ import annotations

import pytest

from textos.domain.clock import utcnow
from textos.storage.fastsql import _any_of, db_time, insert_returning, is_sqlite, marks, run, run_many, update_returning


def test_a_long_in_list_becomes_one_array_beside_the_other_parameters():
    ids = tuple(range(1, 21))
    sql = f"UPDATE messages SET status = 'queued', send_at = ? WHERE claimed_by = ? AND id IN ({marks(len(ids))}) AND parts > ?"
    rewritten, params = _any_of(sql, ("later", 7, *ids, 1))
    assert rewritten == "UPDATE messages SET status = 'queued', send_at = ? WHERE claimed_by = ? AND id = ANY(?::bigint[]) AND parts > ?"
    assert params == ("later", 7, "{" + ",".join(map(str, ids)) + "}", 1)


def test_short_lists_and_mixed_values_stay_as_they_are():
    short = f"SELECT id FROM messages WHERE id IN ({marks(3)})"
    assert _any_of(short, (1, 2, 3)) == (short, (1, 2, 3))
    mixed = f"SELECT id FROM messages WHERE carrier_id IN ({marks(10)})"
    values = (*range(5), *map(str, range(5)))
    assert _any_of(mixed, values) == (mixed, values)


def test_a_long_in_list_among_other_parameters_selects_the_same_rows(db):
    with db.session() as s:
        now = db_time(s, utcnow())
        run_many(
            s, "INSERT INTO pending_receipts (carrier_id, state, received_at) VALUES (?, ?, ?)",
            [(f"c{i}", "delivered" if i % 2 else "expired", now) for i in range(1, 31)],
        )
        wanted = [f"c{i}" for i in range(1, 21)]
        rows = run(
            s, f"SELECT carrier_id FROM pending_receipts WHERE state = ? AND carrier_id IN ({marks(len(wanted))}) ORDER BY id",
            ("delivered", *wanted),
        ).fetchall()
    assert [r[0] for r in rows] == [f"c{i}" for i in range(1, 21, 2)]


def test_a_guarded_update_returns_the_rows_it_changed_and_applies_repeated_keys_in_order(db):
    with db.session() as s:
        now = db_time(s, utcnow())
        run_many(s, "INSERT INTO pending_receipts (carrier_id, state, received_at) VALUES (?, ?, ?)",
                 [(f"g{i}", "enroute" if i % 3 else "delivered", now) for i in range(1, 10)])
        ids = {cid: i for i, cid in run(s, "SELECT id, carrier_id FROM pending_receipts ORDER BY id").fetchall()}
        sql = "UPDATE pending_receipts SET state = ? WHERE id = ? AND state = 'enroute'"
        rows = [("accepted", ids["g1"]), ("accepted", ids["g3"]), ("expired", ids["g2"]), ("deleted", ids["g2"])]
        changed = update_returning(s, sql, rows, ("id", "carrier_id"))
        assert sorted(changed) == [(ids["g1"], "g1"), (ids["g2"], "g2")]  # g3 was delivered; g2 once, by its first update
        assert dict(run(s, "SELECT carrier_id, state FROM pending_receipts WHERE carrier_id IN ('g1', 'g2', 'g3')").fetchall()) == {
            "g1": "accepted", "g2": "expired", "g3": "delivered"}
        with pytest.raises(ValueError, match="set by the statement"):
            update_returning(s, sql, rows, ("id", "state"))


def test_inserts_sent_along_another_are_written_with_it_in_one_round_trip_on_postgresql(db, tmp_path):
    insert = "INSERT INTO pending_receipts (carrier_id, state, received_at) VALUES (?, ?, ?)"
    with db.session() as s:
        now = db_time(s, utcnow())
        trace = _libpq_trace(s, tmp_path / "libpq.trace")
        returned = insert_returning(s, insert, [("main-1", "delivered", now), ("main-2", "delivered", now)], "carrier_id",
                                    along=[(insert, [("along-1", "expired", now)]), (insert, []), (insert, [("along-2", "expired", now)])])
        if trace is not None:
            trace.close()
            sent = [line.split("\t")[2] for line in (tmp_path / "libpq.trace").read_text().splitlines() if line.startswith("F\t")]
            assert sent.count("Sync") == 1, sent  # one statement, one round trip
        assert sorted(r[0] for r in returned) == ["main-1", "main-2"]  # only the main insert's rows are returned
        assert insert_returning(s, insert, [], "id", along=[(insert, [("along-3", "expired", now)])]) == []
        assert dict(run(s, "SELECT carrier_id, state FROM pending_receipts WHERE carrier_id IN (?, ?, ?, ?, ?)",
                        ("main-1", "main-2", "along-1", "along-2", "along-3")).fetchall()) == {
            "main-1": "delivered", "main-2": "delivered", "along-1": "expired", "along-2": "expired", "along-3": "expired"}


def _libpq_trace(session, path):
    """PostgreSQL: libpq's trace of what this session's connection sends, into ``path`` (a file to
    close when done); None on SQLite."""
    if is_sqlite(session):
        return None
    from psycopg import pq

    out = open(path, "w")
    pgconn = session.connection().connection.driver_connection.pgconn
    pgconn.trace(out.fileno())
    pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    class Trace:
        def close(self) -> None:
            pgconn.untrace()
            out.close()

    return Trace()
