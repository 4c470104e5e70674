"""``textos quickstart``: a demo customer, account and application, made once, and an all-rights key.

Consumer keys are stored as digests (``storage.at_rest``), so a key issued earlier cannot be shown
again: each run issues a fresh validated key (earlier ones keep working until revoked)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.services import admin
from textos.services.credentials import create_credential
from textos.storage.models import Account, Application, Customer

QUICKSTART_NIC = "tx00001-textos"
QUICKSTART_APP = "quickstart"
ALL_RULES = [{"method": m, "path": "/*"} for m in ("GET", "POST", "PUT", "DELETE")]


@dataclass(frozen=True)
class Quickstart:
    nic: str
    password: str | None
    service_name: str
    application_key: str
    application_secret: str
    consumer_key: str
    created: bool
    """The customer, account or application was made by this run (the consumer key always is)."""


def quickstart(session: Session, credits: float = 100) -> Quickstart:
    """Idempotently set up a demo customer, account and application; issue a fresh all-methods key."""
    created = False
    password: str | None = None
    customer = session.scalar(select(Customer).where(Customer.nic == QUICKSTART_NIC))
    if customer is None:
        customer, password = admin.create_customer(session, QUICKSTART_NIC, name="Textos demo")
        created = True
    account = session.scalar(select(Account).where(Account.customer_id == customer.id).order_by(Account.id))
    if account is None:
        account = admin.create_account(session, QUICKSTART_NIC, credits, actor="quickstart")
        created = True
    app = session.scalar(
        select(Application).where(Application.customer_id == customer.id, Application.name == QUICKSTART_APP)
    )
    if app is None:
        new = admin.create_application(session, QUICKSTART_APP, "Created by textos quickstart", nic=QUICKSTART_NIC)
        app, secret = new.application, new.app_secret
        created = True
    else:
        secret = admin.application_secret(session, app)
    issued = create_credential(session, app.app_key, QUICKSTART_NIC, ALL_RULES)
    return Quickstart(
        nic=customer.nic,
        password=password,
        service_name=account.service_name,
        application_key=app.app_key,
        application_secret=secret,
        consumer_key=issued.consumer_key,
        created=created,
    )
