"""End-to-end throughput: API accepted → submitted over SMPP → receipt stored.

Starts an SMSC simulator (``textos smsc``) and a Textos server (``textos serve --smsc``)
as separate processes on loopback, posts N messages through the API with the official
``ovh`` client, and reports accepted/s, submitted/s, receipts/s and end-to-end time.

    .venv/bin/python bench/throughput.py -n 50000 --backend sqlite
    .venv/bin/python bench/throughput.py -n 50000 --backend postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ovh

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import api_up, cpu_seconds, drop_db, free_port, make_db, make_tenant, message_counts, same_textos, stop_all, wait  # noqa: E402


def run(backend: str, n: int, window: int, chunk: int, binds: int, deliver_window: int = 512, dispatchers: int = 0) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="textos-bench-"))
    db, pg_name = make_db(backend, tmp)
    smsc_port, api_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "textos.cli.main", "smsc", "--port", str(smsc_port), "--receipt-delay", "0.01", "--deliver-window", str(deliver_window)],
            stdout=open(tmp / "smsc.log", "wb"), stderr=subprocess.STDOUT, env=same_textos(),
        ))
        tenant = make_tenant(db, credits=n * 2)
        service = tenant.service
        env = same_textos({**os.environ, "TEXTOS_DATABASE_URL": db, "TEXTOS_CONFIG": str(tmp / "none.toml")})
        smsc_url = f"smpp://bench:bench@127.0.0.1:{smsc_port}?window={window}&binds={binds}"
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "textos.cli.main", "serve", "--port", str(api_port), "--smsc", smsc_url,
             *(["--no-dispatch"] if dispatchers else [])],
            stdout=open(tmp / "serve.log", "wb"), stderr=subprocess.STDOUT, env=env,
        ))
        for i in range(dispatchers):  # separate dispatcher processes (PostgreSQL)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "textos.cli.main", "dispatch", "--smsc", smsc_url],
                stdout=open(tmp / f"dispatch-{i}.log", "wb"), stderr=subprocess.STDOUT, env=env,
            ))
        endpoint = f"http://127.0.0.1:{api_port}/1.0"
        wait(lambda: api_up(endpoint), 30, "server")
        ovh.client.ENDPOINTS["bench"] = endpoint
        client = ovh.Client(endpoint="bench", application_key=tenant.app_key, application_secret=tenant.app_secret, consumer_key=tenant.consumer_key)
        count_messages = message_counts(db)

        def counts() -> tuple[int, int]:
            return count_messages()[1:]

        receivers = [f"+336{i:08d}" for i in range(n)]
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        t0 = time.perf_counter()
        for i in range(0, n, chunk):
            client.post(f"/sms/{service}/jobs", message="Benchmark message", receivers=receivers[i : i + chunk], noStopClause=True)
        t_accepted = time.perf_counter()
        t_submitted = None
        while True:
            submitted, final = counts()
            now = time.perf_counter()
            if t_submitted is None and submitted >= n:
                t_submitted = now
            if final >= n:
                t_final = now
                break
            if now - t0 > 600:
                raise SystemExit(f"stuck: submitted {submitted}, final {final}")
            time.sleep(0.2)
        cpu = [round(cpu_seconds(p.pid) - c, 2) for p, c in zip(procs, cpu0)]
        cpu = [cpu[0], round(sum(cpu[1:]), 2)]  # the SMSC; the server (with its dispatchers)
        return {
            "backend": backend,
            "messages": n,
            "window": window,
            "binds": binds,
            "deliver_window": deliver_window,
            "dispatchers": dispatchers or "in serve",
            "accept_s": round(t_accepted - t0, 2),
            "accepted_per_s": round(n / (t_accepted - t0)),
            "submitted_per_s": round(n / (t_submitted - t0)),
            "receipts_per_s": round(n / (t_final - t0)),
            "end_to_end_s": round(t_final - t0, 2),
            "end_to_end_per_s": round(n / (t_final - t0)),
            "cpu_s": {"smsc": cpu[0], "server": cpu[1]},
            "load_avg": round(os.getloadavg()[0], 1),
        }
    finally:
        stop_all(procs)
        drop_db(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=50_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--binds", type=int, default=1)
    parser.add_argument("--deliver-window", type=int, default=512, help="the SMSC's window for receipts (deliver_sm awaiting our answer)")
    parser.add_argument("--dispatchers", type=int, default=0, help="separate textos dispatch processes (PostgreSQL); 0: serve delivers")
    parser.add_argument("--chunk", type=int, default=1000, help="receivers per POST /jobs")
    args = parser.parse_args()
    print(f"# {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}")
    for backend in (["sqlite", "postgresql"] if args.backend == "both" else [args.backend]):
        print(json.dumps(run(backend, args.n, args.window, args.chunk, args.binds, args.deliver_window, args.dispatchers)), flush=True)


if __name__ == "__main__":
    main()
