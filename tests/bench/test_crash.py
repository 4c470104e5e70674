"""bench/crash.py runs: one small crash trial (a 2,000-row campaign, 2 s of on-the-fly jobs with
callbacks, kill -9 after 1 s, restart) holds every check the long script makes. On a loaded machine the
kill may come before the campaign is answered; then it may be absent, never partial (``crash._check``)."""

from __future__ import annotations

import sys
from pathlib import Path

from helpers import BACKENDS

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from crash import Workload, trial  # noqa: E402


def test_one_small_crash_trial_loses_nothing_and_repeats_within_the_bound(make_database, tmp_path):
    backend = BACKENDS[0]
    result = trial(make_database(backend), backend, tmp_path, 1.0, Workload(rows=2000, rate=50, load_seconds=2))
    assert result["failures"] == []
    campaign = 2000 if result["campaign"].startswith("acked") else 0  # killed before its answer: nothing was promised
    assert result["settled"] and result["messages"] >= campaign + result["otf_acked"]
    assert result["otf_acked"] > 0 and result["callback_events"] >= result["otf_acked"]  # at least each one's final state
    assert result["smsc_submits"] == result["messages"] + result["smsc_duplicates"]
