"""Secrets at rest: files readable by their owner only, one sealing key found by every process,
a malformed or foreign key refused before anything is served."""

from __future__ import annotations

import os
import stat

import pytest

from helpers import BACKENDS
from textos.services import admin
from textos.storage import at_rest
from textos.storage.at_rest import SecretKeyError, new_key_text
from textos.storage.db import Database


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_sqlite_database_its_journal_and_its_key_file_are_readable_by_their_owner_only(tmp_path):
    path = tmp_path / "textos.db"
    old_umask = os.umask(0o022)
    try:
        db = Database(f"sqlite:///{path}")
        db.migrate()
        with db.session() as s:
            admin.create_customer(s, "ab12345-modes", "pw")
        with db.read():
            files = [str(path), f"{path}-wal", f"{path}-shm", f"{path}.key"]
            assert {f: mode(f) for f in files} == {f: 0o600 for f in files}
        db.dispose()
    finally:
        os.umask(old_umask)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_process_of_a_database_finds_the_same_key_in_its_key_file(make_database, backend):
    url = make_database(backend)
    first, second = Database(url), Database(url)  # two processes: the server and the CLI
    try:
        key_file = at_rest.default_key_file(first.url)
        assert key_file is not None and mode(str(key_file)) == 0o600
        if backend == "postgresql":
            assert key_file.parent == at_rest.default_key_file("postgresql+psycopg://x@h/other").parent  # type: ignore[union-attr]
        sealed = first.secrets.seal("the application secret", "AK1")
        assert "the application secret" not in sealed
        assert second.secrets.open(sealed, "AK1") == "the application secret"
        with pytest.raises(SecretKeyError):
            second.secrets.open(sealed, "AK2")  # bound to its application: a copied secret does not open
    finally:
        first.dispose()
        second.dispose()


def test_the_secret_key_setting_replaces_the_key_file_and_must_be_32_bytes(tmp_path):
    path = tmp_path / "textos.db"
    key = new_key_text()
    db = Database(f"sqlite:///{path}", secret_key=key)
    assert not (tmp_path / "textos.db.key").exists()
    assert Database(f"sqlite:///{path}", secret_key=key).secrets.open(db.secrets.seal("s", "AK"), "AK") == "s"
    with pytest.raises(SecretKeyError, match="^secret_key: 32 random bytes"):
        Database(f"sqlite:///{path}", secret_key="too short")
    named = tmp_path / "keys" / "textos.key"
    Database(f"sqlite:///{path}", secret_key_file=str(named))
    assert mode(str(named)) == 0o600


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_process_with_another_key_is_refused_when_it_opens_the_database(make_database, backend):
    url = make_database(backend)
    db = Database(url)
    db.migrate()
    db.dispose()
    other = Database(url, secret_key=new_key_text())
    try:
        with pytest.raises(SecretKeyError, match="sealed under another secret key"):
            other.migrate()
    finally:
        other.dispose()
