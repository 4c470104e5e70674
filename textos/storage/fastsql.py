"""Plain SQL for the delivery hot path: DBAPI ``executemany`` without ORM overhead.

Statements are written with ``?`` placeholders and adapted to the driver's style.
They run on the driver's own cursor, inside the session's transaction (the session's
connection is checked out, so ``BEGIN IMMEDIATE`` on SQLite has already run):
SQLAlchemy's per-statement machinery (compilation cache lookups, result wrapping)
costs more than the statements themselves at tens of thousands of rows a second.
Datetimes are passed as SQLite stores them through SQLAlchemy (text), or as
``datetime`` objects on PostgreSQL, so both paths read the same values back.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable, Sequence

from sqlalchemy.orm import Session

_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_PG_CACHE: dict[str, str] = {}


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _adapt(sql: str, sqlite: bool) -> str:
    if sqlite:
        return sql
    out = _PG_CACHE.get(sql)
    if out is None:
        out = sql.replace("?", "%s")
        if len(_PG_CACHE) < 1000:
            _PG_CACHE[sql] = out
    return out


def _cursor(session: Session) -> tuple[Any, bool]:
    conn = session.connection()
    return conn.connection.driver_connection.cursor(), conn.dialect.name == "sqlite"  # type: ignore[union-attr]


def run(session: Session, sql: str, params: Sequence[Any] = ()) -> Any:
    """Execute one statement; returns the DBAPI cursor (``.fetchall()``, ``.fetchone()``, ``.rowcount``)."""
    cur, sqlite = _cursor(session)
    params = tuple(params)
    if not sqlite and len(params) > 8:
        sql, params = _any_of(sql, params)
    cur.execute(_adapt(sql, sqlite), params)
    return cur


def _any_of(sql: str, params: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """PostgreSQL: a long ``x IN (?, ?, …)`` → ``x = ANY(?)`` with one array (the other
    parameters stay as they are): a short statement the driver need not scan for
    thousands of placeholders."""
    start = sql.find("IN (?, ?")
    if start < 0 or sql.count("?") != len(params):
        return sql, params
    end = sql.find(")", start)
    inner = sql[start + 4 : end]
    n = inner.count("?")
    if n <= 8 or inner != marks(n):
        return sql, params
    before = sql.count("?", 0, start)
    values = params[before : before + n]
    kinds = {type(v) for v in values}
    cast = "bigint[]" if kinds == {int} else "text[]" if kinds == {str} else None
    if cast is None:
        return sql, params
    return sql[:start] + f"= ANY(?::{cast})" + sql[end + 1 :], (*params[:before], pg_array(values), *params[before + n :])


def run_many(session: Session, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """Execute one statement for each row (``executemany``).

    On PostgreSQL, ``INSERT … VALUES (…)`` and ``UPDATE t SET … WHERE key = ? …`` are sent
    as one statement per chunk of rows (multi-row ``VALUES``; ``UPDATE … FROM (VALUES …)``)
    instead of one statement per row: same effect, a fraction of the round trips and
    of the driver's per-statement work."""
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return
    cur, sqlite = _cursor(session)
    try:
        if not sqlite:
            plan = _pg_plan(sql)
            if plan is not None and plan.fits(rows):
                cur.execute(plan.sql, [pg_array(column) for column in zip(*rows)])
                return
        cur.executemany(_adapt(sql, sqlite), rows)
    finally:
        cur.close()


_SQLITE_VARIABLES = 30_000
"""Bound values per SQLite statement (its limit is 32,766 since 3.32)."""


