"""Receivers documents: downloaded within the settings' limits, read as rows, counted.

``textos.receivers`` does the work (SSRF-guarded fetch, CSV reading); this module
applies the deployment's settings and turns their refusals into ``BadRequest``
naming the request field the document came from.

Requests download with :func:`fetched`, awaited on the event loop: a slow document
server holds a coroutine, never one of the threads requests run on. Each account may
have ``fetch_max_per_account`` documents downloading at once (in this process): a
request over the limit is refused at once (429), while a background batch
(:func:`download`, blocking) waits its turn.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from typing import IO

from textos.config import Settings
from textos.domain.errors import BadRequest, TooManyRequests
from textos.receivers.fetch import FetchError, FetchLimits, fetch_to_file, fetch_to_file_async
from textos.receivers.receivers_csv import CsvError, CsvLayout, Receivers, read_receivers

__all__ = ["count_rows", "download", "fetch_limits", "fetched", "read_rows"]


def fetch_limits(settings: Settings, max_bytes: int | None = None) -> FetchLimits:
    timeout = float(settings.fetch_timeout)
    return FetchLimits(
        max_bytes=max_bytes or settings.bulk_max_bytes,
        total_timeout=timeout,
        connect_timeout=min(10.0, timeout),
        read_timeout=min(30.0, timeout),
    )


class _Downloads:
    """How many documents each account has downloading in this process."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count: dict[int, int] = {}

    @contextlib.contextmanager
    def taken(self, account_id: int, settings: Settings, field: str, *, wait: bool) -> Iterator[None]:
        """One of the account's places while the body runs: waited for, or TooManyRequests at once."""
        limit = max(1, settings.fetch_max_per_account)
        with self._changed:
            while self._count.get(account_id, 0) >= limit:
                if not wait:
                    raise TooManyRequests(
                        f"{field}: this account already has {limit} receivers documents downloading "
                        "(fetch_max_per_account); try again when one is done"
                    )
                self._changed.wait()
            self._count[account_id] = self._count.get(account_id, 0) + 1
        try:
            yield
        finally:
            with self._changed:
                left = self._count[account_id] - 1
                if left:
                    self._count[account_id] = left
                else:
                    del self._count[account_id]
                self._changed.notify_all()

    def count(self, account_id: int) -> int:
        with self._changed:
            return self._count.get(account_id, 0)


_downloads = _Downloads()


def downloading(account_id: int) -> int:
    """How many documents ``account_id`` has downloading in this process now."""
    return _downloads.count(account_id)


@contextlib.asynccontextmanager
async def fetched(url: str, settings: Settings, field: str, account_id: int, max_bytes: int | None = None) -> AsyncIterator[str]:
    """Download ``url`` (SSRF-guarded, bounded) to a temporary file whose path is yielded, then removed.

    Awaited: no thread waits on the document's server. TooManyRequests when the account
    already has ``fetch_max_per_account`` downloads; BadRequest naming ``field`` if refused."""
    fd, path = tempfile.mkstemp(prefix="textos-receivers-", suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as out, _downloads.taken(account_id, settings, field, wait=False):
            try:
                await fetch_to_file_async(url, out, allow_private=settings.fetch_allow_private, limits=fetch_limits(settings, max_bytes))
            except FetchError as exc:
                raise _refused(exc, field) from None
        yield path
    finally:
        os.unlink(path)


def download(url: str, dest: IO[bytes], settings: Settings, field: str, account_id: int, max_bytes: int | None = None) -> int:
    """Fetch ``url`` into ``dest`` (SSRF-guarded, bounded), blocking, once one of the account's
    places is free (background work); BadRequest naming ``field``."""
    with _downloads.taken(account_id, settings, field, wait=True):
        try:
            return fetch_to_file(url, dest, allow_private=settings.fetch_allow_private, limits=fetch_limits(settings, max_bytes))
        except FetchError as exc:
            raise _refused(exc, field) from None


def _refused(exc: FetchError, field: str) -> BadRequest:
    return BadRequest(f"{field}: {exc.message}")


def read_rows(path: str, settings: Settings, field: str) -> tuple[CsvLayout, Receivers]:
    """The layout and lazy rows of the document at ``path``; BadRequest naming ``field``."""
    try:
        return read_receivers(path, max_rows=settings.bulk_max_rows)
    except CsvError as exc:
        raise BadRequest(f"{field}: {exc}") from None


def count_rows(path: str, settings: Settings, field: str) -> int:
    """How many receiver rows the document at ``path`` holds (reading it whole: it must be usable)."""
    _layout, rows = read_rows(path, settings, field)
    try:
        with rows:
            return sum(1 for _ in rows)
    except CsvError as exc:
        raise BadRequest(f"{field}: {exc}") from None
