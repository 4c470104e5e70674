"""New messages wake the dispatchers of every process (PostgreSQL ``LISTEN``/``NOTIFY``).

A transaction that writes new messages (``storage.message_rows``) is noted with
:func:`note_new_messages`; ``Database.session()`` then sends one ``NOTIFY`` on
:data:`CHANNEL` in that transaction (:func:`announce`), so it is delivered only if and
when the transaction commits, once whatever the number of jobs it accepted. Each
dispatcher on PostgreSQL runs a :class:`Listener` on a connection of its own and is
woken by it. On SQLite there is one dispatcher, in the API's process: it is woken
directly (``AppState.wake``), nothing is sent.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from textos.storage.outages import Outage

__all__ = ["CHANNEL", "Listener", "announce", "note_new_messages"]

log = logging.getLogger("textos.wakeups")

CHANNEL = "textos_new_messages"
_NOTED = "textos.new_messages"


def note_new_messages(session: Session) -> None:
    """The session's transaction writes new messages: announce them when it commits."""
    session.info[_NOTED] = True


def announce(session: Session) -> None:
    """Just before commit: one ``NOTIFY`` if the transaction wrote new messages (PostgreSQL)."""
    if session.info.pop(_NOTED, False) and session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql(f"NOTIFY {CHANNEL}")


def _conninfo(url: str) -> str:
    """A libpq connection string from the SQLAlchemy URL (``postgresql+psycopg://…``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """A thread listening on :data:`CHANNEL` on its own connection; calls ``wake`` on each
    notification, and once after every (re)connection (a notification may have been missed)."""

    RECONNECT = 1.0

    def __init__(self, url: str, wake: Callable[[], None]) -> None:
        self._conninfo = _conninfo(url)
        self._wake = wake
        self._closed = threading.Event()
        self._outage = Outage(log, "listening for new messages")
        self.listening = threading.Event()
        """Set once the ``LISTEN`` is in place (tests wait for it)."""
        self._thread = threading.Thread(target=self._run, name="textos-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self._outage.succeeded()
                    self._wake()
                    while not self._closed.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._wake()
            except psycopg.Error as exc:
                self.listening.clear()
                if not self._closed.is_set():
                    if not self._outage.failed(exc):
                        log.warning("listening for new messages failed (%s); again in %.0f s", exc, self.RECONNECT)
                    self._closed.wait(self.RECONNECT)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
