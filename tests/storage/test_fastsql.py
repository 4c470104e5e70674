"""Plain SQL for the hot path (``storage.fastsql``): long ``IN`` lists sent to PostgreSQL as one array."""

from __future__ import annotations

from textos.domain.clock import utcnow
from textos.storage.fastsql import _any_of, db_time, marks, run, run_many


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
