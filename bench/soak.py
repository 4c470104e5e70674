"""Soak: on-the-fly sending at a steady share of the measured capacity for ``--minutes``, with
callbacks to a slow receiver; every ``--sample`` seconds the server's memory, the latency, the
queue and the callbacks outbox (issue #16, point 8).

- **capacity**: unless ``--rate`` is given, ``bench/onthefly.py``'s end-to-end run first (``wrk``,
  50 connections, ``--capacity-seconds``; a server of its own): messages from the first POST to
  the last receipt stored, per second. The soak offers ``--share`` (50 %) of it.
- **the load**: one-receiver signed ``POST /jobs`` at that rate, open loop, in windows of
  ``--sample`` seconds (``onthefly.latency_step``, signed just before each window: a signature
  holds 180 s), into a separate ``textos smsc``.
- **callbacks to a slow receiver**: a second account, whose ``callBack`` answers after
  ``--slow-delay`` (1 s), sends ``--callback-rate`` one-receiver jobs a second. The server keeps at
  most ``callback_concurrency`` (8) requests in flight per host, so one such receiver takes at most
  8 events a second: the default, 3 messages (up to 6 events) a second, keeps it busy without
  outgrowing it, so a growing outbox would be the server's fault.
- **each window** (a sample): the POST's answer time and POST → submit_sm at the SMSC (p50, p99,
  max), the server's CPU time per job accepted, the machine's load average; **every second** (a thread): the server's RSS (``VmRSS``), messages queued or being
  submitted, messages sent awaiting their receipt, and pending callback events (a window gives
  the largest of its seconds).

Writes the samples as JSON (``--json``, default docs/soak-BACKEND.json) and a PNG plot (``--plot``,
default docs/soak-BACKEND.png; matplotlib: the ``bench`` extra), and prints a summary (start, end
and worst of each figure). After the load it waits for every message to settle and the outbox to drain and checks that every
message of the slow receiver's account was told (its final state).

    PYTHONPATH=$PWD .venv/bin/python bench/soak.py [--backend sqlite|postgresql] [--minutes 10] [--rate N] [--sample 5]
    PYTHONPATH=$PWD .venv/bin/python bench/soak.py --replot docs/soak-sqlite.json   # the plot again
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from callback_sink import CallbackSink  # noqa: E402
from common import cpu_seconds, machine_line, make_tenant, percentile, rss_mb, wait  # noqa: E402
from onthefly import end_to_end, latency_step, setup  # noqa: E402
from presign import job_requests, receivers, server_time  # noqa: E402
from textos.storage import gauges  # noqa: E402
from textos.storage.db import normalize_url  # noqa: E402
from wrkrun import require_wrk  # noqa: E402

SLOW_FIRST = 8_000_000
"""The slow receiver's account sends to receivers from there (``presign.receivers``); the load from 0."""


def capacity(backend: str, seconds: int) -> dict[str, Any]:
    require_wrk()
    return end_to_end(backend, connections=50, duration=seconds, threads=1)


class Depths:
    """A thread reading, every ``every`` seconds, the server's RSS and the depths of the queue and the outbox."""

    def __init__(self, engine: Any, pid: int, every: float = 1.0) -> None:
        self.engine, self.pid, self.every = engine, pid, every
        self.rows: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self.rows.append({"t_s": round(time.monotonic() - self.started, 1), "rss_mb": round(rss_mb(self.pid), 1), **_depths(self.engine)})

    def since(self, t_s: float) -> dict[str, Any]:
        """The largest of each figure read after ``t_s``, and the last RSS."""
        rows = [r for r in self.rows if r["t_s"] > t_s] or self.rows[-1:]
        return {"rss_mb": rows[-1]["rss_mb"], **{k: max(r[k] for r in rows) for k in ("queue", "awaiting_receipt", "outbox_pending")}}


