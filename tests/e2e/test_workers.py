"""``textos serve --workers N``: several API processes on PostgreSQL, delivery in exactly one of them."""

from __future__ import annotations

import re
import subprocess
import sys

import ovh
import pytest

from helpers import BACKENDS, start_server, stop_server, wait_until


def cpu_ticks(pid: int) -> int:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="several API processes need PostgreSQL")
def test_two_workers_serve_and_deliver_jobs_accepted_by_either(make_database, tmp_path):
    server = start_server(make_database("postgresql"), tmp_path, "postgresql", args=["--workers", "2"])
    try:
        wait_until(lambda: len(set(re.findall(r"Started server process \[(\d+)\]", server.log()))) == 2, what="two workers")
        workers = {int(p) for p in re.findall(r"Started server process \[(\d+)\]", server.log())}
        delivering = [int(p) for p in re.findall(r"this worker \(pid (\d+)\) runs delivery", server.log())]
        assert len(delivering) == 1 and delivering[0] in workers
        (api_only,) = workers - set(delivering)
        tenant = server.tenant()
        before = cpu_ticks(api_only)
        ids: list[int] = []
        for i in range(40):  # a new client, so a new connection, each time: the kernel hands them to either worker
            client = server.client(tenant.app_key, tenant.app_secret, tenant.consumer_key)
            job = client.post(f"/sms/{tenant.service}/jobs", message=f"hi {i}", receivers=["+33612345678"], noStopClause=True)
            ids += job["ids"]
        assert cpu_ticks(api_only) > before, "the worker without delivery answered nothing"
        assert {o["deliveryReceipt"] for o in tenant.wait_final(ids, timeout=30)} == {1}
        server.cli("credential", "revoke", tenant.consumer_key)
        for _ in range(10):
            client = server.client(tenant.app_key, tenant.app_secret, tenant.consumer_key)
            with pytest.raises(ovh.exceptions.InvalidCredential):
                client.get("/auth/currentCredential")
    finally:
        stop_server(server)


def test_sqlite_refuses_more_than_one_worker(make_database, tmp_path):
    answer = subprocess.run(
        [sys.executable, "-m", "textos.cli.main", "serve", "--workers", "2", "--database-url", make_database("sqlite")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert answer.returncode != 0
    assert answer.stderr.strip().splitlines()[-1] == "textos: --workers > 1 needs PostgreSQL (SQLite has one writer); use --workers 1"
