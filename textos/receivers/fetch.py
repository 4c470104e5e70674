"""Download a receivers document (``receiversDocumentUrl`` / ``csvUrl``) safely.

The body is streamed to a caller-supplied binary file, never held in memory,
under limits on size, time and redirects. An SSRF guard resolves every host
(the first URL and each redirect hop) and refuses non-public addresses unless
``allow_private=True``.

DNS pinning: the host is resolved once, every address is vetted, and the
connection is made to the vetted IP literal; the original name travels in the
``Host`` header and, for HTTPS, as SNI / certificate hostname (httpcore's
``sni_hostname`` extension), so a DNS answer that changes between the check
and the connect (DNS rebinding) cannot redirect the request. Environment
proxies are ignored (``trust_env=False``) for the same reason.

Caveats: name resolution uses the system resolver in a helper thread bounded
by ``connect_timeout`` (a stuck lookup leaves that daemon thread behind);
``total_timeout`` is checked between received chunks, so it can be overshot
by at most ``read_timeout``; on error ``dest`` may hold a partial body.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass
from typing import IO, Iterator

import httpx

__all__ = ["FetchError", "FetchLimits", "address_refusal", "fetch_to_file"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_getaddrinfo = socket.getaddrinfo  # module attribute so tests can fake DNS


class FetchError(Exception):
    """The document could not be downloaded; ``str()`` is user-facing."""

    def __init__(self, message: str, field: str = "receiversDocumentUrl") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = 200 * 1024 * 1024
    total_timeout: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_redirects: int = 5


def address_refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be fetched from (None if it is a public address).

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


def fetch_to_file(
    url: str,
    dest: IO[bytes],
    *,
    allow_private: bool = False,
    limits: FetchLimits = FetchLimits(),
    verify: ssl.SSLContext | bool = True,
) -> int:
    """Stream ``url`` (http/https, GET) into ``dest``; return the bytes written.

    Blocking; run it in a worker thread. Raises :class:`FetchError`.
    """
    deadline = time.monotonic() + limits.total_timeout
    current = _parse_url(url)
    with httpx.Client(trust_env=False, follow_redirects=False, verify=verify) as client:
        for _hop in range(limits.max_redirects + 1):
            addresses = _vetted_addresses(current, allow_private, limits, deadline)
            response = _connect(client, current, addresses, limits, deadline)
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    location = response.headers["location"]
                    try:
                        current = _parse_url(str(current.join(location)))
                    except FetchError as exc:
                        raise FetchError(f"redirected to {location!r}: {exc.message}") from None
                    continue
                if not 200 <= response.status_code < 300:
                    reason = f" {response.reason_phrase}" if response.reason_phrase else ""
                    raise FetchError(f"the server answered HTTP {response.status_code}{reason}")
                return _save_body(response, dest, limits, deadline)
            finally:
                response.close()
    raise FetchError(f"more than {limits.max_redirects} redirects")


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchError(f"invalid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"only http and https URLs are accepted, not {parsed.scheme or 'none'!r}")
    if not parsed.host:
        raise FetchError("the URL has no host")
    return parsed.copy_with(fragment=None)


def _remaining(deadline: float, limits: FetchLimits) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError(f"the download did not complete within {limits.total_timeout:g} s")
    return left


def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    result: list[object] = []

    def work() -> None:
        try:
            result.append(_getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as exc:
            result.append(exc)

    thread = threading.Thread(target=work, name="textos-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        raise FetchError(f"could not resolve host {host!r} within {timeout:g} s")
    if isinstance(result[0], BaseException):
        raise FetchError(f"could not resolve host {host!r} ({result[0]})")
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in result[0]:  # type: ignore[attr-defined]
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise FetchError(f"host {host!r} has no address")
    return addresses


def _vetted_addresses(
    url: httpx.URL, allow_private: bool, limits: FetchLimits, deadline: float
) -> list[IPAddress]:
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    timeout = min(limits.connect_timeout, _remaining(deadline, limits))
    addresses = _resolve(host.strip("[]"), port, timeout)
    if not allow_private:
        for ip in addresses:  # refuse if ANY answer is non-public
            reason = address_refusal(ip)
            if reason is not None:
                shown = str(ip) if _literal(host) == ip else f"{ip} (of host {host})"
                raise FetchError(f"address {shown} is {reason}, refused")
    return addresses


def _connect(
    client: httpx.Client,
    url: httpx.URL,
    addresses: list[IPAddress],
    limits: FetchLimits,
    deadline: float,
) -> httpx.Response:
    """Send the GET to each vetted address in turn; return the streaming response."""
    name = url.raw_host.decode("ascii")
    is_literal = _literal(name) is not None
    last: Exception | None = None
    for ip in addresses:
        left = _remaining(deadline, limits)
        timeout = httpx.Timeout(
            connect=min(limits.connect_timeout, left),
            read=min(limits.read_timeout, left),
            write=min(limits.read_timeout, left),
            pool=min(limits.connect_timeout, left),
        )
        request = client.build_request(
            "GET",
            url.copy_with(host=str(ip)),
            headers={"Host": url.netloc.decode("ascii"), "Accept-Encoding": "gzip, identity"},
            timeout=timeout,
            extensions=None if is_literal else {"sni_hostname": name},
        )
        try:
            return client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            last = exc
        except httpx.TimeoutException:
            raise _timeout_error(limits, deadline) from None
        except httpx.HTTPError as exc:
            raise FetchError(f"request to {name} failed ({_describe(exc)})") from None
    if isinstance(last, httpx.ConnectTimeout):
        raise FetchError(f"could not connect to {name} within {limits.connect_timeout:g} s")
    raise FetchError(f"could not connect to {name} ({_describe(last)})")


def _save_body(
    response: httpx.Response, dest: IO[bytes], limits: FetchLimits, deadline: float
) -> int:
    too_large = FetchError(f"the document is larger than {_size(limits.max_bytes)}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise too_large
    written = 0
    try:
        for chunk in _decoded(response):
            written += len(chunk)
            if written > limits.max_bytes:
                raise too_large
            dest.write(chunk)
            _remaining(deadline, limits)
    except httpx.TimeoutException:
        raise _timeout_error(limits, deadline) from None
    except httpx.HTTPError as exc:
        raise FetchError(f"the download failed ({_describe(exc)})") from None
    return written


def _decoded(response: httpx.Response) -> Iterator[bytes]:
    """Raw body, gunzipped/inflated with bounded output per step (no zip bombs)."""
    coding = response.headers.get("content-encoding", "identity").strip().lower()
    if coding in ("", "identity"):
        yield from response.iter_raw()
        return
    if coding not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"unsupported Content-Encoding {coding!r}")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
    try:
        for raw in response.iter_raw():
            data = raw
            while data:
                out = inflater.decompress(data, 1 << 20)
                data = inflater.unconsumed_tail
                if out:
                    yield out
        tail = inflater.flush()
    except zlib.error as exc:
        raise FetchError(f"corrupt {coding} body ({exc})") from None
    if tail:
        yield tail


def _timeout_error(limits: FetchLimits, deadline: float) -> FetchError:
    if time.monotonic() >= deadline - 0.05:
        return FetchError(f"the download did not complete within {limits.total_timeout:g} s")
    return FetchError(f"the server did not answer within {limits.read_timeout:g} s")


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _describe(exc: BaseException | None) -> str:
    text = str(exc) if exc is not None else ""
    return text or type(exc).__name__


def _size(n: int) -> str:
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"
