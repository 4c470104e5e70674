"""The version of what authentication reads: bumped with every change to a credential or an application.

Processes keep applications, consumer keys and their customers in memory (``api.auth_cache``);
this module tells them when that memory is stale, on every path that changes it (API, CLI,
another process), without a trigger:

* ORM mapper events on ``Application`` and ``Credential`` (update, delete) bump the one-row
  ``auth_version`` table in the same transaction, and on PostgreSQL ``pg_notify('textos_auth',
  version)`` (delivered at commit, never after a rollback).
* ``changes_here`` counts such commits made by this process, so the process that made a
  change sees it at once.
* On PostgreSQL, once such a session has committed, it waits (up to ``ACK_TIMEOUT``) until
  every live listener has noted the new version in ``auth_listeners``: when the API call or
  the ``textos credential`` command returns, every server process already refuses the key.
* ``Versions.current()`` is what a cache compares: on SQLite the row itself, read on a
  connection of its own (microseconds, never waiting for a writer in WAL mode); on PostgreSQL
  a counter bumped by a ``LISTEN`` thread, and ``None`` (use no cache) while that listener is
  not connected, since a notification could be missed.
* On SQLite a writer may instead check, inside its own write transaction, that the version
  it authenticated under is still the database's (``sqlite_version_in``): the on-the-fly
  path does so for a whole group of jobs at once (``services.accept_writer``).

Changes made with plain SQL must call ``bump`` themselves (they are not waited for).
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
import time
import weakref
from typing import Any, Hashable

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, object_session

from textos.storage.models import Application, Credential

log = logging.getLogger("textos.auth")

CHANNEL = "textos_auth"
ACK_TIMEOUT = 2.0
"""Seconds a change waits for every listening process to have heard it (then it gives up, logged)."""
_BUMP = text("UPDATE auth_version SET version = version + 1 WHERE id = 1 RETURNING version")
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', CAST(:version AS text))")
_BEHIND = text(
    "SELECT count(*) FROM auth_listeners l JOIN pg_stat_activity a ON a.pid = l.backend_pid WHERE l.seen < :version"
)
_SESSION_KEY = "textos.auth_version"
_READ = "SELECT version FROM auth_version WHERE id = 1"

_local = itertools.count(1)
changes_here = 0
"""Commits of this process that changed a credential or an application."""


def bump(connection: Connection) -> int:
    """Mark a change of credentials or applications in ``connection``'s transaction; the new version."""
    version = int(connection.execute(_BUMP).scalar_one())
    if connection.dialect.name == "postgresql":
        connection.execute(_NOTIFY, {"version": version})
    return version


def _changed(_mapper: Any, connection: Connection, target: Any) -> None:
    version = bump(connection)
    session = object_session(target)
    if session is None:
        return
    if _SESSION_KEY not in session.info:
        event.listen(session, "after_commit", _committed, once=True)
    session.info[_SESSION_KEY] = version


def _committed(session: Session) -> None:
    global changes_here
    changes_here = next(_local)
    version = session.info.pop(_SESSION_KEY, None)
    bind = session.get_bind()
    if version is not None and isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        wait_heard(bind, version)


def wait_heard(engine: Engine, version: int, timeout: float = ACK_TIMEOUT) -> bool:
    """Wait until every live listener has heard ``version``; False if some did not in time."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while True:
            behind = conn.execute(_BEHIND, {"version": version}).scalar_one()
            conn.rollback()
            if not behind:
                return True
            if time.monotonic() > deadline:
                log.warning("%d server process(es) did not hear auth version %d within %.1f s", behind, version, timeout)
                return False
            time.sleep(0.001)


for _entity in (Application, Credential):
    event.listen(_entity, "after_update", _changed)
    event.listen(_entity, "after_delete", _changed)


def sqlite_version_in(session: Session) -> Hashable:
    """SQLite: what ``Versions.current()`` gives now, read inside ``session``'s transaction (in a
    write transaction: exactly the version of the last committed change)."""
    return (session.execute(text(_READ)).scalar() or 0, changes_here)


class Versions:
    """``current()``: a value that changes whenever what authentication reads may have changed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self._sqlite: sqlite3.Connection | None = None
        self._listener: _Listener | None = None
        self._lock = threading.Lock()

    def current(self) -> Hashable | None:
        """The version now; ``None`` when it cannot be known (then nothing may be cached)."""
        if self.is_sqlite:
            try:
                return (self._sqlite_version(), changes_here)
            except sqlite3.Error:  # no file, no table yet: ask the database every time
                return None
        if self._listener is None:
            with self._lock:
                if self._listener is None:
                    self._listener = _Listener(self.url)
        heard = self._listener.heard
        return None if heard is None else (heard, changes_here)

    def _sqlite_version(self) -> int:
        if self._sqlite is None:
            path = make_url(self.url).database or ""
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=60)
            self._sqlite = conn
        row = self._sqlite.execute(_READ).fetchone()
        return row[0] if row else 0

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._listener is not None:
            self._listener.stop()
            self._listener = None


class _Listener:
    """A daemon thread ``LISTEN``ing on ``textos_auth``: ``heard`` counts what it heard, and is
    ``None`` while the connection is down (notifications may be missed then)."""

    def __init__(self, url: str) -> None:
        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.heard: int | None = None
        self.stopping = threading.Event()
        self._count = itertools.count(1)
        self._thread = threading.Thread(target=_listen, args=(weakref.ref(self),), name="textos-auth-listener", daemon=True)
        self._thread.start()

    def hear(self) -> None:
        self.heard = next(self._count)

    def stop(self) -> None:
        self.stopping.set()


_REGISTER = (
    "DELETE FROM auth_listeners WHERE backend_pid NOT IN (SELECT pid FROM pg_stat_activity);"
    " INSERT INTO auth_listeners (backend_pid, seen) SELECT pg_backend_pid(), version FROM auth_version WHERE id = 1"
    " ON CONFLICT (backend_pid) DO UPDATE SET seen = excluded.seen"
)
_SEEN = "UPDATE auth_listeners SET seen = greatest(seen, %s) WHERE backend_pid = pg_backend_pid()"


def _listen(ref: "weakref.ref[_Listener]", health_every: float = 2.0) -> None:
    """The listener's thread: (re)connects, hears notifications and notes the versions heard,
    checks the connection every ``health_every`` seconds; ends once its ``_Listener`` is
    stopped or forgotten."""
    import psycopg

    delay = 0.1
    while (first := ref()) is not None and not first.stopping.is_set():
        conninfo, stopping = first.conninfo, first.stopping
        del first
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                for statement in _REGISTER.split(";"):
                    conn.execute(statement)  # type: ignore[call-overload]
                _hear(ref)  # whatever changed while nobody listened: start over
                delay = 0.1
                while not stopping.is_set() and ref() is not None:
                    payloads = [n.payload for n in conn.notifies(timeout=health_every, stop_after=1)]
                    if not payloads:
                        conn.execute("SELECT 1")
                        continue
                    payloads += [n.payload for n in conn.notifies(timeout=0)]
                    _hear(ref)
                    versions = [int(p) for p in payloads if p.isdigit()]
                    if versions:
                        conn.execute(_SEEN, (max(versions),))  # type: ignore[call-overload]
        except Exception as exc:  # noqa: BLE001 - down: no cache until connected again
            log.debug("auth listener: %s", exc)
        finally:
            if (listener := ref()) is not None:
                listener.heard = None
            del listener
        stopping.wait(delay)
        delay = min(delay * 2, 5.0)


def _hear(ref: "weakref.ref[_Listener]") -> None:
    if (listener := ref()) is not None:
        listener.hear()
