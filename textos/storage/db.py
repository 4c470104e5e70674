"""Engines and sessions for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode; write transactions start with ``BEGIN IMMEDIATE`` so that
concurrent writers queue on the busy timeout instead of failing on lock upgrade,
while read sessions stay deferred and never wait for a writer.

Before each write transaction commits, the message state changes it noted become
callback events in it (``storage.outbox.note_deliveries``); after it commits, they are
told to the database's listeners (``Database.changes``, see ``storage.events``).

A SQLite file is created readable by its owner only (0600; SQLite gives its ``-wal`` and
``-shm`` files the same mode), and each ``Database`` holds the key its application secrets are
sealed with (``storage.at_rest``), found in its sessions' ``info``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import select
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from textos.config import Settings
from textos.storage import at_rest, models_billing, models_bulk, models_reports, outbox  # noqa: F401  (register their tables)
from textos.storage.events import Changes, Signal
from textos.storage.wakeups import Doorbell, announce
from textos.storage.writer_lock import WriterLock

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

BUSY_TIMEOUT_MS = 60_000
"""How long a SQLite writer waits for another process's write transaction to end."""

PING_AFTER_IDLE = 10.0
"""PostgreSQL: a pooled connection that has waited in the pool longer than this (seconds) is
pinged before it is handed out (``_postgresql_engine``)."""


class WriterBusy(Exception):
    """``Database.session(wait=False)``: another writer holds SQLite's write lock now (nothing was written)."""


