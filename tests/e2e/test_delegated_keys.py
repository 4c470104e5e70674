"""Delegated keys people manage with the official client: ``/me/api/application``,
``/me/api/credential`` and ``/auth/currentCredential``, and ``textos credential list``."""

from __future__ import annotations

import datetime as dt

import ovh
import pytest

from helpers import wait_until


def test_a_customer_lists_reads_and_deletes_its_keys_and_the_deleted_key_is_refused_at_once(server, tenant):
    me = tenant.client.get("/auth/currentCredential")
    assert me["status"] == "validated" and me["expiration"] is None and me["ovhSupport"] is False
    assert {"method": "DELETE", "path": "/*"} in me["rules"]
    second = server.cli("credential", "create", "--app", tenant.app_key, "--nic", tenant.nic, "--rule", "GET /sms/*")["consumerKey"]
    scoped = server.client(tenant.app_key, tenant.app_secret, second)
    scoped_id = server.cli("credential", "list", "--nic", tenant.nic)[-1]["credentialId"]
    other = server.tenant()  # another customer's keys and applications stay out of sight

    assert tenant.client.get("/me/api/credential") == [me["credentialId"], scoped_id]
    assert tenant.client.get("/me/api/credential", applicationId=me["applicationId"], status="validated") == [me["credentialId"], scoped_id]
    assert tenant.client.get("/me/api/credential", status="expired") == []
    assert tenant.client.get("/me/api/credential", applicationId=me["applicationId"] + 10_000) == []
    with pytest.raises(ovh.exceptions.BadParametersError, match="status"):
        tenant.client.get("/me/api/credential", status="revoked")
    one = tenant.client.get(f"/me/api/credential/{scoped_id}")
    assert one["rules"] == [{"method": "GET", "path": "/sms/*"}] and one["applicationId"] == me["applicationId"]
    application = tenant.client.get(f"/me/api/credential/{scoped_id}/application")
    assert application == {"applicationId": me["applicationId"], "applicationKey": tenant.app_key, "description": "",
                           "name": f"app of {tenant.nic}", "status": "active"}
    assert tenant.client.get("/me/api/application") == [me["applicationId"]]
    assert tenant.client.get(f"/me/api/application/{me['applicationId']}") == application
    other_id = other.client.get("/auth/currentCredential")["credentialId"]
    with pytest.raises(ovh.exceptions.ResourceNotFoundError, match="credentialId"):
        tenant.client.get(f"/me/api/credential/{other_id}")
    with pytest.raises(ovh.exceptions.ResourceNotFoundError, match="credentialId"):
        tenant.client.delete(f"/me/api/credential/{other_id}")
    with pytest.raises(ovh.exceptions.ResourceNotFoundError, match="applicationId"):
        tenant.client.get(f"/me/api/application/{other.client.get('/auth/currentCredential')['applicationId']}")

    assert tenant.client.get(f"/me/api/credential/{scoped_id}")["lastUse"] is None
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    assert scoped.get(f"/sms/{tenant.service}")["name"] == tenant.service
    used = wait_until(lambda: tenant.client.get(f"/me/api/credential/{scoped_id}")["lastUse"], what="lastUse written")
    assert before <= dt.datetime.fromisoformat(used) <= dt.datetime.now(dt.timezone.utc)
    with pytest.raises(ovh.exceptions.NotGrantedCall):  # a key limited to /sms/* cannot manage keys
        scoped.get("/me/api/credential")
    tenant.client.delete(f"/me/api/credential/{scoped_id}")
    with pytest.raises(ovh.exceptions.InvalidCredential):
        scoped.get(f"/sms/{tenant.service}")
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        tenant.client.get(f"/me/api/credential/{scoped_id}")
    assert tenant.client.get("/me/api/credential") == [me["credentialId"]]
    assert other.client.get("/auth/currentCredential")["status"] == "validated"


def test_deleting_an_application_deletes_its_keys_at_once(server, tenant):
    app_id = tenant.client.get("/auth/currentCredential")["applicationId"]
    spare = server.cli("credential", "create", "--app", tenant.app_key, "--nic", tenant.nic, "--rule", "GET /*")["consumerKey"]
    watcher = server.client(tenant.app_key, tenant.app_secret, spare)
    assert watcher.get("/me/api/application") == [app_id]
    tenant.client.delete(f"/me/api/application/{app_id}")
    for client in (tenant.client, watcher):
        with pytest.raises(ovh.exceptions.InvalidKey):  # the application itself is gone
            client.get("/auth/currentCredential")


def test_a_customer_limits_where_a_key_may_be_used_from(server, tenant):
    spare = server.cli("credential", "create", "--app", tenant.app_key, "--nic", tenant.nic, "--rule", "GET /*")["consumerKey"]
    limited = server.client(tenant.app_key, tenant.app_secret, spare)
    spare_id = limited.get("/auth/currentCredential")["credentialId"]
    tenant.client.put(f"/me/api/credential/{spare_id}", allowedIPs=["192.0.2.0/24"])  # not loopback: refused from here
    with pytest.raises(ovh.exceptions.NotGrantedCall):
        limited.get("/auth/currentCredential")
    assert tenant.client.get(f"/me/api/credential/{spare_id}")["allowedIPs"] == ["192.0.2.0/24"]
    with pytest.raises(ovh.exceptions.BadParametersError, match="allowedIPs"):
        tenant.client.put(f"/me/api/credential/{spare_id}", allowedIPs=["not-an-ip"])
    tenant.client.put(f"/me/api/credential/{spare_id}", allowedIPs=["127.0.0.1/32"])
    assert limited.get("/auth/currentCredential")["allowedIPs"] == ["127.0.0.1/32"]
    tenant.client.put(f"/me/api/credential/{spare_id}", allowedIPs=None)
    assert limited.get("/auth/currentCredential")["allowedIPs"] is None


def test_the_operator_lists_keys_with_filters(server, tenant):
    pending = server.client(tenant.app_key, tenant.app_secret, None).request_consumerkey([{"method": "GET", "path": "/sms"}])
    assert pending["state"] == "pendingValidation"
    mine = server.cli("credential", "list", "--nic", tenant.nic)
    assert [(c["nic"], c["applicationKey"], c["status"]) for c in mine] == [(tenant.nic, tenant.app_key, "validated")]
    of_app = server.cli("credential", "list", "--app", tenant.app_key)
    assert [c["status"] for c in of_app] == ["validated", "pendingValidation"] and of_app[1]["nic"] is None
    assert [c["credentialId"] for c in server.cli("credential", "list", "--app", tenant.app_key, "--status", "pendingValidation")] == [
        of_app[1]["credentialId"]]
    server.cli("credential", "revoke", "--id", str(mine[0]["credentialId"]))
    assert [c["status"] for c in server.cli("credential", "list", "--nic", tenant.nic)] == ["expired"]
    with pytest.raises(ovh.exceptions.InvalidCredential):
        tenant.client.get("/auth/currentCredential")
    assert "status: one of" in server.cli_fails("credential", "list", "--status", "revoked")
    assert "no such consumer key" in server.cli_fails("credential", "revoke", "--id", "999999999")
    assert "one of them" in server.cli_fails("credential", "revoke")
