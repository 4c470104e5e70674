"""Consumer keys: created by the operator, or asked for by an application and validated by
its customer on the validation page (``/auth/``); their OVH shape (``api.Credential``).

Every change to a credential is seen at once by the processes that keep keys in memory:
``storage.auth_version`` bumps a version in the same transaction (importing it installs that)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.access_rules import AccessRule, check_allowed_ips
from textos.domain.clock import iso
from textos.domain.errors import BadRequest, NotFound
from textos.services.admin import get_application, get_customer, random_token
from textos.services.password_guard import PasswordGuard
from textos.storage import auth_version  # noqa: F401  (changes to credentials bump the auth version)
from textos.storage.at_rest import key_digest
from textos.storage.db import Database
from textos.storage.models import Application, Credential, Customer


BAD_LOGIN = "badlogin"
"""Outcome of a validation whose nic or password is wrong."""


class CredentialState:
    """``auth.CredentialStateEnum``."""

    PENDING = "pendingValidation"
    VALIDATED = "validated"
    REFUSED = "refused"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Issued:
    """A new consumer key: its row, and the key and validation token in clear. Shown once:
    the database keeps only their digests (``storage.at_rest``)."""

    credential: Credential
    consumer_key: str
    validation_token: str | None


def create_credential(
    session: Session,
    app_key: str,
    nic: str | None,
    rules: Iterable[dict[str, str] | str],
    *,
    validated: bool = True,
    allowed_ips: list[str] | None = None,
    redirection: str | None = None,
) -> Issued:
    """Create a consumer key for ``app_key``; validated for ``nic`` unless ``validated`` is False."""
    app = get_application(session, app_key)
    parsed = [AccessRule.parse(r) if isinstance(r, str) else AccessRule.of(r) for r in rules]
    if not parsed:
        raise BadRequest("accessRules: at least one rule is needed")
    customer_id = get_customer(session, nic).id if nic else None
    if validated and customer_id is None:
        raise BadRequest("nic: a validated consumer key needs a customer")
    consumer_key, token = random_token(32), None if validated else random_token(48)
    cred = Credential(
        consumer_key_hash=key_digest(consumer_key),
        application_id=app.id,
        customer_id=customer_id,
        state=CredentialState.VALIDATED if validated else CredentialState.PENDING,
        rules=[r.as_dict() for r in parsed],
        allowed_ips=check_allowed_ips(allowed_ips),
        validation_token_hash=None if token is None else key_digest(token),
        redirection=redirection,
    )
    session.add(cred)
    session.flush()
    return Issued(cred, consumer_key, token)


def pending(session: Session, token: str) -> tuple[Credential, Application]:
    """The credential waiting for validation under ``token``, and its application; 404 otherwise."""
    cred = session.scalar(select(Credential).where(Credential.validation_token_hash == key_digest(token)))
    if cred is None or cred.state != CredentialState.PENDING:
        raise NotFound("credentialToken: unknown or already used")
    return cred, session.get_one(Application, cred.application_id)


def decide(
    db: Database, guard: PasswordGuard, token: str, *, accept: bool, nic: str, password: str, address: str | None
) -> tuple[str, str | None]:
    """The customer's answer on the validation page: ``(outcome, redirection)``.

    Refusing needs no login; accepting binds the key to the customer whose ``nic`` and
    ``password`` match (outcome ``BAD_LOGIN`` when they do not, and nothing changes). The
    password is checked by ``guard`` (limited per nic and client ``address``; 429 once locked out)."""
    if not accept:
        with db.session() as session:
            cred, _ = pending(session, token)
            cred.state, cred.validation_token_hash = CredentialState.REFUSED, None
            return CredentialState.REFUSED, cred.redirection
    with db.read() as session:
        pending(session, token)  # an unknown token costs no password check
        customer = session.execute(select(Customer.id, Customer.password_hash).where(Customer.nic == nic)).one_or_none()
    right = guard.check(nic, address, password, customer.password_hash if customer is not None else None)
    if customer is None or not right:
        return BAD_LOGIN, None
    with db.session() as session:
        cred, _ = pending(session, token)
        cred.state, cred.customer_id, cred.validation_token_hash = CredentialState.VALIDATED, customer.id, None
        return CredentialState.VALIDATED, cred.redirection


def expire(session: Session, credential_id: int) -> None:
    """Log out: the consumer key stops working."""
    session.get_one(Credential, credential_id).state = CredentialState.EXPIRED


def revoke(session: Session, consumer_key: str) -> int:
    """Revoke a consumer key (it stops working at once, in every process); returns its id."""
    cred = session.scalar(select(Credential).where(Credential.consumer_key_hash == key_digest(consumer_key)))
    if cred is None:
        raise NotFound("consumerKey: no such consumer key")
    cred.state = CredentialState.EXPIRED
    return cred.id


def credential_view(session: Session, credential_id: int) -> dict[str, Any]:
    """``api.Credential``."""
    cred = session.get_one(Credential, credential_id)
    return {
        "allowedIPs": cred.allowed_ips,
        "applicationId": cred.application_id,
        "creation": iso(cred.created_at),
        "credentialId": cred.id,
        "expiration": iso(cred.expires_at),
        "lastUse": iso(cred.last_used_at),
        "ovhSupport": False,
        "rules": cred.rules,
        "status": cred.state,
    }
