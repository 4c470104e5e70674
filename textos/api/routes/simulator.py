"""``/_simulator``: drive the embedded SMSC simulator (inject an incoming SMS, read counters).

Only present while the embedded simulator runs, and only for loopback callers.
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from textos.api.state import state_of
from textos.services.errors import Forbidden, NotFound

router = APIRouter(prefix="/_simulator", tags=["simulator"])


class IncomingInjection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sender: str
    receiver: str
    text: str


def _simulator(request: Request):  # type: ignore[no-untyped-def]
    client = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(client).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise Forbidden("the simulator hook answers loopback callers only")
    runtime = state_of(request).runtime
    if runtime is None or runtime.simulator is None:
        raise NotFound("no embedded SMSC simulator is running")
    return runtime.simulator


@router.post("/mo", summary="Inject a mobile-originated SMS (a reply, a STOP) into the simulator")
def inject_mo(body: IncomingInjection, request: Request) -> dict:
    parts = _simulator(request).inject_mo(body.sender, body.receiver, body.text)
    return {"parts": parts}


@router.get("/stats", summary="Simulator counters")
def stats(request: Request) -> dict:
    sim = _simulator(request)
    return {
        "port": sim.port,
        "submits": sim.submits,
        "throttled": sim.throttled,
        "rejected": sim.rejected,
        "receiptsSent": sim.receipts_sent,
        "receiptsAcked": sim.receipts_acked,
        "moSent": sim.mo_sent,
        "binds": sim.binds,
    }
