"""Consumption exports (``GET /sms/{s}/document``, ``/sms/{s}/users/{login}/document``): the
account's outgoing or incoming messages of a period as OVH's CSV, a piece at a time.

Outgoing columns are OVH's: ``id;date;sender;receiver;ptt;operatorCode;descriptionDlr;tag;
message;sentAt;deliveredAt`` — the messages of the outgoing history (``services.outgoing``:
those ``GET /outgoing`` lists, deleted ones left out), ``date`` their creation,
``descriptionDlr`` their ``deliveryReceipt``'s description (``Success``…), ``operatorCode``
empty (Textos does not know the handset's network). Incoming columns (OVH does not show
its own): ``id;date;sender;receiver;tag;message;credits`` — those ``GET /incoming`` lists.
Dates are ``YYYY-MM-DD HH:MM:SS`` in UTC; cells are written by ``domain.csv_cells`` (OVH's
quoting, spreadsheet formulas neutralised).

A user's export holds the messages of the jobs sent as that user (``jobs.user_id``) and the
replies to them. Rows are read with a streaming cursor and written in pieces of about
``CHUNK_BYTES``: memory stays bounded whatever the number of rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from textos.domain.csv_cells import bare, csv_date, quoted
from textos.domain.ptt import DLR_DESCRIPTIONS
from textos.services.incoming_history import IncomingFilter, incoming_history
from textos.services.outgoing import OutgoingFilter, outgoing_history
from textos.storage.ledger import to_credits
from textos.storage.models import IncomingSms, Job, Message

__all__ = ["CHUNK_BYTES", "ExportFilter", "INCOMING_COLUMNS", "OUTGOING_COLUMNS", "WayType", "csv_chunks"]

OUTGOING_COLUMNS = ("id", "date", "sender", "receiver", "ptt", "operatorCode", "descriptionDlr", "tag", "message", "sentAt", "deliveredAt")
INCOMING_COLUMNS = ("id", "date", "sender", "receiver", "tag", "message", "credits")
CHUNK_BYTES = 256 * 1024
_FETCH_ROWS = 2000


class WayType(str, Enum):
    """``sms.DocumentWayTypeEnum``."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


@dataclass(frozen=True)
class ExportFilter:
    """The query of ``GET …/document``; ``None``: any. Datetimes in naive UTC, both bounds included."""

    way: WayType
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    tag: str | None = None
    batch_id: str | None = None
    """Outgoing only (OVH: "outgoing SMSs only"); an incoming export ignores it."""
    user_id: int | None = None
    """A user's export: messages of the jobs sent as this user, replies to them."""


def _outgoing(account_id: int, where: ExportFilter) -> Select:
    columns = select(Message.id, Message.created_at, Message.sender, Message.receiver, Message.ptt, Message.dlr, Message.tag,
                     func.coalesce(Message.text, Job.text), Message.sent_at, Message.delivered_at).join(Job, Job.id == Message.job_id)
    history = OutgoingFilter(batch_id=where.batch_id, created_from=where.created_from, created_to=where.created_to, tag=where.tag)
    stmt = outgoing_history(columns, account_id, history, region="", user_id=where.user_id)  # no receiver filter: the region is not read
    return stmt.order_by(Message.id)


def _incoming(account_id: int, where: ExportFilter) -> Select:
    columns = select(IncomingSms.id, IncomingSms.created_at, IncomingSms.sender, IncomingSms.receiver, IncomingSms.tag,
                     IncomingSms.text, IncomingSms.credits_milli)
    history = IncomingFilter(created_from=where.created_from, created_to=where.created_to, tag=where.tag)
    stmt = incoming_history(columns, account_id, history, region="", user_id=where.user_id)  # no sender filter: the region is not read
    return stmt.order_by(IncomingSms.id)


def _outgoing_line(row: tuple) -> str:
    id_, created, sender, receiver, ptt, dlr, tag, text, sent, delivered = row
    return ";".join((
        str(id_), csv_date(created), quoted(sender), bare(receiver), str(ptt), "", quoted(DLR_DESCRIPTIONS.get(dlr, "")),
        quoted(tag), quoted(text), csv_date(sent), csv_date(delivered),
    ))


def _incoming_line(row: tuple) -> str:
    id_, created, sender, receiver, tag, text, credits_milli = row
    return ";".join((str(id_), csv_date(created), quoted(sender), bare(receiver), quoted(tag), quoted(text), bare(to_credits(credits_milli))))


def csv_chunks(session: Session, account_id: int, where: ExportFilter, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The export's bytes (UTF-8, ``\\n`` line ends, header first), in pieces of about
    ``chunk_bytes``, read from ``session`` with a streaming cursor."""
    columns: tuple[str, ...]
    if where.way is WayType.OUTGOING:
        columns, stmt, line = OUTGOING_COLUMNS, _outgoing(account_id, where), _outgoing_line
    else:
        columns, stmt, line = INCOMING_COLUMNS, _incoming(account_id, where), _incoming_line
    pending: list[str] = [";".join(columns) + "\n"]
    size = 0
    for partition in session.execute(stmt.execution_options(yield_per=_FETCH_ROWS)).partitions():
        for row in partition:
            text = line(tuple(row)) + "\n"
            pending.append(text)
            size += len(text)
            if size >= chunk_bytes:
                yield "".join(pending).encode()
                pending, size = [], 0
    if pending:
        yield "".join(pending).encode()
