"""``/me/document``: files of a customer, here the consumption exports Textos writes.

A document is created empty (``size`` 0) and its id returned at once; its bytes are written
in the background, a piece per ``document_chunks`` row, each piece in a short transaction of
its own; ``size`` is set when the last piece is in (OVH's clients poll ``GET /me/document/{id}``
until ``size`` > 0). An export that fails is deleted (its id then answers 404, and its pieces
go with it); one whose process died while writing stays at size 0 until it expires.

``getUrl`` is ``{public base}/1.0/download/{token}``: 256 random bits, no signature; it
serves the file to whoever holds it until ``expirationDate`` (``document_ttl_hours``).
Expired documents are removed when a new one is created. ``putUrl`` is empty: these files
are written by Textos, not uploaded.
"""

from __future__ import annotations

import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from textos.domain.clock import iso, utcnow
from textos.domain.errors import NotFound
from textos.storage.db import Database
from textos.storage.models import Document, DocumentChunk

__all__ = ["DOWNLOAD_PATH", "create", "document_view", "get_document", "open_download", "start_writing", "write"]

log = logging.getLogger(__name__)

DOWNLOAD_PATH = "/1.0/download/"
"""Where ``getUrl`` points, under the public base (served without authentication)."""


def create(session: Session, customer_id: int, account_id: int | None, name: str, ttl_hours: float,
           tags: dict[str, str] | None = None) -> Document:
    """A new, empty document of ``customer_id`` (expired ones are removed first)."""
    now = utcnow()
    _remove_expired(session, now)
    document = Document(
        id=str(uuid.uuid4()), customer_id=customer_id, account_id=account_id, name=name, size=0, status="writing",
        get_token=secrets.token_urlsafe(32), tags=[{"key": k, "value": v} for k, v in (tags or {}).items()],
        created_at=now, expires_at=now + timedelta(hours=ttl_hours),
    )
    session.add(document)
    session.flush()
    return document


def _remove_expired(session: Session, now: Any) -> None:
    gone = select(Document.id).where(Document.expires_at < now)
    session.execute(delete(DocumentChunk).where(DocumentChunk.document_id.in_(gone)))
    session.execute(delete(Document).where(Document.expires_at < now))


def write(db: Database, document_id: str, chunks: Iterable[bytes]) -> int:
    """Store ``chunks`` as the document's bytes, then its size (the document is then ready); returns it."""
    size, seq = 0, 0
    for chunk in chunks:
        if not chunk:
            continue
        with db.session() as session:
            session.add(DocumentChunk(document_id=document_id, seq=seq, data=chunk))
        size += len(chunk)
        seq += 1
    with db.session() as session:
        session.execute(update(Document).where(Document.id == document_id).values(size=size, status="ready"))
    return size


def start_writing(db: Database, document_id: str, produce: Callable[[], Iterator[bytes]]) -> threading.Thread:
    """:func:`write` the bytes ``produce()`` yields, in a background thread; on failure the document is deleted."""

    def work() -> None:
        try:
            write(db, document_id, produce())
        except Exception:
            log.exception("document %s: export failed; removed", document_id)
            with db.session() as session:
                session.execute(delete(DocumentChunk).where(DocumentChunk.document_id == document_id))
                session.execute(delete(Document).where(Document.id == document_id))

    thread = threading.Thread(target=work, name=f"textos-document-{document_id[:8]}", daemon=True)
    thread.start()
    return thread


def get_document(session: Session, customer_id: int, document_id: str) -> Document:
    """The customer's document ``document_id``; 404 when it is not theirs, or expired."""
    document = session.get(Document, document_id)
    if document is None or document.customer_id != customer_id or document.expires_at < utcnow():
        raise NotFound(f"id: document {document_id} does not exist")
    return document


def document_view(document: Document, public_base: str) -> dict[str, Any]:
    """``nichandle.document.Document``."""
    return {
        "creationDate": iso(document.created_at),
        "expirationDate": iso(document.expires_at),
        "getUrl": f"{public_base}{DOWNLOAD_PATH}{document.get_token}",
        "id": document.id,
        "name": document.name,
        "putUrl": "",
        "size": document.size,
        "tags": document.tags,
        "validationDate": None,
    }


def open_download(db: Database, token: str) -> tuple[Document, Iterator[bytes]] | None:
    """The ready, unexpired document of ``token`` and an iterator of its bytes (a piece per
    query, so memory stays bounded); None when there is none."""
    with db.read() as session:
        document = session.scalar(select(Document).where(Document.get_token == token))
        if document is None or document.status != "ready" or document.expires_at < utcnow():
            return None
        count = session.scalar(select(DocumentChunk.seq).where(DocumentChunk.document_id == document.id).order_by(DocumentChunk.seq.desc()).limit(1))

    def pieces() -> Iterator[bytes]:
        for seq in range(0 if count is None else count + 1):
            with db.read() as session:
                data = session.scalar(select(DocumentChunk.data).where(DocumentChunk.document_id == document.id, DocumentChunk.seq == seq))
            if data is None:  # expired and removed while it was being read
                return
            yield bytes(data)

    return document, pieces()