class SlowSender:
    """A thread sending ``rate`` one-receiver jobs a second from ``tenant`` (signed 30 s ahead)."""

    def __init__(self, endpoint: str, tenant: Any, rate: float) -> None:
        self.endpoint, self.tenant, self.rate = endpoint, tenant, rate
        self.statuses: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t, n, start = self.tenant, 0, time.monotonic()
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                batch = max(1, int(self.rate * 30))
                signed = job_requests(self.endpoint, t.service, t.app_key, t.app_secret, t.consumer_key, receivers(SLOW_FIRST + n, batch),
                                      server_time(self.endpoint))
                for r in signed:
                    delay = start + n / self.rate - time.monotonic()
                    if self.stop.wait(max(0.0, delay)):
                        return
                    try:
                        self.statuses.append(client.post(r.url, headers=r.headers, content=r.body).status_code)
                    except httpx.HTTPError:
                        self.statuses.append(0)
                    n += 1


def soak(backend: str, rate: int, minutes: float, sample_s: float, callback_rate: float, slow_delay: float) -> dict[str, Any]:
    per_window = int(rate * sample_s)
    s = setup(backend, 2 * per_window + 2000, 64, TEXTOS_FETCH_ALLOW_PRIVATE="1")  # the callback receiver is on loopback
    engine = create_engine(normalize_url(s.db))
    server = s.procs[-1].pid
    samples: list[dict[str, Any]] = []
    try:
        slow = make_tenant(s.db, credits=10_000_000, nic="bn00002-slow", methods=("GET", "POST", "PUT"))
        with CallbackSink() as sink:
            sink.delay = slow_delay
            slow.client(s.endpoint).put(f"/sms/{slow.service}", callBack=sink.url("/slow"))
            sender = SlowSender(s.endpoint, slow, callback_rate)
            depths = Depths(engine, server)
            sender.thread.start()
            depths.thread.start()
            started = depths.started
            while time.monotonic() - started < minutes * 60:
                window_start, cpu = time.monotonic() - started, cpu_seconds(server)
                step = latency_step(s, rate, sample_s, extra_submits=int(callback_rate * sample_s * 4) + 50)
                cpu = cpu_seconds(server) - cpu
                samples.append({"t_s": round(time.monotonic() - started, 1), **depths.since(window_start), "callbacks_received": len(sink.received()),
                                "server_cpu_ms_per_job": round(1000 * cpu / max(1, step["ok"]), 3), "load": round(os.getloadavg()[0], 2),
                                "offered_per_s": step["offered_per_s"], "ok_per_s": step["ok_per_s"], "errors": step["errors"],
                                "post_answer_ms": step["post_answer_ms"], "post_to_submit_ms": step["post_to_submit_ms"],
                                "limit": step["limit"]})
                print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
            sender.stop.set()
            sender.thread.join(timeout=60)
            drained = time.monotonic()
            wait(lambda: not any(_depths(engine).values()), 600, "every message settled and the outbox drained", 0.5)
            depths.stop.set()
            drain_s = time.monotonic() - drained
            told = _told(engine, slow.service, sink)
        return {"backend": backend, "rate": rate, "minutes": minutes, "sample_s": sample_s, "callback_rate": callback_rate,
                "slow_delay_s": slow_delay, "slow_jobs": len(sender.statuses), "slow_jobs_ok": sum(1 for st in sender.statuses if 200 <= st < 300),
                "drain_s": round(drain_s, 1), **told, "samples": samples, "every_second": depths.rows, "date": time.strftime("%Y-%m-%d %H:%M %Z")}
    finally:
        engine.dispose()
        s.close()


def _depths(engine: Any) -> dict[str, int]:
    """The backlog, read as ``/metrics`` reads it (``storage.gauges``: each state on its partial index).
    A ``status IN (…)`` count walked the whole table instead: a parallel scan of every message
    each second, whose cost grew with the run and weighed on the server it measured."""
    with Session(engine) as session:
        by_state: Counter[str] = Counter()
        for _, state, n in gauges.pending_by_account(session):
            by_state[state] += n
        pending = sum(n for _, status, n in gauges.callbacks_by_host(session) if status == "pending")
    return {"queue": by_state["queued"] + by_state["submitting"], "awaiting_receipt": by_state["sent"], "outbox_pending": pending}


