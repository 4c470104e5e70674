"""Watching a running server: ``/metrics`` (Prometheus text), ``/health``, ``/ready``, ``--log-format json``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import BACKENDS, ThreadedSmsc, free_port, start_server, stop_process, stop_server, wait_until, die_with_parent

JOBS = "/1.0/sms/{serviceName}/jobs"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``, parsed by Prometheus's own text parser: (name, labels) → value."""
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


def test_metrics_parse_and_counters_move_with_traffic(server, tenant):
    before = scrape(server.port)
    s = tenant.service
    sent = tenant.client.post(
        f"/sms/{s}/jobs", message="metrics", noStopClause=True, receivers=["+33612345001", "+33612345002", "+33699000001"],
    )
    one_more = tenant.client.post(f"/sms/{s}/jobs", message="one more", noStopClause=True, receivers=["+33612345003"])
    outgoing = tenant.wait_final(sent["ids"] + [one_more["ids"][0]])
    assert sorted(o["deliveryReceipt"] for o in outgoing) == [1, 1, 1, 2]  # +336990: undelivered (the simulator's script)

    def moved() -> dict | None:
        after = scrape(server.port)
        ok = total(after, "textos_carrier_receipts_total", carrier="simulator") - total(before, "textos_carrier_receipts_total", carrier="simulator") >= 4
        return after if ok else None

    after = wait_until(moved, what="receipts counted")
    # The on-the-fly POSTs, by route template (never the raw path with the service name)
    posts = total(after, "textos_http_request_duration_seconds_count", method="POST", route=JOBS, status="200")
    assert posts - total(before, "textos_http_request_duration_seconds_count", method="POST", route=JOBS, status="200") >= 2
    assert not any(s in dict(labels).get("route", "") for (_, labels) in after)
    accepted = total(after, "textos_carrier_submits_total", carrier="simulator", outcome="accepted")
    assert accepted - total(before, "textos_carrier_submits_total", carrier="simulator", outcome="accepted") >= 4
    undelivered = total(after, "textos_carrier_receipts_total", carrier="simulator", state="undeliverable")
    assert undelivered - total(before, "textos_carrier_receipts_total", carrier="simulator", state="undeliverable") >= 1
    assert total(after, "textos_carrier_submit_seconds_count", carrier="simulator") > total(before, "textos_carrier_submit_seconds_count", carrier="simulator")
    carrier = wait_until(lambda: (m := scrape(server.port))[("textos_carrier_up", (("carrier", "simulator"),))] == 1 and m, what="sampled")
    assert carrier[("textos_carrier_window_size", (("carrier", "simulator"),))] > 0  # carrier gauges: sampled once a second
    # Database gauges at scrape time: nothing of this account is left to settle
    for name in ("textos_queue_depth", "textos_queue_oldest_due_seconds", "textos_receipts_awaited", "textos_receipts_lag_seconds"):
        assert (name, ()) in after
    for state in ("queued", "submitting", "sent"):
        assert total(after, "textos_messages", account=s, state=state) == 0
    # settled messages by state: every account's add up, whichever keep their name (this server's tests run one at a time)
    for state, n in (("delivered", 3), ("failed", 1), ("rejected", 0)):
        assert total(after, "textos_messages", state=state) - total(before, "textos_messages", state=state) == n


