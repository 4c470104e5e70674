"""An open-loop HTTP load generator: pre-written requests sent on a fixed schedule.

Request ``i`` is due at ``start + i / rate`` whatever the answers so far (open loop:
a slow server does not slow the offer down). Each goes on an idle keep-alive
connection, or a new one when all are busy (up to ``max_connections``, then it waits:
that wait shows as lag). It records, per request, the wall-clock send time, the lag
behind its schedule, the answer's status and its latency; and its own CPU time, to
say when the generator rather than the server was the limit.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from dataclasses import dataclass, field

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


@dataclass
class Offered:
    """What happened to each request of one run (indexes as the requests given)."""

    rate: float
    sent_wall: list[float]
    lag: list[float]
    status: list[int]
    latency: list[float]
    duration_s: float = 0.0
    """From the first request due to the last one sent."""
    answered_s: float = 0.0
    """From the first request due to the last answer."""
    cpu_s: float = 0.0
    connections: int = 0
    refused_connections: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return sum(1 for t in self.sent_wall if t)

    @property
    def ok(self) -> int:
        return sum(1 for s in self.status if 200 <= s < 300)


class _Connection(asyncio.Protocol):
    def __init__(self, owner: "_Generator") -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.index = -1
        self.sent_at = 0.0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport subclass

    def send(self, index: int, raw: bytes) -> None:
        self.index, self.sent_at = index, time.perf_counter()
        assert self.transport is not None
        self.transport.write(raw)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self.buf[:head_end]).lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                line_end = head.find(b"\r\n", at)
                length = int(head[at + 15 : line_end if line_end > 0 else len(head)])
            end = head_end + 4 + length
            if len(self.buf) < end:
                return
            status = int(head[9:12])
            del self.buf[:end]
            index, self.index = self.index, -1
            self.owner.answered(self, index, status, time.perf_counter() - self.sent_at)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.index >= 0:
            self.owner.answered(self, self.index, 0, time.perf_counter() - self.sent_at)


class _Generator:
    def __init__(self, host: str, port: int, requests: list[bytes], rate: float, max_connections: int) -> None:
        self.host, self.port, self.requests, self.rate, self.max_connections = host, port, requests, rate, max_connections
        n = len(requests)
        self.result = Offered(rate, [0.0] * n, [0.0] * n, [0] * n, [0.0] * n)
        self.idle: deque[_Connection] = deque()
        self.all: list[_Connection] = []
        self.pending = 0
        self.freed: asyncio.Event | None = None
        self.finished: asyncio.Event | None = None
        self.start = 0.0

    def answered(self, conn: _Connection, index: int, status: int, latency: float) -> None:
        self.result.status[index], self.result.latency[index] = status, latency
        self.result.answered_s = time.perf_counter() - self.start
        self.pending -= 1
        if not conn.closed:
            self.idle.append(conn)
        assert self.freed is not None and self.finished is not None
        self.freed.set()
        if self.pending == 0:
            self.finished.set()

    async def connection(self) -> _Connection:
        loop = asyncio.get_running_loop()
        assert self.freed is not None
        while True:
            while self.idle:
                conn = self.idle.pop()
                if not conn.closed:
                    return conn
            if len(self.all) < self.max_connections:
                try:
                    _, conn = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
                except OSError:
                    self.result.refused_connections += 1
                    await asyncio.sleep(0.01)
                    continue
                self.all.append(conn)
                return conn
            self.freed.clear()
            await self.freed.wait()

    async def run(self, warm: int, drain_timeout: float) -> Offered:
        self.freed, self.finished = asyncio.Event(), asyncio.Event()
        warmed = [await self.connection() for _ in range(warm)]
        self.idle.extend(warmed)
        r = self.result
        cpu0 = time.process_time()
        start = self.start = time.perf_counter() + 0.01
        interval = 1.0 / self.rate
        for i, raw in enumerate(self.requests):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            conn = await self.connection()
            r.sent_wall[i] = time.time()
            r.lag[i] = time.perf_counter() - due
            self.pending += 1
            self.finished.clear()
            conn.send(i, raw)
        r.duration_s = time.perf_counter() - start
        r.cpu_s = time.process_time() - cpu0
        if self.pending:
            try:
                await asyncio.wait_for(self.finished.wait(), drain_timeout)
            except asyncio.TimeoutError:
                pass
        r.connections = len(self.all)
        for conn in self.all:
            if conn.transport is not None:
                conn.transport.close()
        return r


def offer(host: str, port: int, requests: list[bytes], rate: float, *, warm: int = 32, max_connections: int = 1024, drain_timeout: float = 30.0) -> Offered:
    """Send ``requests`` at ``rate`` per second (open loop); returns once all are answered or ``drain_timeout`` passed."""
    gen = _Generator(host, port, requests, rate, max_connections)
    gc.collect()
    gc.disable()  # a full collection mid-run stalled the schedule by ~0.1 s, counted as the server's latency
    try:
        if uvloop is not None:
            return uvloop.run(gen.run(warm, drain_timeout))
        return asyncio.run(gen.run(warm, drain_timeout))
    finally:
        gc.enable()
