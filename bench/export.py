"""Benchmark: a consumption export of 1,000,000 outgoing SMS (``GET /sms/{s}/document``).

Makes a database (SQLite, or PostgreSQL with ``--backend postgresql``), writes N delivered
messages of one account straight into it (half with their own, merged text, some starting
with ``=``), starts a real ``textos serve``, then with the ``ovh`` client asks for the export,
polls ``GET /me/document/{id}`` until its size is set (as OVH's guide does) and downloads
``getUrl`` in a stream. Prints the time to write the export, the time to download it, its
size, and the server's peak RSS (VmHWM) before and after: the export must not grow with N.

    .venv/bin/python bench/export.py [--rows 1000000] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import ovh  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from common import drop_db, free_port, machine_line, make_db, make_tenant, rss_mb, server_env, start_serve, stop_all, wait  # noqa: E402
from textos.storage.db import Database  # noqa: E402
from textos.storage.models import Account, Job, Message  # noqa: E402


def fill(db_url: str, service: str, rows: int, batch: int = 20_000) -> None:
    """``rows`` delivered messages of ``service``'s account, one job, created over the last day."""
    db = Database(db_url)
    try:
        with db.session() as session:
            account_id = session.scalar(select(Account.id).where(Account.service_name == service))
            job_id = session.execute(insert(Job).values(
                account_id=account_id, text="Bonjour, -20% ce week-end sur tout le magasin\nSTOP 36111", sender="Shop",
                sender_type="alpha", tag="bench", receivers=rows, credits_milli=rows * 1000,
            ).returning(Job.id)).scalar_one()
        start = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=1)
        for first in range(0, rows, batch):
            values = []
            for i in range(first, min(rows, first + batch)):
                at = start + dt.timedelta(milliseconds=80 * i)
                text = None if i % 2 else (f"=Bonjour Client {i}, votre code est {i * 7919 % 10**6:06d}" if i % 100 == 0
                                           else f"Bonjour Client {i}; votre code est \"{i * 7919 % 10**6:06d}\"")
                values.append({
                    "account_id": account_id, "job_id": job_id, "receiver": f"+336{(i * 104729) % 10**8:08d}", "country": "FR",
                    "text": text, "sender": "Shop", "tag": f"t{i % 10}", "encoding": "7bit", "characters": 60, "parts": 1,
                    "credits_milli": 1000, "status": "delivered", "ptt": 4, "dlr": 1, "send_at": at, "created_at": at,
                    "sent_at": at + dt.timedelta(seconds=1), "delivered_at": at + dt.timedelta(seconds=3), "hidden": False,
                })
            with db.session() as session:
                session.execute(insert(Message), values)
    finally:
        db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="textos-bench-export-"))
    db_url, pg_name = make_db(args.backend, work)
    procs = []
    try:
        Database(db_url).migrate()
        tenant = make_tenant(db_url, credits=10)
        t = time.perf_counter()
        fill(db_url, tenant.service, args.rows)
        print(f"# {args.rows:,} messages written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        port = free_port()
        server = start_serve(db_url, work, port, env=server_env(db_url, work, TEXTOS_EMBEDDED_SIMULATOR="0"))
        procs.append(server)
        ovh.client.ENDPOINTS["bench-export"] = f"http://127.0.0.1:{port}/1.0"
        client = ovh.Client(endpoint="bench-export", application_key=tenant.app_key, application_secret=tenant.app_secret,
                            consumer_key=tenant.consumer_key)
        client.get(f"/sms/{tenant.service}")
        rss_before = rss_mb(server.pid, "VmHWM")

        t = time.perf_counter()
        document_id = client.get(f"/sms/{tenant.service}/document", wayType="outgoing")
        answered = time.perf_counter() - t
        document = wait(lambda: (d := client.get(f"/me/document/{document_id}"))["size"] > 0 and d, 3600, "the export", 0.2)
        written = time.perf_counter() - t
        rss_written = rss_mb(server.pid, "VmHWM")

        t = time.perf_counter()
        size, lines = 0, 0
        with httpx.stream("GET", document["getUrl"], timeout=600) as answer:
            answer.raise_for_status()
            for piece in answer.iter_bytes():
                size += len(piece)
                lines += piece.count(b"\n")
        downloaded = time.perf_counter() - t
        assert size == document["size"], (size, document["size"])
        result = {
            "rows": args.rows, "backend": args.backend, "bytes": size, "newlines": lines,
            "id_answered_seconds": round(answered, 3), "export_written_seconds": round(written, 1),
            "rows_per_second": round(args.rows / written), "download_seconds": round(downloaded, 1),
            "server_peak_rss_mb": {"before": round(rss_before, 1), "after_export": round(rss_written, 1),
                                   "after_download": round(rss_mb(server.pid, "VmHWM"), 1)},
        }
        print(machine_line())
        print(json.dumps(result))
    finally:
        stop_all(procs)
        drop_db(pg_name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
