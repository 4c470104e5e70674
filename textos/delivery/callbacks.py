"""The callbacks worker: sends the outbox's pending events to customers' URLs.

Each event (``storage.outbox``) is an HTTP GET to its URL with its parameters added to the
query string; a 2xx answer delivers it. Anything else (another status, a refused or
unreachable address, a time-out: 5 s to connect, 15 s in all) is tried again after an
exponential backoff with jitter (``callback_backoff`` doubled at each attempt, less up to a
quarter at random, at most ``callback_backoff_max``) until ``callback_max_age`` from the
event (or its replay) has passed; then it is *failed*.

* Order: an event is never sent while an earlier event of its ``order_key`` (one message,
  one incoming message) is pending, so a receiver sees a message's states in order.
* Isolation: at most ``callback_concurrency`` requests in flight per target host; a host at
  its bound is not even read from the outbox, so a slow or dead receiver holds only its own
  slots, never another host's nor the dispatcher (the worker only reads and writes the
  outbox, in transactions of its own).
* Several workers (PostgreSQL): claims skip rows another worker is claiming (``SKIP LOCKED``)
  and lease what they take (``next_attempt_at`` moved ``LEASE`` seconds ahead, ``claimed_by``
  the worker's number, held by an advisory lock as dispatchers hold theirs,
  ``delivery.ownership``). A worker killed mid-request leaves its events pending: due again
  as soon as another worker (or its own restart) finds its lock free, every ``SWEEP`` seconds,
  or at the latest when the lease ends. A worker that stops makes its leases due at once.
  SQLite has one worker (beside its one dispatcher), which at start makes every pending event due.
* At most once more: an event whose answer came but whose *delivered* mark was not yet
  stored when the process died is sent again, once (the next attempt stores it).
* Server-side request forgery: at each attempt the host is resolved, every address must be
  public (unless ``fetch_allow_private``), and the request goes to a vetted address
  (``domain.public_urls.send_pinned``); redirects are not followed (a 3xx is not a 2xx).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import random
import ssl
import time
from typing import Callable

import httpx

from textos.config import Settings
from textos.delivery.ownership import CALLBACKS_LOCK_SPACE, Instance
from textos.domain.public_urls import UrlRefused, parse_url, send_pinned, vetted_addresses
from textos.storage import outbox
from textos.storage.db import Database
from textos.storage.outages import Outage
from textos.storage.models import utcnow

log = logging.getLogger("textos.callbacks")

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
LEASE = TOTAL_TIMEOUT + 15.0
"""Seconds a claimed event stays leased: its request's time-out, and time to store the outcome."""
POLL = 0.5
"""Seconds between two looks at the outbox when nothing wakes the worker."""
ROUND_MIN = 0.05
"""Seconds a round lasts at least: commits that add events (``Database.outbox_filled``) and answers wake the worker, at most 20 times a second."""
CLAIM_BATCH = 200
SWEEP = 2.0
"""PostgreSQL: seconds between two looks for leases of workers that are gone."""


