"""The account and what explains it, with the official client: ``GET/PUT /sms/{s}``,
``/serviceInfos``, ``/auth/details``, ``/sms/ptts``."""

from __future__ import annotations

import ovh
import pytest


def test_an_account_is_read_described_and_its_service_infos_shown(tenant):
    c, svc = tenant.client, f"/sms/{tenant.service}"
    account = c.get(svc)
    assert (account["name"], account["creditsLeft"], account["status"], account["smpp"]) == (tenant.service, 100.0, "enable", False)
    c.put(svc, description="shop alerts", templates={"customizedSmsMode": True})
    account = c.get(svc)
    assert account["description"] == "shop alerts" and account["templates"]["customizedSmsMode"] is True
    infos = c.get(f"{svc}/serviceInfos")
    assert (infos["domain"], infos["contactAdmin"], infos["status"]) == (tenant.service, tenant.nic, "ok")
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        c.get("/sms/sms-nosuch-1/serviceInfos")


def test_auth_details_name_the_caller_and_its_rules(tenant):
    details = tenant.client.get("/auth/details")
    assert details["account"] == tenant.nic and details["method"] == "account"
    assert {"method": "GET", "path": "/*"} in details["allowedRoutes"]


def test_ptt_codes_are_explained(tenant):
    delivered = tenant.client.get("/sms/ptts", ptt=4)  # sms.PttDetails
    assert set(delivered) == {"comment", "description", "duration"} and delivered["description"] == "Delivered"
    assert tenant.client.get("/sms/ptts", ptt=6)["duration"] in ("indeterminated", "permanent", "temporary")
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        tenant.client.get("/sms/ptts", ptt=12345)
