"""Pre-signed one-receiver ``POST /1.0/sms/{s}/jobs`` requests, signed as the ``ovh`` client signs.

The ``ovh`` client signs ``secret+consumerKey+METHOD+URL+body+timestamp`` where the
body is ``json.dumps(data, separators=(",", ":"))`` and the timestamp is the server's
clock (``GET /1.0/auth/time``); the rule itself is ``textos.domain.signing.sign``.
Signing ahead lets a load generator send them at wire speed: they stay valid for the
server's time window (180 s by default).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from textos.domain.signing import sign

JOB_MESSAGE = "Your code is 123456"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    url: str
    """Absolute, as signed: ``http://127.0.0.1:PORT/1.0/...``."""
    headers: dict[str, str]
    body: str

    @property
    def host(self) -> str:
        return self.url.split("/", 3)[2]

    @property
    def path(self) -> str:
        return "/" + self.url.split("/", 3)[3]

    def raw(self) -> bytes:
        """The HTTP/1.1 request on the wire (keep-alive)."""
        body = self.body.encode()
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def server_time(endpoint: str) -> int:
    """The server's clock, as the ``ovh`` client reads it before signing."""
    return int(httpx.get(f"{endpoint}/auth/time", timeout=10).json())


def receivers(first: int, count: int) -> list[str]:
    """Distinct French mobile numbers ``+3361xxxxxxx``, from index ``first``."""
    return [f"+3361{i % 10**7:07d}" for i in range(first, first + count)]


def job_requests(
    endpoint: str, service: str, app_key: str, app_secret: str, consumer_key: str, to: list[str], timestamp: int, message: str = JOB_MESSAGE
) -> list[SignedRequest]:
    """One signed ``POST /sms/{service}/jobs`` per receiver of ``to``."""
    url = f"{endpoint}/sms/{service}/jobs"
    stamp = str(timestamp)
    out = []
    for receiver in to:
        body = json.dumps({"message": message, "receivers": [receiver], "noStopClause": True}, separators=(",", ":"))
        headers = {
            "Content-Type": "application/json",
            "X-Ovh-Application": app_key,
            "X-Ovh-Consumer": consumer_key,
            "X-Ovh-Timestamp": stamp,
            "X-Ovh-Signature": sign(app_secret, consumer_key, "POST", url, body, stamp),
        }
        out.append(SignedRequest("POST", url, headers, body))
    return out


def time_request(endpoint: str) -> SignedRequest:
    """``GET /1.0/auth/time`` (not signed: it needs no authentication)."""
    return SignedRequest("GET", f"{endpoint}/auth/time", {}, "")
