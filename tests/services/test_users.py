"""Users (services/users.py): found by login within their account."""

from __future__ import annotations

import pytest

from credit_helpers import new_accounts
from textos.domain.errors import NotFound
from textos.domain.passwords import hash_password
from textos.services import users
from textos.storage.models import SmsUser


def test_a_user_is_found_by_login_within_its_account_only(db):
    mine, other = new_accounts(db, 0, 0)
    with db.session() as s:
        s.add(SmsUser(account_id=mine.id, login="alice", password_hash=hash_password("x"), ip_restrictions=[]))
    with db.read() as s:
        assert users.get_user(s, mine.id, "alice").login == "alice"
        with pytest.raises(NotFound, match="login: user alice"):
            users.get_user(s, other.id, "alice")
