"""The token bucket: full at first (a tenth of a second's burst), then ``rate`` per second."""

from __future__ import annotations

import pytest

from textos.smpp.throttle import TokenBucket


def test_a_burst_then_the_rate():
    bucket = TokenBucket(100)
    assert sum(bucket.take(1000.0) for _ in range(50)) == 10  # a tenth of a second's worth
    assert not bucket.take(1000.005)
    assert bucket.take(1000.011)  # one token every 10 ms
    assert sum(bucket.take(1001.0) for _ in range(50)) == 10  # never more than the burst
    assert bucket.interval == 0.01


def test_slow_rates_still_allow_one():
    bucket = TokenBucket(2)
    assert bucket.take(50.0) and not bucket.take(50.1)
    assert bucket.take(50.6)


def test_needs_a_positive_rate():
    with pytest.raises(ValueError):
        TokenBucket(0)
