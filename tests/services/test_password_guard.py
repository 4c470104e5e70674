"""Password checks: limited per name and per client address with doubling lockouts, counted in the
database by every process, and as slow for a name that does not exist as for one that does."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from textos.domain.errors import TooManyRequests
from textos.services import password_guard
from textos.services.admin import hash_password
from textos.services.password_guard import PasswordGuard, PasswordLimits, address_subject
from textos.storage.db import Database

RIGHT = "the-right-password"
STORED = hash_password(RIGHT)
LIMITS = PasswordLimits(name_failures=5, address_failures=20, lockout=60, lockout_max=300)


class Clock:
    """Time as the guard sees it, moved on by the test."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 2, 12, 0, 0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guard(db, clock) -> PasswordGuard:
    return PasswordGuard(db, LIMITS, clock)


def fail_until_locked(guard: PasswordGuard, name: str, address: str | None = "192.0.2.1") -> tuple[int, int]:
    """Wrong passwords until refused: (wrong answers before the refusal, its Retry-After)."""
    for failures in range(100):
        try:
            assert guard.check(name, address, "wrong", STORED) is False
        except TooManyRequests as refused:
            return failures, refused.retry_after
    raise AssertionError("never refused")


def test_a_name_is_locked_out_after_its_failures_and_then_refuses_the_right_password(guard, clock):
    assert fail_until_locked(guard, "ab12345-ovh") == (5, 60)
    with pytest.raises(TooManyRequests) as refused:
        guard.check("ab12345-ovh", "192.0.2.1", RIGHT, STORED)
    assert (refused.value.status, refused.value.error_class) == (429, "Client::TooManyRequests")
    assert refused.value.headers == {"Retry-After": "60"}
    clock.advance(59)
    with pytest.raises(TooManyRequests, match="try again later"):
        guard.check("ab12345-ovh", "198.51.100.7", RIGHT, STORED)
    clock.advance(1)
    assert guard.check("ab12345-ovh", "192.0.2.1", RIGHT, STORED) is True


def test_each_lockout_of_a_name_lasts_twice_the_one_before_up_to_the_longest(guard, clock):
    waits = []
    for _ in range(5):
        failures, wait = fail_until_locked(guard, "ab12345-ovh", address=None)
        assert failures == 5
        waits.append(wait)
        clock.advance(wait)
    assert waits == [60, 120, 240, 300, 300]


def test_a_right_password_clears_the_names_failures_and_lockouts(guard, clock):
    fail_until_locked(guard, "ab12345-ovh")
    clock.advance(60)
    for _ in range(4):
        assert guard.check("ab12345-ovh", "192.0.2.1", "wrong", STORED) is False
    assert guard.check("ab12345-ovh", "192.0.2.1", RIGHT, STORED) is True
    assert fail_until_locked(guard, "ab12345-ovh") == (5, 60)


def test_a_record_untouched_for_a_day_is_forgotten(guard, clock):
    fail_until_locked(guard, "ab12345-ovh", address=None)
    clock.advance(60)
    assert fail_until_locked(guard, "ab12345-ovh", address=None) == (5, 120)
    clock.advance(password_guard.FORGET_AFTER.total_seconds() + 1)
    assert fail_until_locked(guard, "ab12345-ovh", address=None) == (5, 60)


def test_one_address_guessing_many_names_is_locked_out(guard):
    for n in range(20):
        assert guard.check(f"name-{n}", "203.0.113.9", "wrong", None) is False
    with pytest.raises(TooManyRequests) as refused:
        guard.check("name-20", "203.0.113.9", "wrong", None)
    assert refused.value.retry_after == 60
    with pytest.raises(TooManyRequests):
        guard.check("ab12345-ovh", "203.0.113.9", RIGHT, STORED)
    assert guard.check("ab12345-ovh", "203.0.113.10", RIGHT, STORED) is True


def test_right_passwords_do_not_count_against_their_address(guard):
    for n in range(30):
        assert guard.check(f"user-{n}", "203.0.113.9", RIGHT, STORED) is True
    assert guard.check("user-30", "203.0.113.9", "wrong", STORED) is False


