"""``textos report``: a campaign's report as rich tables, or ``Report.as_json`` for scripts."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from typer.testing import CliRunner

from report_traffic import Traffic, new_account
from textos.cli.main import app
from textos.domain.lifecycle import DeliveryState
from textos.services import reports
from textos.storage.models import Account, utcnow


@pytest.fixture
def campaign(db, tmp_path, monkeypatch):
    """A campaign of tag ``spring`` (one batch of it) sent and settled: (database, service name, traffic)."""
    monkeypatch.setenv("TEXTOS_CONFIG", str(tmp_path / "absent.toml"))
    traffic = Traffic(db, new_account(db), random.Random(11))
    traffic.send("spring", 6, batch=True)
    traffic.send("spring", 2)
    traffic.claim(8)
    traffic.rejected(1)
    traffic.sent(7)
    traffic.receipts(5, DeliveryState.DELIVERED, 3.0)
    traffic.receipts(1, DeliveryState.UNDELIVERABLE, 3.0)
    with db.read() as s:
        service = s.get_one(Account, traffic.account_id).service_name
    return db, service, traffic


def run(db, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--database-url", db.url])
    return result.exit_code, result.output


def test_json_is_exactly_the_reports_as_json(campaign):
    db, service, traffic = campaign
    code, out = run(db, "report", "--service", service, "--tag", "spring", "--json")
    assert code == 0, out
    with db.read() as s:
        expected = reports.report(s, reports.Scope(traffic.account_id, tag="spring")).as_json(service)
    assert json.loads(out) == expected
    assert (expected["messages"], expected["states"]["delivered"], expected["states"]["rejected"]) == (8, 5, 1)

    code, out = run(db, "report", "--service", service, "--batch", traffic.batches[0], "--json")
    assert code == 0 and json.loads(out)["messages"] == 6 and json.loads(out)["batchId"] == traffic.batches[0]
    hour = utcnow().replace(minute=0, second=0, microsecond=0)
    code, out = run(db, "report", "--service", service, "--from", (hour - dt.timedelta(minutes=30)).isoformat(), "--json")
    assert code == 0 and (json.loads(out)["from"], json.loads(out)["messages"]) == ((hour - dt.timedelta(hours=1)).isoformat() + "+00:00", 8)


def test_the_table_shows_states_rates_and_the_histogram(campaign):
    db, service, _ = campaign
    code, out = run(db, "report", "--service", service, "--tag", "spring")
    assert code == 0, out
    assert f"Report of {service} (tag spring)" in out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 3}
    assert "5" in lines["delivered"] and "62.5%" in lines["delivered"]
    assert "1" in lines["rejected"] and "pending" in lines and "12.5%" in lines["pending"]
    assert "Errors by ptt" in out and "Delivery time" in out and "5 s" in out  # 3 s: the bar up to 5 s


def test_refusals_name_what_is_wrong(campaign):
    db, service, _ = campaign
    code, out = run(db, "report", "--service", service, "--batch", "no-such-batch")
    assert code == 2 and "no-such-batch" in out
    code, out = run(db, "report", "--service", service, "--from", "last tuesday")
    assert code == 2 and "from:" in out
    code, out = run(db, "report", "--service", service, "--from", "2026-12-02T10:00", "--to", "2026-12-02T09:00")
    assert code == 2 and "to:" in out
