"""The database-derived Prometheus gauges, computed when ``/metrics`` is scraped.

A ``prometheus_client`` collector over ``storage.gauges`` (small queries on partial indexes of
the work still to do) and, for the messages settled, the campaign report counts
(``storage.report_counts.final_by_account``: a row per account and state). Label sets are
bounded: the ``max_labels`` accounts (hosts) with the most messages (events) keep their name, the
rest are added up as ``other``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from textos.storage import gauges, report_counts
from textos.storage.db import Database

OTHER = "other"


def bounded(rows: Iterable[tuple[str, str, int]], max_labels: int) -> list[tuple[str, str, int]]:
    """``(name, kind, n)`` rows with at most ``max_labels`` distinct names: those with the largest
    totals keep theirs (ties by name), the others become ``other`` (summed per kind)."""
    rows = list(rows)
    totals: dict[str, int] = defaultdict(int)
    for name, _, n in rows:
        totals[name] += n
    kept = set(sorted(totals, key=lambda name: (-totals[name], name))[: max(0, max_labels)])
    summed: dict[tuple[str, str], int] = defaultdict(int)
    for name, kind, n in rows:
        summed[(name if name in kept else OTHER, kind)] += n
    return [(name, kind, n) for (name, kind), n in sorted(summed.items())]


class DatabaseCollector(Collector):
    """Queue depth and age, messages per account and state, receipts awaited, callbacks per host."""

    def __init__(self, db: Database, max_labels: int = 20) -> None:
        self.db = db
        self.max_labels = max_labels

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.db.read() as s:
            depth, age = gauges.queue(s)
            pending = gauges.pending_by_account(s)
            settled = report_counts.final_by_account(s)
            awaiting, lag = gauges.awaiting_receipts(s)
            callbacks = gauges.callbacks_by_host(s)
        yield GaugeMetricFamily("textos_queue_depth", "Messages queued and due, waiting for a dispatcher.", value=depth)
        yield GaugeMetricFamily("textos_queue_oldest_due_seconds", "How long the longest-due queued message has waited.", value=age)
        by_account = GaugeMetricFamily(
            "textos_messages", "Messages per account and state: not settled yet (queued, submitting, sent) and settled (each final "
            "state); the accounts with the most messages, the rest as 'other'.",
            labels=["account", "state"],
        )
        for name, state, n in bounded(pending + settled, self.max_labels):
            by_account.add_metric([name, state], n)
        yield by_account
        yield GaugeMetricFamily("textos_receipts_awaited", "Messages sent whose delivery receipt has not come yet.", value=awaiting)
        yield GaugeMetricFamily(
            "textos_receipts_lag_seconds", "How long the oldest sent message has waited for its delivery receipt.", value=lag,
        )
        by_host = GaugeMetricFamily(
            "textos_callbacks", "Callback events pending or failed, per host (the largest; the rest as 'other').", labels=["host", "status"],
        )
        for host, status, n in bounded(callbacks, self.max_labels):
            by_host.add_metric([host, status], n)
        yield by_host

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # computed at scrape time only, never when registered
