"""``/sms/{serviceName}/reports``: campaign reports (a Textos extension, ``services.reports``).

What became of the messages of a tag, a batch or a period: counts by final state, delivery and
error rates, errors by ``ptt``, delivery time, STOPs, replies and credits; read from the counts
kept as messages settle, in milliseconds whatever the campaign's size.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, create_model

from textos.api.auth import Caller, authenticate
from textos.api.deps import EXTENSION, owned_account
from textos.api.state import state_of
from textos.domain.clock import naive_utc
from textos.services import reports

router = APIRouter(tags=["reports"])

_STATES: dict[str, Any] = {s: (int, ...) for s in reports.REPORT_STATES}
ReportStates: type[BaseModel] = create_model(  # one field per ``reports.REPORT_STATES``
    "ReportStates", __doc__="Messages per final state; `pending`: not final yet.", **_STATES,
)


class HistogramBar(BaseModel):
    upTo: float | None = Field(description="Upper edge of the bar, in seconds (null: slower than a day)")
    messages: int


class DeliveryTimeOut(BaseModel):
    """Sent → delivered, in seconds (within about 10 %: counted in buckets); null when nothing was delivered."""

    p50: float | None
    p90: float | None
    p99: float | None
    histogram: list[HistogramBar]


class StopsOfDay(BaseModel):
    day: str = Field(description="A day (UTC) of STOPs, as YYYY-MM-DD")
    stops: int


class CampaignReport(BaseModel):
    """A campaign's report (``textos report --json`` prints the same object)."""

    model_config = ConfigDict(populate_by_name=True)

    serviceName: str
    tag: str | None
    batchId: str | None
    from_: str | None = Field(alias="from", description="The period's start (whole hours), if any")
    to: str | None = Field(description="The period's end, excluded (whole hours), if any")
    messages: int = Field(description="Messages accepted")
    states: ReportStates  # type: ignore[valid-type]
    deliveryRate: float | None = Field(description="Delivered / messages")
    errorRate: float | None = Field(description="Failed, no receipt, expired or rejected / messages")
    errorsByPtt: dict[str, int] = Field(description="Messages in error by ptt")
    deliveryTime: DeliveryTimeOut
    stops: int = Field(description="STOPs attributed to the campaign's messages")
    stopRate: float | None = Field(description="STOPs / delivered")
    stopsByDay: list[StopsOfDay]
    replies: int = Field(description="Incoming messages answering the campaign's messages")
    replyRate: float | None = Field(description="Replies / delivered")
    credits: float = Field(description="Credits the messages cost (after refunds)")


def _report(request: Request, caller: Caller, service_name: str, **scope: Any) -> dict[str, Any]:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, service_name)
        return reports.report(session, reports.scope_for(session, account.id, **scope)).as_json(account.service_name)


@router.get(
    "/sms/{serviceName}/reports/tags/{tag}", summary="Report of the messages of a tag", response_model=CampaignReport,
    description=EXTENSION + "Every message of the account sent with `tag` (a tag holding `/`: `GET /reports?tag=`).",
)
def tag_report(serviceName: str, tag: str, request: Request, caller: Caller = Depends(authenticate)) -> dict[str, Any]:
    return _report(request, caller, serviceName, tag=tag)


@router.get(
    "/sms/{serviceName}/reports/batches/{id}", summary="Report of the messages of a batch", response_model=CampaignReport,
    description=EXTENSION + "The messages of the batch `id` (`GET /batches/{id}`; 404 when the account has no such batch).",
)
def batch_report(serviceName: str, id: str, request: Request, caller: Caller = Depends(authenticate)) -> dict[str, Any]:
    return _report(request, caller, serviceName, batch_id=id)


@router.get(
    "/sms/{serviceName}/reports", summary="Report of the messages of a period", response_model=CampaignReport,
    description=EXTENSION + "The messages accepted from `from` (included) to `to` (excluded), widened to whole hours (the "
    "report's `from` and `to` say so; dates without an offset read as UTC), of `tag` if given; STOPs received in the period.",
)
def period_report(
    serviceName: str, request: Request, caller: Caller = Depends(authenticate),
    date_from: dt.datetime | None = Query(default=None, alias="from"),
    date_to: dt.datetime | None = Query(default=None, alias="to"),
    tag: str | None = Query(default=None),
) -> dict[str, Any]:
    return _report(request, caller, serviceName, tag=tag, since=naive_utc(date_from), until=naive_utc(date_to))
