"""Kill the server mid-stream, restart it: every accepted message reaches the SMSC, once
— or twice only if it was in flight (*submitting*) at the kill — and ends delivered.

The SMSC is a real SMPP server (the simulator) running in this test process, reached by
``textos serve --smsc smpp://…`` over loopback; the server is killed with SIGKILL.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from helpers import BACKENDS, ThreadedSmsc, start_server, stop_server, wait_until
from textos.storage.db import normalize_url


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_and_restart_delivers_every_message_exactly_once_or_within_the_bound(backend, make_database, tmp_path):
    total = 3000
    smsc = ThreadedSmsc(receipt_delay=0.02, tps_limit=1500, record_last=100_000)
    database_url = make_database(backend)
    args = ["--smsc", f"smpp://textos:secret@127.0.0.1:{smsc.sim.port}?window=64&throttle_backoff=0.05"]
    server = start_server(database_url, tmp_path, backend, args=args)
    engine = create_engine(normalize_url(database_url))
    try:
        tenant = server.tenant(credits=total)
        receivers = [f"+336{i:08d}" for i in range(total)]
        for i in range(0, total, 1000):
            report = tenant.client.post(f"/sms/{tenant.service}/jobs", message="restart test", noStopClause=True, receivers=receivers[i : i + 1000])
            assert len(report["ids"]) == 1000

        wait_until(lambda: smsc.snapshot()[0] >= total // 4, timeout=60, what="a quarter submitted")
        server.process.kill()
        server.process.wait(timeout=10)
        with engine.connect() as conn:
            in_flight = {row[0] for row in conn.execute(text("SELECT receiver FROM messages WHERE status = 'submitting'"))}
            not_sent = conn.execute(text("SELECT COUNT(*) FROM messages WHERE status = 'queued'")).scalar_one()
        submitted_at_kill, _ = smsc.snapshot()
        assert submitted_at_kill < total and not_sent > 0, "the kill must happen mid-stream"

        server = start_server(database_url, tmp_path, backend, args=args)

        def all_final() -> bool:
            with engine.connect() as conn:
                return conn.execute(text("SELECT COUNT(*) FROM messages WHERE status = 'delivered'")).scalar_one() == total

        wait_until(all_final, timeout=120, interval=0.2, what="every message delivered after the restart")
        _, destinations = smsc.snapshot()
        counts = Counter("+" + d for d in destinations)
        assert set(counts) == set(receivers), "every accepted message reached the SMSC"
        duplicated = {r for r, n in counts.items() if n > 1}
        assert duplicated <= in_flight, f"only messages in flight at the kill may be sent twice: {sorted(duplicated - in_flight)[:5]}"
        assert all(n <= 2 for n in counts.values())
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM messages WHERE status <> 'delivered'")).scalar_one() == 0
        client = server.client(tenant.app_key, tenant.app_secret, tenant.consumer_key)
        assert client.get(f"/sms/{tenant.service}")["creditsLeft"] == 0.0
        ledger = server.cli("ledger", "--service", tenant.service)
        assert ledger["consistent"] is True
    finally:
        engine.dispose()
        stop_server(server)
        smsc.close()
