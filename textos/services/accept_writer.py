"""Group commit of small jobs: the jobs arriving together are accepted in one transaction.

An API request with its receivers as a list (``POST /sms/{s}/jobs`` with ``receivers``)
hands its job to the process's :class:`AcceptWriter` and awaits it. The writer is one
thread with its own database session: what was handed to it while it wrote is accepted
in its next transaction, through the one accept path (``jobs.accept_listed``: each job
checked and priced alone, all written together), so a refused job (not enough credits,
a disabled account, a bad sender, no valid receiver…) writes nothing and is answered with
its own error.
Then the transaction commits once, and only then is every request of the group answered:
a job answered 200 is committed (a crash right after loses nothing). Credits stay exact:
each job is debited by the ledger's conditional update in turn, inside one transaction.

On SQLite this replaces one ``BEGIN IMMEDIATE`` per request (a convoy on the write lock)
by one per group; on PostgreSQL one commit per request by one per group. On SQLite a small
group (``INLINE_RECEIVERS``) is written in the event loop itself when no other writer holds the
write lock at that moment (``Database.session(wait=False)``): a statement there is a call into
the library, not a round trip, and the two thread hand-offs cost a fifth of a one-receiver
POST's CPU; when the lock is held, or the group is big (the loop would stall every other
request while it is written), it is written in the writer's thread as on PostgreSQL. After each
commit that accepted a job the dispatcher is told once (``on_accepted``; other processes
hear the transaction's ``NOTIFY``, see ``storage.wakeups``).

When this process runs a dispatcher (``handoff``, wired by the composition root) with room and no
backlog, and the group came to an idle writer (the first of a drain: its jobs did not queue behind
another transaction), the group's due messages are claimed for it in the same transaction
(``storage.messages.claim_listed``) and handed to it after the commit: it submits them at once,
with no claim transaction of its own and no wait for a wake-up. The claim makes the group's
transaction longer (a statement; 7–17 % of its wall time) while it saves the dispatcher's
(5–16 % of the CPU of accepting and claiming): worth it when requests come one by one, not when
they queue behind the writer, whose transactions then set the rate (a closed loop of 32 connections
keeps the writer busy: only the first group of that drain is handed). A crash between the commit and
the submit leaves them *submitting* under that dispatcher, queued again as any claim it held
(``delivery.ownership``).

A job may come authenticated from memory without the database having been asked whether
anything changed since (``auth_version``, SQLite: ``api.auth.authenticated(recheck=False)``);
its group's transaction then reads the auth version once and refuses, with
:class:`StaleAuthentication`, each such job authenticated under another: a key revoked before
the group was written never gets a job written.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Hashable, NamedTuple, Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from textos.config import Settings
from textos.domain.errors import TextosError
from textos.services import accounts
from textos.services.jobs import BalanceMoved, Listed, SendingReport, SendRequest, accept_job, accept_listed
from textos.services.recipients import ConcatFor
from textos.storage import messages
from textos.storage.auth_version import sqlite_version_in
from textos.storage.db import Database, WriterBusy
from textos.storage.messages import Room
from textos.storage.models import Account
from textos.storage.outages import Outage, unavailable

__all__ = ["AcceptWriter", "GROUP_JOBS", "GROUP_RECEIVERS", "Handoff", "INLINE_RECEIVERS", "StaleAuthentication"]

log = logging.getLogger("textos.accept")

GROUP_JOBS = 512
"""At most this many jobs in one transaction (the others wait for the next)."""
GROUP_RECEIVERS = 20_000
"""A group stops taking jobs once it holds this many receivers (its transaction stays short)."""
INLINE_RECEIVERS = 64
"""SQLite: a group of at most this many receivers may be written in the event loop (a few
milliseconds); a bigger one is always written in the writer's thread."""


_RETRYABLE = ("40P01", "40001")
"""PostgreSQL's deadlock_detected and serialization_failure: the job may simply be tried again."""


_NOT_YET = RuntimeError("not written yet")


class StaleAuthentication(Exception):
    """The job was authenticated under an auth version that is no longer the database's: nothing
    was written; authenticate again (asking the database) and hand it again."""


class Handoff(Protocol):
    """The dispatcher of this process, as the accept writer sees it (``delivery.dispatcher``)."""

    def room(self) -> Room | None:
        """What it would take now; None: nothing (a backlog, its batches in flight, stopping…).
        A room given is always followed by exactly one ``take`` or ``release`` (empty if nothing was claimed)."""

    def hold(self, claimed: list[Any]) -> None:
        """Messages being claimed for it (``Room.build``'s objects), before the commit: from now on
        they are its own in flight (its sweep must not queue them again). Any thread."""

    def release(self, claimed: list[Any]) -> None:
        """The room given is not used (what was held, if anything, is not: its transaction did
        not commit). Any thread."""

    def take(self, claimed: list[Any]) -> None:
        """Messages held and committed: deliver them. In the event loop."""


