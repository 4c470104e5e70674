"""Slow receiver documents never stall the API: downloads wait on the event loop, not on request threads,
at most ``fetch_max_per_account`` per account, each bounded as a whole by ``fetch_timeout``.

A real server per backend, real document servers on loopback: one that accepts connections and never
answers, one that trickles its headers a byte at a time, one that answers at once.
"""

from __future__ import annotations

import asyncio
import http.server
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from helpers import BACKENDS, Server, Tenant, start_server, stop_server
from receiver_documents import trickle_answer
from signed_calls import signed

FETCH_TIMEOUT = 5.0
PER_ACCOUNT = 20
CSV = b"number\n+33612345678\n+33612345679\n"


class Stalled:
    """Accepts every connection and never answers; counts them."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.accepted: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/receivers.csv"

    def _accept(self) -> None:
        while not self.closed:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for connection in self.accepted:
            connection.close()


class _Documents(http.server.BaseHTTPRequestHandler):
    """``/ok.csv`` at once; ``/trickle.csv``: status line and headers a byte every 2 s (each read gets one, none times out)."""

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/ok.csv":
            self.send_response(200)
            self.send_header("Content-Length", str(len(CSV)))
            self.end_headers()
            self.wfile.write(CSV)
            return
        trickle_answer(self, 2)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def documents() -> Iterator[Callable[[str], str]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Documents)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield lambda path: f"http://127.0.0.1:{server.server_address[1]}{path}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module", params=BACKENDS)
def fetching(request: pytest.FixtureRequest, make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with short document limits, signed against ``http://testserver`` (tests/signed_calls.py)."""
    backend = request.param
    server = start_server(make_database(backend), tmp_path_factory.mktemp(f"fetches-{backend}"), backend, extra_env={
        "TEXTOS_PUBLIC_URL": "http://testserver", "TEXTOS_FETCH_TIMEOUT": str(FETCH_TIMEOUT),
        "TEXTOS_FETCH_MAX_PER_ACCOUNT": str(PER_ACCOUNT), "TEXTOS_FETCH_ALLOW_PRIVATE": "1",
    })  # fmt: skip
    yield server
    stop_server(server)


def _keys(tenant: Tenant) -> tuple[str, str, str, str]:
    return tenant.service, tenant.app_key, tenant.app_secret, tenant.consumer_key


def _client(server: Server, connections: int = 10) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=FETCH_TIMEOUT + 10,
                             limits=httpx.Limits(max_connections=connections))


def test_sixty_stalled_downloads_leave_the_api_fast_and_each_account_is_limited(fetching: Server, documents: Callable[[str], str]) -> None:
    first, second, third, quiet = (_keys(fetching.tenant()) for _ in range(4))
    stalled = Stalled()

    async def scenario() -> None:
        async with _client(fetching, 100) as slow, _client(fetching) as fast:

            def job(keys: tuple[str, ...], url: str) -> asyncio.Future[httpx.Response]:
                body = {"message": "hi", "receiversDocumentUrl": url, "noStopClause": True}
                return asyncio.ensure_future(signed(slow, keys, "POST", f"/sms/{keys[0]}/jobs", body))

            def slot(keys: tuple[str, ...], n: int) -> asyncio.Future[httpx.Response]:
                body = {"csvUrl": stalled.url, "slotId": 1 + n % 9}
                return asyncio.ensure_future(signed(slow, keys, "POST", f"/sms/{keys[0]}/receivers", body))

            waiting = [job(first, stalled.url) for _ in range(PER_ACCOUNT)] + [job(second, stalled.url) for _ in range(PER_ACCOUNT)]
            waiting += [slot(third, n) for n in range(PER_ACCOUNT)]
            started = time.monotonic()
            while len(stalled.accepted) < 3 * PER_ACCOUNT:
                assert time.monotonic() - started < FETCH_TIMEOUT - 1.5, f"only {len(stalled.accepted)} downloads started"
                await asyncio.sleep(0.02)

            # The API answers every account at once meanwhile. A download holding the event loop or the
            # account's requests would show as seconds (FETCH_TIMEOUT); a loaded CI machine as tens of ms.
            latencies = []
            for n in range(100):
                keys = (first, quiet)[n % 2]
                at = time.perf_counter()
                answer = await signed(fast, keys, "GET", f"/sms/{keys[0]}")
                latencies.append(time.perf_counter() - at)
                assert answer.status_code == 200, answer.text
            p99 = statistics.quantiles(latencies, n=100)[98]
            assert p99 < FETCH_TIMEOUT / 10, f"p99 of GET /sms/{{s}} was {p99 * 1000:.0f} ms with 60 stalled downloads"

            # One account over its limit is refused at once; another account sends, from a list or a document.
            at = time.monotonic()
            refused = await signed(fast, first, "POST", f"/sms/{first[0]}/jobs",
                                   {"message": "hi", "receiversDocumentUrl": stalled.url, "noStopClause": True})
            assert time.monotonic() - at < 1 and refused.status_code == 429, refused.text
            assert refused.json()["class"] == "Client::TooManyRequests"
            assert refused.json()["message"].startswith(f"receiversDocumentUrl: this account already has {PER_ACCOUNT} ")
            listed = await signed(fast, quiet, "POST", f"/sms/{quiet[0]}/jobs", {"message": "hi", "receivers": ["+33612345670"], "noStopClause": True})
            from_document = await signed(fast, quiet, "POST", f"/sms/{quiet[0]}/jobs",
                                         {"message": "hi", "receiversDocumentUrl": documents("/ok.csv"), "noStopClause": True})
            assert listed.status_code == 200 and from_document.status_code == 200, (listed.text, from_document.text)
            assert from_document.json()["validReceivers"] == ["+33612345678", "+33612345679"]
            assert time.monotonic() - started < FETCH_TIMEOUT, "the checks above must run while the downloads are stalled"

            # The stalled downloads end refused at their deadline, each naming its field.
            for answer in await asyncio.gather(*waiting):
                assert answer.status_code == 400, answer.text
                assert "within 5 s" in answer.json()["message"] and answer.json()["message"].split(":")[0] in ("receiversDocumentUrl", "csvUrl")

    try:
        asyncio.run(scenario())
    finally:
        stalled.close()


def test_fetch_timeout_bounds_a_server_trickling_its_answer(fetching: Server, documents: Callable[[str], str]) -> None:
    keys = _keys(fetching.tenant())

    async def scenario() -> httpx.Response:
        async with _client(fetching) as client:
            return await signed(client, keys, "POST", f"/sms/{keys[0]}/jobs",
                                {"message": "hi", "receiversDocumentUrl": documents("/trickle.csv"), "noStopClause": True})

    started = time.monotonic()
    answer = asyncio.run(scenario())
    elapsed = time.monotonic() - started
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"] == f"receiversDocumentUrl: the download did not complete within {FETCH_TIMEOUT:g} s"
    assert elapsed < FETCH_TIMEOUT + 1.5, f"answered after {elapsed:.1f} s"
