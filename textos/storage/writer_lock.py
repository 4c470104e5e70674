"""SQLite's writers take turns on a lock that wakes the next one the moment it is free.

SQLite lets one write transaction at a time into a file. A writer that finds the file's
lock taken sleeps in SQLite's busy handler, 1, 2, 5 … up to 100 ms between tries, however
soon the lock is free: two processes writing often (``textos serve --no-dispatch`` beside
``textos dispatch``, a CLI command beside the server) spend time asleep with the lock free.
So every Textos write transaction first takes a :class:`WriterLock`: a thread lock for the
writers of this process, then an exclusive ``flock`` on a file beside the database
(``<database>-writer``) for those of other processes. Each is handed on by the kernel the
moment its holder lets go. SQLite's own lock is still taken after it (``BEGIN IMMEDIATE``):
a program that is not Textos (the ``sqlite3`` shell, a backup) is waited for as before.

A file lock belongs to an open file: each process opens its own, a forked child too.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref

__all__ = ["WriterLock"]

_locks: "weakref.WeakSet[WriterLock]" = weakref.WeakSet()


class WriterLock:
    """One writer at a time among the threads of this process and, with a ``path``, among processes.

    Re-entrant in one thread (a write transaction opened inside another in the same thread keeps the turn)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        """The lock file; ``None``: this process's threads only."""
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        _locks.add(self)

    def acquire(self, blocking: bool = True) -> bool:
        """Take the turn, waiting for it if ``blocking``; ``False`` if not ``blocking`` and it is taken."""
        if not self._threads.acquire(blocking=blocking):
            return False
        if self._depth == 0 and self.path is not None:
            try:
                fcntl.flock(self._file(), fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._threads.release()
                return False
            except BaseException:
                self._threads.release()
                raise
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)  # type: ignore[arg-type]
        return self._fd

    def _forget_parents_file(self) -> None:
        """In a forked child: close the parent's open file (a lock on it lasts while any copy is
        open, the parent gone or not) and leave the parent's turn; the child opens its own."""
        self.close()
        self._depth = 0
        self._threads = threading.RLock()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None


def _after_fork_in_child() -> None:
    for lock in list(_locks):
        lock._forget_parents_file()


os.register_at_fork(after_in_child=_after_fork_in_child)
