"""Receiver slots: CSV documents of receivers kept in numbered slots for later campaigns.

An account has up to nine slots (as the control panel offers), and each of its users nine
of its own (``/sms/{s}/users/{login}/receivers``: ``user_id``; a user's slots are not the
account's, nor another user's; every function takes ``user_id``, none meaning the account's). A slot's document is
downloaded once from its ``csvUrl`` and stored in the database; with ``autoUpdate``
it is downloaded again before each campaign that uses it. Cleaning a slot drops its
invalid, duplicate and blacklisted rows.

Requests download awaited (:func:`create_slot`, :func:`refresh_slot_async`: no thread
waits on the document's server); a background batch refreshes its slot blocking
(:func:`refresh_slot`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain.clock import utcnow
from textos.domain.errors import BadRequest, Conflict, NotFound
from textos.domain.numbers import FastReceivers, InvalidReceiver
from textos.receivers.receivers_csv import CsvError
from textos.services import blacklists
from textos.services.documents import count_rows, download, fetched, read_rows
from textos.storage.db import Database
from textos.storage.models_bulk import ReceiverSlot

__all__ = [
    "CleanReport", "SLOTS", "blacklisted_numbers", "clean_slot", "create_slot", "forget_user", "get_slot", "parse_slot_id",
    "read_slot_document", "refresh_slot", "refresh_slot_async", "slot_ids",
]  # fmt: skip

SLOTS = range(1, 10)  # the control panel offers 9 contact lists
SLOT_MAX_BYTES = 100 * 1024 * 1024


def _owner(account_id: int, user_id: int | None) -> ColumnElement[bool]:
    """The slots of the account's own (``user_id`` none) or of its user ``user_id``."""
    mine = ReceiverSlot.user_id.is_(None) if user_id is None else ReceiverSlot.user_id == user_id
    return and_(ReceiverSlot.account_id == account_id, mine)


def slot_ids(session: Session, account_id: int, user_id: int | None = None) -> list[int]:
    return list(session.scalars(select(ReceiverSlot.slot_id).where(_owner(account_id, user_id)).order_by(ReceiverSlot.slot_id)))


def get_slot(session: Session, account_id: int, slot_id: int, field: str = "slotId", user_id: int | None = None) -> ReceiverSlot:
    slot = session.scalar(select(ReceiverSlot).where(_owner(account_id, user_id), ReceiverSlot.slot_id == slot_id))
    if slot is None:
        raise NotFound(f"{field}: receivers slot {slot_id} does not exist")
    return slot


def parse_slot_id(value: Any, field: str) -> int:
    """A slot number as given in a request (``"3"`` or ``3``); BadRequest naming ``field``."""
    try:
        slot_id = int(str(value).strip())
    except (TypeError, ValueError):
        raise BadRequest(f"{field}: {value!r} is not a slot number") from None
    if slot_id not in SLOTS:
        raise BadRequest(f"{field}: slot numbers go from {SLOTS.start} to {SLOTS.stop - 1}, not {slot_id}")
    return slot_id


def _max_bytes(settings: Settings) -> int:
    return min(settings.bulk_max_bytes, SLOT_MAX_BYTES)


def read_slot_document(path: str, settings: Settings, field: str = "csvUrl") -> tuple[bytes, int]:
    """A downloaded slot document, checked: ``(content, records)``."""
    records = count_rows(path, settings, field)
    with open(path, "rb") as document:
        return document.read(), records


def _taken(session: Session, account_id: int, slot_id: int, user_id: int | None) -> None:
    if session.scalar(select(ReceiverSlot.id).where(_owner(account_id, user_id), ReceiverSlot.slot_id == slot_id)):
        raise Conflict(f"slotId: slot {slot_id} already holds a document (DELETE it first)")


def _check_free(db: Database, account_id: int, slot_id: int, user_id: int | None) -> None:
    with db.read() as session:
        _taken(session, account_id, slot_id, user_id)


def _store_new(
    db: Database, account_id: int, slot_id: int, url: str, path: str, settings: Settings, description: str, auto_update: bool,
    user_id: int | None,
) -> ReceiverSlot:
    content, records = read_slot_document(path, settings, "csvUrl")
    with db.session() as session:
        _taken(session, account_id, slot_id, user_id)
        slot = ReceiverSlot(
            account_id=account_id, user_id=user_id, slot_id=slot_id, description=description, csv_url=url,
            auto_update=auto_update, records=records, content=content,
        )
        session.add(slot)
        session.flush()
        return slot


