"""OVH request signing: ``$1$`` + SHA-1 of secret, consumer key, method, URL, body, timestamp.

A request is signed over the URL the client called. The Node.js client (npm ``ovh`` 2.x)
signs ``https://`` + host + path without the port it connects to, so a signature over
the called URL without its port is accepted too; nothing else about the URL is relaxed.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_TIMESTAMP = re.compile(r"-?[0-9]{1,20}")


def sign(app_secret: str, consumer_key: str, method: str, url: str, body: str, timestamp: str) -> str:
    """The ``X-Ovh-Signature`` value a client computes for this request."""
    payload = "+".join([app_secret, consumer_key, method.upper(), url, body, timestamp])
    return "$1$" + hashlib.sha1(payload.encode("utf-8")).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two signatures."""
    return hmac.compare_digest(expected.encode(), given.encode())


def without_port(url: str) -> str | None:
    """``url`` without the port of its authority (``https://h:8443/p`` → ``https://h/p``); None when it names none."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    host, colon, port = rest[:end].rpartition(":")
    if not colon or not port.isascii() or not port.isdigit() or not host:
        return None
    return f"{scheme}://{host}{rest[end:]}"


def signature_accepted(given: str, app_secret: str, consumer_key: str, method: str, url: str, body: str, timestamp: str) -> bool:
    """``given`` signs this request over ``url``, or over ``url`` without its port (the Node.js
    client's way); the second is computed only when the first does not match."""
    if signature_matches(sign(app_secret, consumer_key, method, url, body, timestamp), given):
        return True
    bare = without_port(url)
    return bare is not None and signature_matches(sign(app_secret, consumer_key, method, bare, body, timestamp), given)


def parse_timestamp(value: str) -> int | None:
    """``X-Ovh-Timestamp`` in seconds since the epoch; None unless it is ASCII digits (at most
    20, an optional ``-`` first). ``str.isdigit`` would let through ``²`` or ``١``, and
    ``int`` refuses those and numbers longer than 4,300 digits."""
    return int(value) if _TIMESTAMP.fullmatch(value) else None