def test_health_and_ready(server):
    health = httpx.get(f"http://127.0.0.1:{server.port}/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = httpx.get(f"http://127.0.0.1:{server.port}/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": True, "carriers": {"simulator": True}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_ready_is_503_while_the_only_carrier_is_down(make_database, tmp_path, backend):
    smsc = ThreadedSmsc(receipt_delay=0.01)
    (tmp_path / "textos.toml").write_text(f'[carriers.only]\nurl = "smpp://a:a@127.0.0.1:{smsc.sim.port}?window=8"\n')
    server = start_server(make_database(backend), tmp_path, backend, extra_env={"TEXTOS_CONFIG": str(tmp_path / "textos.toml")})
    url = f"http://127.0.0.1:{server.port}/ready"
    try:
        wait_until(lambda: httpx.get(url).status_code == 200, what="the carrier bound")
        assert httpx.get(url).json()["carriers"] == {"only": True}
        smsc.close()  # the carrier goes away: its link drops and cannot come back
        down = wait_until(lambda: (r := httpx.get(url)).status_code == 503 and r, what="not ready")
        assert down.json() == {"status": "unavailable", "database": True, "carriers": {"only": False}}
        assert httpx.get(f"http://127.0.0.1:{server.port}/health").status_code == 200  # alive all the same
        metrics = scrape(server.port)
        assert metrics[("textos_carrier_up", (("carrier", "only"),))] in (0, 1)  # sampled once a second
        wait_until(lambda: scrape(server.port)[("textos_carrier_up", (("carrier", "only"),))] == 0, what="carrier_up 0")
    finally:
        stop_server(server)


def test_json_logs_one_object_per_line_with_the_query_id(make_database, tmp_path):
    server = start_server(make_database("sqlite"), tmp_path, "sqlite", args=["--log-format", "json"])
    try:
        tenant = server.tenant()
        answer = httpx.post(
            f"http://127.0.0.1:{server.port}/1.0/sms/{tenant.service}/jobs", json={"message": "x", "receivers": ["+33612345678"]},
        )  # unsigned: refused, but answered and logged
        assert answer.status_code in (400, 401, 403)
        query_id = answer.headers["x-ovh-queryid"]
        sent = tenant.client.post(f"/sms/{tenant.service}/jobs", message="logged", noStopClause=True, receivers=["+33612345679"])
        tenant.wait_final(sent["ids"])
        entries = wait_until(lambda: [e for e in _json_lines(server.log()) if e.get("request_id") == query_id] and _json_lines(server.log()))
    finally:
        stop_server(server)
    entries = _json_lines(server.log())
    (access,) = [e for e in entries if e.get("request_id") == query_id]
    assert access["logger"] == "textos.access" and access["route"] == JOBS and access["status"] == answer.status_code
    assert access["path"] == f"/1.0/sms/{tenant.service}/jobs" and access["method"] == "POST"
    assert all(re.fullmatch(r"TX\.[0-9a-f]{16}", e["request_id"]) for e in entries if "request_id" in e)
    assert any("Textos is listening on" in e["message"] for e in entries)  # the banner too is a JSON line
    assert {"time", "level", "logger", "message"} <= set(entries[0])


def _json_lines(text: str) -> list[dict]:
    """Every line of the log as JSON (a line that is not fails the test)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="several API processes need PostgreSQL")
def test_with_workers_every_worker_answers_for_all(make_database, tmp_path):
    """``--workers 2``: prometheus_client's multiprocess mode; whichever worker is scraped adds up every
    worker's instruments (delivery runs in one of them only)."""
    server = start_server(make_database("postgresql"), tmp_path, "postgresql", args=["--workers", "2"])
    try:
        wait_until(lambda: len(set(re.findall(r"Started server process \[(\d+)\]", server.log()))) == 2, what="two workers")
        tenant = server.tenant()
        posts = 6
        ids = [i for n in range(posts) for i in tenant.client.post(
            f"/sms/{tenant.service}/jobs", message=f"w{n}", noStopClause=True, receivers=[f"+3361234570{n}"])["ids"]]
        tenant.wait_final(ids)

        def all_counted() -> bool:
            scrapes = [scrape(server.port) for _ in range(6)]  # the kernel spreads connections over both workers
            return all(
                total(m, "textos_carrier_submits_total", outcome="accepted") >= posts
                and total(m, "textos_http_request_duration_seconds_count", method="POST", route=JOBS) >= posts
                for m in scrapes
            )

        wait_until(all_counted, what="every scrape counts every worker")
    finally:
        stop_server(server)


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="a dispatcher beside an API-only server needs PostgreSQL")
def test_a_dispatcher_alone_serves_its_carriers_metrics(make_database, tmp_path):
    smsc = ThreadedSmsc(receipt_delay=0.01)
    database_url = make_database("postgresql")
    api = start_server(database_url, tmp_path, "postgresql", args=["--no-dispatch"])
    port = free_port()
    env = {**os.environ, "TEXTOS_DATABASE_URL": database_url, "TEXTOS_CONFIG": str(tmp_path / "absent.toml")}
    with open(tmp_path / "dispatch.log", "wb") as out:
        dispatcher = subprocess.Popen(
            [sys.executable, "-m", "textos.cli.main", "dispatch", "--smsc", f"smpp://a:a@127.0.0.1:{smsc.sim.port}",
             "--metrics-port", str(port), "--log-format", "json"],
            stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent,
        )
    try:
        tenant = api.tenant()
        sent = tenant.client.post(f"/sms/{tenant.service}/jobs", message="alone", noStopClause=True, receivers=["+33612345699"])
        tenant.wait_final(sent["ids"])
        assert httpx.get(f"http://127.0.0.1:{api.port}/ready").json()["carriers"] is None  # delivery runs elsewhere
        wait_until(lambda: total(scrape(port), "textos_carrier_receipts_total", state="delivered") >= 1, what="the dispatcher's receipts")
        assert total(scrape(port), "textos_carrier_submits_total", outcome="accepted") >= 1
    finally:
        stop_process(dispatcher)
        stop_server(api)
        smsc.close()
    assert all(json.loads(line) for line in (tmp_path / "dispatch.log").read_text().splitlines() if line.strip())