_no_wait: contextvars.ContextVar[bool] = contextvars.ContextVar("textos_sqlite_no_wait", default=False)
"""Set while ``session(wait=False)`` begins: its ``BEGIN IMMEDIATE`` fails at once instead of waiting."""


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` URLs; use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _create_private(url: str) -> None:
    """Create a SQLite database's file, empty, readable by its owner only (if it does not exist)."""
    database = make_url(url).database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 60},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()
        dbapi_conn.create_function("textos_url_host", 1, outbox.url_host, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        driver = conn.connection.driver_connection  # straight to sqlite3: exec_driver_sql cost a fifth of a transaction's frame
        if not (immediate and _no_wait.get()):
            driver.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            return
        driver.execute("PRAGMA busy_timeout=0")
        try:
            driver.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise WriterBusy("another process is writing") from exc
            raise
        finally:
            driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    return engine


def _postgresql_engine(url: str) -> Engine:
    """PostgreSQL's engine. A pooled connection is checked before it is handed out, as
    ``pool_pre_ping`` would, but without that round trip on every transaction (a tenth of a
    one-receiver job's, ``docs/BENCHMARKS.md``): it is pinged only when its socket has
    something to read (a server that closed it, restarting or ending idle sessions, has sent
    its goodbye there), or when it waited in the pool longer than ``PING_AFTER_IDLE``. A failed
    ping replaces it with a fresh connection (SQLAlchemy's ``DisconnectionError``)."""
    engine = create_engine(url, pool_size=10, max_overflow=20)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None:  # just connected
            return
        if time.monotonic() - since <= PING_AFTER_IDLE and not _readable(dbapi_conn):
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # any failure: this connection is not to be used again
            raise DisconnectionError("the pooled connection did not answer a ping") from exc

    return engine


def _readable(dbapi_conn: Any) -> bool:
    """Whether an idle connection's socket has something to read (or is closed): nothing should."""
    try:
        return bool(select.select([dbapi_conn.fileno()], [], [], 0)[0])
    except (OSError, ValueError, AttributeError):
        return True


class Database:
    """The project's database: one writer engine, one reader engine (same on PostgreSQL)."""

    def __init__(self, url: str, *, secret_key: str | None = None, secret_key_file: str | None = None) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            _create_private(self.url)
        self.secrets = at_rest.box_for(self.url, secret_key, secret_key_file)
        """The key application secrets are sealed with (``secret_key``, else the key file)."""
        if self.is_sqlite:
            self.engine = _sqlite_engine(self.url, immediate=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False)
        else:
            self.engine = _postgresql_engine(self.url)
            self.read_engine = self.engine
        info = {at_rest.SESSION_KEY: self.secrets}
        self._writer = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False, info=info)
        database = make_url(self.url).database
        self._one_writer = WriterLock(database + "-writer" if database else None) if self.is_sqlite else None
        """SQLite: write transactions take turns on a lock of Textos's own (``storage.writer_lock``),
        handed to the next writer, of this process or another, the moment the previous one ends,
        instead of SQLite's busy handler sleeping 1, 2, 5 … 100 ms between tries."""
        self.doorbell = Doorbell(database) if self.is_sqlite and database else None
        """SQLite: rung after each commit that wrote new messages; the database's dispatcher answers it
        in whatever process it runs (``storage.wakeups``)."""
        self.changes = Changes()
        """Listeners to message state changes, told after each commit (``storage.events``)."""
        self.outbox_filled = Signal()
        """Fired after each commit that added due callback events (``storage.outbox.take_filled``):
        the callbacks worker of this process wakes on it (other processes' find them by polling)."""

    @classmethod
    def of(cls, settings: Settings) -> "Database":
        """The database of ``settings``, with the secret key they name."""
        return cls(settings.database_url, secret_key=settings.secret_key, secret_key_file=settings.secret_key_file)

    @contextlib.contextmanager
    def session(self, *, wait: bool = True) -> Iterator[Session]:
        """A write transaction, committed on success, rolled back on error; the message
        state changes it noted become delivery callbacks in it (``storage.outbox``) and are
        published once it has committed, and new messages it
        wrote are announced to the dispatchers of every process (``storage.wakeups``).

        ``wait=False`` (SQLite): raise :class:`WriterBusy` at once, before anything is
        written, if another writer of this process or of another holds the write lock,
        instead of waiting for it; an event loop may then write without ever blocking on a lock."""
        with self._writer_lock(wait), self._writer() as session:
            with session.begin():
                if not wait:
                    self._begin_now(session)
                yield session
                outbox.note_deliveries(session)
                new_messages = announce(session)
            self.changes.publish_committed(session)
            if new_messages and self.doorbell is not None:
                self.doorbell.ring()
            if outbox.take_filled(session):
                self.outbox_filled.fire()

    @contextlib.contextmanager
    def _writer_lock(self, wait: bool) -> Iterator[None]:
        if self._one_writer is None:
            if not wait:
                raise ValueError("session(wait=False) is for SQLite: PostgreSQL has row locks, not one write lock")
            yield
            return
        if not self._one_writer.acquire(blocking=wait):
            raise WriterBusy("another writer is writing")
        try:
            yield
        finally:
            self._one_writer.release()

    @staticmethod
    def _begin_now(session: Session) -> None:
        """``BEGIN IMMEDIATE`` now, failing at once if another process holds SQLite's write lock."""
        token = _no_wait.set(True)
        try:
            session.connection()
        finally:
            _no_wait.reset(token)

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction that never waits for writers."""
        with self._reader() as session, session.begin():
            yield session

    def migrate(self, revision: str = "heads") -> None:
        """Bring the schema to ``revision`` (by default the latest), then check that this
        process's secret key is the one the database's secrets are sealed with. Migrations
        that seal secrets (0011) are handed the key (``attributes["secret_box"]``)."""
        cfg = alembic_config(self.url)
        cfg.attributes["secret_box"] = self.secrets
        with self.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            if conn.in_transaction():
                conn.commit()
            with conn.begin():
                at_rest.check_key(conn, self.secrets)
            if self.is_sqlite:  # rewritten pages reach the file now: no old copy lingers there (0011)
                conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]

    def dispose(self) -> None:
        self.engine.dispose()
        if self.doorbell is not None:
            self.doorbell.close()
        if self._one_writer is not None:
            self._one_writer.close()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg
