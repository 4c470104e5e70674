"""Applications, consumer keys and their customers kept in memory, for ``api.auth``.

An entry is used only while ``storage.auth_version.Versions.current()`` still gives the
version it was read under: any change to a credential or an application (revocation,
validation, logout, new rules, expiry, allowed IPs), made through the API, the CLI or another
process, empties the cache before the next request is checked. Unknown keys are never kept
(a miss asks the database). Consumer keys are known by their digest (``storage.at_rest.key_digest``),
as the database knows them; application secrets are kept opened. Checking the signature and the
rules stays in ``api.auth``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Hashable

from textos.storage.auth_version import Versions
from textos.storage.models import Application, Credential, Customer

MAX_KEYS = 100_000
"""Beyond this many consumer keys the cache starts over (memory stays bounded)."""


@dataclass(frozen=True, slots=True)
class KnownApplication:
    """What authentication reads of an ``Application``."""

    id: int
    app_key: str
    app_secret: str
    """In clear: opened once when read from the database."""
    status: str

    @classmethod
    def of(cls, app: Application, app_secret: str) -> "KnownApplication":
        return cls(app.id, app.app_key, app_secret, app.status)


@dataclass(frozen=True, slots=True)
class KnownCredential:
    """What authentication reads of a ``Credential``."""

    id: int
    application_id: int
    customer_id: int | None
    state: str
    rules: tuple[dict[str, str], ...]
    allowed_ips: tuple[str, ...] | None
    expires_at: dt.datetime | None

    @classmethod
    def of(cls, cred: Credential) -> "KnownCredential":
        ips = None if cred.allowed_ips is None else tuple(cred.allowed_ips)
        rules = tuple(dict(r) for r in cred.rules)
        return cls(cred.id, cred.application_id, cred.customer_id, cred.state, rules, ips, cred.expires_at)


@dataclass(frozen=True, slots=True)
class KnownCustomer:
    id: int
    nic: str

    @classmethod
    def of(cls, customer: Customer) -> "KnownCustomer":
        return cls(customer.id, customer.nic)


Found = tuple[KnownApplication, KnownCredential | None, KnownCustomer | None]
"""An application, and the consumer key (with its customer) as the database had them."""


class AuthCache:
    """One process's memory of applications and consumer keys, valid for one version."""

    def __init__(self, versions: Versions) -> None:
        self.versions = versions
        self._version: Hashable | None = None
        self._apps: dict[str, KnownApplication] = {}
        self._keys: dict[str, tuple[KnownCredential, KnownCustomer | None]] = {}

    def version(self) -> Hashable | None:
        """The version now (forgets everything read under another); ``None``: use no cache."""
        version = self.versions.current()
        if version != self._version:
            self._apps, self._keys, self._version = {}, {}, version
        return version

    def unasked_version(self) -> Hashable | None:
        """SQLite, where asking is a query: the version last seen, not asked again; whoever uses it
        checks it inside its own write transaction (``storage.auth_version.sqlite_version_in``).
        ``None``: ask (``version()``), as on PostgreSQL, where asking costs nothing."""
        return self._version if self.versions.is_sqlite else None

    def get(self, app_key: str, consumer_key_hash: str) -> Found | None:
        """Both known under the current version (call ``version()`` first), else ``None``."""
        app = self._apps.get(app_key)
        key = self._keys.get(consumer_key_hash)
        if app is None or key is None:
            return None
        return app, key[0], key[1]

    def put(self, version: Hashable | None, app_key: str, consumer_key_hash: str, found: Found) -> None:
        """Keep what was read under ``version`` (read before the lookup), if still current."""
        app, cred, customer = found
        if version is None or version != self._version or cred is None:
            return
        if len(self._keys) >= MAX_KEYS:
            self._apps, self._keys = {}, {}
        self._apps[app_key] = app
        self._keys[consumer_key_hash] = (cred, customer)

    def close(self) -> None:
        self.versions.close()
