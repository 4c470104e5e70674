"""Consumer keys: made valid by the operator, or asked for by an application and validated by the customer."""

from __future__ import annotations

import pytest

from textos.config import Settings
from textos.domain.access_rules import RuleError
from textos.domain.errors import BadRequest, NotFound, TooManyRequests
from textos.services import admin, credentials
from textos.services.password_guard import PasswordGuard, PasswordLimits

LIMITS = PasswordLimits.of(Settings())


@pytest.fixture
def app_key(db):
    with db.session() as s:
        admin.create_customer(s, "ab12345-keys", "secret")
        return admin.create_application(s, "crm").app_key


def test_operator_keys_are_validated_for_a_customer(db, app_key):
    with db.session() as s:
        issued = credentials.create_credential(s, app_key, "ab12345-keys", ["GET /sms/*", {"method": "POST", "path": "/sms/*/jobs"}])
        cred = issued.credential
        assert cred.state == "validated" and issued.validation_token is None and cred.validation_token_hash is None
        assert cred.rules == [{"method": "GET", "path": "/sms/*"}, {"method": "POST", "path": "/sms/*/jobs"}]
        with pytest.raises(BadRequest, match="^nic: "):
            credentials.create_credential(s, app_key, None, ["GET /*"])
        with pytest.raises(BadRequest, match="^accessRules: "):
            credentials.create_credential(s, app_key, "ab12345-keys", [])
        with pytest.raises(RuleError):
            credentials.create_credential(s, app_key, "ab12345-keys", ["FETCH /*"])


def decide(db, token, **answer):
    guard = PasswordGuard(db, LIMITS)
    return credentials.decide(db, guard, token, **{"nic": "", "password": "", "address": "192.0.2.1", **answer})
def test_keys_are_refused_with_rules_or_allowed_ips_that_mean_nothing(db, app_key):
    with db.session() as s:
        with pytest.raises(BadRequest, match="^accessRules: path 'sms/[*]' must start with '/'$"):
            credentials.create_credential(s, app_key, None, [{"method": "GET", "path": "sms/*"}], validated=False)
        with pytest.raises(BadRequest, match="^allowedIPs: 'not-an-ip' "):
            credentials.create_credential(s, app_key, None, ["GET /*"], validated=False, allowed_ips=["not-an-ip"])
        cred = credentials.create_credential(s, app_key, "ab12345-keys", ["GET /*"], allowed_ips=["192.0.2.0/24"])
        assert cred.credential.allowed_ips == ["192.0.2.0/24"]


def test_a_requested_key_is_validated_by_its_customer_once(db, app_key):
    with db.session() as s:
        issued = credentials.create_credential(s, app_key, None, ["GET /*"], validated=False, redirection="https://crm.example.com/ok")
        token, cred_id = issued.validation_token, issued.credential.id
    with db.read() as s:
        assert credentials.pending(s, token)[1].app_key == app_key
    assert decide(db, token, accept=True, nic="ab12345-keys", password="wrong") == (credentials.BAD_LOGIN, None)
    assert decide(db, token, accept=True, nic="nobody", password="secret") == (credentials.BAD_LOGIN, None)
    assert decide(db, token, accept=True, nic="ab12345-keys", password="secret") == ("validated", "https://crm.example.com/ok")
    with pytest.raises(NotFound, match="^credentialToken: "):
        decide(db, token, accept=False)
    with pytest.raises(NotFound, match="^credentialToken: "):
        decide(db, token, accept=True, nic="ab12345-keys", password="secret")
    with db.session() as s:
        view = credentials.credential_view(s, cred_id)
        assert (view["status"], view["rules"]) == ("validated", [{"method": "GET", "path": "/*"}])
        credentials.expire(s, cred_id)
        assert credentials.credential_view(s, cred_id)["status"] == "expired"


def test_the_validation_password_is_checked_by_the_guard(db, app_key):
    with db.session() as s:
        token = credentials.create_credential(s, app_key, None, ["GET /*"], validated=False).validation_token
    for _ in range(LIMITS.name_failures):
        assert decide(db, token, accept=True, nic="ab12345-keys", password="wrong") == (credentials.BAD_LOGIN, None)
    with pytest.raises(TooManyRequests):
        decide(db, token, accept=True, nic="ab12345-keys", password="secret")
    with db.read() as s:
        assert credentials.pending(s, token)[0].state == "pendingValidation"


def test_a_refused_key_never_works(db, app_key):
    with db.session() as s:
        token = credentials.create_credential(s, app_key, None, ["GET /*"], validated=False).validation_token
    assert decide(db, token, accept=False) == ("refused", None)
    with pytest.raises(NotFound), db.read() as s:
        credentials.pending(s, token)