class _Written(NamedTuple):
    outcomes: list[SendingReport | Exception]
    """Each job's report or refusal, in the group's order."""
    handed: list[Any]
    """Messages claimed for the ``handoff`` in the same transaction."""
    all_handed: bool = False
    """Every message accepted was handed: the dispatcher need not be woken."""
    given: Handoff | None = None
    """The handoff that gave room for this group: ``take`` is owed to it."""


def _account_id(account: Account | Exception) -> int:
    return account.id if isinstance(account, Account) else -1


@dataclass(frozen=True, slots=True)
class _Job:
    customer_id: int
    service_name: str
    req: SendRequest
    actor: str
    future: asyncio.Future[SendingReport]
    auth_version: Hashable | None = None


class AcceptWriter:
    """One thread accepting the jobs handed to it, those waiting together in one transaction."""

    def __init__(
        self, db: Database, settings: Settings, *, concat_for: ConcatFor | None = None,
        on_accepted: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.concat_for = concat_for
        self.on_accepted = on_accepted
        """Called (in the event loop) after each commit that accepted at least one job."""
        self.handoff: Handoff | None = None
        """This process's dispatcher, handed the due messages of each group it has room for (set by
        the composition root once there is one); None: it is only woken (``on_accepted``)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="textos-accept")
        self._waiting: list[_Job] = []
        self._busy = False
        self._outage = Outage(log, "accepting jobs (answered 503)")

    async def accept(
        self, customer_id: int, service_name: str, req: SendRequest, *, actor: str, auth_version: Hashable | None = None,
    ) -> SendingReport:
        """Accept ``req`` (its ``receivers`` list) for the customer's account ``service_name``;
        returns once committed, or raises the job's own refusal. ``auth_version``: the caller was
        authenticated under it without asking the database (SQLite): :class:`StaleAuthentication`
        if it is no longer current."""
        loop = asyncio.get_running_loop()
        job = _Job(customer_id, service_name, req, actor, loop.create_future(), auth_version)
        self._waiting.append(job)
        if not self._busy:
            self._busy = True
            loop.create_task(self._drain())
        return await job.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        idle = True  # the first group of a drain came to an idle writer; the others queued behind a transaction
        try:
            while self._waiting:
                group = self._take()
                hand, idle = idle, False
                try:
                    written = self._write_now(group, hand)
                    if written is None:
                        written = await loop.run_in_executor(self._executor, functools.partial(self._write, group, hand=hand))
                except Exception as exc:  # the transaction failed: no job of the group is accepted
                    if not self._outage.failed(exc):
                        log.exception("could not accept a group of %d jobs", len(group))
                    for job in group:
                        if not job.future.done():
                            job.future.set_exception(exc)
                    continue
                outcomes = written.outcomes
                if written.given is not None:
                    try:
                        written.given.take(written.handed)
                    except Exception:  # they stay claimed by it: its sweep queues them again
                        log.exception("the dispatcher could not take %d messages", len(written.handed))
                for job, outcome in zip(group, outcomes):
                    if job.future.done():  # its request went away; the job stays accepted
                        continue
                    if isinstance(outcome, BaseException):
                        job.future.set_exception(outcome)
                    else:
                        job.future.set_result(outcome)
                if not written.all_handed and any(not isinstance(outcome, BaseException) for outcome in outcomes):
                    self.on_accepted()
                self._outage.succeeded()
        finally:
            self._busy = False

    def _take(self) -> list[_Job]:
        """The next group: waiting jobs in arrival order, within ``GROUP_JOBS`` and ``GROUP_RECEIVERS``."""
        count = receivers = 0
        for job in self._waiting:
            if count and (count >= GROUP_JOBS or receivers + len(job.req.receivers) > GROUP_RECEIVERS):
                break
            count += 1
            receivers += len(job.req.receivers)
        group, self._waiting = self._waiting[:count], self._waiting[count:]
        return group

    def _write_now(self, group: list[_Job], hand: bool = False) -> _Written | None:
        """SQLite: a small group written here and now if no writer holds the write lock; else ``None``."""
        if not self.db.is_sqlite or sum(len(job.req.receivers) for job in group) > INLINE_RECEIVERS:
            return None
        try:
            return self._write(group, wait=False, hand=hand)
        except WriterBusy:
            return None

    def _write(self, group: list[_Job], *, wait: bool = True, hand: bool = False) -> _Written:
        """In the writer's thread (or the event loop, ``wait=False``): the group's jobs written together
        (``jobs.accept_listed``), one commit; with ``hand`` (the group came to an idle writer), their
        due messages claimed for the ``handoff`` if it has room.

        The accounts' credits are judged as read, their rows locked only by the debits
        (``balance_as_read``); should another transaction have spent them in between
        (:class:`~textos.services.jobs.BalanceMoved`), the group is written again, locking first.
        Should the database refuse the group's statements (a value it cannot store, a lost
        deadlock), the group is written again job by job, each in its own savepoint, so
        only the job at fault is refused (and nothing is handed: the dispatcher claims them)."""
        try:
            try:
                return self._write_group(group, wait=wait, hand=hand, balance_as_read=True)
            except BalanceMoved:
                log.debug("a group of %d jobs met credits spent meanwhile; written again, locking first", len(group))
                return self._write_group(group, wait=wait, hand=hand, balance_as_read=False)
        except DBAPIError as exc:
            if unavailable(exc):  # away: one by one would fail the same way
                raise
            log.warning("a group of %d jobs was refused by the database; writing them one by one", len(group), exc_info=True)
        with self.db.session(wait=wait) as session:
            accounts = self._accounts(session, group)
            outcomes: list[SendingReport | Exception] = [a if isinstance(a, Exception) else _NOT_YET for a in accounts]
            for i in sorted(range(len(group)), key=lambda i: _account_id(accounts[i])):
                account = accounts[i]
                if isinstance(account, Account):
                    outcomes[i] = self._accept_one(session, account, group[i])
        return _Written(outcomes, [])

    def _write_group(self, group: list[_Job], *, wait: bool, hand: bool, balance_as_read: bool) -> _Written:
        """One transaction for the whole group (``_write``)."""
        handoff = self.handoff
        room = handoff.room() if handoff is not None and hand else None
        written = _Written([], [])
        try:
            with self.db.session(wait=wait) as session:
                accounts = self._accounts(session, group)
                listed = [Listed(a, job.req, job.actor) for a, job in zip(accounts, group) if isinstance(a, Account)]
                accepted = iter(accept_listed(session, listed, self.settings, concat_for=self.concat_for, balance_as_read=balance_as_read))
                outcomes: list[SendingReport | Exception] = [a if isinstance(a, Exception) else next(accepted) for a in accounts]
                written = _Written(outcomes, [])
                if handoff is not None and room is not None:
                    written = self._claim(session, group, outcomes, room)._replace(given=handoff)
                    handoff.hold(written.handed)
            return written
        except BaseException:
            if handoff is not None and room is not None:
                handoff.release(written.handed)
            raise

    @staticmethod
    def _claim(session: Session, group: list[_Job], outcomes: list[SendingReport | Exception], room: Room) -> _Written:
        """The accepted jobs' messages due now, up to ``room``, claimed for the handoff (in the group's transaction)."""
        accepted = [(job, o) for job, o in zip(group, outcomes) if isinstance(o, SendingReport)]
        ids = [i for job, o in accepted if not job.req.differed_period for i in o.ids]
        handed = messages.claim_listed(session, ids[: room.limit], room.build, instance=room.instance)
        return _Written(outcomes, handed, len(handed) == sum(len(o.ids) for _, o in accepted))

    def _accept_one(self, session: Session, account: Account, job: _Job) -> SendingReport | Exception:
        """One job in its own savepoint: its report, or its refusal (the savepoint rolled back).
        A job that lost a deadlock (the other transaction locked in another order) is tried once more."""
        for attempt in (1, 2):
            try:
                with session.begin_nested():
                    return accept_job(session, account, job.req, self.settings, job.actor, concat_for=self.concat_for)
            except DBAPIError as exc:
                if attempt == 2 or getattr(exc.orig, "sqlstate", None) not in _RETRYABLE:
                    return exc
            except Exception as exc:  # noqa: BLE001 - this job's own refusal, handed to its request
                return exc
        raise AssertionError("unreachable")

    @classmethod
    def _accounts(cls, session: Session, group: list[_Job]) -> list[Account | Exception]:
        """Each job's account, or why there is none (its authentication is stale); each account
        read once per group, the auth version at most once."""
        found: dict[tuple[int, str], Account | Exception] = {}
        now = sqlite_version_in(session) if any(job.auth_version is not None for job in group) else None
        return [
            StaleAuthentication() if job.auth_version is not None and job.auth_version != now else cls._account(session, found, job)
            for job in group
        ]

    @staticmethod
    def _account(session: Session, found: dict[tuple[int, str], Account | Exception], job: _Job) -> Account | Exception:
        """The customer's account (``accounts.customer_account``), or why there is none; once per group."""
        key = (job.customer_id, job.service_name)
        if key not in found:
            try:
                found[key] = accounts.customer_account(session, job.customer_id, job.service_name)
            except TextosError as exc:
                found[key] = exc
        return found[key]

    def close(self) -> None:
        self._executor.shutdown(wait=True)