def update_returning(session: Session, sql: str, rows: Sequence[Sequence[Any]], returning: Sequence[str]) -> list[tuple[Any, ...]]:
    """``run_many`` of ``UPDATE t SET … WHERE key = ? <guard>`` that also returns the columns
    ``returning`` of each row it changed (columns the statement does not set), in no promised order.

    PostgreSQL: one ``UPDATE … FROM unnest(…) … RETURNING`` (as ``run_many``): the rows whose guard
    held once each was locked, whatever another transaction did meanwhile. SQLite: a writer holds
    the file's write lock from its ``BEGIN IMMEDIATE`` to its commit, so the rows the guard selects
    just before the update are those it changes: read, then ``executemany`` (cheaper than
    ``UPDATE … FROM (VALUES …) RETURNING`` there). Rows naming the same key are applied in order,
    as ``executemany`` would."""
    m = _UPDATE_RE.fullmatch(sql)
    if m is None:
        raise ValueError(f"not an UPDATE … WHERE key = ? statement: {sql!r}")
    table, sets, key, guard = m.groups()
    written = {item.partition("=")[0].strip() for item in sets.split(",")}
    if written.intersection(returning):
        raise ValueError(f"returning {sorted(written.intersection(returning))}: set by the statement itself")
    out: list[tuple[Any, ...]] = []
    for batch in _distinct_key_rounds(rows, -1):
        cur, sqlite = _cursor(session)
        try:
            if sqlite:
                keys = [r[-1] for r in batch]
                per_chunk = _SQLITE_VARIABLES - 100
                for start in range(0, len(keys), per_chunk):
                    chunk = keys[start : start + per_chunk]
                    out.extend(cur.execute(
                        f"SELECT {', '.join(returning)} FROM {table} WHERE {key} IN ({marks(len(chunk))}){guard}", chunk
                    ).fetchall())
                cur.executemany(sql, batch)
                continue
            plan = _pg_plan(sql)
            columns = ", ".join(f"t.{c}" for c in returning)
            if plan is not None and plan.fits(list(batch)):
                cur.execute(plan.sql + f" RETURNING {columns}", [pg_array(column) for column in zip(*batch)])
                out.extend(tuple(r) for r in cur.fetchall())
                continue
            for row in batch:  # pragma: no cover - a statement the plan does not cover
                cur.execute(_adapt(f"UPDATE {table} AS t SET {sets} WHERE t.{key} = ?{guard} RETURNING {columns}", False), row)
                out.extend(tuple(r) for r in cur.fetchall())
        finally:
            cur.close()
    return out


def _distinct_key_rounds(rows: Sequence[Sequence[Any]], key: int) -> list[list[Sequence[Any]]]:
    """``rows`` split in order into rounds where no key appears twice (usually one round)."""
    if len({row[key] for row in rows}) == len(rows):
        return [list(rows)]
    rounds: list[list[Sequence[Any]]] = [[]]
    seen: dict[Any, int] = {}
    for row in rows:
        k = row[key]
        n = seen.get(k, 0)
        seen[k] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(row)
    return [r for r in rounds if r]


Along = Sequence[tuple[str, Sequence[Sequence[Any]]]]
"""Statements for ``run_many`` (``INSERT INTO t (…) VALUES (?, …)`` and their rows) to send with another."""


