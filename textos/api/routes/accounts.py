"""``/sms`` and ``/sms/{serviceName}``: the caller's SMS accounts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from textos.api.auth import Caller, authenticate
from textos.api.deps import granted_services, owned_account
from textos.api.schemas import AccountUpdate
from textos.api.state import state_of
from textos.services import accounts

router = APIRouter(tags=["accounts"])


@router.get("/sms", summary="The caller's SMS accounts", response_model=list[str])
def list_accounts(request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        return granted_services(session, caller, "GET", lambda n: f"/sms/{n}")


@router.get("/sms/{serviceName}", summary="SMS account details (sms.AccountWithIAM)")
def get_account(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return accounts.account_view(owned_account(session, caller, serviceName))


@router.put("/sms/{serviceName}", summary="Alter the SMS account's properties")
def put_account(serviceName: str, body: AccountUpdate, request: Request, caller: Caller = Depends(authenticate)) -> None:
    st = state_of(request)
    changes = accounts.check_changes(body.model_dump(exclude_unset=True), st.settings)  # DNS lookups: before the transaction
    with st.db.session() as session:
        accounts.update_account(owned_account(session, caller, serviceName), changes)


@router.get("/sms/{serviceName}/serviceInfos", summary="Billing information (services.Service)")
def service_infos(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return accounts.service_infos_view(owned_account(session, caller, serviceName), caller.nic)
