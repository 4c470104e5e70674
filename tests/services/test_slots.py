"""Receiver slots (services/slots.py): numbered, downloaded once, cleaned of invalid, duplicate and blacklisted rows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from outbound_attacks import rebinding
from receiver_documents import serve_offline

from textos.config import Settings
from textos.domain.errors import BadRequest, Conflict, NotFound
from textos.services import admin, slots
from textos.storage.models import Account
from textos.storage.models_bulk import ReceiverSlot

SETTINGS = Settings()
SLOT_CSV = b"number;prenom\n+33612345621;Ana\nbad;Bob\n+33612345621;Ana again\n+33612345622;Cy\n"


@pytest.fixture
def account(db, monkeypatch) -> Account:  # type: ignore[no-untyped-def]
    serve_offline(monkeypatch, {"https://files.example/x.csv": SLOT_CSV})
    with db.session() as s:
        admin.create_customer(s, "sl12345-test", "pw")
        return admin.create_account(s, "sl12345-test", 100)


def create(*args: Any, **kw: Any) -> ReceiverSlot:
    return asyncio.run(slots.create_slot(*args, **kw))


@pytest.mark.parametrize("value, slot_id", [("3", 3), (" 9 ", 9), (1, 1)])
def test_slot_numbers(value, slot_id):
    assert slots.parse_slot_id(value, "slotId") == slot_id


@pytest.mark.parametrize("value, problem", [("0", "go from 1 to 9"), ("12", "go from 1 to 9"), ("x", "is not a slot number"), (None, "is not a slot number")])
def test_bad_slot_numbers_name_the_field(value, problem):
    with pytest.raises(BadRequest, match=f"slotID: .*{problem}"):
        slots.parse_slot_id(value, "slotID")


def test_a_slot_is_created_once_with_its_record_count(db, account):
    slot = create(db, account.id, 3, "https://files.example/x.csv", SETTINGS, description="clients")
    assert (slot.slot_id, slot.records, slot.description, slot.content) == (3, 4, "clients", SLOT_CSV)
    with pytest.raises(Conflict, match="slot 3 already holds a document"):
        create(db, account.id, 3, "https://files.example/x.csv", SETTINGS)
    with db.read() as s:
        with pytest.raises(NotFound, match="slotId: receivers slot 4 does not exist"):
            slots.get_slot(s, account.id, 4)


def test_cleaning_drops_invalid_and_duplicate_rows_and_keeps_the_header(db, account):
    create(db, account.id, 1, "https://files.example/x.csv", SETTINGS)
    with db.session() as s:
        report = slots.clean_slot(s, slots.get_slot(s, account.id, 1), SETTINGS, apply=False)
        assert slots.get_slot(s, account.id, 1).content == SLOT_CSV  # priceOnly: nothing changes
    assert report == slots.CleanReport(records=2, invalid=1, duplicates=1, blacklisted=0)
    with db.session() as s:
        slots.clean_slot(s, slots.get_slot(s, account.id, 1), SETTINGS)
    with db.read() as s:
        slot = slots.get_slot(s, account.id, 1)
        assert (slot.records, slot.content) == (2, b"number;prenom\n+33612345621;Ana\n+33612345622;Cy\n")


def test_refresh_downloads_again_only_with_auto_update(db, account, monkeypatch):
    create(db, account.id, 2, "https://files.example/x.csv", SETTINGS)

    serve_offline(monkeypatch, {"https://files.example/x.csv": b"number\n+33612345699\n"})
    slots.refresh_slot(db, account.id, 2, SETTINGS, "receiversSlotId")
    with db.read() as s:
        assert slots.get_slot(s, account.id, 2).records == 4
    with db.session() as s:
        slots.get_slot(s, account.id, 2).auto_update = True
    slots.refresh_slot(db, account.id, 2, SETTINGS, "receiversSlotId")
    with db.read() as s:
        assert (slots.get_slot(s, account.id, 2).records, slots.get_slot(s, account.id, 2).content) == (1, b"number\n+33612345699\n")


@pytest.mark.parametrize("requests", [False, True], ids=["background batch", "request"])
def test_an_auto_update_checks_the_stored_url_again_and_refuses_a_name_turned_private(db, monkeypatch, requests):
    """The slot's URL passed when it was created (its name answered an address counted as public);
    the name now answers 127.0.0.1: the next download is refused before connecting."""
    with db.session() as s:
        admin.create_customer(s, "sl54321-test", "pw")
        account_id = admin.create_account(s, "sl54321-test", 100).id
    with rebinding(monkeypatch) as scene:
        scene.checked.body = SLOT_CSV
        create(db, account_id, 1, scene.url("/x.csv"), SETTINGS, auto_update=True)
        refresh = (lambda: asyncio.run(slots.refresh_slot_async(db, account_id, 1, SETTINGS, "receiversSlotId"))) if requests else (
            lambda: slots.refresh_slot(db, account_id, 1, SETTINGS, "receiversSlotId"))
        with pytest.raises(BadRequest, match="receiversSlotId: host 'localhost' does not resolve to public addresses only, refused"):
            refresh()
        assert len(scene.checked.received()) == 1 and scene.loopback.received() == []
