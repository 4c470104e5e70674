"""One bind of an ESME to its SMSC: connect, bind, stay bound, reconnect with backoff.

A link belongs to an owner (the client) that it tells when it is up and down, and that
receives the requests the SMSC sends on it. It also keeps what paces submits on this
bind: a pause after a throttling answer, and the ``tps`` token bucket.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Callable, Protocol

from textos.smpp import pdu as P
from textos.smpp.carrier_config import SmppCarrierConfig
from textos.smpp.session import Session
from textos.smpp.throttle import TokenBucket

__all__ = ["BIND_COMMANDS", "Link", "LinkOwner"]

log = logging.getLogger("textos.smpp")

BIND_COMMANDS: dict[str, int] = {
    "trx": P.CommandId.BIND_TRANSCEIVER,
    "tx": P.CommandId.BIND_TRANSMITTER,
    "rx": P.CommandId.BIND_RECEIVER,
}
"""Role of a link → the bind it sends."""


class LinkOwner(Protocol):
    config: SmppCarrierConfig
    closing: bool
    retry_after: float
    """Seconds a caller should wait before trying again while links are down (the current backoff)."""

    def link_up(self, link: "Link") -> None: ...

    def link_down(self, link: "Link") -> None: ...


class Link:
    """One bind (a TCP connection) and its reconnect loop (``run``)."""

    def __init__(self, owner: LinkOwner, role: str, number: int, on_request: Callable[[Session, P.Pdu], None]) -> None:
        self.owner = owner
        self.role = role
        self.name = f"{owner.config.name}#{number}{role}"
        self.on_request = on_request
        self.session: Session | None = None
        self.task: asyncio.Task[None] | None = None
        self.paused_until = 0.0
        """No submit on this bind before this ``time.monotonic()`` (after a throttling answer)."""
        self.bucket = TokenBucket(owner.config.tps) if owner.config.tps else None
        self.wakeup: asyncio.TimerHandle | None = None

    @property
    def can_submit(self) -> bool:
        s = self.session
        return self.role != "rx" and s is not None and s.bound and s.is_open

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=self.name)

    async def run(self) -> None:
        owner, cfg = self.owner, self.owner.config
        loop = asyncio.get_running_loop()
        backoff = cfg.reconnect_backoff[0]
        while not owner.closing:
            session: Session | None = None
            try:
                _, connected = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: Session(
                            self.on_request,
                            response_timeout=cfg.response_timeout,
                            enquire_link_interval=cfg.enquire_link_interval,
                            name=self.name,
                        ),
                        cfg.host,
                        cfg.port,
                    ),
                    cfg.response_timeout,
                )
                session = connected
                bind = P.Bind(BIND_COMMANDS[self.role], system_id=cfg.system_id, password=cfg.password, system_type=cfg.system_type)
                resp = await asyncio.wait_for(session.request(bind), cfg.response_timeout)
                if resp.status != 0:
                    log.warning("%s: bind refused: %s", self.name, P.status_name(resp.status))
                    session.close()
                else:
                    session.bound = True
                    self.session = session
                    backoff = cfg.reconnect_backoff[0]
                    log.info("%s: bound to %s:%s", self.name, cfg.host, cfg.port)
                    owner.link_up(self)
                    await session.closed
                    if not owner.closing:
                        log.warning("%s: connection lost", self.name)
            except (OSError, asyncio.TimeoutError, TimeoutError, ConnectionError) as exc:
                log.warning("%s: connect/bind failed: %s", self.name, exc)
                if session is not None:
                    session.abort()
            finally:
                self.session = None
                owner.link_down(self)
            if owner.closing:
                break
            owner.retry_after = backoff
            await asyncio.sleep(backoff * (0.8 + 0.4 * random.random()))
            backoff = min(backoff * 2, cfg.reconnect_backoff[1])

    async def unbind(self) -> None:
        if self.session is not None:
            await self.session.unbind(self.owner.config.response_timeout)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
