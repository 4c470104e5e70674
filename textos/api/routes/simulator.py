"""``/_simulator``: drive the embedded SMSC simulator (inject an incoming SMS, read counters).

Only present while the embedded simulator runs, and only for loopback callers; the
handlers are the simulator's own HTTP hook (``simulator/http.py``).
"""

from __future__ import annotations

from fastapi import Request

from textos.api.state import state_of
from textos.simulator.http import hook_router
from textos.simulator.smsc import SmscSimulator


def _embedded(request: Request) -> SmscSimulator | None:
    runtime = state_of(request).runtime
    return None if runtime is None else runtime.simulator


router = hook_router(_embedded)
