"""Receivers documents as people send them, shared by the fetch/CSV tests and the campaign end-to-end tests."""

from __future__ import annotations

import random

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
