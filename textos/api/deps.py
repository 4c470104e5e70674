"""Helpers shared by routes: the caller's own account, datetime formatting, a DB session."""

from __future__ import annotations

from typing import Annotated, Callable

from fastapi import Path, Query, Request
from sqlalchemy.orm import Session

from textos.api.auth import Caller
from textos.api.state import state_of
from textos.services import accounts
from textos.storage.models import Account


LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

Id = Annotated[int, Path(ge=1, le=LONG_MAX, description="Id of the object")]
"""A path id: OVH's ``long``, positive."""
OptionalLong = Annotated[int | None, Query(ge=LONG_MIN, le=LONG_MAX)]
"""An optional ``long`` query filter."""
EXTENSION = "Textos extension (not in OVH's API). "
"""How a route's description starts when OVH's API has no such operation."""


def public_base(request: Request) -> str:
    """Where clients reach this server (``public_url`` behind a proxy), for links we hand out."""
    public = state_of(request).settings.public_url
    return public.rstrip("/") if public else str(request.base_url).rstrip("/")


def granted_services(session: Session, caller: Caller, method: str, path_of: Callable[[str], str]) -> list[str]:
    """The caller's account names whose ``path_of(name)`` their key may call with ``method``."""
    return accounts.service_names(session, caller.customer_id, where=lambda name: caller.may(method, path_of(name)))


def owned_account(session: Session, caller: Caller, service_name: str) -> Account:
    """The caller's SMS account ``service_name``; 404 when it is not theirs (nothing leaks)."""
    return accounts.customer_account(session, caller.customer_id, service_name)


