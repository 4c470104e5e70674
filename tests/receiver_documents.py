"""Receivers documents as people send them, shared by the fetch/CSV tests and the campaign end-to-end tests."""

from __future__ import annotations

import http.server
import random
import time

COOKBOOK = (
    "Numero ;nom ;prenom ;adresse\r\n"
    "0662000000 ;Durant ;Pierre ;xx rue montaigne Paris\r\n"
    "0662000001 ;Dupont ;Jean ;xx rue montaigne Paris\r\n"
).encode()
"""OVH's cookbook example: ``;`` with spaces around the values, CRLF."""
BOM = b"\xef\xbb\xbfnumber;name\n+33612345678;Zo\xc3\xa9\n"
HALF_INVALID = b"number\n" + b"".join(
    (b"+3361234%04d\n" % i) if i % 2 else b"not-a-number-%d\n" % i for i in range(100)
)
GARBAGE = random.Random(1234).randbytes(10 * 1024 * 1024)
"""Ten megabytes of binary noise."""


def serve_offline(monkeypatch, documents: dict[str, bytes]) -> None:  # type: ignore[no-untyped-def]
    """Downloads of ``services.documents`` (awaited and blocking) answer from ``documents``, others HTTP 404."""
    from textos.receivers.fetch import FetchError
    from textos.services import documents as service

    def fetch(url: str, dest, **_: object) -> int:  # type: ignore[no-untyped-def]
        if url not in documents:
            raise FetchError("the server answered HTTP 404")
        return dest.write(documents[url])

    async def fetch_async(url: str, dest, **kw: object) -> int:  # type: ignore[no-untyped-def]
        return fetch(url, dest, **kw)

    monkeypatch.setattr(service, "fetch_to_file", fetch)
    monkeypatch.setattr(service, "fetch_to_file_async", fetch_async)


def trickle_answer(handler: http.server.BaseHTTPRequestHandler, interval: float) -> None:
    """Answer a small CSV a byte every ``interval`` seconds, status line and headers included:
    every read gets a byte, so no read timeout ever fires."""
    try:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 7\r\n\r\nnumber\n":
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(interval)
    except OSError:
        pass
    handler.close_connection = True
