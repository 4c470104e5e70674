"""Time as stored (naive UTC) and as date filters read it (textos/domain/clock.py)."""

from __future__ import annotations

import datetime as dt

from textos.domain.clock import iso, naive_utc, naive_utc_until

PARIS_WINTER = dt.timezone(dt.timedelta(hours=1))


def test_a_time_with_an_offset_is_converted_and_one_without_is_taken_as_utc():
    assert naive_utc(dt.datetime(2026, 12, 1, 11, 30, tzinfo=PARIS_WINTER)) == dt.datetime(2026, 12, 1, 10, 30)
    assert naive_utc(dt.datetime(2026, 12, 1, 10, 30)) == dt.datetime(2026, 12, 1, 10, 30)
    assert naive_utc(None) is None


def test_an_upper_bound_given_to_the_second_covers_that_whole_second():
    stored = dt.datetime(2026, 12, 1, 10, 30, 5, 654_321)
    shown = iso(stored)
    assert shown == "2026-12-01T10:30:05+00:00"
    assert stored <= naive_utc_until(dt.datetime.fromisoformat(shown))  # type: ignore[operator]
    assert naive_utc_until(dt.datetime(2026, 12, 1, 11, 30, 5, tzinfo=PARIS_WINTER)) == dt.datetime(2026, 12, 1, 10, 30, 5, 999_999)
    assert naive_utc_until(dt.datetime(2026, 12, 1, 10, 30, 5, 250_000)) == dt.datetime(2026, 12, 1, 10, 30, 5, 250_000)  # as precise as given
    assert naive_utc_until(None) is None
