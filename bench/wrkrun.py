"""Drive pre-written requests with ``wrk`` and its Lua script (``bench/requests.lua``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Iterable

from presign import SignedRequest

SCRIPT = Path(__file__).with_name("requests.lua")


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (the load generator of bench/api.py and bench/onthefly.py)")
    return path


def write_requests(requests: Iterable[SignedRequest], path: Path) -> int:
    """One raw request per line, CRLF as tab (the script turns them back); returns how many."""
    n = 0
    with open(path, "wb") as f:
        for r in requests:
            raw = r.raw()
            assert b"\t" not in raw and b"\n" not in raw.replace(b"\r\n", b"")
            f.write(raw.replace(b"\r\n", b"\t") + b"\n")
            n += 1
    return n


def run_wrk(url: str, requests_file: Path, *, connections: int, duration: float, threads: int = 1, timeout: float = 2.0) -> dict:
    """Run wrk against ``url`` (whole seconds: wrk takes no fractions); returns the figures its ``done()`` printed (latencies in µs).

    ``non_2xx`` is wrk's count of answers with a status of 400 or more."""
    threads = max(1, min(threads, connections))
    done = subprocess.run(
        [require_wrk(), "-c", str(connections), "-t", str(threads), "-d", f"{max(1, round(duration))}s",
         "--timeout", f"{max(1, round(timeout))}s",
         "-s", str(SCRIPT), url, "--", str(requests_file), str(threads)],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    out = done.stdout
    line = next(l for l in reversed(out.splitlines()) if l.startswith("{"))
    figures = json.loads(line)
    seconds = figures["duration_us"] / 1e6
    figures["req_per_s"] = round(figures["requests"] / seconds) if seconds else 0
    figures["socket_errors"] = figures["connect_errors"] + figures["read_errors"] + figures["write_errors"] + figures["timeouts"]
    return figures


def summary(f: dict) -> dict:
    """req/s and latencies in ms, errors: the figures a report shows."""
    return {
        "req_per_s": f["req_per_s"],
        "requests": f["requests"],
        "p50_ms": round(f["p50_us"] / 1000, 2),
        "p99_ms": round(f["p99_us"] / 1000, 2),
        "max_ms": round(f["max_us"] / 1000, 1),
        "non_2xx": f["non_2xx"],
        "socket_errors": {"connect": f["connect_errors"], "read": f["read_errors"], "write": f["write_errors"], "timeout": f["timeouts"]},
    }
