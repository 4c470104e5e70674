"""bench/presign.py signs one-receiver jobs as the ``ovh`` client does: the server accepts
them, sent with httpx or as the raw bytes wrk sends."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx

from helpers import Tenant, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from presign import job_requests, receivers, server_time  # noqa: E402


def signed_for(tenant: Tenant, to: list[str]):  # type: ignore[no-untyped-def]
    endpoint = tenant.server.endpoint
    return job_requests(endpoint, tenant.service, tenant.app_key, tenant.app_secret, tenant.consumer_key, to, server_time(endpoint))


def raw_exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_presigned_jobs_are_accepted_and_stored(tenant: Tenant):
    to = receivers(0, 4)
    requests = signed_for(tenant, to)
    ids = []
    for r, receiver in zip(requests[:3], to):
        answer = httpx.request(r.method, r.url, headers=r.headers, content=r.body, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["validReceivers"] == [receiver]
        ids += answer.json()["ids"]
    wire = raw_exchange(tenant.server.port, requests[3].raw())
    assert wire.startswith(b"HTTP/1.1 200"), wire
    assert len(ids) == 3
    sent = lambda: set(ids) <= set(tenant.client.get(f"/sms/{tenant.service}/outgoing"))  # noqa: E731 - outgoing lists sent messages
    wait_until(sent, timeout=30)
    for i, receiver in zip(ids, to):
        assert tenant.client.get(f"/sms/{tenant.service}/outgoing/{i}")["receiver"] == receiver
