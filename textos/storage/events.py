"""Message state changes, told to listeners once they are committed.

Callbacks and dashboards want to know when a message changes state, whichever path
changed it: the dispatcher (submit results, receipts, replays, expiry) or a service
(a job deleted, a batch cancelled). The functions of ``storage.messages`` and
``storage.receipts`` note the ids they change on the session (``changed``);
``Database.session()`` hands them to its ``Changes`` after the commit, and never
after a rollback. So a listener is told only what is true in the database, and no
path can forget to tell.

A listener is called with the ids (each once per commit) in the thread that
committed: a writer thread of the dispatcher, or a request's worker thread. It must
return quickly, since delivery waits for it; a listener that lives in an event loop
subscribes with ``loop=`` and is called there instead. A listener that raises is
logged and never breaks what committed.

Not told: a dispatcher's moves between *queued* and *submitting* (claims, requeues,
retries): no client can tell them apart (both are pending, ``ptt`` 0).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable

from sqlalchemy.orm import Session

log = logging.getLogger("textos.events")

Listener = Callable[[list[int]], None]
"""Called with the ids of messages whose state changed."""

_KEY = "textos.changed_messages"


def changed(session: Session, ids: Iterable[int]) -> None:
    """Note that these messages change state in the session's transaction (told after its commit)."""
    session.info.setdefault(_KEY, []).extend(ids)


def peek_changed(session: Session) -> list[int]:
    """The ids noted on the session so far, kept (each id once, in order): what the transaction
    changes, read before its commit (``storage.outbox.note_deliveries``)."""
    ids = session.info.get(_KEY)
    return list(dict.fromkeys(ids)) if ids else []


def take_changed(session: Session) -> list[int]:
    """The ids noted on the session so far, forgotten by the session (each id once, in order)."""
    ids = session.info.pop(_KEY, None)
    return list(dict.fromkeys(ids)) if ids else []


class Changes:
    """Who listens to message state changes of one database."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener, *, loop: asyncio.AbstractEventLoop | None = None) -> Callable[[], None]:
        """Call ``listener`` after every commit that changed messages (in ``loop`` if given);
        returns a function that unsubscribes it."""
        if loop is not None:
            target = listener

            def listener(ids: list[int]) -> None:
                loop.call_soon_threadsafe(_call, target, ids)

        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def publish(self, ids: list[int]) -> None:
        """Tell every listener (what they raise is logged, never raised)."""
        if not ids:
            return
        for listener in list(self._listeners):
            _call(listener, ids)

    def publish_committed(self, session: Session) -> None:
        """Tell what ``session``'s committed transaction changed."""
        if self._listeners:
            self.publish(take_changed(session))
        else:
            session.info.pop(_KEY, None)


def _call(listener: Listener, ids: list[int]) -> None:
    try:
        listener(ids)
    except Exception:  # a listener must never break delivery
        log.exception("message state listener failed")


class Signal:
    """Listeners told that something happened, with nothing attached (``Database.outbox_filled``)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None], *, loop: asyncio.AbstractEventLoop | None = None) -> Callable[[], None]:
        """Call ``listener`` at each ``fire`` (in ``loop`` if given); returns a function that unsubscribes it."""
        if loop is not None:
            target = listener

            def listener() -> None:
                loop.call_soon_threadsafe(target)

        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def fire(self) -> None:
        """Tell every listener (what they raise is logged, never raised)."""
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a listener must never break what committed
                log.exception("listener failed")
