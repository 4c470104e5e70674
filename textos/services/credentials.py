"""Consumer keys: created by the operator, or asked for by an application and validated by
its customer on the validation page (``/auth/``); their OVH shape (``api.Credential``).

Every change to a credential is seen at once by the processes that keep keys in memory:
``storage.auth_version`` bumps a version in the same transaction (importing it installs that)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from textos.domain.access_rules import AccessRule, check_allowed_ips
from textos.domain.clock import iso, utcnow
from textos.domain.errors import BadRequest, NotFound
from textos.services.admin import get_application, get_customer, random_token
from textos.services.password_guard import PasswordGuard
from textos.storage import auth_version  # noqa: F401  (changes to credentials bump the auth version)
from textos.storage.at_rest import key_digest
from textos.storage.db import Database
from textos.storage.models import Application, Credential, Customer


log = logging.getLogger("textos.auth")

BAD_LOGIN = "badlogin"
"""Outcome of a validation whose nic or password is wrong."""


class CredentialState:
    """``auth.CredentialStateEnum``."""

    PENDING = "pendingValidation"
    VALIDATED = "validated"
    REFUSED = "refused"
    EXPIRED = "expired"

    ALL = (EXPIRED, PENDING, REFUSED, VALIDATED)

    DELETED = "deleted"
    """Textos's: deleted by its customer (``DELETE /me/api/...``). The row stays, never shown to
    customers nor accepted again, so that its id is never given to another key (SQLite reuses
    the highest id of a deleted row) and the operator still sees it (``textos credential list``)."""


APPLICATION_DELETED = "deleted"
"""Textos's ``status`` of an application its owner deleted: refused (``INVALID_KEY``), listed to nobody but the operator."""


VALIDITIES: dict[str, dt.timedelta | None] = {
    "1d": dt.timedelta(days=1),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
    "365d": dt.timedelta(days=365),
    "unlimited": None,
}
"""The validities the customer may give a key on the validation page (``expiration`` = validation + it)."""

VALIDITY_LABELS = {"1d": "1 day", "7d": "7 days", "30d": "30 days", "365d": "1 year", "unlimited": "Unlimited"}
DEFAULT_VALIDITY = "unlimited"


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
    if app.status == APPLICATION_DELETED:
        raise NotFound(f"app: application key {app_key!r} was deleted")
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
    db: Database,
    guard: PasswordGuard,
    token: str,
    *,
    accept: bool,
    nic: str,
    password: str,
    address: str | None,
    validity: str = DEFAULT_VALIDITY,
) -> tuple[str, str | None]:
    """The customer's answer on the validation page: ``(outcome, redirection)``.

    Refusing needs no login; accepting binds the key to the customer whose ``nic`` and
    ``password`` match (outcome ``BAD_LOGIN`` when they do not, and nothing changes), for
    ``validity`` (a key of ``VALIDITIES``: the key expires that long after it is accepted). The
    password is checked by ``guard`` (limited per nic and client ``address``; 429 once locked out)."""
    if validity not in VALIDITIES:
        raise BadRequest(f"validity: one of {', '.join(VALIDITIES)}")
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
        lasting = VALIDITIES[validity]
        cred.expires_at = None if lasting is None else utcnow() + lasting
        return CredentialState.VALIDATED, cred.redirection


def expire(session: Session, credential_id: int) -> None:
    """Log out: the consumer key stops working."""
    session.get_one(Credential, credential_id).state = CredentialState.EXPIRED


def revoke(session: Session, consumer_key: str) -> int:
    """Revoke a consumer key (it stops working at once, in every process); returns its id."""
    cred = session.scalar(select(Credential).where(Credential.consumer_key_hash == key_digest(consumer_key)))
    if cred is None:
        raise NotFound("consumerKey: no such consumer key")
    return _revoked(cred)


def _revoked(cred: Credential) -> int:
    if cred.state != CredentialState.DELETED:  # a deleted key stays deleted
        cred.state = CredentialState.EXPIRED
    return cred.id


def status_of(cred: Credential, now: dt.datetime | None = None) -> str:
    """``auth.CredentialStateEnum`` now: a validated key past its ``expiration`` is ``expired``."""
    if cred.state == CredentialState.VALIDATED and cred.expires_at is not None and cred.expires_at <= (now or utcnow()):
        return CredentialState.EXPIRED
    return cred.state


