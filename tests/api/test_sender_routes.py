"""``/sms/{serviceName}/senders`` with the official client, and the operator's side in the CLI:
one sender service behind both (SQLite and PostgreSQL)."""

from __future__ import annotations

import ovh
import pytest


def send(tenant, sender):
    return tenant.client.post(f"/sms/{tenant.service}/jobs", message="hi", receivers=["+33612345678"], sender=sender, noStopClause=True)


def forbidden(call, *args, **kwargs):
    """The message of a 403 refusal."""
    with pytest.raises(ovh.exceptions.APIError) as caught:
        call(*args, **kwargs)
    assert caught.value.response.status_code == 403
    return caught.value.response.json()["message"]


def test_ask_validate_use_disable_delete(server, tenant):
    c, senders = tenant.client, f"/sms/{tenant.service}/senders"
    assert c.post(senders, sender="Shop", description="our shop") == "Shop"
    assert c.get(senders) == ["Shop"]
    assert c.get(f"{senders}/Shop") == {"comment": None, "description": "our shop", "referer": "custom", "sender": "Shop",
                                        "status": "waitingValidation", "type": "alpha", "validationMedia": None}
    assert forbidden(send, tenant, "Shop") == "sender: 'Shop' is waitingValidation, not enabled"
    assert "validation is done by the operator" in forbidden(c.put, f"{senders}/Shop", status="enable")
    assert server.cli("sender", "validate", "--service", tenant.service, "--sender", "Shop")["status"] == "enable"
    assert len(send(tenant, "Shop")["ids"]) == 1
    c.put(f"{senders}/Shop", status="disable")
    assert forbidden(send, tenant, "Shop") == "sender: 'Shop' is disable, not enabled"
    c.delete(f"{senders}/Shop")
    assert c.get(senders) == []
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        c.get(f"{senders}/Shop")


def test_refusals_name_the_field(server, tenant):
    c, senders = tenant.client, f"/sms/{tenant.service}/senders"
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        c.post(senders, sender="Much too long a name")
    assert caught.value.response.json()["message"].startswith("sender: ")
    c.post(senders, sender="+33612345678")
    with pytest.raises(ovh.exceptions.ResourceConflictError):
        c.post(senders, sender="+33612345678")
    refused = server.cli("sender", "validate", "--service", tenant.service, "--sender", "+33612345678", "--refuse", "not yours")
    assert refused["status"] == "refused" and c.get(f"{senders}/+33612345678")["comment"] == "not yours"


def test_operator_registers_enabled_senders(server, tenant):
    assert server.cli("sender", "add", "--service", tenant.service, "--sender", "Clinic")["status"] == "enable"
    assert len(send(tenant, "Clinic")["ids"]) == 1
    assert "sender: 'Much too long a name'" in server.cli_fails("sender", "add", "--service", tenant.service, "--sender", "Much too long a name")
    assert "not registered" in server.cli_fails("sender", "validate", "--service", tenant.service, "--sender", "Nobody")
