"""Accounts with credits for the tests of the ledger and the money services (no HTTP)."""

from __future__ import annotations

import secrets

from textos.services import admin
from textos.storage import ledger
from textos.storage.db import Database
from textos.storage.models import Account


def new_accounts(db: Database, *credits: float) -> list[Account]:
    """A new customer with one account per initial amount of credits."""
    nic = f"lb{secrets.randbelow(10**5):05d}-{secrets.token_hex(3)}"
    with db.session() as s:
        admin.create_customer(s, nic, "pw")
        return [admin.create_account(s, nic, c) for c in credits]


def balances(db: Database, accounts: list[Account]) -> list[tuple[int, int]]:
    """``(free, held)`` milli-credits of each account, after checking its caches against its entries."""
    with db.read() as s:
        out = []
        for a in accounts:
            assert ledger.verify(s, a.id), f"cache and ledger disagree on {a.service_name}"
            row = s.get(Account, a.id)
            assert row is not None
            out.append((row.credits_milli, row.credits_held_milli))
        return out
