"""Consumption exports and reports: ``GET /sms/{s}/document``, ``/sms/{s}/users/{login}/document``
(the CSV written as a ``/me/document``), ``GET /me/document/{id}``, the download behind its
``getUrl``, and ``GET /sms/{s}/consumption`` (a Textos extension)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from pydantic import ConfigDict, Field

from textos.api.auth import Caller, authenticate
from textos.api.deps import EXTENSION, owned_account, public_base
from textos.api.schemas import DateTime, Out
from textos.api.state import state_of
from textos.domain.clock import naive_utc, naive_utc_until, utcnow
from textos.services import consumption, exports, me_documents, users

router = APIRouter(tags=["documents"])


class SafeKeyValue(Out):
    """``complexType.SafeKeyValue<string>``."""

    key: str
    value: str


class DocumentOut(Out):
    """``nichandle.document.Document``; ``size`` is 0 until the export is written, ``putUrl`` empty
    (Textos writes these files), ``getUrl`` downloads the file without signing until ``expirationDate``."""

    creationDate: DateTime
    expirationDate: DateTime | None
    getUrl: str
    id: str
    name: str
    putUrl: str
    size: int
    tags: list[SafeKeyValue]
    validationDate: DateTime | None


class ConsumptionGroup(Out):
    group: str | None
    """The user's login (``null``: the account's own sends), the tag or the sender."""
    messages: int
    parts: int
    credits: float


class ConsumptionTotal(Out):
    messages: int
    parts: int
    credits: float


class ConsumptionReport(Out):
    """An account's outgoing SMS of ``[from, to)`` grouped by ``by``, most credits first."""

    model_config = ConfigDict(populate_by_name=True)

    serviceName: str
    by: Literal["user", "tag", "sender"]
    from_: DateTime | None = Field(alias="from")
    to: DateTime | None
    groups: list[ConsumptionGroup]
    total: ConsumptionTotal


def _export(request: Request, caller: Caller, serviceName: str, login: str | None, way: exports.WayType,
            created_from: dt.datetime | None, created_to: dt.datetime | None, tag: str | None, batch_id: str | None) -> str:
    st = state_of(request)
    with st.db.session() as session:
        account = owned_account(session, caller, serviceName)
        user_id = users.get_user(session, account.id, login).id if login is not None else None
        where = exports.ExportFilter(way=way, created_from=naive_utc(created_from), created_to=naive_utc_until(created_to),
                                     tag=tag, batch_id=batch_id, user_id=user_id)
        stamp = utcnow().strftime("%Y%m%d-%H%M%S")
        owner = f"{account.service_name}-{login}" if login is not None else account.service_name
        tags = {"sms_account": account.service_name, "wayType": way.value, **({"login": login} if login is not None else {})}
        document = me_documents.create(session, caller.customer_id, account.id, f"sms-{way.value}-{owner}-{stamp}.csv",
                                       st.settings.document_ttl_hours, tags)
        account_id, document_id = account.id, document.id

    def produce():  # type: ignore[no-untyped-def]
        with st.db.read() as session:
            yield from exports.csv_chunks(session, account_id, where)

    me_documents.start_writing(st.db, document_id, produce)
    return document_id


_WAY = Query(..., description="sms.DocumentWayTypeEnum")


@router.get(
    "/sms/{serviceName}/document", summary="Export the account's SMS as CSV: the /me/document id generated", response_model=str,
    description="Poll `GET /me/document/{id}` until `size` > 0, then download `getUrl`. Outgoing columns "
    "`id;date;sender;receiver;ptt;operatorCode;descriptionDlr;tag;message;sentAt;deliveredAt`, incoming "
    "`id;date;sender;receiver;tag;message;credits`; cells starting with `=`, `+`, `-`, `@`, tab or CR are "
    "prefixed with `'` (plain E.164 numbers excepted).",
)
def account_document(
    serviceName: str, request: Request, caller: Caller = Depends(authenticate), wayType: exports.WayType = _WAY,
    creation_from: dt.datetime | None = Query(default=None, alias="creationDatetime.from"),
    creation_to: dt.datetime | None = Query(default=None, alias="creationDatetime.to"),
    tag: str | None = Query(default=None), batchID: uuid.UUID | None = Query(default=None),
) -> str:
    return _export(request, caller, serviceName, None, wayType, creation_from, creation_to, tag, str(batchID) if batchID else None)


@router.get(
    "/sms/{serviceName}/users/{login}/document", summary="Export a user's SMS as CSV: the /me/document id generated",
    response_model=str, description="As `GET /sms/{serviceName}/document`, for the jobs sent as the user and the replies to them.",
)
def user_document(
    serviceName: str, login: str, request: Request, caller: Caller = Depends(authenticate), wayType: exports.WayType = _WAY,
    creation_from: dt.datetime | None = Query(default=None, alias="creationDatetime.from"),
    creation_to: dt.datetime | None = Query(default=None, alias="creationDatetime.to"),
    tag: str | None = Query(default=None),
) -> str:
    return _export(request, caller, serviceName, login, wayType, creation_from, creation_to, tag, None)


@router.get("/me/document/{id}", summary="A document of yours (nichandle.document.Document)", response_model=DocumentOut)
def get_document(id: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return me_documents.document_view(me_documents.get_document(session, caller.customer_id, id), public_base(request))


@router.get("/download/{token}", include_in_schema=False)
def download(token: str, request: Request) -> Response:
    """The file behind a ``getUrl``: no signature, the token is the secret (until the document expires)."""
    found = me_documents.open_download(state_of(request).db, token)
    if found is None:
        return PlainTextResponse("This document does not exist, or has expired.\n", status_code=404)
    document, pieces = found
    return StreamingResponse(pieces, media_type="text/csv; charset=utf-8", headers={
        "Content-Length": str(document.size), "Content-Disposition": f'attachment; filename="{document.name}"',
        "Cache-Control": "private, no-store",
    })


@router.get(
    "/sms/{serviceName}/consumption", summary="Consumption of a period by user, tag or sender", response_model=ConsumptionReport,
    description=EXTENSION + "The outgoing SMS (as `GET /outgoing` lists them) created from `from` (included) to `to` "
    "(excluded; dates without an offset read as UTC), grouped `by` user (`null`: the account's own sends), tag or sender: "
    "messages, parts and credits (after refunds), most credits first.",
)
def get_consumption(
    serviceName: str, request: Request, caller: Caller = Depends(authenticate),
    by: consumption.GroupBy = Query(...),
    date_from: dt.datetime | None = Query(default=None, alias="from"),
    date_to: dt.datetime | None = Query(default=None, alias="to"),
) -> dict:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        result = consumption.report(session, account.id, by, naive_utc(date_from), naive_utc(date_to))
    return {"serviceName": serviceName, **result}
