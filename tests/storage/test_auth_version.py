"""The auth version: bumped in the transaction of every change to a credential or an application, seen by
other processes (the row on SQLite, NOTIFY on PostgreSQL), and waited for until every listener heard it."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from helpers import wait_until
from textos.services import admin, credentials
from textos.storage import auth_version
from textos.storage.auth_version import Versions
from textos.storage.db import Database
from textos.storage.models import Application, Credential


def stored_version(db: Database) -> int:
    with db.read() as s:
        return s.execute(text("SELECT version FROM auth_version")).scalar_one()


def new_key(db: Database) -> str:
    with db.session() as s:
        admin.create_customer(s, "ab12345-auth", "pw")
        app = admin.create_application(s, "t", nic="ab12345-auth")
        return credentials.create_credential(s, app.app_key, "ab12345-auth", ["GET /*"]).consumer_key


def test_creating_keys_changes_nothing_but_revoking_updating_and_deleting_bump(db):
    key = new_key(db)
    assert stored_version(db) == 0
    here = auth_version.changes_here
    with db.session() as s:
        credentials.revoke(s, key)
    assert stored_version(db) == 1 and auth_version.changes_here != here
    with db.session() as s:
        s.scalar(select(Application)).status = "blocked"
    with db.session() as s:
        s.delete(s.scalar(select(Credential)))
    assert stored_version(db) == 3


def test_a_rolled_back_change_bumps_nothing(db):
    key = new_key(db)
    with pytest.raises(RuntimeError), db.session() as s:
        credentials.revoke(s, key)
        raise RuntimeError("changed my mind")
    assert stored_version(db) == 0


def test_another_process_sees_the_new_version(db):
    """A second ``Database`` on the same URL stands for another process (the CLI beside the server)."""
    versions = Versions(db.url)
    try:
        before = wait_until(versions.current, what="the version known")
        other = Database(db.url)
        with other.session() as s:
            credentials.revoke(s, new_key(other))
        other.dispose()
        assert versions.current() not in (before, None)
    finally:
        versions.close()


def test_on_postgresql_a_change_returns_once_every_listener_heard_it(make_database):
    db = Database(make_database("postgresql"))
    db.migrate()
    listening = [Versions(db.url) for _ in range(2)]
    try:
        before = [wait_until(v.current, what="listener connected") for v in listening]
        key = new_key(db)
        with db.session() as s:
            credentials.revoke(s, key)
        assert all(v.current() != b for v, b in zip(listening, before))
        with db.read() as s:
            assert s.execute(text("SELECT min(seen) FROM auth_listeners")).scalar_one() == 1
    finally:
        for v in listening:
            v.close()
        db.dispose()
