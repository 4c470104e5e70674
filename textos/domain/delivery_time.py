"""Delivery time (sent → delivered) counted in buckets, and the percentiles read from them.

A campaign report gives the delivery time's p50/p90/p99 and a histogram for up to millions of
messages in milliseconds, so delivery times are never kept one by one: each delivered message
adds one to the count of its **bucket**. Buckets grow geometrically (each ``GROWTH`` times the
previous one, from ``FIRST`` seconds), so a percentile read from them is within ``GROWTH - 1``
(about 10 %) of the exact one at every scale, from sub-second OTP deliveries to a handset that
was off for a day. ``DISPLAY_EDGES`` groups them into the few bars a histogram shows.
"""

from __future__ import annotations

import bisect
import math
from typing import Iterable, Mapping

__all__ = ["BUCKETS", "DISPLAY_EDGES", "FIRST", "GROWTH", "bucket_of", "histogram", "lower_bound", "percentile", "upper_bound"]

FIRST = 0.25
"""Upper bound of bucket 0, in seconds (everything faster counts there)."""
GROWTH = 1.1
BUCKETS = 1 + math.ceil(math.log(7 * 86400 / FIRST, GROWTH))
"""Buckets up to a week; the last one also holds anything slower."""
_BOUNDS = [FIRST * GROWTH**i for i in range(BUCKETS)]

DISPLAY_EDGES: tuple[float, ...] = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 6 * 3600, 86400)
"""Upper edges (seconds) of a histogram's bars; one more bar holds what is slower than a day."""


def bucket_of(seconds: float) -> int:
    """The bucket of a delivery time in seconds (negative clock skew counts as instant)."""
    if seconds <= FIRST:
        return 0
    return min(BUCKETS - 1, bisect.bisect_left(_BOUNDS, seconds))


def upper_bound(bucket: int) -> float:
    """The longest delivery time (seconds) that bucket ``bucket`` holds."""
    return _BOUNDS[bucket]


def lower_bound(bucket: int) -> float:
    return 0.0 if bucket == 0 else _BOUNDS[bucket - 1]


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """The ``q``-th percentile (0 < q ≤ 100) of the delivery times counted in ``counts``
    (bucket → messages), interpolated inside its bucket; None when nothing was delivered."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = q / 100 * total
    seen = 0
    for bucket in sorted(counts):
        n = counts[bucket]
        if n <= 0:
            continue
        if seen + n >= rank:
            low, high = lower_bound(bucket), upper_bound(bucket)
            return round(low + (high - low) * max(0.0, rank - seen) / n, 3)
        seen += n
    return upper_bound(max(counts))


def histogram(counts: Mapping[int, int]) -> list[tuple[float | None, int]]:
    """The bars of a histogram: ``(upper edge in seconds, messages)`` for each of
    ``DISPLAY_EDGES``, then ``(None, messages slower than a day)``. A bucket counts in the bar
    where it starts (bars are as exact as the buckets: within ``GROWTH - 1`` of their edges)."""
    bars = [0] * (len(DISPLAY_EDGES) + 1)
    for bucket, n in counts.items():
        bars[bisect.bisect_right(DISPLAY_EDGES, lower_bound(bucket))] += n
    edges: Iterable[float | None] = (*DISPLAY_EDGES, None)
    return list(zip(edges, bars))
