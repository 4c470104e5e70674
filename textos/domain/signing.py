"""OVH request signing: ``$1$`` + SHA-1 of secret, consumer key, method, URL, body, timestamp."""

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


def parse_timestamp(value: str) -> int | None:
    """``X-Ovh-Timestamp`` in seconds since the epoch; None unless it is ASCII digits (at most
    20, an optional ``-`` first). ``str.isdigit`` would let through ``²`` or ``١``, and
    ``int`` refuses those and numbers longer than 4,300 digits."""
    return int(value) if _TIMESTAMP.fullmatch(value) else None