async def create_slot(
    db: Database, account_id: int, slot_id: int, url: str, settings: Settings, *, description: str = "", auto_update: bool = False,
    user_id: int | None = None,
) -> ReceiverSlot:
    """Download ``url`` into an empty slot (awaited; no transaction is held while downloading)."""
    await asyncio.to_thread(_check_free, db, account_id, slot_id, user_id)
    async with fetched(url, settings, "csvUrl", account_id, _max_bytes(settings)) as path:
        return await asyncio.to_thread(_store_new, db, account_id, slot_id, url, path, settings, description, auto_update, user_id)


def _auto_update_url(db: Database, account_id: int, slot_id: int, field: str, user_id: int | None) -> str | None:
    """The URL to download the slot from again before it is used (None: use it as it is)."""
    with db.read() as session:
        slot = get_slot(session, account_id, slot_id, field, user_id)
        return slot.csv_url if slot.auto_update and slot.csv_url else None


def _store_refreshed(db: Database, account_id: int, slot_id: int, path: str, settings: Settings, field: str, user_id: int | None) -> None:
    content, records = read_slot_document(path, settings, field)
    with db.session() as session:
        session.execute(
            update(ReceiverSlot).where(_owner(account_id, user_id), ReceiverSlot.slot_id == slot_id)
            .values(content=content, records=records, updated_at=utcnow())
        )


def refresh_slot(db: Database, account_id: int, slot_id: int, settings: Settings, field: str, user_id: int | None = None) -> None:
    """``autoUpdate``: download the slot's URL again before it is used (blocking: background batches)."""
    url = _auto_update_url(db, account_id, slot_id, field, user_id)
    if url is None:
        return
    with tempfile.NamedTemporaryFile(prefix="textos-slot-", suffix=".csv") as tmp:
        download(url, tmp, settings, field, account_id, _max_bytes(settings))
        tmp.flush()
        _store_refreshed(db, account_id, slot_id, tmp.name, settings, field, user_id)


async def refresh_slot_async(
    db: Database, account_id: int, slot_id: int, settings: Settings, field: str, user_id: int | None = None,
) -> None:
    """:func:`refresh_slot`, awaited (requests)."""
    url = await asyncio.to_thread(_auto_update_url, db, account_id, slot_id, field, user_id)
    if url is None:
        return
    async with fetched(url, settings, field, account_id, _max_bytes(settings)) as path:
        await asyncio.to_thread(_store_refreshed, db, account_id, slot_id, path, settings, field, user_id)


def blacklisted_numbers(session: Session, account_id: int) -> set[str]:
    """Numbers that sent STOP to this account (E.164; ``services.blacklists``)."""
    return blacklists.active_numbers(session, account_id)


@dataclass(frozen=True)
class CleanReport:
    records: int
    invalid: int
    duplicates: int
    blacklisted: int


def clean_slot(session: Session, slot: ReceiverSlot, settings: Settings, apply: bool = True) -> CleanReport:
    """Drop invalid, duplicate and blacklisted rows from a slot's document (header kept)."""
    blacklist = blacklisted_numbers(session, slot.account_id)
    parser = FastReceivers(settings.default_region)
    with tempfile.NamedTemporaryFile(prefix="textos-slot-", suffix=".csv") as tmp:
        tmp.write(slot.content)
        tmp.flush()
        layout, rows = read_rows(tmp.name, settings, "slotId")
        out = io.StringIO()
        writer = csv.writer(out, delimiter=layout.delimiter or ";", lineterminator="\n")
        if layout.has_header:
            writer.writerow(layout.columns)
        seen: set[str] = set()
        kept = invalid = duplicates = blocked = 0
        try:
            with rows:
                for row in rows:
                    try:
                        e164 = parser.parse(row[layout.number_column]).e164
                    except InvalidReceiver:
                        invalid += 1
                        continue
                    if e164 in blacklist:
                        blocked += 1
                        continue
                    if e164 in seen:
                        duplicates += 1
                        continue
                    seen.add(e164)
                    kept += 1
                    writer.writerow([row[c] for c in layout.columns])
        except CsvError as exc:
            raise BadRequest(f"slotId: {exc}") from None
    if apply:
        slot.content = out.getvalue().encode("utf-8")
        slot.records = kept
        slot.updated_at = utcnow()
    return CleanReport(kept, invalid, duplicates, blocked)


def forget_user(session: Session, account_id: int, user_id: int) -> int:
    """Remove the slots of a user of the account (when the user is deleted); returns how many."""
    done = session.execute(delete(ReceiverSlot).where(ReceiverSlot.account_id == account_id, ReceiverSlot.user_id == user_id))
    return cast(CursorResult[Any], done).rowcount or 0
