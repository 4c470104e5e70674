"""Which URLs Textos may call: http(s) URLs whose host resolves only to public addresses.

One rule for every URL a client hands us that the server will call: receiver documents
(``receiversDocumentUrl``, ``csvUrl``, checked at each redirect hop by
``textos.receivers.fetch``) and callbacks (``callBack``, ``stopCallBack``,
``smsResponse.cgiUrl``, checked when they are set and again at each call by
``textos.delivery.callbacks``). Loopback, private, link-local,
multicast, reserved and other non-global addresses are refused unless the deployment
allows private addresses (``fetch_allow_private``). Every address a name resolves to
must be public, so a name with one private answer is refused.

Refusals never show the addresses a name resolved to (that would let a caller map the
server's network through its DNS): they name what the caller wrote.

Name resolution uses the system resolver in a daemon thread bounded by a timeout (a
stuck lookup leaves that thread behind, never the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import queue
import socket
import threading
from typing import Callable

import httpx

__all__ = [
    "IPAddress", "UrlRefused", "address_refusal", "check_public_url", "host_and_port", "literal_address", "parse_url",
    "refuse_non_public",
    "resolve", "resolve_async", "send_pinned", "vetted_addresses",
]  # fmt: skip

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_getaddrinfo = socket.getaddrinfo  # module attribute so tests can fake DNS


class UrlRefused(ValueError):
    """The URL may not be called; ``message`` is user-facing (the caller prefixes the field)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def address_refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be called (None if it is a public address).

    IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4 IPv6 addresses are judged
    solely by the IPv4 address they embed.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(embedded)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not globally routable"
    return None


def parse_url(url: str) -> httpx.URL:
    """``url`` as an absolute http(s) URL with a host (fragment dropped); UrlRefused otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UrlRefused(f"invalid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise UrlRefused(f"only http and https URLs are accepted, not {parsed.scheme or 'none'!r}")
    if not parsed.host:
        raise UrlRefused("the URL has no host")
    return parsed.copy_with(fragment=None)


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells in canonical form (``127.0.0.1``, ``[::1]``), None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def refuse_non_public(host: str, addresses: list[IPAddress]) -> None:
    """UrlRefused unless every address of ``host`` is public; resolved addresses are never shown."""
    for ip in addresses:
        reason = address_refusal(ip)
        if reason is None:
            continue
        if literal_address(host) == ip:
            raise UrlRefused(f"address {ip} is {reason}, refused")
        raise UrlRefused(f"host {host!r} does not resolve to public addresses only, refused")


def _lookup(host: str, port: int, deliver: Callable[[object], None]) -> None:
    """Resolve in a daemon thread; ``deliver`` gets the getaddrinfo answer or the exception."""

    def work() -> None:
        try:
            answer: object = _getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            answer = exc
        deliver(answer)

    threading.Thread(target=work, name="textos-resolve", daemon=True).start()


def _addresses(host: str, answer: object) -> list[IPAddress]:
    if isinstance(answer, BaseException):
        raise UrlRefused(f"could not resolve host {host!r} ({answer})")
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in answer:  # type: ignore[attr-defined]
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UrlRefused(f"host {host!r} has no address")
    return addresses


def _timed_out(host: str, timeout: float) -> UrlRefused:
    return UrlRefused(f"could not resolve host {host!r} within {timeout:g} s")


def resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    """Every address of ``host`` (blocking, at most ``timeout`` seconds)."""
    answers: queue.SimpleQueue[object] = queue.SimpleQueue()
    _lookup(host, port, answers.put)
    try:
        return _addresses(host, answers.get(timeout=timeout))
    except queue.Empty:
        raise _timed_out(host, timeout) from None


async def resolve_async(host: str, port: int, timeout: float) -> list[IPAddress]:
    """Every address of ``host``, awaited (at most ``timeout`` seconds); no event-loop thread is held."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[object] = loop.create_future()

    def settle(value: object) -> None:
        if not answer.done():
            answer.set_result(value)

    def deliver(value: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, value)

    _lookup(host, port, deliver)
    try:
        return _addresses(host, await asyncio.wait_for(answer, timeout))
    except TimeoutError:
        raise _timed_out(host, timeout) from None


def host_and_port(url: httpx.URL) -> tuple[str, int]:
    """The host to resolve (IPv6 brackets removed) and the port ``url`` connects to."""
    host = url.raw_host.decode("ascii")
    return host, url.port or (443 if url.scheme == "https" else 80)


def check_public_url(url: str, *, allow_private: bool, timeout: float) -> str:
    """``url`` if it may be called: http(s), and (unless ``allow_private``) only public addresses.

    Blocking (a DNS lookup of at most ``timeout`` seconds); raises UrlRefused."""
    parsed = parse_url(url)
    if not allow_private:
        host, port = host_and_port(parsed)
        refuse_non_public(host, resolve(host.strip("[]"), port, timeout))
    return url


async def vetted_addresses(url: httpx.URL, *, allow_private: bool, timeout: float) -> list[IPAddress]:
    """Every address of ``url``'s host, all public (unless ``allow_private``); UrlRefused otherwise."""
    host, port = host_and_port(url)
    addresses = await resolve_async(host.strip("[]"), port, timeout)
    if not allow_private:
        refuse_non_public(host, addresses)
    return addresses


async def send_pinned(
    client: httpx.AsyncClient, url: httpx.URL, addresses: list[IPAddress], *, timeout: httpx.Timeout,
    headers: dict[str, str] | None = None, stream: bool = False,
) -> httpx.Response:
    """GET ``url`` from the first of the vetted ``addresses`` that accepts a connection (DNS pinning).

    The connection goes to the vetted IP literal; the original name travels in the ``Host``
    header and, for HTTPS, as SNI / certificate hostname (httpcore's ``sni_hostname``), so a
    DNS answer that changes between the check and the connect cannot redirect the request.
    Raises the last ``httpx.ConnectError`` / ``ConnectTimeout`` if none accepts; other
    ``httpx`` errors as they come."""
    name = url.raw_host.decode("ascii")
    is_literal = literal_address(name) is not None
    last: httpx.HTTPError | None = None
    for ip in addresses:
        request = client.build_request(
            "GET", url.copy_with(host=str(ip)), headers={"Host": url.netloc.decode("ascii"), **(headers or {})},
            timeout=timeout, extensions=None if is_literal else {"sni_hostname": name},
        )
        try:
            return await client.send(request, stream=stream)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            last = exc
    if last is None:
        raise httpx.ConnectError(f"no address for {name}")
    raise last
