"""Administration: customers, SMS accounts and applications (used by the CLI), and passwords."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.passwords import check_password, hash_password  # noqa: F401  (re-exported: callers name them here)

from textos.storage import auth_version  # noqa: F401  (changes to applications bump the auth version)
from textos.storage import at_rest, ledger
from textos.domain.errors import BadRequest, Conflict, NotFound
from textos.storage.models import Account, Application, Customer

_ALNUM = string.ascii_letters + string.digits


def random_token(length: int = 32) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def get_customer(session: Session, nic: str) -> Customer:
    customer = session.scalar(select(Customer).where(Customer.nic == nic))
    if customer is None:
        raise NotFound(f"nic: customer {nic!r} does not exist")
    return customer


def create_customer(session: Session, nic: str, password: str | None = None, *, name: str = "", email: str = "") -> tuple[Customer, str]:
    """Create a customer; returns it with its password (generated when not given)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,62}", nic):
        raise BadRequest("nic: letters, digits, '.', '_' and '-' only, 2 to 63 characters")
    if session.scalar(select(Customer).where(Customer.nic == nic)) is not None:
        raise Conflict(f"nic: customer {nic!r} already exists")
    password = password or random_token(16)
    customer = Customer(nic=nic, password_hash=hash_password(password), name=name, email=email)
    session.add(customer)
    session.flush()
    return customer, password


def _service_name_base(nic: str) -> str:
    m = re.match(r"([a-z]{2}\d{4,6})", nic.lower())
    return m.group(1) if m else "".join(secrets.choice(string.ascii_lowercase) for _ in range(2)) + f"{secrets.randbelow(10**5):05d}"


def create_account(
    session: Session,
    nic: str,
    credits: float = 0,
    *,
    service_name: str | None = None,
    allowed_countries: Iterable[str] = (),
    description: str = "",
    actor: str = "admin",
) -> Account:
    """Create an SMS account (``sms-ab12345-1``) for a customer, with initial credits."""
    customer = get_customer(session, nic)
    if service_name is None:
        base = _service_name_base(nic)
        n = 1
        while session.scalar(select(Account.id).where(Account.service_name == f"sms-{base}-{n}")) is not None:
            n += 1
        service_name = f"sms-{base}-{n}"
    elif not re.fullmatch(r"[a-z0-9][a-z0-9-]{2,62}", service_name):
        raise BadRequest("serviceName: lowercase letters, digits and '-' only")
    if session.scalar(select(Account.id).where(Account.service_name == service_name)) is not None:
        raise Conflict(f"serviceName: {service_name!r} already exists")
    account = Account(
        service_name=service_name,
        customer_id=customer.id,
        description=description,
        allowed_countries=[c.upper() for c in allowed_countries],
        sms_response={"responseType": "none", "cgiUrl": None, "text": None, "trackingDefaultSmsSender": None, "trackingOptions": []},
        templates={},
    )
    session.add(account)
    session.flush()
    if credits:
        add_credits(session, service_name, credits, actor=actor, reason="initial credits")
    return account


def get_account(session: Session, service_name: str) -> Account:
    account = session.scalar(select(Account).where(Account.service_name == service_name))
    if account is None:
        raise NotFound(f"serviceName: the SMS account {service_name!r} does not exist")
    return account


def add_credits(session: Session, service_name: str, credits: float, *, actor: str = "admin", reason: str = "manual adjustment") -> float:
    """Add (or, negative, remove) credits by a ledger adjustment; returns the new balance."""
    account = get_account(session, service_name)
    milli = ledger.to_milli(credits)
    if milli == 0:
        raise BadRequest("credits: must not be zero")
    entry = ledger.post(session, account.id, ledger.Movement(ledger.Kind.ADJUSTMENT, milli, actor=actor, reason=reason))
    return ledger.to_credits(entry.balance_after_milli)


@dataclass(frozen=True)
class NewApplication:
    """A new application, and its secret in clear: shown once, stored sealed (``storage.at_rest``)."""

    application: Application
    app_secret: str

    @property
    def app_key(self) -> str:
        return self.application.app_key


def create_application(session: Session, name: str = "", description: str = "", nic: str | None = None) -> NewApplication:
    customer_id = get_customer(session, nic).id if nic else None
    app_key, secret = random_token(16), random_token(32)
    sealed = at_rest.box_of(session).seal(secret, app_key)
    app = Application(app_key=app_key, secret_sealed=sealed, name=name, description=description, customer_id=customer_id)
    session.add(app)
    session.flush()
    return NewApplication(app, secret)


def application_secret(session: Session, app: Application) -> str:
    """The secret of ``app``, opened with the database's secret key."""
    return at_rest.box_of(session).open(app.secret_sealed, app.app_key)


def get_application(session: Session, app_key: str) -> Application:
    app = session.scalar(select(Application).where(Application.app_key == app_key))
    if app is None:
        raise NotFound(f"app: application key {app_key!r} does not exist")
    return app
