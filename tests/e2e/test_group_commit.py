"""One-receiver jobs through a real server, many at once: credits are never oversold, an
acknowledged job survives a kill -9, and a dispatcher in another process is woken by NOTIFY."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import ovh
import pytest
from sqlalchemy import create_engine, text

from helpers import BACKENDS, ThreadedSmsc, Tenant, start_server, stop_process, stop_server, wait_until, die_with_parent
from textos.domain.signing import sign
from textos.storage.db import normalize_url


def _paid_or_refused(client: ovh.Client, service: str, receiver: str) -> str:
    """One one-receiver job: "ok", or "refused" for want of credits (any other answer fails the test)."""
    try:
        client.post(f"/sms/{service}/jobs", message="code", receivers=[receiver], noStopClause=True)
        return "ok"
    except ovh.exceptions.APIError as exc:
        assert exc.response.status_code == 403, exc
        assert exc.response.json()["class"] == "Client::Forbidden::NotEnoughCredits", exc
        return "refused"


def _assert_paid_exactly(server, tenant: Tenant, outcomes: list[str], paid: int) -> None:
    assert outcomes.count("ok") == paid and outcomes.count("refused") == len(outcomes) - paid
    assert tenant.credits() == 0
    ledger = server.cli("ledger", "--service", tenant.service)
    assert ledger["consistent"] is True
    assert sum(1 for e in ledger["entries"] if e["kind"] == "job_debit") == paid


def test_concurrent_one_receiver_jobs_accept_exactly_what_the_credits_pay(server):
    tenant = server.tenant(credits=20)
    clients = [server.client(tenant.app_key, tenant.app_secret, tenant.consumer_key) for _ in range(40)]
    with ThreadPoolExecutor(40) as pool:
        outcomes = list(pool.map(lambda i: _paid_or_refused(clients[i], tenant.service, f"+3361111{i:04d}"), range(40)))
    _assert_paid_exactly(server, tenant, outcomes, 20)


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="several API processes need PostgreSQL")
def test_two_workers_writing_for_one_account_at_once_accept_exactly_what_the_credits_pay(make_database, tmp_path):
    """Each worker's accept writer judges the credits as it read them and locks the account only from
    its debit to its commit: a debit that finds them spent by the other worker meanwhile refuses, and
    its group is written again, locking first."""
    server = start_server(make_database("postgresql"), tmp_path, "postgresql", args=["--workers", "2"])
    try:
        wait_until(lambda: server.log().count("Started server process") == 2, what="two workers")
        tenant = server.tenant(credits=30)

        def send(i: int) -> str:  # a client, so a connection, of its own: either worker
            return _paid_or_refused(server.client(tenant.app_key, tenant.app_secret, tenant.consumer_key), tenant.service, f"+3361112{i:04d}")

        with ThreadPoolExecutor(60) as pool:
            outcomes = list(pool.map(send, range(60)))
        _assert_paid_exactly(server, tenant, outcomes, 30)
    finally:
        stop_server(server)


def _signed_post(tenant: Tenant, port: int, receiver: str) -> tuple[str, dict[str, str]]:
    path = f"/1.0/sms/{tenant.service}/jobs"
    body = json.dumps({"message": "kill test", "receivers": [receiver], "noStopClause": True})
    now = str(int(time.time()))
    headers = {
        "X-Ovh-Application": tenant.app_key, "X-Ovh-Consumer": tenant.consumer_key, "X-Ovh-Timestamp": now,
        "X-Ovh-Signature": sign(tenant.app_secret, tenant.consumer_key, "POST", f"http://127.0.0.1:{port}{path}", body, now),
        "Content-Type": "application/json",
    }
    return body, headers


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_under_load_loses_no_acknowledged_job(backend, make_database, tmp_path):
    smsc = ThreadedSmsc(receipt_delay=0.01, record_last=100_000)
    database_url = make_database(backend)
    args = ["--smsc", f"smpp://textos:secret@127.0.0.1:{smsc.sim.port}?window=64"]
    server = start_server(database_url, tmp_path, backend, args=args)
    engine = create_engine(normalize_url(database_url))
    acknowledged: dict[int, str] = {}  # message id → receiver
    wrong: list[str] = []
    lock = threading.Lock()
    try:
        tenant = server.tenant(credits=100_000)
        url = f"http://127.0.0.1:{server.port}/1.0/sms/{tenant.service}/jobs"

        def load(worker: int) -> None:
            with httpx.Client(timeout=10) as http:
                for n in range(100_000):
                    receiver = f"+336{worker:02d}{n:06d}"
                    body, headers = _signed_post(tenant, server.port, receiver)
                    try:
                        answer = http.post(url, content=body, headers=headers)
                    except httpx.HTTPError:
                        return  # the server is gone
                    if answer.status_code != 200:
                        wrong.append(answer.text)
                        return
                    (message_id,) = answer.json()["ids"]
                    with lock:
                        acknowledged[message_id] = receiver

        workers = [threading.Thread(target=load, args=(w,)) for w in range(16)]
        for worker in workers:
            worker.start()
        wait_until(lambda: len(acknowledged) >= 300, timeout=60, what="jobs acknowledged under load")
        server.process.kill()
        server.process.wait(timeout=10)
        for worker in workers:
            worker.join(timeout=30)
        assert not wrong, wrong[:3]
        with engine.connect() as conn:
            committed = dict(conn.execute(text("SELECT id, receiver FROM messages")).all())
            jobs = conn.execute(text("SELECT COUNT(*), COALESCE(SUM(credits_milli), 0) FROM jobs")).one()
            debits = conn.execute(text("SELECT COUNT(*), COALESCE(SUM(amount_milli), 0) FROM ledger_entries WHERE kind = 'job_debit'")).one()
        assert all(committed.get(i) == r for i, r in acknowledged.items()), "every acknowledged job is committed"
        unanswered = set(committed) - set(acknowledged)
        assert len(unanswered) <= 16, "only jobs whose answer the kill cut off are committed without a 200"
        assert jobs[0] == len(committed) == debits[0] and -debits[1] == jobs[1], "one debit per committed job, nothing else charged"

        server = start_server(database_url, tmp_path, backend, args=args)

        def delivered() -> bool:
            with engine.connect() as conn:
                return conn.execute(text("SELECT COUNT(*) FROM messages WHERE status = 'delivered'")).scalar_one() == len(committed)

        wait_until(delivered, timeout=120, interval=0.2, what="every committed job delivered after the restart")
        destinations = {"+" + r.destination_addr for r in list(smsc.sim.records)}
        assert set(acknowledged.values()) <= destinations
        assert server.cli("ledger", "--service", tenant.service)["consistent"] is True
    finally:
        engine.dispose()
        stop_server(server)
        smsc.close()


def _start_dispatcher(database_url: str, smsc_url: str, log: Path, interval: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ, "TEXTOS_DATABASE_URL": database_url, "TEXTOS_CONFIG": str(log.parent / "absent.toml"),
        "TEXTOS_DISPATCHER_INTERVAL": str(interval),
    }
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "textos.cli.main", "dispatch", "--smsc", smsc_url], stdout=out, stderr=subprocess.STDOUT, env=env,
            preexec_fn=die_with_parent,
        )


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="dispatchers in other processes need PostgreSQL")
def test_a_dispatcher_in_another_process_is_woken_by_notify(make_database, tmp_path):
    smsc = ThreadedSmsc(receipt_delay=0.01)
    database_url = make_database("postgresql")
    api = start_server(database_url, tmp_path, "postgresql", args=["--no-dispatch"])
    dispatcher = _start_dispatcher(database_url, f"smpp://textos:secret@127.0.0.1:{smsc.sim.port}", tmp_path / "dispatch.log", interval=5.0)
    try:
        wait_until(lambda: smsc.sim.binds >= 1, timeout=30, what="the dispatcher bound")
        tenant = api.tenant(credits=10)
        time.sleep(1.0)  # the dispatcher is idle, in its 5 s wait
        delays = []
        for i in range(3):
            before = smsc.snapshot()[0]
            start = time.monotonic()
            tenant.client.post(f"/sms/{tenant.service}/jobs", message="wake up", receivers=[f"+3362222{i:04d}"], noStopClause=True)
            wait_until(lambda: smsc.snapshot()[0] > before, timeout=10, interval=0.005, what="the submit")
            delays.append(time.monotonic() - start)
        assert max(delays) < 1.0, f"submitted well before the 5 s poll: {delays}"
    finally:
        stop_process(dispatcher)
        stop_server(api)
        smsc.close()
