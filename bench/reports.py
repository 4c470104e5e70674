"""Benchmark: a campaign report at 1,000,000 messages (issue #15: < 100 ms on either backend).

On each backend, in a database of its own: a campaign of ``--messages`` receivers (a CSV accepted
by the one accept path as a batch with a tag) and a smaller one of another tag beside it, settled
in bulk by the real writers as the dispatcher's would (claims, submit results, receipts, each a
transaction of ``--chunk`` messages): mostly delivered after a few seconds to hours, some
undeliverable or expired in the network, some rejected at submit, some left without a receipt
(settled ``no_receipt`` by the deadline, a third of them delivered late), replies and STOPs.
Then the report of the tag, of the batch and of the hour is timed over ``--runs`` runs (each in
its own read transaction), before and after the counts are folded as the server folds them
every second; the exact reader (``services.reports.read_exactly``) once, for scale.

    PYTHONPATH=$PWD .venv/bin/python bench/reports.py [--messages 1000000] [--backend both] [--runs 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from common import drop_db, machine_line, make_db  # noqa: E402
from report_traffic import BatchFollower  # noqa: E402
from textos.config import Settings  # noqa: E402
from textos.delivery.connector import Receipt, SubmitOutcome, SubmitResult  # noqa: E402
from textos.domain.lifecycle import DeliveryState  # noqa: E402
from textos.services import admin, reports  # noqa: E402
from textos.services.campaigns import local_source  # noqa: E402
from textos.services.jobs import SendRequest, accept  # noqa: E402
from textos.storage import messages, report_counts  # noqa: E402
from textos.storage.db import Database  # noqa: E402
from textos.storage.fastsql import run  # noqa: E402
from textos.storage.models import Blacklist, IncomingSms, utcnow  # noqa: E402
from textos.storage.models_bulk import Batch  # noqa: E402
from textos.storage.receipts import apply_receipts  # noqa: E402

TAG, OTHER = "spring-sale", "newsletter"


def _csv(path: Path, rows: int, start: int) -> Path:
    with open(path, "w") as f:
        f.write("number\n")
        for i in range(start, start + rows):
            f.write(f"+3361{i:07d}\n")
    return path


def build(db: Database, n: int, chunk: int, tmp: Path) -> tuple[int, str, dict[str, float]]:
    """The campaigns, accepted and settled; (account id, batch id, seconds per phase)."""
    settings = Settings(database_url=db.url)
    timings: dict[str, float] = {}
    with db.session() as s:
        admin.create_customer(s, "rp00001-bench", "pw")
        account_id = admin.create_account(s, "rp00001-bench", 3 * n).id
        batch_id = "0b0b0b0b-0000-4000-8000-000000000015"
        s.add(Batch(id=batch_id, account_id=account_id, tag=TAG, status="INSERTING"))
    started = time.perf_counter()
    accept(db, account_id, SendRequest(message="Soldes de printemps -30%", tag=TAG, no_stop_clause=True), settings,
           actor="bench", source=local_source(_csv(tmp / "big.csv", n, 0)), follower=BatchFollower(batch_id))
    accept(db, account_id, SendRequest(message="La lettre du mois", tag=OTHER, no_stop_clause=True), settings,
           actor="bench", source=local_source(_csv(tmp / "small.csv", n // 10, n)))
    timings["accept"] = time.perf_counter() - started

    rng = random.Random(15)
    started = time.perf_counter()
    silent: list[int] = []
    while True:
        with db.session() as s:  # the claims writer
            claimed = messages.claim_due(s, chunk, lambda mid, *_: mid)
        if not claimed:
            break
        rejected = [mid for mid in claimed if rng.random() < 0.02]
        accepted = [mid for mid in claimed if mid not in set(rejected)]
        with db.session() as s:  # the results writer
            messages.store_rejected(s, [SubmitResult(mid, SubmitOutcome.REJECTED, error="0x0b") for mid in rejected])
            messages.store_sent(s, [SubmitResult(mid, SubmitOutcome.ACCEPTED, (f"{mid:x}",)) for mid in accepted],
                                {mid: "sim" for mid in accepted}, {mid: 1 for mid in accepted})
        receipts = []
        now = utcnow()
        for mid in accepted:
            r = rng.random()
            if r < 0.03:
                silent.append(mid)
                continue
            state = DeliveryState.UNDELIVERABLE if r < 0.07 else DeliveryState.EXPIRED if r < 0.08 else DeliveryState.DELIVERED
            delay = rng.choice((1, 2, 3, 5, 8, 20, 60, 600, 7200, 90000))
            receipts.append(Receipt(f"{mid:x}", state, None if state is DeliveryState.DELIVERED else "001", now + dt.timedelta(seconds=delay)))
        with db.session() as s:  # the receipts writer
            apply_receipts(s, receipts)
    with db.session() as s:  # the receipt deadline's sweep, then late receipts for a third of those
        while messages.close_without_receipt(s, 0):
            pass
    late = silent[::3]
    for i in range(0, len(late), chunk):
        with db.session() as s:
            apply_receipts(s, [Receipt(f"{mid:x}", DeliveryState.DELIVERED, None, utcnow()) for mid in late[i : i + chunk]])
    timings["settle"] = time.perf_counter() - started

    started = time.perf_counter()
    with db.session() as s:  # replies (0.5 %) and STOPs (0.2 %) of the campaign's messages
        ids = [row[0] for row in run(s, "SELECT id FROM messages WHERE tag = ? AND status = 'delivered'", (TAG,)).fetchall()]
        for mid in ids[:: 200]:
            s.add(IncomingSms(account_id=account_id, sender="+33612345678", receiver="36001", text="Oui", message_id=mid))
            s.flush()
            report_counts.replied(s, mid)
        s.add_all([Blacklist(account_id=account_id, number=f"+3369{mid:08d}", tag=TAG, batch_id=batch_id, sms_outgoing_id=mid,
                             created_at=utcnow() - dt.timedelta(days=i % 7)) for i, mid in enumerate(ids[:: 500])])
    timings["replies and STOPs"] = time.perf_counter() - started
    return account_id, batch_id, timings


def timed(db: Database, runs: int, read: Callable[[Any], Any]) -> tuple[float, float, float, Any]:
    """(p50 ms, max ms, p50 of this thread's CPU ms, the last answer) of ``read`` in a fresh read
    transaction, ``runs`` times. The CPU time does not count the time spent waiting for a core (a
    loaded machine), nor, on PostgreSQL, the server's."""
    times, cpu, answer = [], [], None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.thread_time()
        with db.read() as s:
            answer = read(s)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    return statistics.median(times), max(times), statistics.median(cpu), answer


def bench(backend: str, n: int, chunk: int, runs: int) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix="textos-reports-"))
    url, pg_name = make_db(backend, tmp)
    db = Database(url)
    lines = []
    try:
        db.migrate()
        account_id, batch_id, timings = build(db, n, chunk, tmp)
        print(f"{backend}: built in " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()), flush=True)
        hour = utcnow().replace(minute=0, second=0, microsecond=0)
        scopes = {
            "tag": reports.Scope(account_id, tag=TAG),
            "batch": reports.Scope(account_id, batch_id=batch_id),
            "period (2 h, every tag)": reports.Scope(account_id, since=hour - dt.timedelta(hours=1), until=hour + dt.timedelta(hours=1)),
        }
        with db.read() as s:
            deltas = run(s, "SELECT COUNT(*) FROM report_deltas").fetchone()[0]
        for folded in (False, True):
            if folded:
                started = time.perf_counter()
                reports.fold_counts(db)
                print(f"{backend}: folded {deltas} deltas in {time.perf_counter() - started:.2f} s", flush=True)
            for name, scope in scopes.items():
                p50, most, cpu, got = timed(db, runs, lambda s, scope=scope: reports.report(s, scope))
                line = (f"| {backend} | {name} | {'folded' if folded else f'{deltas} deltas not folded'} | {got.messages:,} | "
                        f"{got.delivered:,} | {p50:.1f} ms | {most:.1f} ms | {cpu:.1f} ms |")
                print(line, flush=True)
                lines.append(line)
        started = time.perf_counter()
        with db.read() as s:
            exact = reports.read_exactly(s, reports.whole_hours(scopes["tag"]))
            fast = reports.report(s, scopes["tag"])
        assert exact == fast, "the counts disagree with the messages"
        lines.append(f"| {backend} | tag, read from the messages (`read_exactly`) | | {exact.messages:,} | {exact.delivered:,} | "
                     f"{(time.perf_counter() - started) * 1000:.0f} ms (once) | | |")
        print(lines[-1], flush=True)
    finally:
        db.dispose()
        drop_db(pg_name)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--chunk", type=int, default=5000, help="messages per writer transaction while settling")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(machine_line(), flush=True)
    lines = ["| backend | report | counts | messages | delivered | p50 | max | CPU p50 (client) |", "|---|---|---|---|---|---|---|---|"]
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        lines += bench(backend, args.messages, args.chunk, args.runs)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
