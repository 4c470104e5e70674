"""``/me/api``: the customer's API applications and consumer keys (delegated keys), as OVH's
``/me/api/application`` and ``/me/api/credential``. A customer sees the keys it validated and
the applications it owns or that hold one of its keys; deleting one is refused by every server
process from the key's next request on (``storage.auth_version``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from textos.api.auth import Caller, authenticate
from textos.api.deps import Id
from textos.api.schemas import VOID, ApiApplicationOut, ApiCredentialOut, CredentialUpdate
from textos.api.state import state_of
from textos.services import credentials

router = APIRouter(tags=["me"])


@router.get("/me/api/application", summary="The caller's API applications (ids)", response_model=list[int])
def my_applications(request: Request, caller: Caller = Depends(authenticate)) -> list[int]:
    with state_of(request).db.read() as session:
        return [app.id for app in credentials.customers_applications(session, caller.customer_id)]


@router.get("/me/api/application/{applicationId}", summary="One API application (api.Application)", response_model=ApiApplicationOut)
def my_application(applicationId: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return credentials.application_view(credentials.customers_application(session, caller.customer_id, applicationId))


@router.delete("/me/api/application/{applicationId}", summary="Delete an application and its consumer keys", response_model=VOID)
def delete_my_application(applicationId: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        credentials.delete_application(session, caller.customer_id, applicationId)


@router.get("/me/api/credential", summary="The caller's consumer keys (ids)", response_model=list[int])
def my_credentials(
    request: Request,
    caller: Caller = Depends(authenticate),
    applicationId: int | None = Query(default=None, ge=1, description="Filter the value of applicationId property (=)"),
    status: str | None = Query(default=None, description="Filter the value of status property (=): expired, pendingValidation, refused, validated"),
) -> list[int]:
    with state_of(request).db.read() as session:
        found = credentials.list_credentials(session, customer_id=caller.customer_id, application_id=applicationId, status=status)
        return [cred.id for cred in found]


@router.get("/me/api/credential/{credentialId}", summary="One consumer key (api.Credential)", response_model=ApiCredentialOut)
def my_credential(credentialId: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return credentials.view_of(credentials.customers_credential(session, caller.customer_id, credentialId))


@router.put("/me/api/credential/{credentialId}", summary="Change the addresses a consumer key may be used from (allowedIPs)",
            response_model=VOID)
def update_my_credential(credentialId: Id, body: CredentialUpdate, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        credentials.set_allowed_ips(session, caller.customer_id, credentialId, body.allowedIPs)


@router.delete("/me/api/credential/{credentialId}", summary="Delete a consumer key: refused from its next request on", response_model=VOID)
def delete_my_credential(credentialId: Id, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        credentials.delete_credential(session, caller.customer_id, credentialId)


@router.get(
    "/me/api/credential/{credentialId}/application", summary="The application of a consumer key (api.Application)", response_model=ApiApplicationOut
)
def my_credential_application(credentialId: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return credentials.application_view(credentials.application_of(session, caller.customer_id, credentialId))
