"""``dashboard.report_charts``: what the campaign page's four charts show of a report (the funnel's
stages and losses, the histogram's bars, STOPs per day with their rate, errors by ptt with their
meaning) and how rates and durations read."""

from __future__ import annotations

import datetime as dt

from textos.dashboard.report_charts import (
    STOP_DAYS_SHOWN, delivery_times, duration, errors_by_ptt, funnel, percent, short_duration, stops_over_time,
)  # fmt: skip
from textos.domain import delivery_time
from textos.services.reports import REPORT_STATES, DeliveryTime, Report, Scope


def a_report(stops_by_day: list[tuple[dt.date, int]] | None = None, **states: int) -> Report:
    counts = {**dict.fromkeys(REPORT_STATES, 0), **states}
    buckets = {delivery_time.bucket_of(0.5): 2, delivery_time.bucket_of(40): 1, delivery_time.bucket_of(2 * 86400): 1}
    by_day = stops_by_day or []
    return Report(Scope(1, tag="spring"), sum(counts.values()), counts, {5: 2, 8: 1, 999: 1}, DeliveryTime.of(buckets),
                  sum(n for _, n in by_day), 0, 7000, by_day)


def values(bars) -> dict[str, tuple[float, str]]:  # type: ignore[no-untyped-def]
    return {b.label: (b.value, b.reads) for b in bars}


def test_the_funnel_goes_from_accepted_to_delivered_with_each_stages_losses():
    report = a_report(delivered=4, failed=2, no_receipt=1, rejected=1, blacklisted=1, pending=1)
    bars = funnel(report)
    assert [b.label for b in bars] == [
        "Accepted", "– rejected by the carrier", "– STOP-listed, not sent", "– not final yet",
        "Handed to carrier", "– failed", "– no receipt", "Delivered",
    ]  # fmt: skip
    assert values(bars)["Accepted"] == (10, "10 (100.0 %)")
    assert values(bars)["Handed to carrier"] == (7, "7 (70.0 %)")
    assert values(bars)["Delivered"] == (4, "4 (40.0 %)")
    assert [b.tone for b in bars] == ["main", "loss", "loss", "neutral", "main", "loss", "loss", "good"]


def test_an_empty_report_has_a_funnel_of_zeros():
    assert [(b.label, b.value, b.reads) for b in funnel(a_report())] == [("Accepted", 0, "0"), ("Handed to carrier", 0, "0"), ("Delivered", 0, "0")]


def test_the_histogram_bars_are_the_reports_labelled_by_their_upper_edge():
    bars = delivery_times(a_report(delivered=4))
    assert [b.label for b in bars][:6] == ["≤1s", "≤2s", "≤5s", "≤10s", "≤30s", "≤1m"]
    assert bars[-2].label == "≤1d" and bars[-1].label == ">1d"
    assert {b.label: b.value for b in bars if b.value} == {"≤1s": 2, "≤1m": 1, ">1d": 1}
    assert sum(b.value for b in bars) == 4


def test_stops_per_day_fill_the_days_between_and_read_as_a_share_of_delivered():
    day = dt.date(2025, 3, 30)
    bars = stops_over_time(a_report([(day, 1), (day + dt.timedelta(3), 2)], delivered=200))
    assert [(b.label, b.value, b.reads) for b in bars] == [
        ("03-30", 1, "1 (0.50 %)"), ("03-31", 0, "0 (0.0 %)"), ("04-01", 0, "0 (0.0 %)"), ("04-02", 2, "2 (1.0 %)"),
    ]
    assert bars[0].hint == "2025-03-30"
    far = stops_over_time(a_report([(day, 1), (day + dt.timedelta(STOP_DAYS_SHOWN + 5), 1)], delivered=200))
    assert len(far) == 2  # a long span: only the days with STOPs


def test_errors_by_ptt_name_each_code_most_frequent_first():
    bars = errors_by_ptt(a_report())
    assert [(b.label, b.value) for b in bars] == [("5 · Undelivered", 2), ("8 · Expired", 1), ("999 · unknown code", 1)]
    assert bars[0].hint == "Confirmed undelivered, no detailed reason."


def test_rates_and_durations_read_for_people():
    assert [percent(x) for x in (None, 0, 0.0025, 0.5, 1)] == ["—", "0.0 %", "0.25 %", "50.0 %", "100.0 %"]
    assert [duration(x) for x in (None, 0.4, 90, 5400, 2 * 86400)] == ["—", "0.4 s", "1.5 min", "1.5 h", "2.0 d"]
    assert [short_duration(x) for x in (1, 30, 120, 3600, 21600, 86400)] == ["1s", "30s", "2m", "1h", "6h", "1d"]
