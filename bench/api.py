"""Accept rate of on-the-fly sending: signed one-receiver POST /1.0/sms/{s}/jobs, and GET /1.0/auth/time.

Starts a real ``textos serve`` (fresh SQLite file or PostgreSQL database, its embedded
SMSC simulator delivering) on loopback, makes a tenant through the CLI, signs many
one-receiver jobs ahead exactly as the ``ovh`` client does (``bench/presign.py``) and
drives them from a separate process, ``wrk``, at a fixed connection count for a
duration. ``GET /1.0/auth/time`` (no auth, no database: the HTTP stack's own cost) is
measured first in the same run, on the same server.

    PYTHONPATH=$PWD .venv/bin/python bench/api.py [--backend sqlite|postgresql|both] [--connections 32] [--duration 10] [--workers N] [--json]

Needs ``wrk`` (``apt-get install wrk``). ``non_2xx`` counts answers ≥ 400 (wrk's own
count); socket errors are wrk's connect/read/write errors and time-outs (``--timeout``,
2 s as wrk's default). ``messages_stored`` (one per job) is read from the database after the run: it may
exceed the 2xx count by the requests in flight when wrk stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    cpu_seconds, drop_db, free_port, machine_line, make_db, make_tenant, message_counts, server_env, spawn, start_serve, stop_all,
)
from presign import job_requests, receivers, server_time, time_request  # noqa: E402
from wrkrun import require_wrk, run_wrk, summary, write_requests  # noqa: E402


def run(backend: str, connections: int, duration: float, threads: int, timeout: float, presigned: int, workers: int = 1,
        dispatch_process: bool = False) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="textos-bench-api-"))
    db, pg_name = make_db(backend, tmp)
    procs = []
    try:
        tenant = make_tenant(db, credits=10_000_000)
        port = free_port()
        serve_args = ["--workers", str(workers)] if workers > 1 else []
        if dispatch_process:  # delivery (and the embedded simulator) in a `textos dispatch` of its own
            procs.append(spawn(["dispatch"], tmp / "dispatch.log", server_env(db, tmp)))
            serve_args.append("--no-dispatch")
        procs.append(start_serve(db, tmp, port, *serve_args))
        endpoint = f"http://127.0.0.1:{port}/1.0"
        server = procs[-1].pid

        write_requests([time_request(endpoint)], tmp / "time.req")
        cpu = cpu_seconds(server)
        get = run_wrk(f"{endpoint}/auth/time", tmp / "time.req", connections=connections, duration=duration, threads=threads, timeout=timeout)
        get_cpu = cpu_seconds(server) - cpu

        t = time.perf_counter()
        signed = job_requests(endpoint, tenant.service, tenant.app_key, tenant.app_secret, tenant.consumer_key, receivers(0, presigned), server_time(endpoint))
        write_requests(signed, tmp / "jobs.req")
        sign_s = time.perf_counter() - t
        cpu = cpu_seconds(server)
        post = run_wrk(f"{endpoint}/sms/{tenant.service}/jobs", tmp / "jobs.req", connections=connections, duration=duration, threads=threads, timeout=timeout)
        post_cpu = cpu_seconds(server) - cpu
        stored = message_counts(db)()[0]
        ok = post["requests"] - post["non_2xx"]
        return {
            "backend": backend,
            "workers": workers,
            "dispatch_process": dispatch_process,
            "connections": connections,
            "duration_s": duration,
            "wrk_threads": threads,
            "post_jobs": {**summary(post), "messages_stored": stored, "presigned": presigned, "cycled": ok > presigned,
                          "server_cpu_s": round(post_cpu, 2), "signing_s": round(sign_s, 2)},
            "auth_time": {**summary(get), "server_cpu_s": round(get_cpu, 2)},
        }
    finally:
        stop_all(procs)
        drop_db(pg_name)


def show(r: dict) -> None:
    print(f"{r['backend']}{', ' + str(r['workers']) + ' API processes' if r['workers'] > 1 else ''}: {r['connections']} connections, {r['duration_s']} s each, wrk threads {r['wrk_threads']}")
    for name, f in (("POST /sms/{s}/jobs (1 receiver)", r["post_jobs"]), ("GET /auth/time", r["auth_time"])):
        errors = ", ".join(f"{k} {v}" for k, v in f["socket_errors"].items() if v) or "none"
        print(f"  {name:32} {f['req_per_s']:>7,} req/s  p50 {f['p50_ms']:.1f} ms  p99 {f['p99_ms']:.1f} ms  max {f['max_ms']:.0f} ms"
              f"  non-2xx {f['non_2xx']}  socket errors: {errors}  server CPU {f['server_cpu_s']} s")
    post = r["post_jobs"]
    print(f"  messages stored {post['messages_stored']:,} (pre-signed {post['presigned']:,}{', cycled' if post['cycled'] else ''})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=10, help="seconds of each measurement")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1 leaves the most CPU to the server)")
    parser.add_argument("--timeout", type=int, default=2, help="wrk's time-out per request, seconds")
    parser.add_argument("--presigned", type=int, default=0, help="requests signed ahead (default: 6,000 per second of --duration)")
    parser.add_argument("--workers", type=int, default=1, help="API processes of textos serve (PostgreSQL only)")
    parser.add_argument("--dispatch-process", action="store_true",
                        help="delivery in a separate `textos dispatch` (textos serve --no-dispatch)")
    parser.add_argument("--json", action="store_true", help="one JSON object per backend")
    args = parser.parse_args()
    require_wrk()
    presigned = args.presigned or int(6000 * args.duration)
    print(machine_line(), file=sys.stderr if args.json else sys.stdout)
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        result = run(backend, args.connections, args.duration, args.threads, args.timeout, presigned, args.workers, args.dispatch_process)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            show(result)


if __name__ == "__main__":
    main()
