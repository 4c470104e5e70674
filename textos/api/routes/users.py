"""``/sms/{serviceName}/users``: an account's users (``sms.User``) and the jobs sent as one of them.

A user's password is checked against OVH's rule (``services.users``), hashed, and never returned
or logged. ``quotaInformations`` holds or releases the account's credits (``services.quotas``).
A user's jobs go through the one accept path as the account's (the accept writer for listed
receivers, a batch for a document) with the user recorded on the job: paid from the user's quota
when it is active, and listed only under that user.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from pydantic import ConfigDict, Field

from textos.api.auth import Caller, authenticate
from textos.api.deps import Id, owned_account
from textos.api.routes.jobs import Job, SmsSendingReport, send_job, to_send_request, to_source
from textos.api.schemas import VOID, Body, JobCreate, Out
from textos.api.state import state_of
from textos.services import jobs, users
from textos.services.outgoing import job_view

router = APIRouter(tags=["users"])

BASE = "/sms/{serviceName}/users/{login}"


class UserCreate(Body):
    """``POST /sms/{serviceName}/users``."""

    login: str = Field(max_length=64)
    password: str
    """Never echoed, even refused: its checks (``users.check_password_rule``) name the field only."""


class QuotaIn(Body):
    model_config = ConfigDict(extra="ignore")
    quotaStatus: Literal["active", "inactive"] | None = None
    quotaLeft: float | None = Field(default=None, ge=0, le=1e12)


class AlertThresholdIn(Body):
    alertEmail: str | None = Field(default=None, max_length=256)
    alertNumber: str | None = Field(default=None, max_length=32)
    alertThreshold: int | None = Field(default=None, ge=0, le=2_000_000_000)
    support: Literal["both", "mail", "sms"] | None = None


class UserUpdate(Body):
    """``PUT /sms/{serviceName}/users/{login}``: writable fields of ``sms.User`` (``login`` is read-only, ignored)."""

    model_config = ConfigDict(extra="ignore")
    callBack: str | None = Field(default=None, max_length=2048)
    stopCallBack: str | None = Field(default=None, max_length=2048)
    ipRestrictions: list[str] | None = None
    password: str | None = None
    quotaInformations: QuotaIn | None = None
    alertThresholdInformations: AlertThresholdIn | None = None


class Quota(Out):
    quotaStatus: Literal["active", "inactive"]
    quotaLeft: float


class AlertThreshold(Out):
    alertEmail: str
    alertNumber: str
    alertThreshold: int
    support: Literal["both", "mail", "sms"]


class User(Out):
    """``sms.User`` (its password is never returned)."""

    login: str
    callBack: str | None
    stopCallBack: str | None
    ipRestrictions: list[str]
    quotaInformations: Quota
    alertThresholdInformations: AlertThreshold


@router.get("/sms/{serviceName}/users", summary="Users of the SMS account", response_model=list[str])
def list_users(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        return users.logins(session, owned_account(session, caller, serviceName).id)


@router.post("/sms/{serviceName}/users", summary="Create a user of the SMS account", response_model=VOID)
def create_user(serviceName: str, body: UserCreate, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        users.create_user(session, owned_account(session, caller, serviceName).id, body.login, body.password)


@router.get(BASE, summary="A user of the SMS account (sms.User)", response_model=User)
def get_user(serviceName: str, login: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return users.view(users.get_user(session, owned_account(session, caller, serviceName).id, login))


@router.put(BASE, summary="Alter a user's properties (callBack, ipRestrictions, quota, alert)", response_model=VOID)
def put_user(serviceName: str, login: str, body: UserUpdate, request: Request, caller: Caller = Depends(authenticate)) -> None:
    st = state_of(request)
    changes = users.check_changes(body.model_dump(exclude_unset=True), st.settings)  # DNS lookups: before the transaction
    with st.db.session() as session:
        account = owned_account(session, caller, serviceName)
        users.update_user(session, account.id, users.get_user(session, account.id, login), changes, actor=caller.actor)


@router.delete(BASE, summary="Delete a user (its quota released to the account)", response_model=VOID)
def delete_user(serviceName: str, login: str, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        account = owned_account(session, caller, serviceName)
        users.delete_user(session, account.id, users.get_user(session, account.id, login), actor=caller.actor)


# --- the user's jobs ------------------------------------------------------------------------------


def _user_id(request: Request, caller: Caller, serviceName: str, login: str) -> int:
    with state_of(request).db.read() as session:
        return users.get_user(session, owned_account(session, caller, serviceName).id, login).id


@router.post(f"{BASE}/jobs", summary="Send as the user (sms.SmsSendingReport); paid from its quota when active",
             response_model=SmsSendingReport)
async def create_user_job(serviceName: str, login: str, body: JobCreate, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    send = to_send_request(body)
    send.user_id = await run_in_threadpool(_user_id, request, caller, serviceName, login)
    source = to_source(body)
    if source is not None:  # a slot named by a user's job is one of the user's own slots
        source = dataclasses.replace(source, user_id=send.user_id)
    return await send_job(serviceName, send, source, request, caller)


@router.get(f"{BASE}/jobs", summary="The user's messages not yet handed to a carrier", response_model=list[int])
def list_user_jobs(serviceName: str, login: str, request: Request, caller: Caller = Depends(authenticate)) -> list[int]:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        return jobs.pending_ids(session, account.id, user_id=users.get_user(session, account.id, login).id)


@router.get(f"{BASE}/jobs/{{id}}", summary="A job of the user (sms.Job)", response_model=Job)
def get_user_job(serviceName: str, login: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        user = users.get_user(session, account.id, login)
        return job_view(*jobs.get_pending_job(session, account.id, id, user_id=user.id))


@router.delete(f"{BASE}/jobs/{{id}}", summary="Stop a pending job of the user; refunded where it was paid from", response_model=VOID)
def delete_user_job(serviceName: str, login: str, id: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        account = owned_account(session, caller, serviceName)
        user = users.get_user(session, account.id, login)
        jobs.stop_job(session, account.id, id, actor=caller.actor, user_id=user.id)
