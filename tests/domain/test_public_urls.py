"""Which URLs Textos may call (domain/public_urls.py): http(s), public addresses only, resolved addresses never shown."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from textos.domain import public_urls
from textos.domain.public_urls import UrlRefused, address_refusal, check_public_url


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "not globally routable"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_address_policy(address: str, reason: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == reason


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A fake resolver: names map to the addresses listed, others are unknown (numeric hosts are read as usual)."""
    table: dict[str, list[str]] = {}

    def getaddrinfo(host: str, port: int, *args: object, **kw: object) -> list[tuple]:  # type: ignore[type-arg]
        if host not in table:
            return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]]

    monkeypatch.setattr(public_urls, "_getaddrinfo", getaddrinfo)
    return table


def test_public_names_and_addresses_pass(dns: dict[str, list[str]]) -> None:
    dns["crm.example.test"] = ["93.184.215.14", "2606:4700:4700::1111"]
    assert check_public_url("https://crm.example.test/dlr?x=1", allow_private=False, timeout=1) == "https://crm.example.test/dlr?x=1"
    assert check_public_url("http://93.184.215.14:8080/", allow_private=False, timeout=1)


@pytest.mark.parametrize(("url", "message"), [
    ("http://127.0.0.1/", "address 127.0.0.1 is loopback, refused"),
    ("http://[::1]/", "address ::1 is loopback, refused"),
    ("http://mixed.example.test/", "host 'mixed.example.test' does not resolve to public addresses only, refused"),
    ("http://nowhere.example.test/", "could not resolve host 'nowhere.example.test'"),
    ("ftp://crm.example.test/", "only http and https URLs are accepted, not 'ftp'"),
    ("javascript:alert(1)", "only http and https"),
    ("http:///x", "the URL has no host"),
])  # fmt: skip
def test_refusals_say_why_without_resolved_addresses(dns: dict[str, list[str]], url: str, message: str) -> None:
    dns["mixed.example.test"] = ["93.184.215.14", "10.0.0.5"]
    with pytest.raises(UrlRefused) as refused:
        check_public_url(url, allow_private=False, timeout=1)
    assert message in refused.value.message
    assert "10.0.0.5" not in refused.value.message


def test_private_addresses_pass_when_the_deployment_allows_them(dns: dict[str, list[str]]) -> None:
    assert check_public_url("http://10.0.0.1/", allow_private=True, timeout=1) == "http://10.0.0.1/"
    with pytest.raises(UrlRefused, match="only http and https"):
        check_public_url("file:///etc/passwd", allow_private=True, timeout=1)
