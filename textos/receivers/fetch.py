"""Download a receivers document (``receiversDocumentUrl`` / ``csvUrl``) safely.

The body is streamed to a caller-supplied binary file, never held in memory,
under limits on size, time and redirects. Every host (the first URL and each
redirect hop) is vetted by ``textos.domain.public_urls``: non-public addresses
are refused unless ``allow_private=True``.

Asynchronous (:func:`fetch_to_file_async`): a download that waits on a slow
server holds no thread, only a coroutine. ``limits.total_timeout`` bounds the
whole download, from name resolution to the last byte, however slowly the
server trickles; ``read_timeout`` separately names a server that stops answering.
:func:`fetch_to_file` runs it to completion for threads without an event loop.

DNS pinning: the host is resolved once, every address is vetted, and the
connection is made to the vetted IP literal; the original name travels in the
``Host`` header and, for HTTPS, as SNI / certificate hostname (httpcore's
``sni_hostname`` extension), so a DNS answer that changes between the check
and the connect (DNS rebinding) cannot redirect the request. Environment
proxies are ignored (``trust_env=False``) for the same reason.

On error ``dest`` may hold a partial body.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import zlib
from dataclasses import dataclass
from typing import IO, Any, AsyncIterator

import httpx

from textos.domain.public_urls import IPAddress, UrlRefused, parse_url, send_pinned, vetted_addresses

__all__ = ["FetchError", "FetchLimits", "fetch_to_file", "fetch_to_file_async"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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


def fetch_to_file(url: str, dest: IO[bytes], **options: Any) -> int:
    """:func:`fetch_to_file_async` (same options) run to completion: for a thread with no event loop (a background batch)."""
    return asyncio.run(fetch_to_file_async(url, dest, **options))


async def fetch_to_file_async(
    url: str,
    dest: IO[bytes],
    *,
    allow_private: bool = False,
    limits: FetchLimits = FetchLimits(),
    verify: ssl.SSLContext | bool = True,
) -> int:
    """Stream ``url`` (http/https, GET) into ``dest``; return the bytes written.

    Done within ``limits.total_timeout`` or refused. Raises :class:`FetchError`.
    """
    try:
        async with asyncio.timeout(limits.total_timeout):
            return await _fetch(_parse_url(url), dest, allow_private, limits, _default_tls() if verify is True else verify)
    except TimeoutError:
        raise _too_slow(limits) from None


async def _fetch(current: httpx.URL, dest: IO[bytes], allow_private: bool, limits: FetchLimits, verify: ssl.SSLContext | bool) -> int:
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False, verify=verify) as client:
        for _hop in range(limits.max_redirects + 1):
            addresses = await _vetted_addresses(current, allow_private, limits)
            response = await _connect(client, current, addresses, limits)
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
                return await _save_body(response, dest, limits)
            finally:
                await response.aclose()
    raise FetchError(f"more than {limits.max_redirects} redirects")


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """The system's certificate checks, built once: building them (~40 ms of CPU) per download
    would stall the event loop every request runs on."""
    return httpx.create_ssl_context()


def _parse_url(url: str) -> httpx.URL:
    try:
        return parse_url(url)
    except UrlRefused as exc:
        raise FetchError(exc.message) from None


def _too_slow(limits: FetchLimits) -> FetchError:
    return FetchError(f"the download did not complete within {limits.total_timeout:g} s")


async def _vetted_addresses(url: httpx.URL, allow_private: bool, limits: FetchLimits) -> list[IPAddress]:
    try:
        return await vetted_addresses(url, allow_private=allow_private, timeout=limits.connect_timeout)
    except UrlRefused as exc:
        raise FetchError(exc.message) from None


async def _connect(client: httpx.AsyncClient, url: httpx.URL, addresses: list[IPAddress], limits: FetchLimits) -> httpx.Response:
    """Send the GET to each vetted address in turn (``public_urls.send_pinned``); return the streaming response."""
    name = url.raw_host.decode("ascii")
    timeout = httpx.Timeout(connect=limits.connect_timeout, read=limits.read_timeout, write=limits.read_timeout, pool=limits.connect_timeout)
    try:
        return await send_pinned(client, url, addresses, timeout=timeout, headers={"Accept-Encoding": "gzip, identity"}, stream=True)
    except httpx.ConnectTimeout:
        raise FetchError(f"could not connect to {name} within {limits.connect_timeout:g} s") from None
    except httpx.ConnectError as exc:
        raise FetchError(f"could not connect to {name} ({_describe(exc)})") from None
    except httpx.TimeoutException:
        raise _no_answer(limits) from None
    except httpx.HTTPError as exc:
        raise FetchError(f"request to {name} failed ({_describe(exc)})") from None


async def _save_body(response: httpx.Response, dest: IO[bytes], limits: FetchLimits) -> int:
    too_large = FetchError(f"the document is larger than {_size(limits.max_bytes)}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise too_large
    written = 0
    try:
        async for chunk in _decoded(response):
            written += len(chunk)
            if written > limits.max_bytes:
                raise too_large
            dest.write(chunk)
    except httpx.TimeoutException:
        raise _no_answer(limits) from None
    except httpx.HTTPError as exc:
        raise FetchError(f"the download failed ({_describe(exc)})") from None
    return written


async def _decoded(response: httpx.Response) -> AsyncIterator[bytes]:
    """Raw body, gunzipped/inflated with bounded output per step (no zip bombs)."""
    coding = response.headers.get("content-encoding", "identity").strip().lower()
    if coding in ("", "identity"):
        async for raw in response.aiter_raw():
            yield raw
        return
    if coding not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"unsupported Content-Encoding {coding!r}")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
    try:
        async for raw in response.aiter_raw():
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


def _no_answer(limits: FetchLimits) -> FetchError:
    return FetchError(f"the server did not answer within {limits.read_timeout:g} s")


def _describe(exc: BaseException | None) -> str:
    text = str(exc) if exc is not None else ""
    return text or type(exc).__name__


def _size(n: int) -> str:
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"
