"""Secrets at rest: consumer keys and validation tokens as SHA-256 digests, application secrets sealed.

* A consumer key or a validation token is 32 or 48 random characters: the database keeps only
  its SHA-256 (``key_digest``), and a request is matched by the digest of the key it sends. A
  slow, salted hash (as for passwords) would buy nothing against keys this random, and cost
  every request.
* An application secret must be read back to check signatures, so it is sealed with
  AES-256-GCM (``SecretBox``), bound to its application key (a sealed secret copied to another
  row does not open).
* The sealing key is 32 random bytes, in URL-safe base64: the ``secret_key`` setting
  (``TEXTOS_SECRET_KEY``), or else a key file (``secret_key_file``), created 0600 the first time
  a process opens the database: beside a SQLite file (``textos.db.key``); for PostgreSQL in
  ``$XDG_CONFIG_HOME/textos`` (``~/.config/textos``), named after the server and database, so
  every process of the same user on the same machine finds it (elsewhere: set ``secret_key``).
* A sealed check value (``secret_key_check``, migration 0011) tells a process holding another
  key that it cannot read this database, before it answers anything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

KEY_BYTES = 32
NONCE_BYTES = 12
SEALED_PREFIX = "aesgcm1:"
SESSION_KEY = "textos.secrets"
"""Where a session of ``storage.db.Database`` finds its ``SecretBox`` (``Session.info``)."""
_CHECK_TEXT = "textos secret key check"
_CHECK_CONTEXT = "secret_key_check"


class SecretKeyError(RuntimeError):
    """The sealing key is malformed, unreadable, or not the one this database was sealed with."""


def key_digest(key: str) -> str:
    """The stored form of a consumer key or a validation token: hex SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key_text() -> str:
    """A fresh sealing key, as ``secret_key`` and key files hold it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


class SecretBox:
    """Seals and opens short secrets with AES-256-GCM under one key; ``context`` is authenticated data."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SecretKeyError(f"secret key: {KEY_BYTES} bytes needed, got {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def from_text(cls, key_text: str, where: str = "secret_key") -> "SecretBox":
        try:
            key = base64.urlsafe_b64decode(key_text.strip().encode())
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise SecretKeyError(f"{where}: {KEY_BYTES} random bytes in URL-safe base64 expected (44 characters)")
        return cls(key)

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, context: str) -> str:
        if not sealed.startswith(SEALED_PREFIX):
            raise SecretKeyError("not a sealed secret")
        raw = base64.urlsafe_b64decode(sealed[len(SEALED_PREFIX) :].encode())
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except InvalidTag:
            raise SecretKeyError("this secret was sealed under another secret key (see secret_key / secret_key_file)") from None


def box_of(session: Session) -> SecretBox:
    """The sealing key of the database ``session`` belongs to."""
    return session.info[SESSION_KEY]


def default_key_file(url: str) -> Path | None:
    """Where the key file of the database at ``url`` is kept when no setting names one;
    ``None`` for an in-memory SQLite database (its key lives as long as the process)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        return None if database in ("", ":memory:") else Path(database + ".key")
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    place = f"{parsed.host or 'localhost'}-{parsed.port or 5432}-{parsed.database or ''}"
    return config_home / "textos" / (re.sub(r"[^A-Za-z0-9._-]", "_", place) + ".key")


def read_or_create_key_file(path: Path) -> SecretBox:
    """The key in ``path``, written there first (mode 0600, atomically) when there is none yet:
    processes starting together all end up with the one that won."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(new_key_text() + "\n")
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
        finally:
            draft.unlink()
    try:
        return SecretBox.from_text(path.read_text(), where=f"key file {path}")
    except OSError as exc:
        raise SecretKeyError(f"key file {path}: {exc.strerror}") from None


def box_for(url: str, secret_key: str | None = None, secret_key_file: str | None = None) -> SecretBox:
    """The sealing key of the database at ``url``: ``secret_key``, else the key file (created if absent)."""
    if secret_key:
        return SecretBox.from_text(secret_key)
    path = Path(secret_key_file) if secret_key_file else default_key_file(url)
    if path is None:
        return SecretBox(secrets.token_bytes(KEY_BYTES))
    return read_or_create_key_file(path)


def write_check(connection: Connection, box: SecretBox) -> None:
    """Note in the database which key seals its secrets (migration 0011)."""
    connection.execute(
        text("INSERT INTO secret_key_check (id, sealed) VALUES (1, :sealed)"), {"sealed": box.seal(_CHECK_TEXT, _CHECK_CONTEXT)}
    )


def check_key(connection: Connection, box: SecretBox) -> None:
    """Refuse a key that is not the one this database's secrets are sealed with."""
    if not inspect(connection).has_table("secret_key_check"):
        return
    sealed = connection.execute(text("SELECT sealed FROM secret_key_check WHERE id = 1")).scalar()
    if sealed is None:
        write_check(connection, box)
        return
    try:
        box.open(sealed, _CHECK_CONTEXT)
    except SecretKeyError:
        raise SecretKeyError(
            "this database's secrets are sealed under another secret key: set secret_key (TEXTOS_SECRET_KEY) "
            "or secret_key_file (TEXTOS_SECRET_KEY_FILE) to the key it was created with"
        ) from None
