"""When the database cannot serve for now, and saying so without flooding the log.

``unavailable(exc)`` tells an error that says the database is away (PostgreSQL stopped, restarting,
out of connections or disk; a SQLite file on a full disk, locked or unreadable) from one that says
a statement or a value is wrong. The first kind passes by itself: the API answers it with a 503
(``api.errors``), the loops beside it (dispatcher, writers, accept writer, callbacks worker, chores)
try again later. A corrupt SQLite file is not "unavailable".

``Outage`` is one loop's memory of an outage: the first failure is logged as one line (no traceback),
then at most one line every ``every`` seconds counting the failures since, and one when the database
answers again (``succeeded``; or, for callers that cannot tell, the next failure after ``every`` quiet
seconds starts a new outage). During a PostgreSQL restart the dispatcher alone used to log a 130-line traceback every
``dispatcher_interval``; an error that is not an outage is still logged in full by the caller.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import psycopg
from sqlalchemy import exc as sa_exc

__all__ = ["Outage", "unavailable"]

_SQLITE_UNAVAILABLE = frozenset({
    5,   # SQLITE_BUSY: another process holds the file's lock past the busy timeout
    6,   # SQLITE_LOCKED
    7,   # SQLITE_NOMEM
    8,   # SQLITE_READONLY: the file, or its file system, cannot be written now
    10,  # SQLITE_IOERR (and its extended codes: SHMSIZE when the -shm file cannot grow…)
    13,  # SQLITE_FULL: the disk is full
    14,  # SQLITE_CANTOPEN
})
"""SQLite's primary result codes that say the database cannot serve now, not that a statement is wrong."""


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot serve for now, rather than that a statement or a value is wrong."""
    if isinstance(exc, sa_exc.TimeoutError):  # every pooled connection busy past the pool's timeout
        return True
    cause = exc.orig if isinstance(exc, sa_exc.StatementError) else exc
    if isinstance(cause, psycopg.OperationalError):  # connection lost or refused, shutdown (57P01…), disk full (53100)…
        return True
    if isinstance(cause, sqlite3.Error):
        return (getattr(cause, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_UNAVAILABLE
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


class Outage:
    """What one loop (``what``) says about database outages, on ``log`` (thread-safe)."""

    def __init__(self, log: logging.Logger, what: str, every: float = 10.0) -> None:
        self.log, self.what, self.every = log, what, every
        self.since: float | None = None
        """When the current outage began (monotonic), None while the database answers."""
        self._said = self._last = 0.0
        self._failures = 0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> bool:
        """Note a failure: True (and said, briefly) if it is an outage (``unavailable``); False for any other
        error, which the caller logs in full."""
        if not unavailable(exc):
            return False
        now = time.monotonic()
        with self._lock:
            quiet = now - self._last > self.every  # nothing failed for a while: a new outage (the API never says success)
            self._last = now
            if self.since is None or quiet:
                self.since = self._said = now
                self._failures = 0
                self.log.warning("%s: the database is unavailable (%s); trying again", self.what, _first_line(exc))
            elif now - self._said >= self.every:
                self.log.warning("%s: the database is still unavailable after %.0f s, %d failure(s) since last said (%s)",
                                 self.what, now - self.since, self._failures + 1, _first_line(exc))
                self._said, self._failures = now, 0
            else:
                self._failures += 1
        return True

    def succeeded(self) -> None:
        """The database answered: an outage in course is over (said once)."""
        if self.since is None:
            return
        with self._lock:
            if self.since is not None:
                self.log.info("%s: the database answers again after %.1f s", self.what, time.monotonic() - self.since)
                self.since, self._failures = None, 0
