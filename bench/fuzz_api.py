"""Generated inputs, long profile: schemathesis cases for every operation of the OpenAPI
document (valid and invalid data), signed with a real key, against a real ``textos serve``;
prints every case answered 5xx, not in OVH's shape, or not answered.

    PYTHONPATH=$PWD .venv/bin/python bench/fuzz_api.py --cases 5000 [--backend sqlite|postgresql] [--seed 1]

``--cases`` is spread evenly over operations and generation modes (operations with nothing
to vary give one case each, so fewer may run). The suite runs the fast profile of the same
exploration (``tests/api/test_generated_inputs.py``); a finding here should become a test there
or beside the rule it breaks. Exit status 1 when something was found.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from common import drop_db, make_db  # noqa: E402
from generated_inputs import Exploration, explore  # noqa: E402
from helpers import start_server, stop_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000, help="cases in all (spread over operations and modes)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same cases")
    parser.add_argument("--operations", type=int, default=51, help="operations in the document (to spread --cases)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="textos-fuzz-"))
    db, pg_name = make_db(args.backend, tmp)
    server = start_server(db, tmp, args.backend)
    started = time.monotonic()

    def progress(operation: str, found: Exploration) -> None:
        print(f"{time.monotonic() - started:7.1f} s  {found.cases:6d} cases  {len(found.findings):3d} findings  after {operation}", flush=True)

    try:
        tenant = server.tenant(credits=10_000_000)
        examples = max(1, math.ceil(args.cases / (args.operations * 2)))
        found = explore(server, tenant, examples=examples, seed=args.seed, progress=progress)
    finally:
        stop_server(server)
        drop_db(pg_name)
    print(f"\n{found.cases} cases in {time.monotonic() - started:.0f} s ({args.backend}, seed {args.seed}); "
          f"statuses {dict(sorted(found.statuses.items()))}; {len(found.findings)} findings")
    for finding in found.findings:
        print(finding)
    errors = (tmp / f"server-{server.port}.log").read_text(errors="replace").count("unexpected error")
    print(f"server log: {errors} unexpected errors ({tmp})")
    return 1 if found.findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
