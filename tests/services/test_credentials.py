"""Consumer keys: made valid by the operator, or asked for by an application and validated by the customer."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from textos.config import Settings
from textos.domain.access_rules import RuleError
from textos.domain.clock import iso, utcnow
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


def test_the_customer_chooses_how_long_a_key_lasts_and_an_outlived_one_reads_expired(db, app_key):
    with db.session() as s:
        day = credentials.create_credential(s, app_key, None, ["GET /*"], validated=False).validation_token
        forever = credentials.create_credential(s, app_key, None, ["GET /*"], validated=False).validation_token
        odd = credentials.create_credential(s, app_key, None, ["GET /*"], validated=False).validation_token
    with pytest.raises(BadRequest, match="^validity: "):
        decide(db, odd, accept=True, nic="ab12345-keys", password="secret", validity="2d")
    before = utcnow()
    decide(db, day, accept=True, nic="ab12345-keys", password="secret", validity="1d")
    decide(db, forever, accept=True, nic="ab12345-keys", password="secret", validity="unlimited")
    with db.session() as s:
        customer = admin.get_customer(s, "ab12345-keys").id
        one_day, unlimited = credentials.list_credentials(s, customer_id=customer)
        assert before + dt.timedelta(days=1) <= one_day.expires_at <= utcnow() + dt.timedelta(days=1)
        assert unlimited.expires_at is None and credentials.view_of(unlimited)["expiration"] is None
        assert credentials.view_of(one_day)["status"] == "validated"
        one_day.expires_at = utcnow() - dt.timedelta(seconds=1)
        s.flush()
        assert credentials.view_of(one_day)["status"] == "expired"
        assert [c.id for c in credentials.list_credentials(s, customer_id=customer, status="expired")] == [one_day.id]
        assert [c.id for c in credentials.list_credentials(s, customer_id=customer, status="validated")] == [unlimited.id]
        with pytest.raises(BadRequest, match="^status: "):
            credentials.list_credentials(s, customer_id=customer, status="revoked")


def test_a_customer_sees_and_deletes_only_its_own_keys_and_applications(db, app_key):
    with db.session() as s:
        admin.create_customer(s, "cd67890-keys", "secret")
        mine = admin.create_application(s, "mine", "my own", "ab12345-keys").app_key
        theirs = admin.create_application(s, "theirs", "", "cd67890-keys").app_key
        me, other = admin.get_customer(s, "ab12345-keys").id, admin.get_customer(s, "cd67890-keys").id
        on_mine = credentials.create_credential(s, mine, "ab12345-keys", ["GET /*"]).credential.id
        on_theirs = credentials.create_credential(s, theirs, "ab12345-keys", ["GET /*"]).credential.id
        their_own = credentials.create_credential(s, theirs, "cd67890-keys", ["GET /*"]).credential.id
        their_on_mine = credentials.create_credential(s, mine, "cd67890-keys", ["GET /*"]).credential.id
        mine_id, theirs_id = (admin.get_application(s, k).id for k in (mine, theirs))
    with db.session() as s:
        assert [a.app_key for a in credentials.customers_applications(s, me)] == [mine, theirs]
        assert credentials.application_view(credentials.customers_application(s, me, mine_id)) == {
            "applicationId": mine_id, "applicationKey": mine, "description": "my own", "name": "mine", "status": "active",
        }
        assert [c.id for c in credentials.list_credentials(s, customer_id=me)] == [on_mine, on_theirs]
        assert [c.id for c in credentials.list_credentials(s, customer_id=me, application_id=theirs_id)] == [on_theirs]
        with pytest.raises(NotFound, match="^credentialId: "):
            credentials.customers_credential(s, me, their_own)
        with pytest.raises(NotFound, match="^credentialId: "):
            credentials.delete_credential(s, me, their_own)
        assert credentials.application_of(s, me, on_theirs).app_key == theirs
    with db.session() as s:  # someone else's application: only my keys on it go, and it leaves my list
        assert credentials.delete_application(s, me, theirs_id) is False
    with db.session() as s:
        assert [a.app_key for a in credentials.customers_applications(s, me)] == [mine]
        assert {c.id for c in credentials.list_credentials(s)} == {on_mine, their_own, their_on_mine}
    with db.session() as s:  # my own application goes, with every key it held, whoever validated them
        assert credentials.delete_application(s, me, mine_id) is True
    with db.session() as s:
        assert credentials.customers_applications(s, me) == []
        assert [c.id for c in credentials.list_credentials(s)] == [their_own]
        assert [a.app_key for a in credentials.customers_applications(s, other)] == [theirs]
        with pytest.raises(NotFound, match="^applicationId: "):
            credentials.customers_application(s, me, theirs_id)


def test_last_use_is_written_at_most_once_a_minute_a_key_and_keeps_every_cache(db, app_key):
    notes = credentials.UseNotes(every=60, most=2)
    assert notes.due(1, 1000.0) and not notes.due(1, 1059.9) and notes.due(1, 1060.0)
    assert notes.due(2, 1000.0) and notes.due(3, 1000.0)  # past ``most`` it starts over: memory stays bounded
    assert notes.due(1, 1061.0)
    with db.session() as s:
        cred_id = credentials.create_credential(s, app_key, "ab12345-keys", ["GET /*"]).credential.id
    with db.read() as s:
        version = s.execute(text("SELECT version FROM auth_version")).scalar_one()
    moment = utcnow().replace(microsecond=0)
    credentials.note_use(db, cred_id, moment)
    with db.read() as s:
        assert credentials.credential_view(s, cred_id)["lastUse"] == iso(moment)
        assert s.execute(text("SELECT version FROM auth_version")).scalar_one() == version  # no key forgotten anywhere


def test_a_deleted_key_or_application_keeps_its_id_to_itself(db, app_key):
    with db.session() as s:
        me = admin.get_customer(s, "ab12345-keys").id
        mine = admin.create_application(s, "mine", "", "ab12345-keys").app_key
        newest = credentials.create_credential(s, mine, "ab12345-keys", ["GET /*"]).credential
        newest_id, app_id = newest.id, newest.application_id
    with db.session() as s:
        credentials.delete_credential(s, me, newest_id)
    with db.session() as s:
        assert credentials.create_credential(s, mine, "ab12345-keys", ["GET /*"]).credential.id > newest_id
        credentials.delete_application(s, me, app_id)
    with db.session() as s:
        assert admin.get_application(s, admin.create_application(s, "next").app_key).id > app_id
        assert [v["status"] for v in credentials.operator_views(s, app_key=mine)] == ["deleted", "deleted"]
        assert credentials.list_credentials(s, customer_id=me) == []
        with pytest.raises(BadRequest, match="^status: "):
            credentials.list_credentials(s, customer_id=me, status="deleted")
        with pytest.raises(NotFound, match="^app: .* was deleted$"):
            credentials.create_credential(s, mine, "ab12345-keys", ["GET /*"])
        first = credentials.list_credentials(s, app_key=mine, with_deleted=True)[0]
        assert (credentials.revoke_id(s, first.id), first.state) == (first.id, "deleted")  # a deleted key stays deleted
