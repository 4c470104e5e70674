"""One signed one-receiver POST /jobs at a time: the latency of a request that waits for nothing else.

Starts a real ``textos serve`` (fresh SQLite file, or a new PostgreSQL database with
``--backend postgresql``, dropped after; other arguments go to ``serve``, e.g. ``--no-dispatch``), makes a tenant through the CLI, and on one keep-alive connection sends
500 ``GET /1.0/auth/time`` then 600 signed one-receiver jobs, one after the other, 5 ms apart
(so delivery of the previous message is under way, not finished). Prints p50/p90/p99 of
each: under no load, the floor that group commit cannot lower.

    PYTHONPATH=$PWD .venv/bin/python bench/lone_post.py [--backend sqlite|postgresql] [--no-dispatch]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import drop_db, free_port, machine_line, make_db, make_tenant, percentile, start_serve, stop_all  # noqa: E402
from presign import job_requests, receivers, server_time, time_request  # noqa: E402


def _answer(conn: socket.socket) -> bytes:
    """One HTTP/1.1 answer with a Content-Length, read whole."""
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
            if len(body) >= length:
                return data
        chunk = conn.recv(65536)
        if not chunk:
            raise SystemExit(f"the server closed the connection: {data[:300]!r}")
        data += chunk


def one_at_a_time(port: int, requests: list[bytes], pause: float = 0.005) -> list[float]:
    """Milliseconds from sending each request to its whole answer, sorted."""
    times = []
    with socket.create_connection(("127.0.0.1", port)) as conn:
        for raw in requests:
            started = time.perf_counter()
            conn.sendall(raw)
            answer = _answer(conn)
            if b" 200 " not in answer.split(b"\r\n", 1)[0]:
                raise SystemExit(f"not 200: {answer[:300]!r}")
            times.append((time.perf_counter() - started) * 1000)
            time.sleep(pause)
    return sorted(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args, serve_args = parser.parse_known_args()
    print(machine_line())
    tmp = Path(tempfile.mkdtemp(prefix="textos-bench-lone-"))
    db, pg_name = make_db(args.backend, tmp)
    tenant = make_tenant(db, credits=1_000_000)
    port = free_port()
    server = start_serve(db, tmp, port, *serve_args)
    try:
        endpoint = f"http://127.0.0.1:{port}/1.0"
        jobs = job_requests(endpoint, tenant.service, tenant.app_key, tenant.app_secret, tenant.consumer_key, receivers(0, 600), server_time(endpoint))
        clock = one_at_a_time(port, [time_request(endpoint).raw()] * 500)
        posts = one_at_a_time(port, [r.raw() for r in jobs])
        for name, times in (("GET /auth/time", clock), ("POST /jobs, 1 receiver", posts)):
            print(f"{args.backend}, {name}: p50 {percentile(times, 50):.2f} ms  p90 {percentile(times, 90):.2f} ms  p99 {percentile(times, 99):.2f} ms")
    finally:
        stop_all([server])
        drop_db(pg_name)


if __name__ == "__main__":
    main()
