"""The validation page in a real browser: an application asks for a key with the official client,
its customer opens the validation URL in headless Chromium (Debian's ``chromium``, driven by
Playwright), logs in, chooses a validity and accepts (or refuses); the key works, is deleted
through ``DELETE /me/api/credential/{id}`` and is refused on its next call.

Chromium comes from the project's own set-up (the ``chromium`` and ``browser`` fixtures of
tests/e2e/conftest.py, on tests/browser.py). Playwright never downloads a browser of its own.
Screenshots of each step are saved in the test's ``tmp_path``."""

from __future__ import annotations

import datetime as dt

import ovh
import pytest
from playwright.sync_api import expect

from browser import INSTALL_TIMEOUT


@pytest.mark.timeout(INSTALL_TIMEOUT + 120)
def test_a_key_validated_in_the_browser_is_used_then_deleted_and_refused(server, tenant, browser, tmp_path):
    app = server.client(tenant.app_key, tenant.app_secret, None)
    asked = app.request_consumerkey(
        [{"method": "GET", "path": f"/sms/{tenant.service}"}, {"method": "GET", "path": "/auth/currentCredential"}],
        allowedIPs=["127.0.0.0/8"],
    )
    assert asked["state"] == "pendingValidation"
    with pytest.raises(ovh.exceptions.InvalidCredential):
        app.get(f"/sms/{tenant.service}")

    page = browser.new_page()
    page.goto(asked["validationUrl"])
    expect(page.locator("h1")).to_have_text(f"Authorise “app of {tenant.nic}”")
    expect(page.locator("#rules li")).to_have_text([f"GET /sms/{tenant.service}", "GET /auth/currentCredential"])
    expect(page.get_by_text("Only from these addresses")).to_contain_text("127.0.0.0/8")
    assert page.locator("select[name=validity] option").all_inner_texts() == ["1 day", "7 days", "30 days", "1 year", "Unlimited"]
    page.screenshot(path=tmp_path / "1-validation-page.png", full_page=True)

    page.get_by_label("Account (nic)").fill(tenant.nic)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Authorise").click()
    expect(page.locator(".error")).to_have_text("Wrong account or password.")
    page.screenshot(path=tmp_path / "2-wrong-password.png", full_page=True)
    with pytest.raises(ovh.exceptions.InvalidCredential):
        app.get(f"/sms/{tenant.service}")

    page.get_by_label("Account (nic)").fill(tenant.nic)
    page.get_by_label("Password").fill("secret-password")
    page.get_by_label("Validity").select_option(label="1 day")
    accepted_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    page.get_by_role("button", name="Authorise").click()
    expect(page.locator("#outcome")).to_have_text("Access validated. You can close this page.")
    page.screenshot(path=tmp_path / "3-accepted.png", full_page=True)

    assert app.get(f"/sms/{tenant.service}")["name"] == tenant.service
    mine = app.get("/auth/currentCredential")
    assert mine["status"] == "validated" and mine["allowedIPs"] == ["127.0.0.0/8"]
    expiration = dt.datetime.fromisoformat(mine["expiration"])
    assert accepted_at + dt.timedelta(days=1) <= expiration <= accepted_at + dt.timedelta(days=1, seconds=30)
    with pytest.raises(ovh.exceptions.NotGrantedCall):
        app.get(f"/sms/{tenant.service}/outgoing")
    assert mine["credentialId"] in tenant.client.get("/me/api/credential", status="validated")

    tenant.client.delete(f"/me/api/credential/{mine['credentialId']}")
    with pytest.raises(ovh.exceptions.InvalidCredential):
        app.get(f"/sms/{tenant.service}")
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["1-validation-page.png", "2-wrong-password.png", "3-accepted.png"]


@pytest.mark.timeout(INSTALL_TIMEOUT + 120)
def test_a_key_refused_in_the_browser_never_works_and_the_customer_goes_where_the_application_said(server, tenant, browser, tmp_path):
    app = server.client(tenant.app_key, tenant.app_secret, None)
    back = f"{server.endpoint}/auth/time"  # any page of the application's; this one is on the test's server
    asked = app.request_consumerkey([{"method": "GET", "path": "/sms"}], redirect_url=back)
    page = browser.new_page()
    page.goto(asked["validationUrl"])
    expect(page.locator("#redirection")).to_have_text(f"Then you go to {back}")
    page.get_by_role("button", name="Refuse").click()  # no login needed to refuse
    page.wait_for_url(back)
    assert abs(int(page.locator("body").inner_text()) - int(dt.datetime.now().timestamp())) < 30
    page.screenshot(path=tmp_path / "refused.png", full_page=True)
    with pytest.raises(ovh.exceptions.InvalidCredential):
        app.get("/sms")
    assert server.cli("credential", "list", "--app", tenant.app_key, "--status", "refused")[0]["nic"] is None
