"""New messages wake the dispatchers of every process (PostgreSQL ``LISTEN``/``NOTIFY``).

A transaction that writes new messages (``storage.message_rows``) is noted with
:func:`note_new_messages`; ``Database.session()`` then sends one ``NOTIFY`` on
:data:`CHANNEL` with that transaction's ``COMMIT``, in one query (:func:`announce`), so it is
delivered only if and when the transaction commits, once whatever the number of jobs it accepted. Each
dispatcher on PostgreSQL runs a :class:`Listener` on a connection of its own and is
woken by it.

On SQLite there is one dispatcher per database (``delivery.ownership``), in the API's
process (woken directly, ``AppState.wake``) or in a ``textos dispatch`` of its own beside
``textos serve --no-dispatch``. It answers a :class:`Doorbell`: a Unix datagram socket in
Linux's abstract namespace, named after the database file. After a commit that wrote new
messages, ``Database.session()`` rings it (:func:`announce` says whether to), one datagram
sent without waiting; a process whose own dispatcher answers the bell does not ring (it
was told directly). A ring that reaches no one (no dispatcher running, its buffer full) is
dropped: the dispatcher's poll finds the messages anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import threading
from typing import Callable

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from textos.storage.outages import Outage

__all__ = ["CHANNEL", "Doorbell", "Listener", "announce", "note_new_messages"]

log = logging.getLogger("textos.wakeups")

CHANNEL = "textos_new_messages"
_NOTED = "textos.new_messages"


def note_new_messages(session: Session) -> None:
    """The session's transaction writes new messages: announce them when it commits."""
    session.info[_NOTED] = True


def announce(session: Session) -> bool:
    """Last thing in a write transaction: whether it wrote new messages (SQLite's :class:`Doorbell`
    is rung after the commit). On PostgreSQL, if so, it ends the transaction itself: what the ORM
    still holds is flushed, then ``NOTIFY`` and ``COMMIT`` go as one simple query, one round trip
    instead of two (the notification is delivered if and when it commits); the session's own
    commit then finds the connection outside any transaction and sends nothing."""
    if not session.info.pop(_NOTED, False):
        return False
    if session.get_bind().dialect.name == "postgresql":
        session.flush()
        session.connection().exec_driver_sql(f"NOTIFY {CHANNEL}; COMMIT")  # SQLAlchemy's: its errors, its disconnect handling
    return True


_answered_here: set[bytes] = set()
"""The doorbells this process's dispatcher answers (its ``Database.session()`` need not ring them)."""


class Doorbell:
    """SQLite: one database's dispatcher, woken from any process by a datagram."""

    def __init__(self, database: str) -> None:
        digest = hashlib.sha256(os.path.realpath(database).encode()).hexdigest()[:32]
        self.address = b"\0textos-new-messages-" + digest.encode()
        """An abstract socket address: no file; it goes away with the process that bound it."""
        self._sender: socket.socket | None = None
        self._answering: socket.socket | None = None

    def ring(self) -> None:
        """Wake the dispatcher, if one answers in another process; never waits, never fails."""
        if self.address in _answered_here:
            return
        try:
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
            self._sender.sendto(b"!", self.address)
        except OSError:  # no dispatcher running, or its queue is full (it is awake then)
            pass

    def answer(self, loop: asyncio.AbstractEventLoop, wake: Callable[[], None]) -> bool:
        """Call ``wake`` in ``loop`` whenever the bell rings; ``False`` if another answers it already."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        try:
            sock.bind(self.address)
        except OSError as exc:
            sock.close()
            log.warning("not woken across processes (%s): new messages are found by polling", exc)
            return False
        self._answering = sock
        _answered_here.add(self.address)
        loop.add_reader(sock.fileno(), self._heard, sock, wake)
        return True

    @staticmethod
    def _heard(sock: socket.socket, wake: Callable[[], None]) -> None:
        try:
            while sock.recv(64):  # every ring waiting: one wake-up
                pass
        except BlockingIOError:
            pass
        wake()

    def stop_answering(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._answering is not None:
            loop.remove_reader(self._answering.fileno())
            self._answering.close()
            self._answering = None
            _answered_here.discard(self.address)

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None


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
