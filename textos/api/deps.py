"""Helpers shared by routes: the caller's own account, datetime formatting, a DB session."""

from __future__ import annotations

from typing import Annotated, Callable

from fastapi import Path, Query, Request

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain import clock
from textos.api.auth import Caller
from textos.api.state import state_of
from textos.domain.errors import NotFound
from textos.storage.models import Account


LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

Id = Annotated[int, Path(ge=1, le=LONG_MAX, description="Id of the object")]
"""A path id: OVH's ``long``, positive."""
OptionalLong = Annotated[int | None, Query(ge=LONG_MIN, le=LONG_MAX)]
"""An optional ``long`` query filter."""


def public_base(request: Request) -> str:
    """Where clients reach this server (``public_url`` behind a proxy), for links we hand out."""
    public = state_of(request).settings.public_url
    return public.rstrip("/") if public else str(request.base_url).rstrip("/")


def granted_services(session: Session, caller: Caller, method: str, path_of: Callable[[str], str]) -> list[str]:
    """The caller's account names whose ``path_of(name)`` their key may call with ``method``."""
    names = session.scalars(
        select(Account.service_name).where(Account.customer_id == caller.customer_id).order_by(Account.id)
    ).all()
    return [n for n in names if caller.may(method, path_of(n))]


def owned_account(session: Session, caller: Caller, service_name: str) -> Account:
    """The caller's SMS account ``service_name``; 404 when it is not theirs (nothing leaks)."""
    account = session.scalar(
        select(Account).where(Account.service_name == service_name, Account.customer_id == caller.customer_id)
    )
    if account is None:
        raise NotFound(f"serviceName: this service does not exist ({service_name})")
    return account


iso = clock.iso
to_naive_utc = clock.naive_utc
