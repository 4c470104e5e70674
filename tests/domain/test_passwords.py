"""Password hashes (domain/passwords.py): argon2id for new ones, earlier PBKDF2 ones still verify."""

from __future__ import annotations

import hashlib

from textos.domain.passwords import check_password, hash_password


def test_a_new_password_is_stored_as_an_argon2id_hash_that_only_it_matches():
    stored = hash_password("s3cret-Pass")
    assert stored.startswith("$argon2id$") and "s3cret-Pass" not in stored
    assert hash_password("s3cret-Pass") != stored  # salted
    assert check_password("s3cret-Pass", stored)
    assert not check_password("s3cret-pass", stored)


def test_a_pbkdf2_hash_written_by_an_earlier_version_still_verifies():
    digest = hashlib.pbkdf2_hmac("sha256", b"old-one", b"salt", 1000).hex()
    stored = f"pbkdf2_sha256$1000$salt${digest}"
    assert check_password("old-one", stored)
    assert not check_password("old-two", stored)


def test_a_malformed_hash_matches_nothing():
    for stored in ("", "not a hash", "pbkdf2_sha256$x$y", "$argon2id$v=19$broken"):
        assert not check_password("anything", stored)
