"""Benchmark: keeping report counts under concurrent writers on PostgreSQL, appended deltas vs upserts.

Several writers (the accept writer, the dispatcher's results and receipts writers, other
dispatchers) add to the counts of the same campaign at the same time. Each writer thread here
runs transactions that do ``--work-ms`` of other work (what the writer's transaction is really
for: half before, half after), adding three metrics of one hot campaign in the middle, either as
``report_deltas`` rows (what ``storage.report_counts.Tally`` does) or as upserts of the
``report_counts`` rows themselves (``ON CONFLICT … DO UPDATE``), and commit. Upserts hold the hot rows' locks until the commit, so
writers wait for each other; appended rows never conflict. Prints transactions per second and
the p50/p99 of a transaction, per mode, on a database of its own.

    PYTHONPATH=$PWD .venv/bin/python bench/report_writes.py [--writers 4] [--seconds 5] [--work-ms 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

import psycopg  # noqa: E402

from common import drop_db, machine_line, make_db  # noqa: E402
from textos.storage.db import Database  # noqa: E402

DELTAS = "INSERT INTO report_deltas (job_id, metric, n) VALUES (1, 'delivered', 40), (1, 'time:30', 35), (1, 'time:31', 5)"
UPSERTS = (
    "INSERT INTO report_counts (account_id, tag, batch_id, hour, metric, n) VALUES "
    "(1, 'spring', '', '2026-12-02 07:00', 'delivered', 40), (1, 'spring', '', '2026-12-02 07:00', 'time:30', 35), "
    "(1, 'spring', '', '2026-12-02 07:00', 'time:31', 5) ON CONFLICT (account_id, tag, batch_id, hour, metric) "
    "DO UPDATE SET n = report_counts.n + excluded.n"
)


def run(url: str, statement: str, writers: int, seconds: float, work_ms: float) -> tuple[float, float, float]:
    """(transactions per second, p50 ms, p99 ms)."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    start = threading.Barrier(writers)

    def writer() -> None:
        mine = []
        with psycopg.connect(url) as conn:
            start.wait()
            while time.monotonic() < stop:
                began = time.perf_counter()
                with conn.transaction():
                    conn.execute("SELECT pg_sleep(%s)", (work_ms / 2000,))
                    conn.execute(statement)
                    conn.execute("SELECT pg_sleep(%s)", (work_ms / 2000,))
                mine.append((time.perf_counter() - began) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return len(latencies) / seconds, statistics.median(latencies), latencies[int(len(latencies) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--work-ms", type=float, default=2.0, help="the rest of each writer's transaction")
    parser.add_argument("--rounds", type=int, default=2, help="each mode this many times, interleaved")
    args = parser.parse_args()
    url, name = make_db("postgresql", Path(tempfile.mkdtemp()))
    try:
        db = Database(url)
        db.migrate()
        db.dispose()
        print(machine_line())
        print("| mode | writers | tx/s | p50 | p99 |\n|---|---|---|---|---|")
        for _ in range(args.rounds):
            for mode, statement in (("appended deltas", DELTAS), ("upserted counts", UPSERTS)):
                tps, p50, p99 = run(url, statement, args.writers, args.seconds, args.work_ms)
                print(f"| {mode} | {args.writers} | {tps:,.0f} | {p50:.1f} ms | {p99:.1f} ms |", flush=True)
    finally:
        drop_db(name)


if __name__ == "__main__":
    main()
