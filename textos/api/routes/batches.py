"""``/sms/{serviceName}/batches``: named campaigns, ingested in the background, with progress."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from textos.api.auth import Caller, authenticate
from textos.api.deps import owned_account
from textos.api.schemas import MAX_DEFERRAL_MINUTES, VOID, BatchCreate, BatchUpdate, DateTime, Out
from textos.api.state import state_of
from textos.domain.clock import naive_utc, utcnow
from textos.domain.errors import BadRequest
from textos.services import batches, jobs, slots
from textos.services.campaigns import Source
from textos.services.jobs import SendRequest

router = APIRouter(tags=["batches"])


class BatchError(Out):
    """``sms.BatchError``."""

    message: str
    receiver: str


class Batch(Out):
    """``sms.Batch``."""

    accountID: int
    createdAt: DateTime
    errors: list[BatchError]
    estimatedCredits: float
    finishedAt: DateTime | None
    from_: str | None = Field(alias="from")
    id: str
    message: str
    name: str
    processedRecords: int
    receivers: list[str] | None
    sentAt: DateTime | None
    slotID: str | None
    startedAt: DateTime | None
    status: Literal["CANCELED", "CANCELING", "COMPLETED", "FAILED", "INSERTED", "INSERTING", "PENDING", "TO_CANCEL"]
    totalRecords: int
    updatedAt: DateTime


class BatchStatistics(Out):
    """``sms.BatchStatistics``, and ``noReceipt`` (Textos's): those of ``failed`` whose receipt never came."""

    credits: float
    delivered: int
    estimatedCredits: float
    failed: int
    id: str
    noReceipt: int
    pending: int
    sent: int
    stoplisted: int


def _parse_deferred(value: str | None) -> dt.datetime | None:
    """When a batch is sent: at most a year ahead."""
    if not value:
        return None
    try:
        moment = naive_utc(dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        raise BadRequest(f"deferred: {value!r} is not an ISO 8601 datetime") from None
    except OverflowError:  # before year 1 once moved to UTC
        raise BadRequest(f"deferred: {value!r} is out of range") from None
    if moment - utcnow() > dt.timedelta(minutes=MAX_DEFERRAL_MINUTES):
        raise BadRequest(f"deferred: {value!r} is more than {MAX_DEFERRAL_MINUTES} minutes (a year) ahead")
    return moment


@router.get("/sms/{serviceName}/batches", summary="Batches (sms.Batch[])", response_model=list[Batch])
def list_batches(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> list[dict]:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        return [batches.batch_view(b) for b in batches.list_batches(session, account.id)]


@router.post("/sms/{serviceName}/batches", summary="Create a batch (sms.Batch); receivers are read in the background", response_model=Batch)
async def create_batch(serviceName: str, body: BatchCreate, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    if bool(body.to) == bool(body.slotID):
        raise BadRequest("to: give either to (receivers) or slotID, not both nor neither")
    if body.from_ and body.senderForResponse:
        raise BadRequest("from: cannot be used together with senderForResponse")
    deferred = _parse_deferred(body.deferred)
    source = None if body.to else Source(slot_id=slots.parse_slot_id(body.slotID, "slotID"))
    send = SendRequest(
        message=body.message, receivers=list(body.to or []), sender=body.from_ or None,
        sender_for_response=bool(body.senderForResponse), no_stop_clause=bool(body.noStop),
        message_class={"FLASH": "flash", "PHONE": "phoneDisplay", "SIM": "sim"}.get(body.class_ or ""),
        differed_period=batches.deferred_minutes(deferred), tag=body.tag or "",
    )

    def work() -> tuple[int, str, dict]:
        with st.db.session() as session:
            account = owned_account(session, caller, serviceName)
            jobs.check_sendable(session, account, send, st.settings)  # sender, account state: refused at once
            if source is not None and source.slot_id is not None:
                slots.get_slot(session, account.id, source.slot_id, "slotID")
            batch = batches.new_batch(session, account, send, body.name or "", slot_id=source.slot_id if source else None, deferred=deferred)
            return account.id, batch.id, batches.batch_view(batch)

    account_id, batch_id, view = await run_in_threadpool(work)
    batches.start(st.db, st.settings, account_id, send, caller.actor, batch_id, source=source, deferred=deferred,
                  concat_for=st.concat_for, on_done=st.wake)
    return view


@router.get("/sms/{serviceName}/batches/{id}", summary="A batch (sms.Batch)", response_model=Batch)
def get_batch(serviceName: str, id: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        return batches.batch_view(batches.get_batch(session, account.id, id))


@router.put("/sms/{serviceName}/batches/{id}", summary="Rename a batch (sms.Batch)", response_model=Batch)
def update_batch(serviceName: str, id: str, body: BatchUpdate, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.session() as session:
        account = owned_account(session, caller, serviceName)
        batch = batches.get_batch(session, account.id, id)
        batches.rename_batch(batch, body.name)
        return batches.batch_view(batch)


@router.delete("/sms/{serviceName}/batches/{id}", summary="Remove a finished batch (its SMS stay in the history)", response_model=VOID)
def delete_batch(serviceName: str, id: str, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        account = owned_account(session, caller, serviceName)
        batches.remove_batch(session, batches.get_batch(session, account.id, id))


@router.post("/sms/{serviceName}/batches/{id}/cancel", summary="Cancel a batch not yet sent (sms.Batch)", response_model=Batch)
async def cancel_batch(serviceName: str, id: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)

    def work() -> dict:
        with st.db.read() as session:
            account = owned_account(session, caller, serviceName)
            batches.get_batch(session, account.id, id)
        batches.cancel_batch(st.db, id, caller.actor)
        with st.db.read() as session:
            return batches.batch_view(batches.get_batch(session, account.id, id))

    return await run_in_threadpool(work)


@router.get("/sms/{serviceName}/batches/{id}/statistics", summary="Batch statistics (sms.BatchStatistics)", response_model=BatchStatistics)
def batch_statistics(serviceName: str, id: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        batch = batches.get_batch(session, account.id, id)
        return batches.statistics_view(batch, batches.batch_stats(session, batch))
