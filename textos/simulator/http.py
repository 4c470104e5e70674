"""The simulator's HTTP hook: inject an incoming SMS, read the counters and the last submits.

Served under ``/_simulator`` by ``textos serve`` (embedded simulator; ``textos.server``
mounts it) and by ``textos smsc --http-port`` (standalone), to loopback callers only;
``textos mo`` posts to it.
"""

from __future__ import annotations

import ipaddress
from typing import Callable

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from textos.domain.errors import BadRequest, Forbidden, NotFound
from textos.simulator.smsc import SmscSimulator

PREFIX = "/_simulator"


class Injected(BaseModel):
    """What ``POST /_simulator/mo`` sent: the parts of the message and its receiver."""

    model_config = ConfigDict(extra="forbid")
    parts: int
    receiver: str


class Stats(BaseModel):
    """The simulator's counters."""

    model_config = ConfigDict(extra="forbid")
    port: int
    submits: int
    throttled: int
    rejected: int
    receiptsSent: int
    receiptsAcked: int
    moSent: int
    binds: int


class Submit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destination: str
    receivedAt: float
    """Wall clock (seconds since the epoch)."""


class Submits(BaseModel):
    """How many submit_sm came in all, and the last ones."""

    model_config = ConfigDict(extra="forbid")
    total: int
    submits: list[Submit]


class IncomingInjection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sender: str = Field(min_length=1, max_length=20)
    receiver: str | None = Field(default=None, min_length=1, max_length=20)
    """SMPP addresses: at most 20 Latin-1 characters (21 octets with the terminating NUL)."""
    replyToLast: bool = False
    """Instead of ``receiver``: answer the last message ``sender`` received, to the address it came from."""
    text: str
    concat: str = "udh8"
    """How a long text is split: ``udh8``, ``udh16`` or ``sar``."""

    @field_validator("sender", "receiver")
    @classmethod
    def _smpp_address(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "\x00" in value or any(ord(c) > 0xFF for c in value):
            raise ValueError("must be Latin-1 characters other than NUL (an SMPP address)")
        return value


def stats_of(sim: SmscSimulator) -> dict:
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


def hook_router(find: Callable[[Request], SmscSimulator | None]) -> APIRouter:
    """``POST /_simulator/mo``, ``GET /_simulator/stats`` and ``GET /_simulator/submits`` for the simulator ``find`` returns."""
    router = APIRouter(prefix=PREFIX, tags=["simulator"])

    def simulator(request: Request) -> SmscSimulator:
        client = request.client.host if request.client else ""
        try:
            loopback = ipaddress.ip_address(client).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise Forbidden("the simulator hook answers loopback callers only")
        sim = find(request)
        if sim is None:
            raise NotFound("no embedded SMSC simulator is running")
        return sim

    @router.post("/mo", summary="Inject a mobile-originated SMS (a reply, a STOP) into the simulator", response_model=Injected)
    def inject_mo(body: IncomingInjection, request: Request) -> dict:
        if body.concat not in ("udh8", "udh16", "sar"):
            raise BadRequest("concat: udh8, udh16 or sar")
        sim = simulator(request)
        if body.replyToLast:
            if body.receiver is not None:
                raise BadRequest("receiver: not with replyToLast (the reply goes where the last message came from)")
            try:
                receiver, parts = sim.reply_to_last(body.sender, body.text, concat=body.concat)
            except LookupError as exc:
                raise NotFound(f"sender: {exc}") from None
            return {"parts": parts, "receiver": receiver}
        if body.receiver is None:
            raise BadRequest("receiver: required (or replyToLast)")
        return {"parts": sim.inject_mo(body.sender, body.receiver, body.text, concat=body.concat), "receiver": body.receiver}

    @router.get("/stats", summary="Simulator counters", response_model=Stats)
    def stats(request: Request) -> dict:
        return stats_of(simulator(request))

    @router.get("/submits", summary="The last submit_sm received (destination, wall-clock arrival), oldest first", response_model=Submits)
    def submits(request: Request, limit: int = 1000) -> dict:
        sim = simulator(request)
        if limit < 0:
            raise BadRequest("limit: 0 or more")
        return {"total": sim.submits, "submits": submits_of(sim, limit)}

    return router


def submits_of(sim: SmscSimulator, limit: int) -> list[dict]:
    """The last ``limit`` submit records (at most the simulator's ``record_last``), oldest first."""
    records = list(sim.records)[-limit:] if limit else []
    return [{"destination": r.destination_addr, "receivedAt": r.received_at} for r in records]


def hook_app(sim: SmscSimulator, *, install_errors: Callable[[FastAPI], None]) -> FastAPI:
    """The hook alone, for a standalone simulator (``textos smsc --http-port``).

    ``install_errors`` registers the error handlers (the CLI passes the API's, so refusals
    answer in OVH's shape as they do when the hook is mounted on ``textos serve``)."""
    app = FastAPI(title="Textos SMSC simulator", docs_url=None, redoc_url=None)
    install_errors(app)
    app.include_router(hook_router(lambda request: sim))
    return app
