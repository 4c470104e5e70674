"""The request-body limit (api/body_limit.py): bodies over ``max_body_bytes`` get a 413 in OVH's
shape as they arrive, before authentication, and are never held in memory; bodies up to the
limit are served as before."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Iterator

import httpx
import pytest

from helpers import Server, Tenant
from textos.config import Settings
from textos.domain.signing import sign

LIMIT = Settings().max_body_bytes
FIFTY_MB = 50 * 1024 * 1024
CHUNK = b"x" * 65536


def test_the_default_limit_holds_a_job_for_100000_receivers():
    receivers = ["+33 6 12 34 56 78"] * 100_000
    body = json.dumps({"message": "é" * 10_000, "receivers": receivers, "noStopClause": True})  # as the ovh client writes it
    assert len(body.encode()) < LIMIT


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


def _upload(port: int, *, chunked: bool, size: int = FIFTY_MB) -> tuple[bytes, float, int]:
    """An unauthenticated POST of ``size`` bytes sent as fast as the server takes them, its answer
    read meanwhile: ``(answer, seconds until the answer, bytes sent until then)``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    framing = b"Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}".encode()
    sock.sendall(b"POST /1.0/sms/sms-xx00000-1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\n" + framing + b"\r\n\r\n")
    started = time.monotonic()
    answer = bytearray()
    answered = threading.Event()
    took: list[float] = []

    def read() -> None:
        try:
            while data := sock.recv(65536):
                if not answer:
                    took.append(time.monotonic() - started)
                    answered.set()
                answer.extend(data)
        except OSError:
            pass
        answered.set()

    reader = threading.Thread(target=read)
    reader.start()
    sent = 0
    try:
        while sent < size and not answered.is_set():
            sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK)
            sent += len(CHUNK)
        if chunked and sent >= size:
            sock.sendall(b"0\r\n\r\n")
    except OSError:  # the server closed the connection after its answer
        pass
    answered.wait(timeout=60)
    with contextlib.suppress(OSError):  # already closed by the server
        sock.shutdown(socket.SHUT_RDWR)
    reader.join(timeout=10)
    sock.close()
    return bytes(answer), (took[0] if took else float("inf")), sent


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_unauthenticated_50mb_body_is_refused_at_once_without_being_held(server: Server, chunked: bool):
    before = _rss_kib(server.process.pid)
    answer, seconds, sent = _upload(server.port, chunked=chunked)
    grown_mib = (_rss_kib(server.process.pid) - before) / 1024
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), answer[:300]
    assert b"connection: close" in head.lower()
    # The server closes with the client's unread bytes still in its socket: TCP then resets the
    # connection, which may drop the answer's body before the client reads it (the body's shape
    # is checked where nothing is left unread: test_the_refusal_is_in_ovh_shape).
    assert body in (b"", json.dumps(REFUSAL, separators=(",", ":")).encode()) or json.loads(body) == REFUSAL
    assert seconds < 5, f"answered after {seconds:.1f} s"
    assert sent < FIFTY_MB / 2, f"{sent} bytes sent before the answer"
    assert grown_mib < 30, f"the server grew by {grown_mib:.0f} MiB"


REFUSAL = {"class": "Client::RequestEntityTooLarge",
           "message": f"Request body too large: at most {LIMIT} bytes are accepted (max_body_bytes)"}


def test_the_refusal_is_in_ovh_shape(server: Server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /1.0/sms/sms-xx00000-1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1))
        answer = b""
        while chunk := sock.recv(65536):  # the server answers without waiting for the body, then closes
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ") and json.loads(body) == REFUSAL


def _signed_job(server: Server, tenant: Tenant, size: int) -> tuple[str, bytes, dict[str, str]]:
    """A signed job for one receiver, padded with JSON whitespace to exactly ``size`` bytes."""
    url = f"{server.endpoint}/sms/{tenant.service}/jobs"
    core = json.dumps({"message": "just under", "receivers": ["+33612345678"], "noStopClause": True})
    body = core[:-1] + " " * (size - len(core)) + "}"
    now = str(int(time.time()))
    headers = {
        "X-Ovh-Application": tenant.app_key, "X-Ovh-Consumer": tenant.consumer_key, "X-Ovh-Timestamp": now,
        "X-Ovh-Signature": sign(tenant.app_secret, tenant.consumer_key, "POST", url, body, now),
        "Content-Type": "application/json",
    }
    return url, body.encode(), headers


def _in_chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 65536):
        yield body[start:start + 65536]


def test_a_body_of_exactly_the_limit_is_served_and_one_byte_more_is_not(server: Server, tenant: Tenant):
    url, body, headers = _signed_job(server, tenant, LIMIT)
    assert httpx.post(url, content=body, headers=headers, timeout=30).json()["validReceivers"] == ["+33612345678"]
    assert httpx.post(url, content=_in_chunks(body), headers=headers, timeout=30).json()["totalCreditsRemoved"] == 1
    url, body, headers = _signed_job(server, tenant, LIMIT + 1)
    assert httpx.post(url, content=body, headers=headers, timeout=30).status_code == 413
    assert httpx.post(url, content=_in_chunks(body), headers=headers, timeout=30).status_code == 413
    assert tenant.credits() == 98