def insert_returning(
    session: Session, sql: str, rows: Sequence[Sequence[Any]], returning: str, *, along: Along = (),
) -> list[tuple[Any, ...]]:
    """Insert many rows with one statement per chunk (``INSERT INTO t (…) VALUES (?, …)``, as
    for ``run_many``) and return ``returning`` of every inserted row, in no promised order:
    callers sort ids (given in insertion order) or match rows by a returned key.

    ``along``: other inserts that return nothing and read nothing this one writes, made in the
    same round trip: on PostgreSQL as data-modifying ``WITH`` queries of the same statement (one
    round trip, not one per insert); on SQLite (no round trips) before it, by ``run_many``."""
    others: list[tuple[str, list[Sequence[Any]]]] = [(s, list(r)) for s, r in along if r]
    if not rows:
        for other, other_rows in others:
            run_many(session, other, other_rows)
        return []
    cur, sqlite = _cursor(session)
    out: list[tuple[Any, ...]] = []
    try:
        if not sqlite:
            plan = _pg_plan(sql)
            plans = [(_pg_plan(other), other_rows) for other, other_rows in others]
            if plan is not None and plan.fits(list(rows)) and all(p is not None and p.fits(r) for p, r in plans):
                head = ", ".join(f"along{i} AS ({p.sql})" for i, (p, _) in enumerate(plans))  # type: ignore[union-attr]
                params = [pg_array(column) for _, r in plans for column in zip(*r)]
                cur.execute(
                    (f"WITH {head} " if head else "") + plan.sql + f" RETURNING {returning}",
                    params + [pg_array(column) for column in zip(*rows)],
                )
                return [tuple(r) for r in cur.fetchall()]
        for other, other_rows in others:  # SQLite, or a statement no plan covers
            run_many(session, other, other_rows)
        if not sqlite:
            for row in rows:  # pragma: no cover - a statement the plan does not cover
                cur.execute(_adapt(sql + f" RETURNING {returning}", False), row)
                out.extend(tuple(r) for r in cur.fetchall())
            return out
        head, _, values = sql.partition(" VALUES ")
        per_chunk = max(1, _SQLITE_VARIABLES // len(rows[0]))
        for start in range(0, len(rows), per_chunk):
            chunk = rows[start : start + per_chunk]
            cur.execute(f"{head} VALUES {', '.join([values] * len(chunk))} RETURNING {returning}", [v for r in chunk for v in r])
            out.extend(tuple(r) for r in cur.fetchall())
        return out
    finally:
        cur.close()


def _pg_element(value: Any) -> str:
    if value is None:
        return "NULL"
    if value is True or value is False:
        return "t" if value else "f"
    if type(value) is int:
        return str(value)
    if isinstance(value, dt.datetime):
        return '"' + value.isoformat(" ") + '"'
    text = str(value)
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text + '"'


def pg_array(column: Sequence[Any]) -> str:
    """A column of values as a PostgreSQL array literal (``{…}``), cast by the statement:
    formatting it here is several times cheaper than the driver's per-element dumping."""
    first = column[0]
    if column.count(first) == len(column) and type(first) in _SAME_TYPES:  # a value every row shares
        return "{" + ",".join([_pg_element(first)] * len(column)) + "}"
    if type(first) is int and all(type(v) is int for v in column):
        return "{" + ",".join(map(str, column)) + "}"
    return "{" + ",".join([_pg_element(v) for v in column]) + "}"


_SAME_TYPES = {int, str, bool, dt.datetime, type(None)}
"""Types whose equal values format the same (``1 == True`` is why the type is checked)."""


class _PgPlan:
    """``executemany`` of one statement as a single statement over arrays (``unnest``)."""

    def __init__(self, sql: str, width: int, key: int | None) -> None:
        self.sql, self.width, self.key = sql, width, key

    def fits(self, rows: list[Sequence[Any]]) -> bool:
        if any(len(r) != self.width for r in rows):
            return False
        if self.key is not None:  # an UPDATE: one row per key, as executemany would leave it
            key = self.key
            return len({r[key] for r in rows}) == len(rows)
        return True


_PLANS: dict[str, _PgPlan | None] = {}
_INSERT_RE = re.compile(r"\s*INSERT INTO (\w+) \(([^)]*)\) VALUES \(([^()]*)\)\s*", re.S | re.I)
_UPDATE_RE = re.compile(r"\s*UPDATE (\w+) SET (.+?) WHERE (\w+) = \?([^?]*)", re.S | re.I)


def _pg_plan(sql: str) -> _PgPlan | None:
    try:
        return _PLANS[sql]
    except KeyError:
        pass
    try:
        plan = _make_plan(sql)
    except Exception:  # pragma: no cover - anything unexpected: plain executemany
        plan = None
    if len(_PLANS) < 1000:
        _PLANS[sql] = plan
    return plan


def column_types(table: str) -> dict[str, str] | None:
    """PostgreSQL's name of the type of each column of ``table`` (for casts of arrays), or None."""
    from sqlalchemy.dialects import postgresql

    from textos.storage.models import Base

    t = Base.metadata.tables.get(table)
    if t is None:
        return None
    dialect = postgresql.dialect()
    # without length or precision: the cast must not truncate what assignment would refuse
    return {c.name: re.sub(r"\(.*?\)", "", c.type.compile(dialect=dialect)) for c in t.columns}


def _make_plan(sql: str) -> _PgPlan | None:
    if "RETURNING" in sql.upper():
        return None
    m = _INSERT_RE.fullmatch(sql)
    if m is not None:
        table, columns, values = m.group(1), [c.strip() for c in m.group(2).split(",")], [v.strip() for v in m.group(3).split(",")]
        types = column_types(table)
        if types is None or len(columns) != len(values) or any(c not in types for c in columns):
            return None
        arrays: list[str] = []
        select: list[str] = []
        for column, value in zip(columns, values):
            if value == "?":
                name = f"c{len(arrays)}"
                arrays.append(f"%s::{types[column]}[]")
                select.append(f"v.{name}")
            elif "?" in value:
                return None
            else:
                select.append(value)
        listed = ", ".join(f"c{i}" for i in range(len(arrays)))
        return _PgPlan(  # rows keep their order (ids are given in that order, as with executemany)
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(select)}"
            f" FROM unnest({', '.join(arrays)}) WITH ORDINALITY AS v({listed}, n) ORDER BY v.n",
            len(arrays), None,
        )
    m = _UPDATE_RE.fullmatch(sql)
    if m is None:
        return None
    table, sets, key, extra = m.groups()
    types = column_types(table)
    if types is None or key not in types:
        return None
    out: list[str] = []
    arrays = []
    names: list[str] = []
    for item in sets.split(","):
        column, eq, expr = item.partition("=")
        column, expr = column.strip(), expr.strip()
        if not eq or column not in types:
            return None
        if expr == "?":
            name = f"c{len(names)}"
            names.append(name)
            arrays.append(f"%s::{types[column]}[]")
            out.append(f"{column} = v.{name}")
        elif "?" in expr:
            return None
        else:
            out.append(f"{column} = {expr}")
    names.append("k")
    arrays.append(f"%s::{types[key]}[]")
    return _PgPlan(
        f"UPDATE {table} AS t SET {', '.join(out)} FROM unnest({', '.join(arrays)}) AS v({', '.join(names)})"
        f" WHERE t.{key} = v.k{extra}",
        len(names), len(names) - 1,
    )


def literal(constant: str) -> str:
    """A constant of the code (a status) as an SQL string literal, for statement text
    composed once; never for values from outside, which are bound."""
    return "'" + constant.replace("'", "''") + "'"


def marks(n: int) -> str:
    """``?, ?, ?`` for an IN list of ``n`` values."""
    return ", ".join("?" * n)


def db_time(session: Session, moment: dt.datetime | None) -> Any:
    """A naive-UTC datetime as the backend stores it."""
    if moment is None:
        return None
    return moment.strftime(_SQLITE_FORMAT) if is_sqlite(session) else moment


def time_formatter(session: Session) -> Any:
    """``db_time`` for many values: the backend is looked up once, repeated values formatted once."""
    if not is_sqlite(session):
        return lambda moment: moment
    cache: dict[dt.datetime, str] = {}

    def fmt(moment: dt.datetime | None) -> str | None:
        if moment is None:
            return None
        text = cache.get(moment)
        if text is None:
            text = cache[moment] = moment.strftime(_SQLITE_FORMAT)
        return text

    return fmt


def read_time(value: Any) -> dt.datetime | None:
    """A datetime read back by plain SQL (text on SQLite)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))
