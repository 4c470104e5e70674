"""Generated inputs, long profile: schemathesis cases for every operation of the OpenAPI
document (valid and invalid data), signed with a real key, naming real objects (and generated
ids), against a real ``textos serve`` on a database of its own; every answer checked against the
document. Prints, per operation, the cases, their answers (2xx, 4xx), server errors and schema
violations, then every finding.

    PYTHONPATH=$PWD .venv/bin/python bench/fuzz_api.py --cases 50000 [--backend sqlite|postgresql] [--seed 1] [--json run.json]
    PYTHONPATH=$PWD .venv/bin/python bench/fuzz_api.py --sum run1.json run2.json …   # runs in chunks, added up

``--cases`` is spread evenly over operations and generation modes; an operation with little to
vary (no parameters, no body) runs out of distinct cases sooner, so passes follow one another,
each with a new tenant (its own objects) and the next seed, until at least ``--cases`` ran. The suite runs the fast profile of the same exploration
(``tests/api/test_generated_inputs.py``); a finding here should become a test there or beside the
rule it breaks. Exit status 1 when something was found.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from common import drop_db, make_db  # noqa: E402
from generated_inputs import Exploration, explore, summary  # noqa: E402
from helpers import start_server, stop_server  # noqa: E402

RUNS_PER_OPERATION = 2 * 1.25
"""Valid and invalid cases naming real objects, and a quarter as many with generated path parameters."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000, help="cases in all (spread over operations and modes)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same cases")
    parser.add_argument("--json", type=Path, help="also write the figures and the per-operation counts there")
    parser.add_argument("--sum", type=Path, nargs="+", metavar="JSON", help="only add up the figures of runs written by --json")
    args = parser.parse_args()
    if args.sum:
        print(json.dumps(added_up([json.loads(path.read_text()) for path in args.sum])))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="textos-fuzz-"))
    db, pg_name = make_db(args.backend, tmp)
    server = start_server(db, tmp, args.backend)
    started = time.monotonic()

    def progress(operation: str, found: Exploration) -> None:
        print(f"{time.monotonic() - started:7.1f} s  {found.cases:6d} cases  {len(found.findings):3d} findings  after {operation}", flush=True)

    try:
        operations = sum(len(ops) for ops in httpx.get(f"http://127.0.0.1:{server.port}/1.0/openapi.json", timeout=60).json()["paths"].values())
        examples = max(1, math.ceil(args.cases / (operations * RUNS_PER_OPERATION)))
        found = Exploration()
        passes = 0
        while found.cases < args.cases:
            explore(server, server.tenant(credits=100_000_000), examples=examples, seed=args.seed + passes, progress=progress, found=found)
            passes += 1
    finally:
        stop_server(server)
        drop_db(pg_name)
    elapsed = time.monotonic() - started
    print(f"\n{found.table()}\n")
    figures = {**summary(found), "seconds": round(elapsed), "backend": args.backend, "seed": args.seed, "passes": passes, "examples": examples,
               "statuses": dict(sorted(found.statuses.items())), "date": dt.date.today().isoformat(), "python": platform.python_version()}
    print(json.dumps(figures))
    for finding in found.findings:
        print(finding)
    errors = (tmp / f"server-{server.port}.log").read_text(errors="replace").count("unexpected error")
    print(f"server log: {errors} unexpected errors ({tmp})")
    if args.json:
        per_operation = {name: {"cases": t.cases, "statuses": dict(t.statuses), "server_errors": t.server_errors, "violations": t.violations}
                         for name, t in found.operations.items()}
        args.json.write_text(json.dumps({**figures, "operations_table": per_operation, "findings": [str(f) for f in found.findings]}, indent=1))
    return 1 if found.findings or errors else 0


def added_up(runs: list[dict]) -> dict:
    """The figures of several runs (chunks with other seeds, other backends) as one."""
    per_operation: dict[str, int] = {}
    statuses: Counter[str] = Counter()
    for run in runs:
        statuses.update(run["statuses"])
        for name, t in run["operations_table"].items():
            per_operation[name] = per_operation.get(name, 0) + t["cases"]
    by_class = Counter()
    for status, n in statuses.items():
        by_class[f"{status[0]}xx"] += n
    return {
        "runs": [{k: run[k] for k in ("backend", "seed", "cases", "seconds", "date")} for run in runs],
        "cases": sum(run["cases"] for run in runs), "seconds": sum(run["seconds"] for run in runs),
        "operations": len(per_operation), "fewest_cases_per_operation": min(per_operation.values()),
        "reached": len({name for run in runs for name, t in run["operations_table"].items()
                        if any(200 <= int(st) < 300 for st in t["statuses"])}),
        "answers": dict(sorted(by_class.items())), "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(run["server_errors"] for run in runs), "violations": sum(run["violations"] for run in runs),
        "findings": sum(len(run["findings"]) for run in runs),
    }


if __name__ == "__main__":
    raise SystemExit(main())
