"""``/sms/{serviceName}/receivers``: receiver slots, CSV documents kept for later campaigns, and
``/sms/{serviceName}/task``: the tasks their cleans leave."""

from __future__ import annotations

import codecs
from typing import Annotated, Callable

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from textos.api.auth import Caller, authenticate
from textos.api.deps import Id, owned_account
from textos.domain.clock import iso
from textos.api.schemas import VOID, DateTime, Out, ReceiverClean, ReceiverCreate, ReceiverUpdate
from textos.api.state import state_of
from textos.domain.errors import BadRequest
from textos.services import slots, tasks
from textos.storage.models_bulk import ReceiverSlot

SlotId = Annotated[int, Path(ge=-(2**63), le=2**63 - 1, description="Slot number")]

router = APIRouter(tags=["receivers"])


class Receiver(Out):
    """``sms.Receiver``."""

    autoUpdate: bool
    canAutoUpdate: bool
    datetime: DateTime
    description: str
    records: int
    slotId: int


class CleanFindings(Out):
    """What a clean found (``textosCleanReport``, a Textos extension)."""

    records: int
    invalidReceivers: int
    duplicates: int
    blacklisted: int
    applied: bool


class CleanReport(Out):
    """``sms.ReceiversAsynchronousCleanReport``, and what the clean found (``textosCleanReport``)."""

    taskId: int
    totalCreditsRemoved: float
    textosCleanReport: CleanFindings


class Task(Out):
    """``sms.Task``."""

    function: str
    status: tasks.TaskStatus
    step: str
    taskId: int


def receiver_view(slot: ReceiverSlot) -> dict:
    """``sms.Receiver``."""
    return {
        "autoUpdate": slot.auto_update,
        "canAutoUpdate": bool(slot.csv_url),
        "datetime": iso(slot.created_at),
        "description": slot.description,
        "records": slot.records,
        "slotId": slot.slot_id,
    }


Owner = Callable[[Session], tuple[int, int | None]]
"""Whose slots a request reaches, read in its session: ``(account_id, user_id)``, ``user_id``
none for the account's own (``/sms/{s}/users/{login}/receivers`` passes the user's)."""


def account_owner(caller: Caller, service_name: str) -> Owner:
    return lambda session: (owned_account(session, caller, service_name).id, None)


def list_slots_of(request: Request, owner: Owner) -> list[int]:
    with state_of(request).db.read() as session:
        account_id, user_id = owner(session)
        return slots.slot_ids(session, account_id, user_id)


async def create_slot_of(request: Request, owner: Owner, body: ReceiverCreate) -> dict:
    st = state_of(request)
    slot_id = slots.parse_slot_id(body.slotId, "slotId")
    if body.documentId:
        raise BadRequest("documentId: /me/document is not available on this server; give the document's csvUrl")
    if not body.csvUrl:
        raise BadRequest("csvUrl: the URL of the CSV document is required")
    url = body.csvUrl.strip()

    def whose() -> tuple[int, int | None]:
        with st.db.read() as session:
            return owner(session)

    # The download is awaited: no request thread waits on the document's server.
    account_id, user_id = await run_in_threadpool(whose)
    slot = await slots.create_slot(st.db, account_id, slot_id, url, st.settings, description=body.description or "",
                                   auto_update=bool(body.autoUpdate), user_id=user_id)
    return receiver_view(slot)


def get_slot_of(request: Request, owner: Owner, slot_id: int) -> dict:
    with state_of(request).db.read() as session:
        account_id, user_id = owner(session)
        return receiver_view(slots.get_slot(session, account_id, slot_id, user_id=user_id))


def update_slot_of(request: Request, owner: Owner, slot_id: int, body: ReceiverUpdate) -> None:
    with state_of(request).db.session() as session:
        account_id, user_id = owner(session)
        slot = slots.get_slot(session, account_id, slot_id, user_id=user_id)
        if body.description is not None:
            slot.description = body.description
        if body.autoUpdate is not None:
            if body.autoUpdate and not slot.csv_url:
                raise BadRequest("autoUpdate: this slot has no csvUrl to download again")
            slot.auto_update = body.autoUpdate


def delete_slot_of(request: Request, owner: Owner, slot_id: int) -> None:
    with state_of(request).db.session() as session:
        account_id, user_id = owner(session)
        session.delete(slots.get_slot(session, account_id, slot_id, user_id=user_id))


def slot_csv_of(request: Request, owner: Owner, slot_id: int) -> JSONResponse:
    with state_of(request).db.read() as session:
        account_id, user_id = owner(session)
        content = slots.get_slot(session, account_id, slot_id, user_id=user_id).content
    if content.startswith(codecs.BOM_UTF8):
        content = content[3:]
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    return JSONResponse(text)