def backoff(attempts: int, *, first: float, longest: float, draw: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: ``first`` doubled each time, at most
    ``longest``, less up to a quarter at random (retries of many events spread out)."""
    base = min(longest, first * 2 ** max(0, attempts - 1))
    return base * (1 - 0.25 * draw())


def next_try(event: outbox.Claimed, now: dt.datetime, settings: Settings) -> dt.datetime | None:
    """When to try ``event`` again after a failed attempt; None when its max age has passed
    (the last try is made at the deadline itself)."""
    if now >= event.deadline:
        return None
    wait = dt.timedelta(seconds=backoff(event.attempts, first=settings.callback_backoff, longest=settings.callback_backoff_max))
    return min(now + wait, event.deadline)


@functools.cache
def _default_tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


class CallbackWorker:
    """Runs in an event loop (``start``/``stop``); the database work runs in threads."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.inflight: dict[str, int] = {}
        """Requests in flight per host."""
        self._outcomes: list[outbox.Outcome] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._requests: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.instance: Instance | None = None
        """PostgreSQL: this worker's number, held by an advisory lock (``delivery.ownership``)."""
        self.number = 1
        self._next_long_claim = 0.0
        self._outage = Outage(log, "callbacks worker")
        """When a claim may next read past the due events of hosts at their bound (``outbox.claim``)."""

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False, verify=_default_tls())
        if self.db.is_sqlite:  # the one worker (beside the one dispatcher): every lease is a dead worker's
            await asyncio.to_thread(self._release, None)
        else:
            self.instance = await asyncio.to_thread(Instance, self.db, CALLBACKS_LOCK_SPACE)
            self.number = self.instance.number
            await asyncio.to_thread(self._sweep)
        self._unsubscribe = self.db.outbox_filled.subscribe(self._wake.set, loop=loop)
        self._task = asyncio.create_task(self._run(), name="textos-callbacks")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._requests):
            task.cancel()
        if self._requests:
            await asyncio.gather(*self._requests, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._store, self._take_outcomes())
        with contextlib.suppress(Exception):  # what was cancelled in flight is due again at once
            await asyncio.to_thread(self._release, self.number)
        if self.instance is not None:
            self.instance.close()
        if self._client is not None:
            await self._client.aclose()

    def _release(self, owner: int | None) -> None:
        with self.db.session() as session:
            outbox.release_leases(session, owner)

    def _sweep(self) -> None:
        """PostgreSQL: make due now what workers that are gone had leased (their advisory lock is free)."""
        assert self.instance is not None
        self.instance.alive()
        with self.db.read() as session:
            owners = outbox.lease_owners(session, LEASE) - {self.number}
        for owner in owners:
            if not self.instance.owner_gone(owner):
                continue
            try:
                self._release(owner)
            finally:
                self.instance.release(owner)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + SWEEP
        while True:
            started = loop.time()
            self._wake.clear()  # what happens from now on wakes the next round
            try:
                if self.instance is not None and loop.time() >= next_sweep:
                    next_sweep = loop.time() + SWEEP
                    await asyncio.to_thread(self._sweep)
                await asyncio.to_thread(self._store, self._take_outcomes())
                for event in await asyncio.to_thread(self._claim):
                    self._launch(event)
                self._outage.succeeded()
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                if not self._outage.failed(exc):
                    log.exception("callbacks: a round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL)
            rest = ROUND_MIN - (loop.time() - started)
            if rest > 0:  # commits and answers come by thousands a second: rounds, at most 1 / ROUND_MIN
                await asyncio.sleep(rest)

    def _claim(self) -> list[outbox.Claimed]:
        with self.db.read() as session:
            if not outbox.due_exists(session):
                return []
        limit = self.settings.callback_concurrency
        capacity = {host: limit - n for host, n in self.inflight.items()}
        now = time.monotonic()
        past_full_hosts = now >= self._next_long_claim
        with self.db.session() as session:
            claimed = outbox.claim(
                session, capacity=capacity, default_capacity=limit, limit=CLAIM_BATCH, lease=LEASE,
                max_age=self.settings.callback_max_age, claimed_by=self.number, past_full_hosts=past_full_hosts,
            )
        if past_full_hosts:
            self._next_long_claim = now + POLL
        return claimed

    def _take_outcomes(self) -> list[outbox.Outcome]:
        outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def _store(self, outcomes: list[outbox.Outcome]) -> None:
        if not outcomes:
            return
        try:
            with self.db.session() as session:
                outbox.record(session, outcomes)
        except Exception:
            self._outcomes[:0] = outcomes  # kept for the next round (their leases keep them from others)
            raise

    def _launch(self, event: outbox.Claimed) -> None:
        self.inflight[event.host] = self.inflight.get(event.host, 0) + 1
        task = asyncio.create_task(self._deliver(event), name=f"textos-callback-{event.id}")
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _deliver(self, event: outbox.Claimed) -> None:
        try:
            status, error = await self.attempt(event.url, event.params)
            if status is not None and 200 <= status < 300:
                outcome = outbox.Outcome(event.id, True, status)
            else:
                retry_at = next_try(event, utcnow(), self.settings)
                outcome = outbox.Outcome(event.id, False, status, error, retry_at)
                if retry_at is None:
                    log.warning("callback %d to %s failed for good after %d attempts: %s", event.id, event.host, event.attempts, error)
            self._outcomes.append(outcome)
        finally:
            self.inflight[event.host] -= 1
            if not self.inflight[event.host]:
                del self.inflight[event.host]
            self._wake.set()

    async def attempt(self, url: str, params: dict[str, str]) -> tuple[int | None, str | None]:
        """One GET of ``url`` with ``params``: ``(HTTP status, None)`` or ``(status or None, why it failed)``."""
        assert self._client is not None
        try:
            target = parse_url(url).copy_merge_params(params)
            async with asyncio.timeout(TOTAL_TIMEOUT):
                addresses = await vetted_addresses(target, allow_private=self.settings.fetch_allow_private, timeout=CONNECT_TIMEOUT)
                timeout = httpx.Timeout(TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT)
                response = await send_pinned(self._client, target, addresses, timeout=timeout, stream=True)
                await response.aclose()  # the body is not read: only the status counts
        except UrlRefused as exc:
            return None, exc.message
        except TimeoutError:
            return None, f"no answer within {TOTAL_TIMEOUT:g} s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"