def _status_is(status: str, now: dt.datetime) -> Any:
    """The SQL condition of ``status_of(cred) == status``."""
    past = and_(Credential.expires_at.is_not(None), Credential.expires_at <= now)
    if status == CredentialState.VALIDATED:
        return and_(Credential.state == status, ~past)
    if status == CredentialState.EXPIRED:
        return or_(Credential.state == status, and_(Credential.state == CredentialState.VALIDATED, past))
    return Credential.state == status


def list_credentials(
    session: Session,
    *,
    customer_id: int | None = None,
    application_id: int | None = None,
    app_key: str | None = None,
    status: str | None = None,
    with_deleted: bool = False,
) -> list[Credential]:
    """Consumer keys, oldest first: a customer's (``None``: everybody's, for the operator), of one
    application (by id or key), in one ``status`` (as ``status_of`` gives it; else a 400 naming it).
    Deleted keys only ``with_deleted`` (the operator's list)."""
    statuses = (*CredentialState.ALL, CredentialState.DELETED) if with_deleted else CredentialState.ALL
    if status is not None and status not in statuses:
        raise BadRequest(f"status: one of {', '.join(statuses)}")
    query = select(Credential).order_by(Credential.id)
    if not with_deleted:
        query = query.where(Credential.state != CredentialState.DELETED)
    if customer_id is not None:
        query = query.where(Credential.customer_id == customer_id)
    if application_id is not None:
        query = query.where(Credential.application_id == application_id)
    if app_key is not None:
        query = query.where(Credential.application_id == get_application(session, app_key).id)
    if status is not None:
        query = query.where(_status_is(status, utcnow()))
    return list(session.scalars(query))


def customers_credential(session: Session, customer_id: int, credential_id: int) -> Credential:
    """One of the customer's consumer keys; 404 naming ``credentialId`` otherwise (another
    customer's key is not told apart from one that does not exist)."""
    cred = session.get(Credential, credential_id)
    if cred is None or cred.customer_id != customer_id or cred.state == CredentialState.DELETED:
        raise NotFound(f"credentialId: this credential does not exist ({credential_id})")
    return cred


def delete_credential(session: Session, customer_id: int, credential_id: int) -> None:
    """``DELETE /me/api/credential/{id}``: the key is gone (``DELETED``), refused from its next
    request on by every process (the change bumps the auth version, ``storage.auth_version``)."""
    _delete(customers_credential(session, customer_id, credential_id))
    session.flush()


def _delete(cred: Credential) -> None:
    cred.state, cred.validation_token_hash = CredentialState.DELETED, None


def set_allowed_ips(session: Session, customer_id: int, credential_id: int, allowed_ips: list[str] | None) -> None:
    """``PUT /me/api/credential/{id}``: the addresses the key may be used from (``None``: any);
    in force from the key's next request on, in every process (the update bumps the auth version)."""
    customers_credential(session, customer_id, credential_id).allowed_ips = check_allowed_ips(allowed_ips)
    session.flush()


def revoke_id(session: Session, credential_id: int) -> int:
    """``textos credential revoke --id``: as ``revoke``, the key named by its id."""
    cred = session.get(Credential, credential_id)
    if cred is None:
        raise NotFound(f"credentialId: no such consumer key ({credential_id})")
    return _revoked(cred)


def customers_applications(session: Session, customer_id: int) -> list[Application]:
    """The applications of a customer: those it owns and those holding one of its consumer keys."""
    query = select(Application).where(_customers(customer_id), Application.status != APPLICATION_DELETED)
    return list(session.scalars(query.order_by(Application.id)))


def _customers(customer_id: int) -> Any:
    """The SQL condition of an application of the customer's: owned, or holding one of its (not deleted) keys."""
    holding = select(Credential.application_id).where(Credential.customer_id == customer_id, Credential.state != CredentialState.DELETED)
    return or_(Application.customer_id == customer_id, Application.id.in_(holding))


def customers_application(session: Session, customer_id: int, application_id: int) -> Application:
    """One of ``customers_applications``; 404 naming ``applicationId`` otherwise."""
    query = select(Application).where(Application.id == application_id, _customers(customer_id), Application.status != APPLICATION_DELETED)
    app = session.scalar(query)
    if app is None:
        raise NotFound(f"applicationId: this application does not exist ({application_id})")
    return app


