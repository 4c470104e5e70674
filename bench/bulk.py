"""Benchmark: a 1,000,000-row CSV campaign through POST /jobs (receiversDocumentUrl).

Starts a real ``textos serve`` on SQLite (or PostgreSQL with --database-url), serves a
generated contacts CSV from a local HTTP server, posts the job with the ``ovh``
client and measures: acceptance time (fetch, parse, validate, dedupe, debit,
persist) and the server's CPU time meanwhile, the server's peak RSS (VmHWM), and the latency of GET /sms/{service}
issued every 50 ms during the ingest. Messages are deferred (differedPeriod) so
delivery does not run during the measurement.

    .venv/bin/python bench/bulk.py [--rows 1000000] [--database-url postgresql://...] [--merge]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import ovh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_seconds, rss_mb, same_textos, serve_dir  # noqa: E402


def make_csv(path: Path, rows: int) -> None:
    rng = random.Random(42)
    names = ["Pierre", "Jean", "Marie", "Zoé", "Lucas", "Chloé", "Hugo", "Léa"]
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("number;prenom;nom\n")
        for i in range(rows):
            r = rng.random()
            if r < 0.02:
                number = f"bad-{i}"
            elif r < 0.04:
                number = f"+33 6 {rng.randrange(10**8):08d}"  # likely duplicates nothing; spaced form
            else:
                number = f"06{(i * 7919) % 10**8:08d}" if r < 0.5 else f"+337{(i * 104729) % 10**8:08d}"
            f.write(f"{number};{names[i % len(names)]};N{i}\n")


def cli(db_url: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "textos.cli.main", *args, "--database-url", db_url, "--json"],
                         check=True, capture_output=True, text=True, env=same_textos()).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--merge", action="store_true", help="mail merge: 'Bonjour #prenom# #nom#'")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="textos-bench-"))
    db_url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    csv_path = work / "contacts.csv"
    t = time.perf_counter()
    make_csv(csv_path, args.rows)
    print(f"CSV: {args.rows:,} rows, {csv_path.stat().st_size / 1e6:.1f} MB, generated in {time.perf_counter() - t:.1f} s")
    files, files_port = serve_dir(work)

    port = 18000 + secrets.randbelow(1000)
    env = same_textos({**os.environ, "TEXTOS_DATABASE_URL": db_url, "TEXTOS_FETCH_ALLOW_PRIVATE": "1",
                       "TEXTOS_CONFIG": str(work / "absent.toml")})
    log = open(work / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "textos.cli.main", "serve", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/1.0/auth/time", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        nic = f"bench-{secrets.token_hex(3)}"
        cli(db_url, "customer", "create", "--nic", nic, "--password", "x")
        service = cli(db_url, "account", "create", "--nic", nic, "--credits", str(4 * args.rows))["serviceName"]
        app = cli(db_url, "app", "create", "--name", "bench", "--nic", nic)
        ck = cli(db_url, "credential", "create", "--app", app["applicationKey"], "--nic", nic,
                 "--rule", "GET /*", "--rule", "POST /*")["consumerKey"]
        ovh.client.ENDPOINTS["bench"] = f"http://127.0.0.1:{port}/1.0"
        client = ovh.Client(endpoint="bench", application_key=app["applicationKey"],
                            application_secret=app["applicationSecret"], consumer_key=ck, timeout=600)
        probe = ovh.Client(endpoint="bench", application_key=app["applicationKey"],
                           application_secret=app["applicationSecret"], consumer_key=ck)
        probe.get(f"/sms/{service}")
        rss_before = rss_mb(server.pid, "VmHWM")

        latencies: list[float] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                probe.get(f"/sms/{service}")
                latencies.append(time.perf_counter() - started)
                time.sleep(0.05)

        poller = threading.Thread(target=poll, daemon=True)
        message = "Bonjour #prenom# #nom#, -20% ce week-end" if args.merge else "Bonjour, -20% ce week-end"
        t = time.perf_counter()
        cpu = cpu_seconds(server.pid)
        poller.start()
        report = client.post(f"/sms/{service}/jobs", message=message, tag="bench", differedPeriod=600,
                             receiversDocumentUrl=f"http://127.0.0.1:{files_port}/contacts.csv")
        elapsed = time.perf_counter() - t
        cpu = cpu_seconds(server.pid) - cpu
        stop.set()
        poller.join()
        rss = rss_mb(server.pid, "VmHWM")
        batches = client.get(f"/sms/{service}/batches")
        valid = probe.get(f"/sms/{service}")
        lat = sorted(latencies)
        result = {
            "rows": args.rows,
            "backend": "postgresql" if db_url.startswith("postgres") else "sqlite",
            "merge": args.merge,
            "accept_seconds": round(elapsed, 2),
            "server_cpu_seconds": round(cpu, 2),
            "credits_removed": report["totalCreditsRemoved"],
            "invalid_reported": len(report["invalidReceivers"]),
            "batch": {k: batches[-1][k] for k in ("status", "processedRecords", "totalRecords")},
            "server_peak_rss_mb": round(rss, 1),
            "server_rss_before_mb": round(rss_before, 1),
            "get_latency_ms": {
                "n": len(lat), "median": round(statistics.median(lat) * 1000, 1),
                "p95": round(lat[int(len(lat) * 0.95) - 1] * 1000, 1), "max": round(lat[-1] * 1000, 1),
            },
            "credits_left": valid["creditsLeft"],
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        }
        print(json.dumps(result, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=30)
        files.shutdown()


if __name__ == "__main__":
    main()
