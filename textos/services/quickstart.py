"""``textos quickstart``: a demo customer, account, application and all-rights key, made once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.services import admin
from textos.services.credentials import CredentialState, create_credential
from textos.storage.models import Account, Application, Credential, Customer

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


def quickstart(session: Session, credits: float = 100) -> Quickstart:
    """Idempotently set up a demo customer, account, application and all-methods key."""
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
        app = admin.create_application(session, QUICKSTART_APP, "Created by textos quickstart", nic=QUICKSTART_NIC)
        created = True
    cred = session.scalar(
        select(Credential)
        .where(Credential.application_id == app.id, Credential.customer_id == customer.id, Credential.state == CredentialState.VALIDATED)
        .order_by(Credential.id)
    )
    if cred is None:
        cred = create_credential(session, app.app_key, QUICKSTART_NIC, ALL_RULES)
        created = True
    return Quickstart(
        nic=customer.nic,
        password=password,
        service_name=account.service_name,
        application_key=app.app_key,
        application_secret=app.app_secret,
        consumer_key=cred.consumer_key,
        created=created,
    )
