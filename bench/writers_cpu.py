"""Benchmark: the CPU time of the message writers, in this process, on SQLite (for A/B runs).

Accepts a campaign of ``N`` receivers (a local CSV, the one accept path), then claims, stores the
submit results and applies a delivered receipt for every message, 5,000 per transaction as the
dispatcher's writers do; prints the CPU time (``time.process_time``: SQLite runs in this process)
of each phase and per receipt. CPU time, not wall time: fair between two runs on a loaded machine.
Run it with ``PYTHONPATH`` at the code to measure (a worktree of main, then a branch, interleaved).

    PYTHONPATH=$PWD .venv/bin/python bench/writers_cpu.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from textos.config import Settings
from textos.delivery.connector import Receipt, SubmitOutcome, SubmitResult
from textos.domain.lifecycle import DeliveryState
from textos.services import admin
from textos.services.campaigns import local_source
from textos.services.jobs import SendRequest, accept
from textos.storage import messages
from textos.storage.db import Database
from textos.storage.receipts import apply_receipts


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    tmp = Path(tempfile.mkdtemp(prefix="textos-writers-"))
    url = f"sqlite:///{tmp / 'writers.db'}"
    db = Database(url)
    db.migrate()
    with db.session() as s:
        admin.create_customer(s, "wc00001-bench", "pw")
        account_id = admin.create_account(s, "wc00001-bench", 3 * n).id
    csv = tmp / "receivers.csv"
    csv.write_text("number\n" + "".join(f"+3361{i:07d}\n" for i in range(n)))
    cpu = dict.fromkeys(("accept", "claim", "results", "receipts"), 0.0)
    started = time.process_time()
    accept(db, account_id, SendRequest(message="hello", tag="t", no_stop_clause=True), Settings(database_url=url), actor="bench",
           source=local_source(csv))
    cpu["accept"] = time.process_time() - started
    while True:
        started = time.process_time()
        with db.session() as s:
            ids = messages.claim_due(s, 5000, lambda mid, *_: mid)
        cpu["claim"] += time.process_time() - started
        if not ids:
            break
        started = time.process_time()
        with db.session() as s:
            messages.store_sent(s, [SubmitResult(m, SubmitOutcome.ACCEPTED, (f"{m:x}",)) for m in ids], {m: "sim" for m in ids},
                                {m: 1 for m in ids})
        cpu["results"] += time.process_time() - started
        started = time.process_time()
        with db.session() as s:
            apply_receipts(s, [Receipt(f"{m:x}", DeliveryState.DELIVERED) for m in ids])
        cpu["receipts"] += time.process_time() - started
    db.dispose()
    print(" ".join(f"{k}={v:.2f}s" for k, v in cpu.items()), f"per receipt {1e6 * cpu['receipts'] / n:.1f}us")


if __name__ == "__main__":
    main()
