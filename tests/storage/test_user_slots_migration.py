"""Migration 0023 (receiver_slots.user_id): the account's slots are kept as the account's, and a
slot number is unique among the account's slots and among each user's, not across them."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from helpers import BACKENDS
from textos.services import admin
from textos.storage.db import Database

INSERT = text(
    "INSERT INTO receiver_slots (account_id, user_id, slot_id, description, auto_update, records, content, created_at, updated_at) "
    "VALUES (:a, :u, :n, '', false, 0, :c, '2026-12-01', '2026-12-01')"
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_0023_keeps_the_accounts_slots_and_makes_numbers_unique_per_owner(make_database, backend):
    db = Database(make_database(backend))
    try:
        db.migrate("0019_users")
        with db.session() as s:
            admin.create_customer(s, "mg12345-test", "pw")
            account_id = admin.create_account(s, "mg12345-test", 1).id
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO receiver_slots (account_id, slot_id, description, auto_update, records, content, created_at, updated_at) "
                "VALUES (:a, 3, 'old', false, 2, :c, '2026-12-01', '2026-12-01')"), {"a": account_id, "c": b"number\n"})  # fmt: skip
        db.migrate()
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT slot_id, user_id, description FROM receiver_slots")).fetchall() == [(3, None, "old")]
            conn.execute(INSERT, {"a": account_id, "u": 7, "n": 3, "c": b"x"})  # a user's slot 3
            conn.execute(INSERT, {"a": account_id, "u": 8, "n": 3, "c": b"x"})  # another user's slot 3
        for user_id in (None, 7):  # but not twice for one owner
            with pytest.raises(IntegrityError), db.engine.begin() as conn:
                conn.execute(INSERT, {"a": account_id, "u": user_id, "n": 3, "c": b"x"})
    finally:
        db.dispose()
