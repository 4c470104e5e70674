"""Campaign sources: the receivers document of a job, whatever it comes from.

A campaign's receivers are a CSV document (``textos.receivers.receivers_csv`` reads
it as a stream): fetched from ``receiversDocumentUrl`` to a temporary file, taken
from one of the account's receiver slots (downloaded again first when the slot has
``autoUpdate``), or a local file (``textos send --csv``). :func:`open_source` gives
its rows as :class:`~textos.services.recipients.Recipients`, which the accept path
(``services.jobs.accept``) prices and writes.

A request first awaits :func:`prefetched` (the download on the event loop, no thread
held), so that :func:`open_source`, run in a worker thread, downloads nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from textos.config import Settings
from textos.services import slots
from textos.services.documents import download, fetched, read_rows
from textos.services.recipients import Recipients
from textos.storage.db import Database

__all__ = ["Source", "local_source", "open_source", "prefetched"]


@dataclass(frozen=True)
class Source:
    """Where a campaign's receivers come from: exactly one of the fields."""

    document_url: str | None = None
    slot_id: int | None = None
    csv_path: str | None = None
    fetched_path: str | None = None
    """``document_url``'s document, already downloaded to this file (:func:`prefetched`)."""
    refreshed: bool = False
    """The slot's ``autoUpdate`` download is done (:func:`prefetched`)."""
    user_id: int | None = None
    """``slot_id`` is one of this user's own slots (a user's job); none: the account's."""

    @property
    def field(self) -> str:
        """The request field a refusal names."""
        if self.document_url is not None:
            return "receiversDocumentUrl"
        if self.slot_id is not None:
            return "receiversSlotId"
        return "csv"


def local_source(path: str | Path) -> Source:
    return Source(csv_path=str(path))


@contextlib.contextmanager
def open_source(db: Database, account_id: int, source: Source, settings: Settings) -> Iterator[Recipients]:
    """The rows of ``source``'s document; a downloaded copy is removed on exit.

    No transaction is held meanwhile (downloads take seconds)."""
    tmp_path: str | None = None
    try:
        path = source.csv_path or source.fetched_path
        if path is None:
            if source.slot_id is not None and not source.refreshed:
                slots.refresh_slot(db, account_id, source.slot_id, settings, source.field, source.user_id)
            fd, tmp_path = tempfile.mkstemp(prefix="textos-receivers-", suffix=".csv")
            with os.fdopen(fd, "wb") as out:
                if source.document_url is not None:
                    download(source.document_url, out, settings, source.field, account_id)
                else:
                    assert source.slot_id is not None
                    with db.read() as session:
                        out.write(slots.get_slot(session, account_id, source.slot_id, source.field, source.user_id).content)
            path = tmp_path
        layout, rows = read_rows(path, settings, source.field)
        with rows:
            yield Recipients(rows, layout.number_column, layout.columns, lambda: rows.line_num, source.field)
    finally:
        if tmp_path is not None:
            os.unlink(tmp_path)


@contextlib.asynccontextmanager
async def prefetched(db: Database, account_id: int, source: Source, settings: Settings) -> AsyncIterator[Source]:
    """``source`` with its download done, awaited: no thread waits on the document's server.

    A document URL is fetched to a temporary file (removed on exit); a slot with
    ``autoUpdate`` is downloaded again. :func:`open_source` then downloads nothing."""
    if source.document_url is not None and source.fetched_path is None:
        async with fetched(source.document_url, settings, source.field, account_id) as path:
            yield dataclasses.replace(source, fetched_path=path)
        return
    if source.slot_id is not None and not source.refreshed:
        await slots.refresh_slot_async(db, account_id, source.slot_id, settings, source.field, source.user_id)
        source = dataclasses.replace(source, refreshed=True)
    yield source
