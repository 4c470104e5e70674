"""Password hashes: argon2id for every new one; PBKDF2-SHA256 ones made before still verify.

One home for hashing and checking every password Textos keeps (customers, users of an account).
argon2id comes from ``argon2-cffi`` with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane):
a check costs the server milliseconds, not a core. Hashes written by earlier versions
(``pbkdf2_sha256$rounds$salt$digest``) are still accepted. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["check_password", "hash_password"]

_ARGON2 = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    """The argon2id hash to store for ``password``."""
    return _ARGON2.hash(password)


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (argon2id, or an earlier PBKDF2 one);
    False for a malformed hash."""
    if stored.startswith("pbkdf2_sha256$"):
        try:
            _, rounds, salt, digest = stored.split("$")
            given = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(rounds)).hex()
        except ValueError:
            return False
        return hmac.compare_digest(given, digest)
    try:
        return _ARGON2.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
