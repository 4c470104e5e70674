"""services/metrics.py: bounded label sets, and the collector's gauges as Prometheus reads them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lifecycle_helpers import new_account, send
from textos.services.metrics import OTHER, DatabaseCollector, bounded


def test_the_largest_names_keep_their_label_and_the_rest_are_summed_as_other():
    rows = [("a", "queued", 5), ("b", "queued", 1), ("b", "sent", 1), ("c", "sent", 9), ("d", "queued", 1)]
    assert bounded(rows, 2) == [("a", "queued", 5), ("c", "sent", 9), (OTHER, "queued", 2), (OTHER, "sent", 1)]
    assert bounded(rows, 10) == sorted(rows)
    assert bounded(rows, 0) == [(OTHER, "queued", 7), (OTHER, "sent", 10)]


def test_the_collector_answers_in_the_text_format(db):
    account = new_account(db)
    send(db, account, ["+33612345601", "+33612345602"])
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db, max_labels=5))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert families["textos_queue_depth"].samples[0].value == 2
    (sample,) = families["textos_messages"].samples
    assert sample.labels == {"account": account.service_name, "state": "queued"} and sample.value == 2
    assert families["textos_callbacks"].samples == []


def test_settled_messages_are_counted_per_account_and_state_and_move_with_traffic(db):
    import random

    from report_traffic import Traffic, new_account as report_account
    from textos.domain.lifecycle import DeliveryState
    from textos.services import reports

    traffic = Traffic(db, report_account(db), random.Random(9))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db, max_labels=5))

    def messages() -> dict[str, float]:
        (family,) = [f for f in text_string_to_metric_families(generate_latest(registry).decode()) if f.name == "textos_messages"]
        return {s.labels["state"]: s.value for s in family.samples}

    traffic.send("m", 4)
    traffic.claim(4)
    traffic.rejected(1)
    traffic.sent(3)
    traffic.receipts(1, DeliveryState.DELIVERED, 2.0)
    assert messages() == {"sent": 2, "rejected": 1, "delivered": 1}
    traffic.no_receipt()
    assert messages() == {"rejected": 1, "delivered": 1, "no_receipt": 2}
    before = messages()
    reports.fold_counts(db)
    assert messages() == before  # folded or not, the same
