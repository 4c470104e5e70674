"""Campaign sources (services/campaigns.py): a document URL, a slot or a local CSV, read as rows; downloads cleaned up."""

from __future__ import annotations

import asyncio
import tempfile

import pytest
from receiver_documents import serve_offline

from textos.config import Settings
from textos.domain.errors import BadRequest, NotFound
from textos.services import admin, campaigns, slots
from textos.services.campaigns import Source, local_source, open_source
from textos.services.jobs import SendRequest, accept
from textos.storage.models import Account, Message
from textos.storage.models_bulk import ReceiverSlot

SETTINGS = Settings()
DOCUMENTS = {
    "https://files.example/cookbook.csv": "Numero ;nom ;prenom\r\n0662000000 ;Durant ;Pierre\r\n0662000001 ;Dupont ;Jean\r\n".encode(),
    "https://files.example/new.csv": b"number\n+33612345632\n+33612345633\n",
}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """Documents come from DOCUMENTS; temporary files go to tmp_path/tmp."""
    serve_offline(monkeypatch, DOCUMENTS)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))


@pytest.fixture
def account(db) -> Account:
    with db.session() as s:
        admin.create_customer(s, "cp12345-test", "pw")
        return admin.create_account(s, "cp12345-test", 100)


def _rows(db, account, source: Source) -> tuple[list[str] | None, str, list[dict[str, str]]]:  # type: ignore[no-untyped-def]
    with open_source(db, account.id, source, SETTINGS) as recipients:
        return recipients.columns, recipients.number_column, [dict(r) for r in recipients.rows]


def test_a_document_url_is_downloaded_read_and_removed(db, account, tmp_path):
    columns, number, rows = _rows(db, account, Source(document_url="https://files.example/cookbook.csv"))
    assert (columns, number) == (["Numero", "nom", "prenom"], "Numero")
    assert [r["prenom"] for r in rows] == ["Pierre", "Jean"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_refused_download_names_the_field_and_leaves_nothing(db, account, tmp_path):
    with pytest.raises(BadRequest, match="receiversDocumentUrl: the server answered HTTP 404"):
        _rows(db, account, Source(document_url="https://files.example/missing.csv"))
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_local_csv_is_read_in_place(db, account, tmp_path):
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("tel,name\n+33612345678,Ana\n")
    assert _rows(db, account, local_source(contacts))[2] == [{"tel": "+33612345678", "name": "Ana"}]
    assert contacts.exists()


def test_a_slot_is_read_from_the_database_and_refreshed_when_auto_updated(db, account):
    with db.session() as s:
        s.add(ReceiverSlot(account_id=account.id, slot_id=2, description="", csv_url="https://files.example/new.csv",
                           auto_update=False, records=1, content=b"number\n+33612345631\n"))
    assert _rows(db, account, Source(slot_id=2))[2] == [{"number": "+33612345631"}]
    with db.session() as s:
        slots.get_slot(s, account.id, 2).auto_update = True
    assert [r["number"] for r in _rows(db, account, Source(slot_id=2))[2]] == ["+33612345632", "+33612345633"]
    with db.read() as s:
        assert slots.get_slot(s, account.id, 2).records == 2
    with pytest.raises(NotFound, match="receiversSlotId: receivers slot 5 does not exist"):
        _rows(db, account, Source(slot_id=5))


def test_prefetched_sources_are_read_without_downloading_again(db, account, tmp_path, monkeypatch):
    """A request awaits the download (prefetched); open_source, in a worker thread, then downloads nothing."""

    async def read(source: Source) -> list[list[dict[str, str]]]:
        async with campaigns.prefetched(db, account.id, source, SETTINGS) as ready:
            serve_offline(monkeypatch, {})  # any download from here on would be refused
            seen = [_rows(db, account, ready)[2] for _ in range(2)]
        serve_offline(monkeypatch, DOCUMENTS)
        return seen

    by_url = asyncio.run(read(Source(document_url="https://files.example/cookbook.csv")))
    assert [[r["prenom"] for r in rows] for rows in by_url] == [["Pierre", "Jean"]] * 2
    assert list((tmp_path / "tmp").iterdir()) == []
    with db.session() as s:
        s.add(ReceiverSlot(account_id=account.id, slot_id=3, description="", csv_url="https://files.example/new.csv",
                           auto_update=True, records=1, content=b"number\n+33612345631\n"))
    by_slot = asyncio.run(read(Source(slot_id=3)))
    assert [[r["number"] for r in rows] for rows in by_slot] == [["+33612345632", "+33612345633"]] * 2


def test_a_mail_merge_campaign_stores_each_receivers_text(db, account):
    req = SendRequest(message="Bonjour #prenom# #nom#", no_stop_clause=True)
    report = accept(db, account.id, req, SETTINGS, actor="test", source=Source(document_url="https://files.example/cookbook.csv"))
    assert report.valid_receivers == ["+33662000000", "+33662000001"]
    with db.read() as s:
        assert [s.get_one(Message, i).text for i in report.ids] == ["Bonjour Pierre Durant", "Bonjour Jean Dupont"]
