"""Every password check: limited per name and per client address, and as slow for a name that does not exist.

``PasswordGuard.check`` is the one entry: the validation page of consumer keys
(``services.credentials``), the dashboard login of customers and operators
(``services.dashboard_sessions``) and the logins of users on http2sms (``services.http2sms``);
no other module may verify a password (``tests/services/test_password_guard.py`` reads the
sources to hold it). Before the password is even hashed, the check
takes one slot from the name's and from the address's budget, in one short transaction
whose row locks make concurrent checks (in any process) count one after the other:

* a name may fail ``name_failures`` times and an address ``address_failures`` times (any
  names); the next check starts a lockout of ``lockout`` seconds, doubled for each further
  one (up to ``lockout_max``), and every check until it ends is refused with 429 and
  ``Retry-After`` — the right password too;
* a right password clears the name's record and gives the address its slot back;
* a record nobody has touched for ``FORGET_AFTER`` is dropped.

A name with no stored hash is checked against a dummy hash of the same cost, so a wrong
password takes the same time whether the name exists or not; the hash comparison is
constant-time (``domain.passwords.check_password``).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import math
from dataclasses import dataclass
from typing import Callable

from textos.config import Settings
from textos.domain.clock import utcnow
from textos.domain.errors import TooManyRequests
from textos.services.admin import check_password, hash_password, random_token
from textos.storage import password_attempts
from textos.storage.db import Database

NAME, ADDRESS = "name", "address"
"""The scopes of the records."""
FORGET_AFTER = dt.timedelta(days=1)
"""A record untouched this long is forgotten (its lockouts no longer double)."""


@dataclass(frozen=True)
class PasswordLimits:
    """The settings ``password_max_failures``, ``password_address_max_failures``,
    ``password_lockout_seconds`` and ``password_lockout_max_seconds`` (their defaults are there)."""

    name_failures: int
    address_failures: int
    lockout: float
    """Seconds of the first lockout of a name or an address."""
    lockout_max: float

    @classmethod
    def of(cls, settings: Settings) -> "PasswordLimits":
        return cls(settings.password_max_failures, settings.password_address_max_failures,
                   settings.password_lockout_seconds, settings.password_lockout_max_seconds)

    def lockout_after(self, lockouts: int) -> dt.timedelta:
        """The lockout that follows ``lockouts`` earlier ones: doubled each time, up to ``lockout_max``."""
        return dt.timedelta(seconds=min(self.lockout * 2 ** min(lockouts, 40), self.lockout_max))


def address_subject(address: str) -> str:
    """What an address is counted as: IPv4 as it is, IPv6 by its /64 (one site's whole network)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@functools.cache
def dummy_hash() -> str:
    """A hash of a random password, at today's cost: what unknown names are checked against."""
    return hash_password(random_token(16))


def verify(password: str, stored_hash: str | None) -> bool:
    """``password`` against its stored hash; with none (an unknown name) against ``dummy_hash``, in the same time."""
    if stored_hash is None:
        check_password(password, dummy_hash())
        return False
    return check_password(password, stored_hash)


class PasswordGuard:
    """Password checks of one database, counted together by every process using it."""

    def __init__(self, db: Database, limits: PasswordLimits, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.limits = limits
        self.clock = clock
        dummy_hash()  # computed now rather than during the first check of an unknown name

    def check(self, name: str, address: str | None, password: str, stored_hash: str | None) -> bool:
        """Whether ``password`` is the one of ``name`` (``stored_hash``: None when it has none).

        Raises ``TooManyRequests`` (429, ``Retry-After``) while the name or the address is locked out."""
        subjects = [(NAME, name, self.limits.name_failures)]
        if address is not None:
            subjects.append((ADDRESS, address_subject(address), self.limits.address_failures))
        wait = self._take(subjects)
        if wait:
            raise TooManyRequests("Too many failed password attempts: try again later", retry_after=wait)
        if not verify(password, stored_hash):
            return False
        with self.db.session() as session:
            password_attempts.forget(session, NAME, name)
            for scope, subject, _ in subjects[1:]:
                password_attempts.give_back(session, scope, subject)
        return True

    def _take(self, subjects: list[tuple[str, str, int]]) -> int:
        """Take one check from every subject's budget; else 0 taken and the seconds until all are open."""
        now = self.clock()
        with self.db.session() as session:
            password_attempts.prune(session, now - FORGET_AFTER)
            held = [(scope, subject, limit, password_attempts.hold(session, scope, subject, now)) for scope, subject, limit in subjects]
            wait = 0.0
            for _, _, limit, record in held:
                open_ = record.locked_until is None or record.locked_until <= now
                if open_ and record.failures >= limit:
                    record.locked_until = now + self.limits.lockout_after(record.lockouts)
                    record.lockouts, record.failures = record.lockouts + 1, 0
                if record.locked_until is not None and record.locked_until > now:
                    wait = max(wait, (record.locked_until - now).total_seconds())
            for scope, subject, _, record in held:
                if not wait:
                    record.failures += 1
                password_attempts.save(session, scope, subject, record, now)
        return math.ceil(wait)
