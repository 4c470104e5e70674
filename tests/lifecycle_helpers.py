"""Helpers of the message lifecycle tests (storage and delivery): an account, jobs queued
through the accept path, and what became of them."""

from __future__ import annotations

import asyncio
from typing import Any

from textos.config import Settings
from textos.services import admin
from textos.services.jobs import SendRequest, accept_job
from textos.storage import ledger
from textos.storage.db import Database
from textos.storage.models import Account, Message

SETTINGS = Settings()


def new_account(db: Database, credits: float = 100) -> Account:
    """A customer's SMS account holding ``credits``."""
    with db.session() as s:
        admin.create_customer(s, "pp12345-test", "pw")
        return admin.create_account(s, "pp12345-test", credits)


def send(db: Database, account: Account, receivers: list[str], **kw: Any) -> list[int]:
    """Queue one job (``message`` "hi" unless given); returns its message ids."""
    with db.session() as s:
        acc = s.get_one(Account, account.id)
        request = SendRequest(message=kw.pop("message", "hi"), receivers=receivers, no_stop_clause=True, **kw)
        return list(accept_job(s, acc, request, SETTINGS, "test").ids)


def credits(db: Database, account: Account) -> float:
    """The account's credits left (its ledger checked on the way)."""
    with db.read() as s:
        assert ledger.verify(s, account.id)
        return ledger.to_credits(s.get_one(Account, account.id).credits_milli)


def statuses(db: Database, ids: list[int]) -> list[str]:
    with db.read() as s:
        return [s.get_one(Message, i).status for i in ids]


async def until_status(db: Database, ids: list[int], status: str = "delivered", timeout: float = 10.0) -> None:
    """Poll (while the dispatcher runs in this loop) until every message has ``status``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if set(statuses(db, ids)) == {status}:
            return
        await asyncio.sleep(0.02)
