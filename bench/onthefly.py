"""On-the-fly sending, end to end and its latency: one-receiver signed POST /jobs into an SMSC.

Starts ``textos smsc`` (a separate process, with its HTTP hook) and ``textos serve
--smsc`` on loopback, a fresh SQLite file or PostgreSQL database, a tenant made
through the CLI, and requests signed ahead as the ``ovh`` client signs them
(``bench/presign.py``).

- **end to end** (default): ``wrk`` sends the jobs at ``--connections`` (50) for
  ``--duration`` s; then the run waits until every receipt is stored. Prints accepted/s
  (wrk's answers) and end-to-end msg/s (messages / time from the first POST to the
  last receipt stored).
- **--latency**: a steady offered load (``--rate``, 200 req/s, open loop: sent on a
  schedule, not waiting for answers; ``bench/openloop.py``) for ``--duration`` s. For
  each message, the time from its POST leaving the generator to its submit_sm
  arriving at the SMSC (wall clock, same machine; the SMSC's ``GET
  /_simulator/submits``): p50/p99/max; and the POST's own answer time.
- **--sweep**: the latency run at rising offered loads from ``--rate`` (100) until
  saturation (fewer 2xx answers per second than 90 % of the offer, or errors, or a
  median past 1 s); writes a PNG plot (``--plot``, docs/onthefly-latency.png; needs
  the ``bench`` extra: matplotlib) and prints the numbers as JSON.

The generator is Python (wrk cannot pace): it reports its own CPU use and lag behind
its schedule, and ``limit: "generator"`` when it, not the server, fell behind.

    PYTHONPATH=$PWD .venv/bin/python bench/onthefly.py [--backend sqlite|postgresql|both] [--connections 50] [--duration 10]
    PYTHONPATH=$PWD .venv/bin/python bench/onthefly.py --latency [--rate 200] [--duration 10]
    (either, with --dispatch-process: delivery in a ``textos dispatch`` of its own)
    PYTHONPATH=$PWD .venv/bin/python bench/onthefly.py --sweep [--duration 5] [--plot docs/onthefly-latency.png] > sweep.json
    PYTHONPATH=$PWD .venv/bin/python bench/onthefly.py --replot sweep.json   # the plot again, from saved numbers
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BenchTenant, Smsc, cpu_seconds, drop_db, free_port, machine_line, make_db, make_tenant, message_counts, percentile, server_env, spawn, start_serve,
    start_smsc, stop_all, wait,
)
from openloop import offer  # noqa: E402
from presign import job_requests, receivers, server_time  # noqa: E402
from wrkrun import require_wrk, run_wrk, summary, write_requests  # noqa: E402

SWEEP_RATES = [100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10000]


@dataclass
class Setup:
    """A server delivering to a separate SMSC simulator, and a tenant."""

    db: str
    endpoint: str
    port: int
    smsc: Smsc
    tenant: BenchTenant
    procs: list
    pg_name: str | None
    tmp: Path
    next_receiver: int = 0

    def sign(self, count: int, tenant: BenchTenant | None = None) -> list:
        t = tenant or self.tenant
        first, self.next_receiver = self.next_receiver, self.next_receiver + count
        return job_requests(self.endpoint, t.service, t.app_key, t.app_secret, t.consumer_key, receivers(first, count), server_time(self.endpoint))

    def smsc_submits(self) -> int:
        return self.smsc.submits()

    def close(self) -> None:
        stop_all(self.procs)
        drop_db(self.pg_name)
        shutil.rmtree(self.tmp, ignore_errors=True)  # the database file, logs (a long run's SQLite file: hundreds of MB)


DISPATCH_PROCESS = False
"""``--dispatch-process``: delivery in a ``textos dispatch --smsc`` of its own, ``serve --no-dispatch``."""


def setup(backend: str, record_last: int, window: int, **env: str) -> Setup:
    """A fresh database, ``textos smsc`` and ``textos serve --smsc`` (``env``: more settings), a tenant;
    with ``DISPATCH_PROCESS``, ``textos dispatch --smsc`` beside ``textos serve --no-dispatch``.
    The API server is the last of ``procs``."""
    tmp = Path(tempfile.mkdtemp(prefix="textos-bench-otf-"))
    db, pg_name = make_db(backend, tmp)
    procs = []
    try:
        smsc = start_smsc(tmp, record_last)
        procs.append(smsc.proc)
        tenant = make_tenant(db, credits=10_000_000)
        port = free_port()
        if DISPATCH_PROCESS:
            procs.append(spawn(["dispatch", "--smsc", smsc.url(window)], tmp / "dispatch.log", server_env(db, tmp, **env)))
            procs.append(start_serve(db, tmp, port, "--no-dispatch", env=server_env(db, tmp, **env)))
        else:
            procs.append(start_serve(db, tmp, port, "--smsc", smsc.url(window), env=server_env(db, tmp, **env)))
        return Setup(db, f"http://127.0.0.1:{port}/1.0", port, smsc, tenant, procs, pg_name, tmp)
    except BaseException:
        stop_all(procs)
        drop_db(pg_name)
        raise


# ── (a) end to end ───────────────────────────────────────────────────────────


def end_to_end(backend: str, connections: int, duration: int, threads: int) -> dict:
    s = setup(backend, 1000, 64)
    try:
        tmp = Path(tempfile.mkdtemp(prefix="textos-bench-otf-req-"))
        write_requests(s.sign(6000 * duration), tmp / "jobs.req")
        counts = message_counts(s.db)
        server = s.procs[-1].pid
        cpu = cpu_seconds(server)
        t0 = time.perf_counter()
        post = run_wrk(f"{s.endpoint}/sms/{s.tenant.service}/jobs", tmp / "jobs.req", connections=connections, duration=duration, threads=threads)
        t0 += time.perf_counter() - t0 - post["duration_us"] / 1e6  # from wrk's first request (it reads its file first)
        t_wrk = post["duration_us"] / 1e6
        last = (-1, -1)

        def all_final() -> bool:
            nonlocal last
            total, _, final = counts()
            done = total == final and (total, final) == last  # nothing new since the last look
            last = (total, final)
            return done

        wait(all_final, 600, "every receipt stored", 0.2)
        t_final = time.perf_counter() - t0
        total = last[0]
        return {
            "backend": backend, "connections": connections, "duration_s": duration,
            "post_jobs": summary(post),
            "messages": total,
            "accepted_per_s": round(total / t_wrk),
            "end_to_end_s": round(t_final, 2),
            "end_to_end_per_s": round(total / t_final),
            "server_cpu_s": round(cpu_seconds(server) - cpu, 2),
        }
    finally:
        s.close()


# ── (b) latency at a steady offered load ─────────────────────────────────────


def latency_step(s: Setup, rate: int, duration: float, extra_submits: int = 0) -> dict:
    """One run of ``rate`` jobs a second for ``duration`` s; ``extra_submits``: how many submits of
    other traffic (other tenants) the SMSC may have received meanwhile, to look past."""
    count = max(1, int(rate * duration))
    signed = s.sign(count)
    before = s.smsc_submits()
    run = offer("127.0.0.1", s.port, [r.raw() for r in signed], rate)
    ok = run.ok
    wait(lambda: s.smsc_submits() - before >= ok, 120, "the accepted jobs at the SMSC", 0.1)
    arrivals = s.smsc.last_submits(count + extra_submits)
    arrived = {}
    for a in arrivals:
        arrived.setdefault(a["destination"], a["receivedAt"])
    to_smsc = []
    for r, sent, status in zip(signed, run.sent_wall, run.status):
        receiver = json.loads(r.body)["receivers"][0].removeprefix("+")
        if 200 <= status < 300 and receiver in arrived:
            to_smsc.append(arrived[receiver] - sent)
    to_smsc.sort()
    answers = sorted(lat for lat, st in zip(run.latency, run.status) if st)
    lag = sorted(run.lag)
    errors = run.sent - ok
    generator_busy = run.cpu_s / run.duration_s if run.duration_s else 0.0
    achieved = run.sent / run.duration_s if run.duration_s else 0.0
    ms = lambda v: round(v * 1000, 2)  # noqa: E731
    ok_per_s = round(ok / max(run.duration_s, run.answered_s)) if run.duration_s else 0  # answered within the run or after it
    behind = achieved < 0.95 * rate or percentile(lag, 99) > 0.05  # the offer itself fell behind its schedule
    limit = None
    if behind and generator_busy > 0.8:
        limit = "generator"
    elif behind or ok_per_s < 0.9 * rate:
        limit = "server"  # answers (or free connections, up to 1,024) did not keep up
    return {
        "offered_per_s": rate,
        "sent": run.sent,
        "sent_per_s": round(achieved),
        "ok": ok,
        "ok_per_s": ok_per_s,
        "errors": errors,
        "post_to_submit_ms": {"n": len(to_smsc), "p50": ms(percentile(to_smsc, 50)), "p99": ms(percentile(to_smsc, 99)), "max": ms(to_smsc[-1]) if to_smsc else None},
        "post_answer_ms": {"p50": ms(percentile(answers, 50)), "p99": ms(percentile(answers, 99)), "max": ms(answers[-1]) if answers else None},
        "generator": {"cpu_share": round(generator_busy, 2), "lag_p99_ms": ms(percentile(lag, 99)), "connections": run.connections},
        "limit": limit,
    }


def saturated(step: dict) -> bool:
    p50 = step["post_to_submit_ms"]["p50"]
    return step["ok_per_s"] < 0.9 * step["offered_per_s"] or step["errors"] > 0.01 * step["sent"] or not (p50 == p50) or p50 > 1000


def latency(backend: str, rate: int, duration: float) -> dict:
    s = setup(backend, max(1000, int(rate * duration) + 1000), 64)
    try:
        return {"backend": backend, "duration_s": duration, **latency_step(s, rate, duration)}
    finally:
        s.close()


def sweep(backend: str, first: int, duration: float, settle: float = 1.0) -> dict:
    rates = [r for r in SWEEP_RATES if r >= first]
    s = setup(backend, int(max(rates) * duration) + 1000, 64)
    steps = []
    try:
        for rate in rates:
            step = latency_step(s, rate, duration)
            steps.append(step)
            print(json.dumps({"backend": backend, **step}), file=sys.stderr, flush=True)
            if saturated(step):
                break
            time.sleep(settle)
        return {"backend": backend, "step_s": duration, "steps": steps}
    finally:
        s.close()


def plot(results: list[dict], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for color, r in zip(("tab:blue", "tab:red", "tab:green"), results):
        xs = [st["offered_per_s"] for st in r["steps"]]
        for q, style in (("p50", "-o"), ("p99", "--s")):
            ax.plot(xs, [st["post_to_submit_ms"][q] for st in r["steps"]], style, color=color, label=f"{r['backend']} {q}", markersize=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(sorted({st["offered_per_s"] for r in results for st in r["steps"]}))
    ax.set_xlabel("offered load (signed one-receiver POST /jobs per second, open loop)")
    ax.set_ylabel("POST sent → submit_sm at the SMSC (ms)")
    for target, q in ((20, "p99"), (5, "p50")):
        ax.axhline(target, color="grey", linewidth=0.6, linestyle=":")
        ax.annotate(f"target {q} < {target} ms", (0.01, target), xycoords=("axes fraction", "data"), fontsize=7, color="grey", va="bottom")
    ax.set_title(f"On-the-fly latency against offered load ({time.strftime('%Y-%m-%d')}, 2 cores)", fontsize=10)
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--latency", action="store_true", help="steady offered load: POST → submit_sm latency")
    mode.add_argument("--sweep", action="store_true", help="latency against offered load up to saturation, with a PNG plot")
    parser.add_argument("--connections", type=int, default=50, help="end to end: wrk's connections")
    parser.add_argument("--threads", type=int, default=1, help="end to end: wrk's threads")
    parser.add_argument("--duration", type=int, default=0, help="seconds (default: 10; 5 per step of --sweep)")
    parser.add_argument("--rate", type=int, default=0, help="offered req/s (default: 200; --sweep starts there, default 100)")
    parser.add_argument("--plot", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "onthefly-latency.png")
    parser.add_argument("--replot", type=Path, help="only draw --plot again from the JSON a --sweep printed")
    parser.add_argument("--json", action="store_true", help="end to end and --latency: one JSON object per backend (--sweep always prints JSON)")
    parser.add_argument("--dispatch-process", action="store_true",
                        help="delivery in a `textos dispatch` of its own beside `textos serve --no-dispatch` (server CPU: the API's only)")
    args = parser.parse_args()
    global DISPATCH_PROCESS
    DISPATCH_PROCESS = args.dispatch_process
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if args.replot:
        plot(json.loads(args.replot.read_text())["results"], args.plot)
        return
    print(machine_line(), file=sys.stderr)
    if args.sweep:
        results = [sweep(b, args.rate or 100, args.duration or 5) for b in backends]
        plot(results, args.plot)
        print(json.dumps({"plot": str(args.plot), "results": results}))
        return
    for backend in backends:
        if args.latency:
            result = latency(backend, args.rate or 200, args.duration or 10)
        else:
            require_wrk()
            result = end_to_end(backend, args.connections, args.duration or 10, args.threads)
        print(json.dumps(result) if args.json else _human(result), flush=True)


def _human(r: dict) -> str:
    if "post_to_submit_ms" in r:
        p, a, g = r["post_to_submit_ms"], r["post_answer_ms"], r["generator"]
        return (f"{r['backend']}: offered {r['offered_per_s']} req/s for {r['duration_s']} s, sent {r['sent_per_s']}/s, 2xx {r['ok_per_s']}/s, errors {r['errors']}\n"
                f"  POST → submit_sm: p50 {p['p50']} ms  p99 {p['p99']} ms  max {p['max']} ms  ({p['n']} matched)\n"
                f"  POST answered:    p50 {a['p50']} ms  p99 {a['p99']} ms  max {a['max']} ms\n"
                f"  generator: CPU {g['cpu_share']:.0%} of a core, lag p99 {g['lag_p99_ms']} ms, {g['connections']} connections"
                + (f"  — limited by the {r['limit']}" if r["limit"] else ""))
    f = r["post_jobs"]
    return (f"{r['backend']}: {r['connections']} connections, {r['duration_s']} s: {r['messages']:,} messages, accepted {r['accepted_per_s']:,}/s"
            f" (wrk: {f['req_per_s']:,} req/s, p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms, non-2xx {f['non_2xx']}, socket errors {sum(f['socket_errors'].values())});"
            f" end to end {r['end_to_end_per_s']:,} msg/s ({r['end_to_end_s']} s to the last receipt), server CPU {r['server_cpu_s']} s")


if __name__ == "__main__":
    main()
