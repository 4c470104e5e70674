"""Ways of writing a URL that reaches the server's own machine or network (server-side request
forgery), shared by the tests of every outbound URL: the guard itself (``tests/domain/test_public_urls.py``),
document downloads and their redirects (``tests/receivers/test_fetch.py``), callbacks at connection
time (``tests/delivery/test_callbacks.py``) and every URL field of the API (``tests/e2e/test_outbound_urls.py``).

``{port}`` is the port of a listener the test runs on 127.0.0.1 (and ::1): a refusal must leave it
untouched. ``refusal`` is a pattern of the guard's message (``public_urls``): the address and why,
the name that does not resolve to public addresses only, or a URL that is no URL.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from callback_sink import CallbackSink, sinks_on_one_port

from textos.domain import public_urls


@dataclass(frozen=True)
class Attack:
    form: str
    url: str
    refusal: str

    def at(self, port: int) -> str:
        return self.url.format(port=port)


NOT_PUBLIC = r"host '.*' does not resolve to public addresses only, refused"

ATTACKS = [
    Attack("loopback", "http://127.0.0.1:{port}/x", r"address 127\.0\.0\.1 is loopback, refused"),
    Attack("loopback, IPv6", "http://[::1]:{port}/x", r"address ::1 is loopback, refused"),
    Attack("loopback, IPv6 written in full", "http://[0:0:0:0:0:0:0:1]:{port}/x", r"address ::1 is loopback, refused"),
    Attack("private 10/8", "http://10.0.0.1:{port}/x", r"address 10\.0\.0\.1 is private, refused"),
    Attack("private 172.16/12", "http://172.16.0.1:{port}/x", r"address 172\.16\.0\.1 is private, refused"),
    Attack("private 172.16/12, its end", "http://172.31.255.254:{port}/x", r"is private, refused"),
    Attack("private 192.168/16", "http://192.168.1.1:{port}/x", r"address 192\.168\.1\.1 is private, refused"),
    Attack("private IPv6 (fc00::/7)", "http://[fd00::1]:{port}/x", r"address fd00::1 is private, refused"),
    Attack("carrier-grade NAT 100.64/10", "http://100.64.0.1:{port}/x", r"is not globally routable, refused"),
    Attack("link-local (cloud metadata)", "http://169.254.169.254/latest/meta-data/", r"address 169\.254\.169\.254 is link-local, refused"),
    Attack("link-local, IPv6", "http://[fe80::1]:{port}/x", r"address fe80::1 is link-local, refused"),
    Attack("0.0.0.0", "http://0.0.0.0:{port}/x", r"address 0\.0\.0\.0 is unspecified, refused"),
    Attack("0 (0.0.0.0 in one number)", "http://0:{port}/x", NOT_PUBLIC),
    Attack("unspecified, IPv6", "http://[::]:{port}/x", r"address :: is unspecified, refused"),
    Attack("multicast", "http://224.0.0.1:{port}/x", r"address 224\.0\.0\.1 is multicast, refused"),
    Attack("multicast, IPv6", "http://[ff02::1]:{port}/x", r"address ff02::1 is multicast, refused"),
    Attack("broadcast", "http://255.255.255.255:{port}/x", r"is private, refused"),
    Attack("decimal IPv4", "http://2130706433:{port}/x", NOT_PUBLIC),
    Attack("hexadecimal IPv4", "http://0x7f000001:{port}/x", NOT_PUBLIC),
    Attack("hexadecimal IPv4, dotted", "http://0x7f.0.0.1:{port}/x", NOT_PUBLIC),
    Attack("octal IPv4, dotted", "http://0177.0.0.1:{port}/x", r"invalid URL \(Invalid IPv4 address"),
    Attack("octal IPv4, one number", "http://017700000001:{port}/x", NOT_PUBLIC),
    Attack("short IPv4 (127.1)", "http://127.1:{port}/x", NOT_PUBLIC),
    Attack("IPv4-mapped IPv6", "http://[::ffff:127.0.0.1]:{port}/x", r"address ::ffff:7f00:1 is loopback, refused"),
    Attack("IPv4-mapped IPv6, hexadecimal", "http://[::ffff:a9fe:a9fe]/x", r"is link-local, refused"),
    Attack("NAT64 of the metadata address", "http://[64:ff9b::a9fe:a9fe]/x", r"is link-local, refused"),
    Attack("6to4 of loopback", "http://[2002:7f00:1::]:{port}/x", r"is loopback, refused"),
    Attack("a name resolving to loopback", "http://localhost:{port}/x", r"host 'localhost' does not resolve to public addresses only, refused"),
    Attack("credentials before the host", "http://crm.example.com@127.0.0.1:{port}/x", r"address 127\.0\.0\.1 is loopback, refused"),
    Attack("another scheme", "file:///etc/passwd", r"only http and https URLs are accepted"),
]
"""Every form, and how the guard refuses it. ``0``, decimal, hexadecimal, one-number octal and short
forms are names to the URL parser: the system resolver reads them as IPv4 (inet_aton) and the
address it gives is judged; the dotted octal form is no URL (httpx refuses leading zeros)."""


def trust_only(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    """Count ``addresses`` (loopback ones a test listens on) as public: the outside world's servers,
    which a test cannot run. Every other address is judged as the server judges it."""
    real = public_urls.address_refusal
    trusted = {ipaddress.ip_address(a) for a in addresses}
    monkeypatch.setattr(public_urls, "address_refusal", lambda ip: None if ip in trusted else real(ip))


class FakeDns:
    """The guard's resolver (``public_urls._getaddrinfo``), answering from a table: ``answer(name,
    first, then, …)`` gives successive lookups of ``name`` those lists of addresses (the last one
    repeats); other hosts are read as numbers, as the system resolver reads them. ``calls`` lists the
    names looked up. What the HTTP client would resolve by itself is untouched: a connection that
    reaches a faked name's addresses went to the address the guard checked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.calls: list[str] = []
        monkeypatch.setattr(public_urls, "_getaddrinfo", self._getaddrinfo)

    def answer(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)

    def _getaddrinfo(self, host: str, port: int, *args: object, **kw: object) -> list[tuple]:  # type: ignore[type-arg]
        self.calls.append(host)
        if host not in self.answers:
            return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        queue = self.answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]


@dataclass
class Rebinding:
    """``localhost`` as a rebinding attacker's name: the guard is answered 127.0.0.2 (counted as
    public) at its first lookup, 127.0.0.1 after; the system answers 127.0.0.1 throughout. ``checked``
    listens on 127.0.0.2, ``loopback`` on 127.0.0.1, one port: a request reaching ``checked`` went
    to the address the guard checked, one reaching ``loopback`` was resolved again."""

    dns: FakeDns
    checked: CallbackSink
    loopback: CallbackSink

    def url(self, path: str) -> str:
        return f"http://localhost:{self.checked.port}{path}"


@contextlib.contextmanager
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rebinding]:
    trust_only(monkeypatch, "127.0.0.2")
    dns = FakeDns(monkeypatch)
    dns.answer("localhost", ["127.0.0.2"], ["127.0.0.1"])
    with sinks_on_one_port("127.0.0.2", "127.0.0.1") as (checked, loopback):
        yield Rebinding(dns, checked, loopback)
