"""A consumer key's allowedIPs (textos/api/auth.py ``_check_ip``): a client is granted by any of
its blocks; a block stored before blocks were checked, and meaning nothing, grants nothing and
fails nothing."""

from __future__ import annotations

from textos.api.auth import _check_ip


def test_no_blocks_grant_every_client():
    assert _check_ip(None, "203.0.113.9") and _check_ip((), None)


def test_a_client_is_granted_by_any_of_its_blocks():
    blocks = ("192.0.2.0/24", "2001:db8::/32")
    assert _check_ip(blocks, "192.0.2.77") and _check_ip(blocks, "2001:db8::1")
    assert not _check_ip(blocks, "198.51.100.1") and not _check_ip(blocks, None)


def test_blocks_or_clients_that_mean_nothing_grant_nothing_and_raise_nothing():
    assert not _check_ip(("not-an-ip",), "192.0.2.1")
    assert _check_ip(("not-an-ip", "192.0.2.1"), "192.0.2.1")
    assert not _check_ip(("192.0.2.0/24",), "testclient")
