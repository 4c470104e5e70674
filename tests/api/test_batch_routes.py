"""``/sms/{serviceName}/batches`` (api/routes/batches.py): reading a batch never writes; a writer moves it on."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update

from textos.api.app import create_app
from textos.api.auth import Caller, authenticate
from textos.api.state import AppState
from textos.config import Settings
from textos.domain.lifecycle import MessageStatus
from textos.services import admin, batches
from textos.services.jobs import SendRequest
from textos.storage.models import Account, Message
from textos.storage.models_bulk import Batch

SETTINGS = Settings()


@pytest.fixture
def finished_batch(db) -> tuple[TestClient, str, str]:  # type: ignore[no-untyped-def]
    """A client of the API and an INSERTED batch whose messages are all delivered (complete, not yet moved)."""
    with db.session() as s:
        customer, _ = admin.create_customer(s, "rt12345-test", "pw")
        account = admin.create_account(s, "rt12345-test", 100)
        req = SendRequest(message="hi", receivers=["+33612345678"], no_stop_clause=True)
        batch_id = batches.new_batch(s, s.get_one(Account, account.id), req, "spring").id
        caller = Caller(1, "app-key", 1, customer.id, customer.nic, ({"method": "GET", "path": "/*"},))
    batches.run(db, SETTINGS, account.id, req, "test", batch_id)
    with db.session() as s:
        s.execute(update(Message).values(status=MessageStatus.DELIVERED.value))
    app = create_app(AppState(settings=SETTINGS, db=db))
    app.dependency_overrides[authenticate] = lambda: caller
    return TestClient(app), f"/1.0/sms/{account.service_name}/batches", batch_id


def test_reading_a_batch_writes_nothing(db, finished_batch):
    client, base, batch_id = finished_batch
    with db.read() as s:
        before = s.get_one(Batch, batch_id).updated_at
    writes: list[str] = []

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.split()[0].upper() in ("UPDATE", "INSERT", "DELETE") or "IMMEDIATE" in statement:
            writes.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        shown = client.get(f"{base}/{batch_id}").json()
        listed = client.get(base).json()
        stats = client.get(f"{base}/{batch_id}/statistics").json()
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert writes == []
    assert shown["status"] == listed[0]["status"] == "INSERTED"  # the stored status, until a writer moves it
    assert (stats["delivered"], stats["pending"]) == (1, 0)
    with db.read() as s:
        assert s.get_one(Batch, batch_id).updated_at == before


def test_the_writer_completes_it(db, finished_batch):
    client, base, batch_id = finished_batch
    assert batches.complete_finished(db) == 1
    shown = client.get(f"{base}/{batch_id}").json()
    assert shown["status"] == "COMPLETED" and shown["finishedAt"] is not None
