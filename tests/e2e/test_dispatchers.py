"""Several dispatcher processes on one PostgreSQL database (``textos dispatch`` beside
``textos serve --no-dispatch``): they share the queue without sending a message twice,
and when one dies the others queue again what it had in flight. On SQLite a second
dispatcher is refused, and the one dispatcher, in a process of its own, is woken by the API's
commits (``storage.wakeups.Doorbell``), not by its poll."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from helpers import BACKENDS, start_server, stop_process, stop_server, wait_until, die_with_parent
from helpers import ThreadedSmsc
from textos.storage.db import normalize_url


def start_dispatcher(database_url: str, smsc_url: str, log: Path, **settings: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TEXTOS_DATABASE_URL": database_url, "TEXTOS_CONFIG": str(log.parent / "absent.toml"), **settings}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "textos.cli.main", "dispatch", "--smsc", smsc_url], stdout=out, stderr=subprocess.STDOUT, env=env,
            preexec_fn=die_with_parent,
        )


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="several dispatchers need PostgreSQL")
def test_dispatchers_share_the_queue_and_take_over_from_one_that_dies(make_database, tmp_path):
    total = 4000
    smsc = ThreadedSmsc(receipt_delay=0.02, tps_limit=1500, record_last=100_000)
    smsc_url = f"smpp://textos:secret@127.0.0.1:{smsc.sim.port}?window=64&throttle_backoff=0.05"
    database_url = make_database("postgresql")
    api = start_server(database_url, tmp_path, "postgresql", args=["--no-dispatch"])
    engine = create_engine(normalize_url(database_url))
    first = start_dispatcher(database_url, smsc_url, tmp_path / "dispatch-1.log")
    second = start_dispatcher(database_url, smsc_url, tmp_path / "dispatch-2.log")
    try:
        wait_until(lambda: smsc.sim.binds >= 2, timeout=30, what="both dispatchers bound")
        tenant = api.tenant(credits=total)
        receivers = [f"+336{i:08d}" for i in range(total)]
        for i in range(0, total, 1000):
            tenant.client.post(f"/sms/{tenant.service}/jobs", message="shared queue", noStopClause=True, receivers=receivers[i : i + 1000])

        def claimers() -> set[int]:
            with engine.connect() as conn:
                return {row[0] for row in conn.execute(text("SELECT DISTINCT claimed_by FROM messages WHERE claimed_by IS NOT NULL"))}

        wait_until(lambda: len(claimers()) == 2, timeout=60, what="both dispatchers claiming")

        def first_in_flight() -> set[str]:  # the first dispatcher's instance: from its log
            number = next(line.split("dispatcher instance ")[1].split()[0] for line in (tmp_path / "dispatch-1.log").read_text().splitlines()
                          if "dispatcher instance " in line)
            with engine.connect() as conn:
                return {row[0] for row in conn.execute(
                    text("SELECT receiver FROM messages WHERE status = 'submitting' AND claimed_by = :n"), {"n": int(number)}
                )}

        def frozen_in_flight() -> set[str]:
            """Freeze the first dispatcher (its lock stays held) with messages in flight."""
            first.send_signal(signal.SIGSTOP)
            held = first_in_flight()
            if not held:
                first.send_signal(signal.SIGCONT)
            return held

        in_flight = wait_until(frozen_in_flight, timeout=60, interval=0.01, what="the first dispatcher with messages in flight")
        first.kill()  # SIGKILL: no goodbye, its lock goes with its connection
        first.wait(timeout=10)

        def all_delivered() -> bool:
            with engine.connect() as conn:
                return conn.execute(text("SELECT COUNT(*) FROM messages WHERE status = 'delivered'")).scalar_one() == total

        wait_until(all_delivered, timeout=120, interval=0.2, what="every message delivered by the survivor")
        counts = Counter("+" + r.destination_addr for r in list(smsc.sim.records))
        assert set(counts) == set(receivers)
        duplicated = {r for r, n in counts.items() if n > 1}
        assert duplicated <= in_flight, f"only messages in flight at the kill may be sent twice: {sorted(duplicated - in_flight)[:5]}"
        assert "left in flight by a stopped dispatcher" in (tmp_path / "dispatch-2.log").read_text()
        assert api.cli("ledger", "--service", tenant.service)["consistent"] is True
    finally:
        engine.dispose()
        for process in (first, second):
            stop_process(process)
        stop_server(api)
        smsc.close()


def test_a_second_dispatcher_on_sqlite_is_refused(make_database, tmp_path):
    database_url = make_database("sqlite")
    server = start_server(database_url, tmp_path, "sqlite")
    try:
        env = {**os.environ, "TEXTOS_DATABASE_URL": database_url, "TEXTOS_CONFIG": str(tmp_path / "absent.toml")}
        refused = subprocess.run(
            [sys.executable, "-m", "textos.cli.main", "dispatch"], capture_output=True, text=True, env=env, timeout=60
        )
        assert refused.returncode == 1
        assert "another dispatcher already runs" in refused.stderr and "PostgreSQL" in refused.stderr
    finally:
        stop_server(server)


def test_a_dispatcher_of_its_own_on_sqlite_is_woken_by_each_accepted_job(make_database, tmp_path):
    """Its poll is every five minutes here: each job reaches the SMSC within seconds all the same."""
    smsc = ThreadedSmsc(receipt_delay=0.02)
    database_url = make_database("sqlite")
    api = start_server(database_url, tmp_path, "sqlite", args=["--no-dispatch"])
    dispatcher = start_dispatcher(database_url, f"smpp://textos:secret@127.0.0.1:{smsc.sim.port}", tmp_path / "dispatch.log",
                                  TEXTOS_DISPATCHER_INTERVAL="300")
    try:
        wait_until(lambda: smsc.sim.binds >= 1, timeout=30, what="the dispatcher bound")
        wait_until(lambda: "dispatcher is running" in (tmp_path / "dispatch.log").read_text(), timeout=30, what="the dispatcher idle")
        tenant = api.tenant(credits=10)
        for i in range(3):  # one at a time: each is woken for, none rides on another's tick
            tenant.client.post(f"/sms/{tenant.service}/jobs", message=f"woken {i}", noStopClause=True, receivers=[f"+3361234567{i}"])
            wait_until(lambda: len(smsc.sim.records) == i + 1, timeout=20, what=f"job {i} submitted")
        assert ["+" + r.destination_addr for r in smsc.sim.records] == ["+33612345670", "+33612345671", "+33612345672"]
    finally:
        stop_process(dispatcher)
        stop_server(api)
        smsc.close()
