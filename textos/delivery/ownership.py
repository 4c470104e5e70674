"""Dispatcher instances, and who may queue again what a dispatcher left in flight.

Every running dispatcher has an instance number and claims messages under it
(``messages.claimed_by``). Messages left *submitting* are queued again only once the
dispatcher that claimed them is known to be gone, so several dispatchers can share a
database without sending each other's messages twice:

* PostgreSQL: a dispatcher holds a session advisory lock on its number, on a connection
  of its own, for as long as it runs; the server releases it when the process goes,
  however it ends. Whoever can take that lock knows the owner is gone and queues its
  messages again (``requeue_orphans``), at start and then every few seconds.
* SQLite: one dispatcher per database file, made sure of by an exclusive lock on a
  file beside it (``<db>.dispatcher.lock``); at start it queues again everything in
  flight, since no one else can have it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from textos.storage import messages
from textos.storage.db import Database

log = logging.getLogger("textos.dispatcher")

LOCK_SPACE = 0x7E57
"""First key of our advisory locks: ``pg_advisory_lock(LOCK_SPACE, instance)``."""
CALLBACKS_LOCK_SPACE = 0x7E58
"""The same for callbacks workers (``delivery.callbacks``)."""


class AnotherDispatcher(RuntimeError):
    """An SQLite database already has its dispatcher."""


class Instance:
    """This process's dispatcher identity, held until ``close()``.

    ``space`` names another kind of worker that claims under instance numbers the same way
    (the callbacks worker: ``CALLBACKS_LOCK_SPACE``, PostgreSQL only)."""

    def __init__(self, db: Database, space: int = LOCK_SPACE) -> None:
        self.db = db
        self.space = space
        self.number = 0
        self._conn: Any = None
        self._file: Any = None
        if db.is_sqlite:
            self._lock_file()
        else:
            self._lock_number()

    # PostgreSQL: a number held by an advisory lock

    def _connect(self) -> Any:
        url = make_url(self.db.url).set(drivername="postgresql")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)

    def _lock_number(self, number: int | None = None) -> None:
        """Hold ``number`` (or a free random one) for as long as this connection lives."""
        self._conn = self._connect()
        for _ in range(100):
            candidate = number or secrets.randbelow(2**31 - 1) + 1
            if self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (self.space, candidate)).fetchone()[0]:
                self.number = candidate
                return
            if number is not None:
                # Another dispatcher took it while our connection was down, and with it
                # what we had in flight: carry on under a new number.
                log.error("dispatcher instance %d was taken over while its lock connection was down", number)
                number = None
        raise RuntimeError("no free dispatcher instance number")  # pragma: no cover - 2^31 numbers

    def alive(self) -> bool:
        """Check the lock's connection; reconnect and take the number again if it dropped."""
        if self.db.is_sqlite:
            return True
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            log.warning("dispatcher %d: lost the connection holding its instance lock; taking it again", self.number)
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._lock_number(self.number)
            return False

    def owner_gone(self, owner: int) -> bool:
        """Take ``owner``'s lock if its dispatcher is gone (release with ``release``)."""
        return bool(self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (self.space, owner)).fetchone()[0])

    def release(self, owner: int) -> None:
        self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (self.space, owner))

    # SQLite: one dispatcher per file

    def _lock_file(self) -> None:
        database = make_url(self.db.url).database or ""
        path = (database if database and database != ":memory:" else f"textos-{os.getpid()}") + ".dispatcher.lock"
        self._file = open(path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise AnotherDispatcher(
                f"another dispatcher already runs on {database}: SQLite takes one (more API processes: "
                "textos serve --no-dispatch; several dispatchers: PostgreSQL)"
            ) from None
        self.number = 1

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()


def requeue_orphans(db: Database, instance: Instance, *, at_start: bool = False) -> int:
    """PostgreSQL: queue again the messages left *submitting* by dispatchers that are gone.
    (On SQLite the one dispatcher queues again everything in flight at its start.)"""
    with db.read() as s:
        owners = messages.claimants(s)
    requeued = 0
    for owner in owners:
        if owner == instance.number:
            continue
        if owner is None:  # claimed before instance numbers existed (migration 0007)
            if at_start:
                with db.session() as s:
                    requeued += messages.requeue(s, claimed_by=None)
            continue
        if not instance.owner_gone(owner):
            continue
        try:
            with db.session() as s:
                requeued += messages.requeue(s, claimed_by=owner)
        finally:
            instance.release(owner)
    return requeued
