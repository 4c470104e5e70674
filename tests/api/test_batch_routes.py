"""``/sms/{serviceName}/batches`` (api/routes/batches.py): reading a batch never writes; a writer moves it on."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from textos.api.app import create_app
from textos.api.auth import Caller, authenticate
from textos.api.state import AppState
from textos.config import Settings
from textos.domain.clock import iso
from textos.domain.lifecycle import MessageStatus
from textos.services import admin, batches
from textos.services.jobs import SendRequest
from textos.services.prices import PriceBook
from textos.storage.models import Account, Message
from textos.storage.models_bulk import Batch

SETTINGS = Settings()


@pytest.fixture
def finished_batch(db) -> tuple[FastAPI, str, str]:  # type: ignore[no-untyped-def]
    """The API (its caller already authenticated) and an INSERTED batch whose messages are all delivered (complete, not yet moved)."""
    with db.session() as s:
        customer, _ = admin.create_customer(s, "rt12345-test", "pw")
        account = admin.create_account(s, "rt12345-test", 100)
        req = SendRequest(message="hi", receivers=["+33612345678"], no_stop_clause=True)
        batch_id = batches.new_batch(s, s.get_one(Account, account.id), req, "spring").id
        caller = Caller(1, "app-key", 1, customer.id, customer.nic, ({"method": "GET", "path": "/*"},))
    batches.run(db, SETTINGS, account.id, req, "test", batch_id)
    with db.session() as s:
        s.execute(update(Message).values(status=MessageStatus.DELIVERED.value))
    app = create_app(AppState(settings=SETTINGS, db=db, prices=PriceBook.from_settings(SETTINGS)))
    app.dependency_overrides[authenticate] = lambda: caller
    return app, f"/1.0/sms/{account.service_name}/batches", batch_id


def _get(app: FastAPI, path: str) -> Any:
    async def call() -> Any:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://textos") as client:
            answer = await client.get(path)
            assert answer.status_code == 200, answer.text
            return answer.json()

    return asyncio.run(call())


def test_reading_a_batch_writes_nothing(db, finished_batch):
    app, base, batch_id = finished_batch
    with db.read() as s:
        before = s.get_one(Batch, batch_id)
    shown = _get(app, f"{base}/{batch_id}")
    listed = _get(app, base)
    stats = _get(app, f"{base}/{batch_id}/statistics")
    assert shown["status"] == listed[0]["status"] == "INSERTED"  # the stored status, until a writer moves it
    assert (stats["delivered"], stats["pending"]) == (1, 0)
    with db.read() as s:
        after = s.get_one(Batch, batch_id)
    assert (after.status, after.updated_at, after.finished_at) == (before.status, before.updated_at, None)


def test_the_writer_completes_it(db, finished_batch):
    app, base, batch_id = finished_batch
    assert batches.complete_finished(db) == 1
    shown = _get(app, f"{base}/{batch_id}")
    assert shown["status"] == "COMPLETED" and shown["finishedAt"] is not None


def test_renaming_it_changes_updated_at(db, finished_batch):
    app, base, batch_id = finished_batch
    long_ago = dt.datetime(2026, 1, 1)
    with db.session() as s:
        s.execute(update(Batch).where(Batch.id == batch_id).values(updated_at=long_ago))

    async def put() -> Any:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://textos") as client:
            answer = await client.put(f"{base}/{batch_id}", json={"name": "summer"})
            assert answer.status_code == 200, answer.text
            return answer.json()

    renamed = asyncio.run(put())
    assert renamed["name"] == "summer" and renamed["updatedAt"] > iso(long_ago)
    assert _get(app, f"{base}/{batch_id}")["updatedAt"] == renamed["updatedAt"]