CLEAN_REPORT = "textosCleanReport"
"""Textos extension of ``sms.ReceiversAsynchronousCleanReport``: what the clean found."""

CLEAN_DESCRIPTION = (
    "Syntactic checks only (no HLR lookups): free, and done at once. `taskId` is a task already `done` "
    "(`GET /sms/{serviceName}/task/{taskId}`). Textos extension: `textosCleanReport` gives `records` "
    "(receivers kept), `invalidReceivers`, `duplicates`, `blacklisted` (rows dropped) and `applied` "
    "(false with `priceOnly`: the slot is left as it was)."
)


async def clean_slot_of(request: Request, owner: Owner, slot_id: int, body: ReceiverClean | None) -> dict:
    st = state_of(request)
    price_only = bool(body and body.priceOnly)

    def work() -> dict:
        with st.db.session() as session:
            account_id, user_id = owner(session)
            slot = slots.get_slot(session, account_id, slot_id, user_id=user_id)
            found = slots.clean_slot(session, slot, st.settings, apply=not price_only)
            report = {"records": found.records, "invalidReceivers": found.invalid, "duplicates": found.duplicates,
                      "blacklisted": found.blacklisted, "applied": not price_only}
            task = tasks.record_done(session, account_id, tasks.CLEAN_RECEIVERS, {"slotId": slot_id, **report})
            return {"taskId": task.id, "totalCreditsRemoved": 0.0, CLEAN_REPORT: report}

    return await run_in_threadpool(work)


@router.get("/sms/{serviceName}/receivers", summary="Receiver slots (ids)", response_model=list[int])
def list_slots(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> list[int]:
    return list_slots_of(request, account_owner(caller, serviceName))


@router.post("/sms/{serviceName}/receivers", summary="Add a CSV document of receivers to a slot (sms.Receiver)", response_model=Receiver)
async def create_slot(serviceName: str, body: ReceiverCreate, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    return await create_slot_of(request, account_owner(caller, serviceName), body)


@router.get("/sms/{serviceName}/receivers/{slotId}", summary="A receiver slot (sms.Receiver)", response_model=Receiver)
def get_slot(serviceName: str, slotId: SlotId, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    return get_slot_of(request, account_owner(caller, serviceName), slotId)


@router.put("/sms/{serviceName}/receivers/{slotId}", summary="Alter a receiver slot (description, autoUpdate)", response_model=VOID)
def update_slot(serviceName: str, slotId: SlotId, body: ReceiverUpdate, request: Request, caller: Caller = Depends(authenticate)) -> None:
    update_slot_of(request, account_owner(caller, serviceName), slotId, body)


@router.delete("/sms/{serviceName}/receivers/{slotId}", summary="Delete the document of a slot", response_model=VOID)
def delete_slot(serviceName: str, slotId: SlotId, request: Request, caller: Caller = Depends(authenticate)) -> None:
    delete_slot_of(request, account_owner(caller, serviceName), slotId)


@router.get("/sms/{serviceName}/receivers/{slotId}/csv", summary="The slot's CSV document (string)", response_model=str)
def slot_csv(serviceName: str, slotId: SlotId, request: Request, caller: Caller = Depends(authenticate)) -> JSONResponse:
    return slot_csv_of(request, account_owner(caller, serviceName), slotId)


@router.post(
    "/sms/{serviceName}/receivers/{slotId}/clean",
    summary="Drop invalid, duplicate and blacklisted receivers (sms.ReceiversAsynchronousCleanReport)",
    description=CLEAN_DESCRIPTION, response_model=CleanReport,
)
async def clean_slot(serviceName: str, slotId: SlotId, request: Request, body: ReceiverClean | None = None,
                     caller: Caller = Depends(authenticate)) -> dict:
    return await clean_slot_of(request, account_owner(caller, serviceName), slotId, body)


# --- tasks (sms.Task): the cleans ---------------------------------------------------------------


@router.get("/sms/{serviceName}/task", summary="The account's tasks (ids)", response_model=list[int])
def list_tasks(serviceName: str, request: Request, caller: Caller = Depends(authenticate),
               status: str | None = Query(default=None, description="telephony.TaskStatusEnum")) -> list[int]:
    wanted = tasks.parse_status(status)
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        return tasks.task_ids(session, account.id, wanted)


@router.get("/sms/{serviceName}/task/{taskId}", summary="A task (sms.Task)", response_model=Task)
def get_task(serviceName: str, taskId: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        return tasks.task_view(tasks.get_task(session, account.id, taskId))