def _told(engine: Any, service: str, sink: CallbackSink) -> dict[str, int]:
    """The slow receiver's account: its messages, those whose final state the receiver heard, events failed."""
    with engine.connect() as conn:
        ids = [str(r[0]) for r in conn.execute(text(
            "SELECT m.id FROM messages m JOIN accounts a ON a.id = m.account_id WHERE a.service_name = :s"), {"s": service})]
        failed = conn.execute(text("SELECT COUNT(*) FROM callback_events WHERE status = 'failed'")).scalar_one()
    finals = {r.query["id"] for r in sink.received("/slow") if r.query.get("ptt") in ("4", "5")}
    return {"slow_messages": len(ids), "slow_messages_told_final": sum(1 for i in ids if i in finals), "callback_events_failed": failed,
            "callbacks_received": len(sink.received("/slow"))}


def summarize(r: dict[str, Any]) -> dict[str, Any]:
    """Start, end and worst of each figure (start: the first minute's samples, end: the last minute's)."""
    samples = r["samples"]
    per_minute = max(1, int(60 / r["sample_s"]))
    first, last = samples[:per_minute], samples[-per_minute:]

    def p(rows: list[dict[str, Any]], key: str, q: str) -> float:
        return round(percentile(sorted(row[key][q] for row in rows if row[key][q] == row[key][q]), 50), 2)

    def median(rows: list[dict[str, Any]], key: str) -> float | None:
        return round(percentile(sorted(row[key] for row in rows), 50), 3) if key in rows[0] else None

    return {
        "rss_mb": {"start": samples[0]["rss_mb"], "end": samples[-1]["rss_mb"], "max": max(x["rss_mb"] for x in r["every_second"])},
        "post_to_submit_p50_ms": {"first_minute": p(first, "post_to_submit_ms", "p50"), "last_minute": p(last, "post_to_submit_ms", "p50")},
        "post_to_submit_p99_ms": {"first_minute": p(first, "post_to_submit_ms", "p99"), "last_minute": p(last, "post_to_submit_ms", "p99"),
                                  "worst_sample": max(x["post_to_submit_ms"]["p99"] or 0 for x in samples)},
        "post_answer_p99_ms": {"first_minute": p(first, "post_answer_ms", "p99"), "last_minute": p(last, "post_answer_ms", "p99"),
                               "worst_sample": max(x["post_answer_ms"]["p99"] or 0 for x in samples)},
        "server_cpu_ms_per_job": {"first_minute": median(first, "server_cpu_ms_per_job"), "last_minute": median(last, "server_cpu_ms_per_job")},
        "load": {"first_minute": median(first, "load"), "last_minute": median(last, "load")},
        "queue_max": max(x["queue"] for x in samples), "awaiting_receipt_max": max(x["awaiting_receipt"] for x in samples),
        "outbox_pending": {"max": max(x["outbox_pending"] for x in samples), "end": samples[-1]["outbox_pending"]},
        "errors": sum(x["errors"] for x in samples), "ok_per_s_min": min(x["ok_per_s"] for x in samples),
        "samples": len(samples), "limited": sum(1 for x in samples if x["limit"]),
    }


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [x["t_s"] / 60 for x in r["samples"]]
    seconds = r["every_second"]
    xs_s = [x["t_s"] / 60 for x in seconds]
    fig, (lat, mem, depth) = plt.subplots(3, 1, figsize=(7, 6.4), dpi=80, sharex=True)
    for key, label, color in (("post_to_submit_ms", "POST → submit_sm", "tab:blue"), ("post_answer_ms", "POST answered", "tab:green")):
        lat.plot(xs, [x[key]["p50"] for x in r["samples"]], "-", color=color, linewidth=1, label=f"{label} p50")
        lat.plot(xs, [x[key]["p99"] for x in r["samples"]], "--", color=color, linewidth=1, label=f"{label} p99")
    lat.set_yscale("log")
    lat.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    lat.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    values = [x[key][q] for x in r["samples"] for key in ("post_to_submit_ms", "post_answer_ms") for q in ("p50", "p99") if x[key][q] == x[key][q]]
    lat.set_yticks([t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if min(values) / 2 <= t <= max(values) * 2])
    lat.set_ylabel(f"ms (per {r['sample_s']:g} s window)")
    lat.legend(fontsize=7, ncol=2)
    mem.plot(xs_s, [x["rss_mb"] for x in seconds], color="tab:red", linewidth=1)
    mem.set_ylabel("server RSS (MiB)")
    mem.set_ylim(0, max(x["rss_mb"] for x in seconds) * 1.2)
    for key, label, color in (("queue", "messages queued/submitting", "tab:purple"), ("awaiting_receipt", "sent, awaiting receipt", "tab:gray"),
                              ("outbox_pending", "callback events pending", "tab:orange")):
        depth.plot(xs_s, [x[key] for x in seconds], color=color, linewidth=0.8, label=label)
    depth.set_ylabel("rows (every second)")
    depth.set_xlabel("minutes")
    depth.legend(fontsize=7)
    for ax in (lat, mem, depth):
        ax.grid(True, linewidth=0.3)
    fig.suptitle(f"Soak, {r['backend']}: {r['rate']} jobs/s for {r['minutes']:g} min, callbacks {r['callback_rate']:g}/s to a receiver "
                 f"answering in {r['slow_delay_s']:g} s ({r['date'][:10]}, 2 cores, shared)", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    buffer.seek(0)
    from PIL import Image  # matplotlib's own dependency: 128 colours keep the PNG small

    Image.open(buffer).convert("RGB").quantize(128).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=int, default=0, help="jobs a second (default: --share of the capacity measured first)")
    parser.add_argument("--share", type=float, default=0.5)
    parser.add_argument("--capacity-seconds", type=int, default=5)
    parser.add_argument("--sample", type=float, default=5, help="seconds per sample (a window of the load)")
    parser.add_argument("--callback-rate", type=float, default=3, help="jobs a second of the account whose callBack is slow")
    parser.add_argument("--slow-delay", type=float, default=1.0, help="seconds the callback receiver takes to answer")
    parser.add_argument("--json", type=Path, help="default: docs/soak-BACKEND.json")
    parser.add_argument("--plot", type=Path, help="default: docs/soak-BACKEND.png")
    parser.add_argument("--replot", type=Path, help="only draw the plot again from a --json file")
    args = parser.parse_args()
    if args.replot:
        r = json.loads(args.replot.read_text())
        plot(r, args.plot or args.replot.with_suffix(".png"))
        return
    print(machine_line(), file=sys.stderr, flush=True)
    measured = None
    rate = args.rate
    if not rate:
        measured = capacity(args.backend, args.capacity_seconds)
        rate = max(1, int(measured["end_to_end_per_s"] * args.share))
        print(f"capacity: {measured['end_to_end_per_s']} msg/s end to end (accepted {measured['accepted_per_s']}/s): soak at {rate}/s", file=sys.stderr)
    r = soak(args.backend, rate, args.minutes, args.sample, args.callback_rate, args.slow_delay)
    r["capacity"] = measured
    r["summary"] = summarize(r)
    docs = ROOT / "docs"
    json_path, plot_path = args.json or docs / f"soak-{args.backend}.json", args.plot or docs / f"soak-{args.backend}.png"
    json_path.write_text(json.dumps(r, indent=None, separators=(",", ":")) + "\n")
    plot(r, plot_path)
    print(json.dumps({k: v for k, v in r.items() if k != "samples"}, indent=1))


if __name__ == "__main__":
    main()