def test_addresses_are_counted_as_ipv4_or_by_ipv6_64():
    assert address_subject("192.0.2.1") == "192.0.2.1"
    assert address_subject("2001:db8:1:2:aaaa::1") == address_subject("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_subject("2001:db8:1:3::1") != address_subject("2001:db8:1:2::1")
    assert address_subject("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_subject("testclient") == "testclient"


def test_concurrent_checks_in_two_processes_are_counted_together(db, clock):
    """Two guards on two engines (as two API processes): 24 checks of one name at once, 5 are verified."""
    other = Database(db.url)
    guards = [PasswordGuard(db, LIMITS, clock), PasswordGuard(other, LIMITS, clock)]
    answers: list[object] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        try:
            answer: object = guards[n % 2].check("ab12345-ovh", f"192.0.2.{n}", "wrong", STORED)
        except TooManyRequests:
            answer = "refused"
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(24)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        other.dispose()
    assert sorted(map(str, answers)) == ["False"] * 5 + ["refused"] * 19


def test_an_unknown_name_is_checked_against_a_hash_of_the_same_cost(guard, monkeypatch):
    checked: list[str] = []
    real = password_guard.check_password
    monkeypatch.setattr(password_guard, "check_password", lambda password, stored: checked.append(stored) or real(password, stored))
    assert guard.check("nobody-here", None, RIGHT, None) is False
    assert checked == [password_guard.dummy_hash()]
    assert checked[0].split("$")[:2] == STORED.split("$")[:2]  # same algorithm and rounds


def test_a_wrong_password_takes_as_long_for_an_unknown_name(db, clock):
    """The fastest of 15 interleaved checks each (a loaded machine only adds time) are alike."""
    guard = PasswordGuard(db, dataclasses.replace(LIMITS, name_failures=1000, address_failures=1000), clock)
    known: list[float] = []
    unknown: list[float] = []
    for n in range(15):
        for times, stored in ((known, STORED), (unknown, None)):
            start = time.perf_counter()
            assert guard.check(f"name-{n}-{stored is None}", "192.0.2.1", "wrong", stored) is False
            times.append(time.perf_counter() - start)
    assert 0.5 < min(unknown) / min(known) < 2, f"fastest: known {min(known):.4f}s, unknown {min(unknown):.4f}s"


# Every password check goes through the guard

SOURCES = Path(password_guard.__file__).resolve().parent.parent
VERIFIERS = {"check_password"}
"""The one function that tells whether a password matches a hash (``domain.passwords``)."""
HASHING = {"argon2", "PasswordHasher", "pbkdf2_hmac"}
"""What a module would need to check a password without that function."""
ALLOWED = {
    "domain/passwords.py": "defines it",
    "services/admin.py": "re-exports it (imported, never called)",
    "services/password_guard.py": "the guard: limits, lockouts, the dummy hash, then the check",
}
ENTRY_POINTS = {
    "services/credentials.py": "the consumer-key validation page (POST /auth/…)",
    "services/dashboard_sessions.py": "the dashboard login, customers and operators",
    "services/http2sms.py": "http2sms, the login and password of an account's user",
}


def _names_used(tree: ast.Module) -> set[str]:
    """Every name a module imports, reads, reaches as an attribute or spells as a whole string."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= {part for alias in node.names for part in alias.name.split(".")}
            found |= set((node.module or "").split(".")) if isinstance(node, ast.ImportFrom) else set()
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found


def _calls_to(tree: ast.Module, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", None)) == name]


def test_no_module_but_the_guard_checks_a_password_and_every_login_calls_the_guard():
    """Issue #16 point 2, made impossible to regress: a new login path (or an old one changed)
    that checked a password itself would skip the limits, the lockouts and the dummy hash."""
    sources = {p.relative_to(SOURCES).as_posix(): ast.parse(p.read_text()) for p in sorted(SOURCES.rglob("*.py"))}
    for name, tree in sources.items():
        used = _names_used(tree)
        if name not in ALLOWED:
            assert not used & VERIFIERS, f"textos/{name} checks a password itself: call PasswordGuard.check"
        if name != "domain/passwords.py":
            assert not used & HASHING, f"textos/{name} hashes passwords itself: domain.passwords is their one home"
    assert _calls_to(sources["services/admin.py"], "check_password") == []
    assert len(_calls_to(sources["services/password_guard.py"], "check_password")) >= 1
    callers = {name for name, tree in sources.items() if "PasswordGuard" in _names_used(tree) and _calls_to(tree, "check")}
    assert callers == set(ENTRY_POINTS), "a module calling PasswordGuard.check is missing from ENTRY_POINTS, or one stopped calling it"
