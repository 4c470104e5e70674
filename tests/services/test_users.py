"""Users (services/users.py): passwords hashed with argon2id, checked in constant time; users found by login."""

from __future__ import annotations

import pytest

from credit_helpers import new_accounts
from textos.domain.errors import NotFound
from textos.services import users
from textos.storage.models import SmsUser


def test_a_password_is_stored_as_an_argon2id_hash_that_only_it_matches():
    stored = users.hash_password("s3cret-Pass")
    assert stored.startswith("$argon2id$") and "s3cret-Pass" not in stored
    assert users.verify_password(stored, "s3cret-Pass")
    assert not users.verify_password(stored, "s3cret-pass")
    assert not users.verify_password("not a hash", "s3cret-Pass")
    assert not users.verify_password(users.DUMMY_HASH, "s3cret-Pass")


def test_a_user_is_found_by_login_within_its_account_only(db):
    mine, other = new_accounts(db, 0, 0)
    with db.session() as s:
        s.add(SmsUser(account_id=mine.id, login="alice", password_hash=users.hash_password("x"), ip_restrictions=[]))
    with db.read() as s:
        assert users.get_user(s, mine.id, "alice").login == "alice"
        with pytest.raises(NotFound, match="login: user alice"):
            users.get_user(s, other.id, "alice")
