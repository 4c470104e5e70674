"""Campaign sources: the receivers document of a job, whatever it comes from.

A campaign's receivers are a CSV document (``textos.receivers.receivers_csv`` reads
it as a stream): fetched from ``receiversDocumentUrl`` to a temporary file, taken
from one of the account's receiver slots (downloaded again first when the slot has
``autoUpdate``), or a local file (``textos send --csv``). :func:`open_source` gives
its rows as :class:`~textos.services.recipients.Recipients`, which the accept path
(``services.jobs.accept``) prices and writes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from textos.config import Settings
from textos.services import slots
from textos.services.documents import download, read_rows
from textos.services.recipients import Recipients
from textos.storage.db import Database

__all__ = ["Source", "local_source", "open_source"]


@dataclass(frozen=True)
class Source:
    """Where a campaign's receivers come from: exactly one of the fields."""

    document_url: str | None = None
    slot_id: int | None = None
    csv_path: str | None = None

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
        if source.csv_path is not None:
            path = source.csv_path
        else:
            if source.slot_id is not None:
                slots.refresh_slot(db, account_id, source.slot_id, settings, source.field)
            fd, tmp_path = tempfile.mkstemp(prefix="textos-receivers-", suffix=".csv")
            with os.fdopen(fd, "wb") as out:
                if source.document_url is not None:
                    download(source.document_url, out, settings, source.field)
                else:
                    assert source.slot_id is not None
                    with db.read() as session:
                        out.write(slots.get_slot(session, account_id, source.slot_id, source.field).content)
            path = tmp_path
        layout, rows = read_rows(path, settings, source.field)
        with rows:
            yield Recipients(rows, layout.number_column, layout.columns, lambda: rows.line_num, source.field)
    finally:
        if tmp_path is not None:
            os.unlink(tmp_path)