def delete_application(session: Session, customer_id: int, application_id: int) -> bool:
    """``DELETE /me/api/application/{id}``. The customer's own application is deleted with every
    consumer key it holds (whoever validated them); an application of someone else loses the
    customer's keys only, and leaves the customer's list. Either way what is deleted is refused
    from its next request on, in every process (changed through the ORM, not in bulk: each
    change bumps the auth version). True when the application itself went."""
    app = customers_application(session, customer_id, application_id)
    owned = app.customer_id == customer_id
    keys = select(Credential).where(Credential.application_id == app.id, Credential.state != CredentialState.DELETED)
    if not owned:
        keys = keys.where(Credential.customer_id == customer_id)
    for cred in session.scalars(keys).all():
        _delete(cred)
    if owned:
        app.status = APPLICATION_DELETED
    session.flush()
    return owned


def operator_views(
    session: Session, *, customer_id: int | None = None, app_key: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """``textos credential list``: ``api.Credential`` plus ``nic`` (none while pending or refused)
    and ``applicationKey``."""
    found = list_credentials(session, customer_id=customer_id, app_key=app_key, status=status, with_deleted=True)
    customer_ids = {c.customer_id for c in found if c.customer_id is not None}
    nics: dict[int | None, str] = dict(session.execute(select(Customer.id, Customer.nic).where(Customer.id.in_(customer_ids))).all())
    app_ids = {c.application_id for c in found}
    keys = dict(session.execute(select(Application.id, Application.app_key).where(Application.id.in_(app_ids))).all())
    return [{**view_of(c), "nic": nics.get(c.customer_id), "applicationKey": keys[c.application_id]} for c in found]


def application_of(session: Session, customer_id: int, credential_id: int) -> Application:
    """The application of one of the customer's consumer keys."""
    return session.get_one(Application, customers_credential(session, customer_id, credential_id).application_id)


def application_view(app: Application) -> dict[str, Any]:
    """``api.Application`` (``auth.ApiApplication``); the secret is never shown."""
    return {
        "applicationId": app.id,
        "applicationKey": app.app_key,
        "description": app.description,
        "name": app.name,
        "status": app.status,
    }


def credential_view(session: Session, credential_id: int) -> dict[str, Any]:
    """``api.Credential``."""
    cred = session.get_one(Credential, credential_id)
    return view_of(cred)


def view_of(cred: Credential) -> dict[str, Any]:
    """``api.Credential`` of a row."""
    return {
        "allowedIPs": cred.allowed_ips,
        "applicationId": cred.application_id,
        "creation": iso(cred.created_at),
        "credentialId": cred.id,
        "expiration": iso(cred.expires_at),
        "lastUse": iso(cred.last_used_at),
        "ovhSupport": False,
        "rules": cred.rules,
        "status": status_of(cred),
    }


LAST_USE_EVERY = 60.0
"""Seconds between two writes of one key's ``lastUse`` by one process: ``lastUse`` is that precise."""


class UseNotes:
    """When this process last wrote each key's ``lastUse`` (memory bounded: it starts over past ``most``)."""

    def __init__(self, every: float = LAST_USE_EVERY, most: int = 100_000) -> None:
        self.every, self.most = every, most
        self._written: dict[int, float] = {}

    def due(self, credential_id: int, now: float) -> bool:
        """True (and noted) when the key's use should be written now (``now``: a monotonic clock)."""
        last = self._written.get(credential_id)
        if last is not None and now - last < self.every:
            return False
        if len(self._written) >= self.most:
            self._written.clear()
        self._written[credential_id] = now
        return True


def note_use(db: Database, credential_id: int, moment: dt.datetime | None = None) -> None:
    """Write a key's ``lastUse``. A bulk UPDATE, not through the ORM's unit of work: it fires no
    mapper event, so it does not bump the auth version (every process keeps its keys in memory).
    Best effort: a failure is logged and forgotten."""
    statement = update(Credential).where(Credential.id == credential_id).values(last_used_at=moment or utcnow())
    try:
        with db.session() as session:
            session.execute(statement.execution_options(synchronize_session=False))
    except Exception as exc:  # noqa: BLE001 - lastUse is informative; the call it notes already succeeded
        log.debug("lastUse of key #%d not written: %s", credential_id, exc)
