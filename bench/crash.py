"""Crash trials: ``kill -9`` of ``textos serve`` at a random moment of a busy day, then a restart,
then the checks; ``--trials`` times per backend (issue #16, point 5).

Each trial has its own database (a SQLite file, or a PostgreSQL database made and dropped beside
the suite's ``test``), its own ``textos smsc`` (a separate process: it outlives the kill, counts
every submit_sm and resends unanswered receipts to the next bind), and a callback receiver in this
process (``tests/callback_sink.py``, answering 200 at once). The workload starts at once:

- **on-the-fly load**: one-receiver signed ``POST /jobs`` at ``--rate`` a second for
  ``--load-seconds`` (open loop, ``bench/openloop.py``), from an account whose ``callBack`` is the
  receiver; the generator keeps its schedule through the kill (requests wait for the restarted
  server);
- **a campaign** of ``--rows`` distinct receivers (100,000) from a receivers document
  (``receiversDocumentUrl``) on another account: fetched, written, then delivered;
- delivery and receipts through the SMSC, and **callback delivery** of every message of the first
  account (its *sent* and *delivered* events).

The server is killed with SIGKILL at a random moment, restarted on the same port, and once every
message is final and no callback event is pending, the checks run. The moments are drawn uniformly
in one of three spans of ``--window`` (30 s) in turn (``kill_moment``): its first tenth (the
campaign being accepted), up to 40 % (delivery under the on-the-fly load), the rest (delivery after
the load, receipts, callbacks). The checks:

- **every acknowledged job is complete**: each job answered 2xx (on-the-fly, and the campaign if it
  was answered) has all its messages, delivered;
- **no half-created job**: every job in the database has as many messages as it counts receivers,
  and one debit of exactly its price; no debit names a job that does not exist; an unanswered
  campaign is whole or absent;
- **the ledger verifies** (``textos ledger``: cached balances = sum of entries) and each balance is
  its credits less the price of its jobs;
- **duplicates at the SMSC within the documented bound**: every message reached the SMSC, nothing
  else did, and only messages *submitting* at the kill were sent twice, none more (docs/DESIGN.md,
  ``tests/e2e/test_restart.py``);
- **every callback event delivered at least once, in order per message**: the events the receiver
  got for each message, repeats folded, are the message's events in the outbox, in order; none is
  left pending or failed, none came more than twice (sent once more at most, after the kill).

Prints one line per trial, then a Markdown table of all trials (``--results`` keeps them, one JSON
object a line, so that runs add up: ``--table-only`` prints the table of a file). Exit status 1
when a trial failed; its folder (logs, database) is kept.

    PYTHONPATH=$PWD .venv/bin/python bench/crash.py [--trials 20] [--backend sqlite|postgresql|both] [--seed 1] [--results crash.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from callback_sink import CallbackSink  # noqa: E402
from common import (  # noqa: E402
    BenchTenant, cli, drop_db, free_port, machine_line, make_db, make_tenant, serve_dir, server_env, start_serve, start_smsc, stop_all, wait,
)
from openloop import Offered, offer  # noqa: E402
from presign import job_requests, receivers, server_time  # noqa: E402
from textos.domain.lifecycle import MessageStatus  # noqa: E402
from textos.storage.db import normalize_url  # noqa: E402

SERVER_ENV = {
    "TEXTOS_FETCH_ALLOW_PRIVATE": "1",  # the receivers document and the callback receiver are on loopback
    "TEXTOS_CALLBACK_BACKOFF": "0.2",
    "TEXTOS_CALLBACK_BACKOFF_MAX": "1",
}
CAMPAIGN_FIRST = 5_000_000
"""The campaign's receivers start there (``presign.receivers``); the on-the-fly jobs' at 0."""
IN_PROGRESS = tuple(sorted(s.value for s in MessageStatus if not s.is_final))
"""Queued, being submitted, sent awaiting its receipt (``domain.lifecycle``)."""


@dataclass(frozen=True)
class Workload:
    rows: int = 100_000
    rate: int = 100
    """On-the-fly jobs a second."""
    load_seconds: float = 10.0
    window: float = 30.0
    """The kill comes within this many seconds from the start of the workload (``kill_moment``)."""
    settle_timeout: float = 300.0
    """Seconds after the restart for every message to be final and every callback delivered."""


SPANS = ((0.0, 0.1), (0.1, 0.4), (0.4, 1.0))
"""Where in the window the kills of trials 0, 1, 2 (then 3, 4, 5…) come, as shares of it."""


def kill_moment(rng: random.Random, trial_number: int, window: float) -> float:
    """Seconds from the start of the workload to the kill of trial ``trial_number``: uniform in its span."""
    low, high = SPANS[trial_number % len(SPANS)]
    return rng.uniform(max(0.2, low * window), max(0.2, high * window))


def trial(db: str, backend: str, tmp: Path, kill_at: float, w: Workload) -> dict[str, Any]:
    """One trial on the fresh database ``db``, killed ``kill_at`` seconds into the workload: its
    figures and ``failures`` (empty when it held)."""
    jobs = int(w.rate * w.load_seconds)
    procs = []
    engine = create_engine(normalize_url(db))
    try:
        smsc = start_smsc(tmp, record_last=2 * (w.rows + jobs) + 1000, wait_up=False)
        procs.append(smsc.proc)
        otf = make_tenant(db, credits=jobs + 1000, nic="cr00001-otf", methods=("GET", "POST", "PUT"))
        campaign = make_tenant(db, credits=w.rows + 1000, nic="cr00002-campaign")
        smsc.wait_up()
        port = free_port()
        serve = ["--smsc", smsc.url()]
        env = server_env(db, tmp, **SERVER_ENV)
        server = start_serve(db, tmp, port, *serve, env=env, log="serve-1.log")
        procs.append(server)
        endpoint = f"http://127.0.0.1:{port}/1.0"
        with CallbackSink() as sink:
            otf.client(endpoint).put(f"/sms/{otf.service}", callBack=sink.url("/dlr"))
            (tmp / "campaign.csv").write_text("number\n" + "\n".join(receivers(CAMPAIGN_FIRST, w.rows)) + "\n")
            files, files_port = serve_dir(tmp)
            try:
                signed = job_requests(endpoint, otf.service, otf.app_key, otf.app_secret, otf.consumer_key, receivers(0, jobs),
                                      server_time(endpoint))
                load: dict[str, Offered] = {}
                posted: dict[str, Any] = {}
                threads = [
                    threading.Thread(target=lambda: load.update(run=offer("127.0.0.1", port, [r.raw() for r in signed], w.rate, drain_timeout=120)),
                                     daemon=True),
                    threading.Thread(target=_post_campaign, args=(campaign, endpoint, f"http://127.0.0.1:{files_port}/campaign.csv", posted),
                                     daemon=True),
                ]
                started = time.monotonic()
                for t in threads:
                    t.start()
                time.sleep(max(0.0, started + kill_at - time.monotonic()))
                server.kill()
                server.wait(timeout=30)
                killed_wall = time.time()
                at_kill = _at_kill(engine, campaign.service, posted)

                server = start_serve(db, tmp, port, *serve, env=env, log="serve-2.log")
                procs.append(server)
                restarted = time.monotonic()
                for t in threads:
                    t.join(timeout=w.settle_timeout)
                settled = _settle(engine, w.settle_timeout - (time.monotonic() - restarted))
                settle_s = time.monotonic() - restarted
                run = load["run"]
                to = receivers(0, jobs)
                acked = {to[i] for i, status in enumerate(run.status) if 200 <= status < 300}
                acked_at_kill = sum(1 for sent, lat, status in zip(run.sent_wall, run.latency, run.status)
                                    if 200 <= status < 300 and sent + lat < killed_wall)
                result: dict[str, Any] = {
                    "backend": backend, "kill_at_s": round(kill_at, 2), "phase": at_kill.pop("phase"), **at_kill,
                    "otf_sent": run.sent, "otf_acked": len(acked), "otf_acked_at_kill": acked_at_kill,
                    "campaign": "acked" if "ids" in posted else "unacked", "settle_s": round(settle_s, 1),
                    "settled": settled,
                }
                failures = _check(engine, db, smsc, sink, otf, campaign, w, acked, posted, set(at_kill["in_flight"]), result)
            finally:
                files.shutdown()
        result["in_flight"] = len(result["in_flight"])
        result["failures"] = failures
        return result
    finally:
        engine.dispose()
        stop_all(procs)


def _post_campaign(tenant: BenchTenant, endpoint: str, url: str, posted: dict[str, Any]) -> None:
    """POST the campaign (its answer, or what went wrong, in ``posted``)."""
    try:
        report = tenant.client(endpoint).post(f"/sms/{tenant.service}/jobs", message="Crash trial campaign", noStopClause=True,
                                              receiversDocumentUrl=url)
        posted.update(ids=report["ids"], answered=time.time())
    except Exception as exc:  # noqa: BLE001 - a kill during the POST: the campaign is not acknowledged
        posted["error"] = f"{type(exc).__name__}: {exc}"[:200]


def _at_kill(engine: Any, campaign_service: str, posted: dict[str, Any]) -> dict[str, Any]:
    """What the database holds right after the kill: messages by status, who was in flight, pending events."""
    with engine.connect() as conn:
        statuses = dict(conn.execute(text("SELECT status, COUNT(*) FROM messages GROUP BY status")).all())
        in_flight = [r[0] for r in conn.execute(text("SELECT receiver FROM messages WHERE status = 'submitting'"))]
        pending = conn.execute(text("SELECT COUNT(*) FROM callback_events WHERE status = 'pending'")).scalar_one()
    waiting = statuses.get("queued", 0) + statuses.get("submitting", 0)
    if "ids" not in posted:
        phase = "campaign accept"
    elif waiting:
        phase = "delivery"
    elif statuses.get("sent"):
        phase = "receipts"
    elif pending:
        phase = "callbacks"
    else:
        phase = "idle"
    return {"phase": phase, "messages_at_kill": sum(statuses.values()), "final_at_kill": sum(n for s, n in statuses.items() if s not in IN_PROGRESS),
            "in_flight": in_flight, "events_pending_at_kill": pending}


def _settle(engine: Any, timeout: float) -> bool:
    """Wait until no message is in progress and no callback event pending; False if ``timeout`` passed first."""

    def done() -> bool:
        with engine.connect() as conn:
            busy = conn.execute(text(f"SELECT COUNT(*) FROM messages WHERE status IN {IN_PROGRESS}")).scalar_one()
            pending = conn.execute(text("SELECT COUNT(*) FROM callback_events WHERE status = 'pending'")).scalar_one()
        return busy == 0 and pending == 0

    try:
        wait(done, max(1.0, timeout), "every message final and every callback delivered", 0.25)
        return True
    except SystemExit:
        return False


def _check(engine: Any, db: str, smsc: Any, sink: CallbackSink, otf: BenchTenant, campaign: BenchTenant, w: Workload,
           acked: set[str], posted: dict[str, Any], in_flight: set[str], result: dict[str, Any]) -> list[str]:
    """The checks of the module docstring: adds figures to ``result``, returns what failed (in words)."""
    failures: list[str] = []
    with engine.connect() as conn:
        accounts = dict(conn.execute(text("SELECT service_name, id FROM accounts")).all())
        messages = conn.execute(text("SELECT id, account_id, job_id, receiver, status FROM messages")).all()
        jobs = conn.execute(text("SELECT id, account_id, receivers, credits_milli FROM jobs")).all()
        debits = dict(conn.execute(text("SELECT job_id, SUM(amount_milli) FROM ledger_entries WHERE job_id IS NOT NULL GROUP BY job_id")).all())
        balances = dict(conn.execute(text("SELECT id, credits_milli FROM accounts")).all())
        events = conn.execute(text("SELECT id, order_key, params, status FROM callback_events WHERE account_id = :a ORDER BY id"),
                              {"a": accounts[otf.service]}).all()
    result["messages"] = len(messages)
    not_final = Counter(m.status for m in messages if m.status != "delivered")
    if not_final:
        failures.append(f"messages not delivered: {dict(not_final)}")

    # every acknowledged job complete
    otf_id, campaign_id = accounts[otf.service], accounts[campaign.service]
    delivered_otf = {m.receiver for m in messages if m.account_id == otf_id and m.status == "delivered"}
    if missing := acked - delivered_otf:
        failures.append(f"{len(missing)} acknowledged on-the-fly jobs not delivered, e.g. {sorted(missing)[:3]}")
    campaign_jobs = [j for j in jobs if j.account_id == campaign_id]
    per_job = Counter(m.job_id for m in messages)
    if "ids" in posted and (len(campaign_jobs) != 1 or per_job[campaign_jobs[0].id] != w.rows):
        failures.append(f"the acknowledged campaign is not whole: {len(campaign_jobs)} jobs, {[per_job[j.id] for j in campaign_jobs]} messages")
    result["campaign"] += f", {len(campaign_jobs)} in db"

    # no half-created job
    half = [j.id for j in jobs if per_job[j.id] != j.receivers or debits.get(j.id) != -j.credits_milli]
    orphans = set(debits) - {j.id for j in jobs}
    if half or orphans:
        failures.append(f"half-created jobs {half[:5]} ({len(half)}), debits of no job {sorted(orphans)[:5]}")
    if len(campaign_jobs) > 1:
        failures.append(f"{len(campaign_jobs)} campaign jobs")

    # the ledger verifies
    for tenant, credits in ((otf, int(w.rate * w.load_seconds) + 1000), (campaign, w.rows + 1000)):
        account = accounts[tenant.service]
        if not cli(db, "ledger", "--service", tenant.service, "--limit", "1")["consistent"]:
            failures.append(f"the ledger of {tenant.service} does not verify")
        spent = sum(j.credits_milli for j in jobs if j.account_id == account)
        if balances[account] != credits * 1000 - spent:
            failures.append(f"{tenant.service}: balance {balances[account]} != {credits * 1000} - {spent}")

    # duplicates at the SMSC within the bound
    total = smsc.submits()
    records = smsc.last_submits(total)
    if len(records) != total:
        failures.append(f"the SMSC kept {len(records)} of {total} submits (--record-last)")
    at_smsc = Counter("+" + r["destination"].removeprefix("+") for r in records)
    stored = Counter(m.receiver for m in messages)
    twice = {r: n for r, n in at_smsc.items() if n > 1}
    beyond = {r: n for r, n in twice.items() if n > 2 or r not in in_flight}
    result.update(smsc_submits=total, smsc_duplicates=sum(n - 1 for n in twice.values()))
    if lost := set(stored) - set(at_smsc):
        failures.append(f"{len(lost)} messages never reached the SMSC, e.g. {sorted(lost)[:3]}")
    if phantom := set(at_smsc) - set(stored):
        failures.append(f"{len(phantom)} receivers at the SMSC with no message, e.g. {sorted(phantom)[:3]}")
    if beyond:
        failures.append(f"{len(beyond)} sent twice though not in flight at the kill, or more than twice: {dict(list(beyond.items())[:3])}")
    if stored_twice := [r for r, n in stored.items() if n > 1]:
        failures.append(f"{len(stored_twice)} receivers stored twice, e.g. {stored_twice[:3]}")

    # every callback event delivered at least once, in order per message
    expected: dict[str, list[str]] = defaultdict(list)
    for e in events:
        params = e.params if isinstance(e.params, dict) else json.loads(e.params)
        expected[params["id"]].append(params["ptt"])
    got: dict[str, list[str]] = defaultdict(list)
    requests = sink.received("/dlr")
    for r in requests:
        if not got[r.query["id"]] or got[r.query["id"]][-1] != r.query["ptt"]:
            got[r.query["id"]].append(r.query["ptt"])
    thrice = [key for key, n in Counter((r.query["id"], r.query["ptt"]) for r in requests).items() if n > 2]
    if thrice:  # one kill: an event is sent at most once more than once (docs/RELIABILITY.md, issue #13)
        failures.append(f"{len(thrice)} callback events received more than twice, e.g. {thrice[:3]}")
    otf_messages = {str(m.id) for m in messages if m.account_id == otf_id}
    wrong = [mid for mid in otf_messages if got.get(mid) != expected.get(mid) or expected.get(mid, [""])[-1] != "4"]
    undelivered = Counter(e.status for e in events if e.status != "delivered")
    result.update(callback_events=len(events), callback_repeats=len(requests) - len(events))
    if wrong:
        failures.append(f"{len(wrong)} messages whose callbacks are missing or out of order, e.g. "
                        f"{[(m, expected.get(m), got.get(m)) for m in wrong[:3]]}")
    if undelivered:
        failures.append(f"callback events not delivered: {dict(undelivered)}")
    if not result["settled"]:
        failures.append(f"not settled within {w.settle_timeout:g} s of the restart")
    return failures


# ── the runs and the table ───────────────────────────────────────────────────


def run_trials(backend: str, trials: int, seed: int, w: Workload, results: Path | None) -> list[dict[str, Any]]:
    out = []
    for i in range(trials):
        tmp = Path(tempfile.mkdtemp(prefix=f"textos-crash-{backend}-"))
        db, pg_name = make_db(backend, tmp)
        started = time.monotonic()
        try:
            r = trial(db, backend, tmp, kill_moment(random.Random(seed * 1000 + i), i, w.window), w)
        except BaseException as exc:
            r = {"backend": backend, "failures": [f"the trial itself failed: {type(exc).__name__}: {exc}"[:500]]}
            if not isinstance(exc, Exception):
                raise
        finally:
            drop_db(pg_name)
        r.update(seed=seed, trial=i, seconds=round(time.monotonic() - started, 1), date=time.strftime("%Y-%m-%d %H:%M"),
                 workload=asdict(w), load=round(os.getloadavg()[0], 1))
        if r["failures"]:
            r["kept"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        print(_line(r), flush=True)
        if results:
            with open(results, "a") as f:
                f.write(json.dumps(r) + "\n")
        out.append(r)
    return out


def _line(r: dict[str, Any]) -> str:
    if "phase" not in r:
        return f"{r['backend']} #{r.get('trial')}: FAILED {r['failures']}"
    verdict = "held" if not r["failures"] else f"FAILED: {'; '.join(r['failures'])}"
    return (f"{r['backend']} #{r['trial']}: kill at {r['kill_at_s']} s ({r['phase']}; {r['final_at_kill']:,}/{r['messages_at_kill']:,} final,"
            f" {r['in_flight']} in flight, {r['events_pending_at_kill']} events pending); on-the-fly {r['otf_acked']}/{r['otf_sent']} acked;"
            f" campaign {r['campaign']}; {r['messages']:,} messages, {r['smsc_duplicates']} duplicates at the SMSC;"
            f" {r['callback_events']} callback events, {r['callback_repeats']} repeats; settled {r['settle_s']} s after restart;"
            f" {r['seconds']} s in all — {verdict}")


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one row per backend, then one per trial."""
    out = ["| backend | trials | held | kills by phase | jobs acknowledged (on-the-fly + campaigns) | messages | in flight at the kill "
           "| duplicates at the SMSC (bound: in flight) | callback events | repeated callbacks | failures |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for backend in sorted({r["backend"] for r in rows}):
        rs = [r for r in rows if r["backend"] == backend]
        ok = [r for r in rs if "phase" in r]
        phases = Counter(r["phase"] for r in ok)
        acked = sum(r["otf_acked"] for r in ok) + sum(1 for r in ok if r["campaign"].startswith("acked"))
        out.append(
            f"| {backend} | {len(rs)} | {sum(1 for r in rs if not r['failures'])} | {', '.join(f'{p} {n}' for p, n in phases.most_common())} "
            f"| {acked:,} | {sum(r['messages'] for r in ok):,} | {sum(r['in_flight'] for r in ok):,} | {sum(r['smsc_duplicates'] for r in ok):,} "
            f"| {sum(r['callback_events'] for r in ok):,} | {sum(r['callback_repeats'] for r in ok):,} | {sum(1 for r in rs if r['failures'])} |")
    out += ["", "| backend | seed.trial | kill at | phase | final / stored at the kill | in flight | on-the-fly acked / sent | campaign "
            "| messages | duplicates | callbacks (repeats) | settled after | result |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "phase" not in r:
            out.append(f"| {r['backend']} | {r.get('seed')}.{r.get('trial')} | | | | | | | | | | | {'; '.join(r['failures'])} |")
            continue
        out.append(f"| {r['backend']} | {r['seed']}.{r['trial']} | {r['kill_at_s']} s | {r['phase']} | {r['final_at_kill']:,} / {r['messages_at_kill']:,} "
                   f"| {r['in_flight']} | {r['otf_acked']} / {r['otf_sent']} | {r['campaign']} | {r['messages']:,} | {r['smsc_duplicates']} "
                   f"| {r['callback_events']} ({r['callback_repeats']}) | {r['settle_s']} s | {'held' if not r['failures'] else '; '.join(r['failures'])} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20, help="per backend")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seed", type=int, default=1, help="the kill moments of a seed are the same from run to run")
    parser.add_argument("--rows", type=int, default=Workload.rows, help="receivers of the campaign")
    parser.add_argument("--rate", type=int, default=Workload.rate, help="on-the-fly jobs a second")
    parser.add_argument("--load-seconds", type=float, default=Workload.load_seconds)
    parser.add_argument("--window", type=float, default=Workload.window, help="the kill comes within this many seconds")
    parser.add_argument("--results", type=Path, help="append each trial there (JSON lines); the table covers the whole file")
    parser.add_argument("--table-only", action="store_true", help="only print the table of --results")
    args = parser.parse_args()
    if args.table_only:
        print(table([json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]))
        return 0
    os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="textos-crash-keys-"))  # PostgreSQL key files, not in ~/.config
    w = Workload(args.rows, args.rate, args.load_seconds, args.window)
    print(machine_line(), flush=True)
    rows = []
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        rows += run_trials(backend, args.trials, args.seed, w, args.results)
    if args.results:
        rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    print("\n" + table(rows))
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
