"""``/sms/{serviceName}/jobs``: send now or later; pending jobs; stop a pending job."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from textos.api.auth import Caller, authenticate
from textos.api.deps import Id, owned_account
from textos.api.schemas import VOID, DateTime, JobCreate, Out, VirtualNumberJobCreate
from textos.api.state import state_of
from textos.domain.errors import BadRequest
from textos.services import batches, campaigns, jobs, slots
from textos.services.campaigns import Source
from textos.services.jobs import SendingReport, SendRequest
from textos.services.outgoing import job_view

router = APIRouter(tags=["jobs"])


class SmsSendingReport(Out):
    """``sms.SmsSendingReport`` (also what ``api/onthefly.py`` answers, past FastAPI)."""

    ids: list[int]
    invalidReceivers: list[str]
    tag: str
    totalCreditsRemoved: float
    validReceivers: list[str]


class Job(Out):
    """``sms.Job``: a message not yet handed to a carrier."""

    creationDatetime: DateTime
    credits: float
    deliveredAt: DateTime | None
    deliveryReceipt: int
    differedDelivery: int
    id: int
    message: str
    messageLength: int
    numberOfSms: int
    ptt: int
    receiver: str
    sender: str
    sentAt: DateTime | None


def to_send_request(body: VirtualNumberJobCreate, *, virtual_number: str | None = None) -> SendRequest:
    """The request a job's body asks for; a virtual number's job (``virtual_number``, E.164) is
    sent from the number and carries no STOP mention (an answer goes to the number itself)."""
    sources = [n for n in ("receivers", "receiversDocumentUrl", "receiversSlotId") if getattr(body, n)]
    if len(sources) > 1:
        raise BadRequest(f"receivers: use only one of receivers, receiversDocumentUrl, receiversSlotId (got {', '.join(sources)})")
    full = body if isinstance(body, JobCreate) else None
    return SendRequest(
        message=body.message,
        receivers=list(body.receivers or []),
        sender=(full.sender or None) if full else None,
        sender_for_response=bool(full and full.senderForResponse),
        no_stop_clause=bool(full.noStopClause) if full else True,
        message_class=body.class_,
        differed_period=body.differedPeriod or 0,
        validity_period=body.validityPeriod or 2880,
        priority=body.priority or "high",
        tag=body.tag or "",
        virtual_number=virtual_number,
    )


def to_source(body: VirtualNumberJobCreate) -> Source | None:
    """The receivers document of a job (URL or slot), None for a plain ``receivers`` list."""
    if body.receiversDocumentUrl:
        return Source(document_url=body.receiversDocumentUrl.strip())
    if body.receiversSlotId:
        return Source(slot_id=slots.parse_slot_id(body.receiversSlotId, "receiversSlotId"))
    return None


def report_view(report: SendingReport) -> dict:
    """``sms.SmsSendingReport``."""
    return {
        "ids": report.ids,
        "invalidReceivers": report.invalid_receivers,
        "tag": report.tag,
        "totalCreditsRemoved": report.total_credits_removed,
        "validReceivers": report.valid_receivers,
    }


@router.post("/sms/{serviceName}/jobs", summary="Add one or several sending jobs (sms.SmsSendingReport)", response_model=SmsSendingReport)
async def create_job(serviceName: str, body: JobCreate, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    return await send_job(serviceName, to_send_request(body), to_source(body), request, caller)


async def send_job(serviceName: str, send: SendRequest, source: Source | None, request: Request, caller: Caller) -> dict:
    """Accept a job of the caller's account ``serviceName`` (``sms.SmsSendingReport``): a listed one
    through the accept writer, one from a document as a campaign (a batch)."""
    st = state_of(request)
    if source is None:  # committed with the jobs arriving meanwhile; the writer wakes the dispatcher
        return report_view(await st.accept_writer.accept(caller.customer_id, serviceName, send, actor=caller.actor))

    def check() -> int:
        with st.db.read() as session:
            account = owned_account(session, caller, serviceName)
            jobs.check_sendable(session, account, send, st.settings)  # refuse early (sender, disabled account), before downloading
            return account.id

    def work_document(ready: Source) -> dict:
        # A job from a document is a campaign: it gets a batch row showing its progress.
        with st.db.session() as session:
            account = owned_account(session, caller, serviceName)
            batch = batches.new_batch(session, account, send, send.tag or f"job from {ready.field}", slot_id=ready.slot_id)
            account_id, batch_id = account.id, batch.id
        report = batches.run(st.db, st.settings, account_id, send, caller.actor, batch_id, source=ready, concat_for=st.concat_for)
        return report_view(report)

    # The download is awaited here, on the event loop: no request thread waits on the document's server.
    async with campaigns.prefetched(st.db, await run_in_threadpool(check), source, st.settings) as ready:
        result = await run_in_threadpool(work_document, ready)
    st.wake()
    return result


@router.get("/sms/{serviceName}/jobs", summary="Messages not yet handed to a carrier", response_model=list[int])
def list_jobs(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> list[int]:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        return jobs.pending_ids(session, account.id)


@router.get("/sms/{serviceName}/jobs/{id}", summary="A job (sms.Job)", response_model=Job)
def get_job(serviceName: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        return job_view(*jobs.get_pending_job(session, account.id, id))


@router.delete("/sms/{serviceName}/jobs/{id}", summary="Stop a pending job and refund it", response_model=VOID)
def delete_job(serviceName: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        account = owned_account(session, caller, serviceName)
        jobs.stop_job(session, account.id, id, actor=caller.actor)
