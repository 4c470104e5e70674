"""The dashboard in a real browser (Debian's Chromium, headless, a phone-sized viewport): a customer
logs in (a wrong password is refused first), sees their account's credits and ledger, finds the
campaign by its tag and the live queue, the callbacks that failed against a dead receiver, replays one (it is delivered), and a form whose
CSRF token was tampered with is refused and changes nothing. Screenshots of each step go to
the test's ``tmp_path``.

This module runs its own servers with fast callback retries (events fail after 4 s), like
test_callback_delivery.py."""

from __future__ import annotations

from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from browser import INSTALL_TIMEOUT, PHONE
from callback_sink import CallbackSink
from helpers import BACKENDS, Server, start_server, stop_server, wait_until

FAST_RETRIES = {"TEXTOS_CALLBACK_BACKOFF": "0.2", "TEXTOS_CALLBACK_BACKOFF_MAX": "0.4", "TEXTOS_CALLBACK_MAX_AGE": "4"}


@pytest.fixture(scope="module", params=BACKENDS)
def fast(request, make_database, tmp_path_factory) -> Iterator[Server]:
    srv = start_server(make_database(request.param), tmp_path_factory.mktemp("dash"), request.param, extra_env=FAST_RETRIES)
    yield srv
    stop_server(srv)


def log_in(page: Page, srv: Server, nic: str, password: str) -> None:
    page.goto(f"{srv.endpoint.removesuffix('/1.0')}/dashboard/")
    expect(page.locator("h1")).to_have_text("Log in")
    page.get_by_label("Login").fill(nic)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def fits_the_screen(page: Page) -> bool:
    """Nothing wider than the viewport (wide tables scroll inside their own box)."""
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.timeout(INSTALL_TIMEOUT + 120)
def test_a_customer_logs_in_sees_credits_and_replays_a_failed_callback(fast: Server, browser: Browser, tmp_path):
    tenant = fast.tenant(credits=50)
    base = f"/sms/{tenant.service}/callbacks"
    with CallbackSink() as sink:
        sink.answer = lambda request: 503
        tenant.client.put(f"/sms/{tenant.service}", callBack=sink.url("/dead"))
        tenant.client.post(f"/sms/{tenant.service}/jobs", message="dashboard", noStopClause=True, receivers=["+33612345678"], tag="spring-sale")
        failed = wait_until(lambda: len(tenant.client.get(base, status="failed")) == 2 and tenant.client.get(base, status="failed"),
                            timeout=30, what="both events failed")
        credits = tenant.credits()

        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        log_in(page, fast, tenant.nic, "not-the-password")
        expect(page.get_by_role("alert")).to_have_text("Wrong login or password.")
        assert not [c for c in context.cookies() if c["name"] == "textos_session"]
        page.screenshot(path=tmp_path / "1-wrong-password.png", full_page=True)

        page.get_by_label("Login").fill(tenant.nic)
        page.get_by_label("Password").fill("secret-password")
        page.get_by_role("button", name="Log in").click()
        row = page.locator(f"#accounts tr[data-service='{tenant.service}']")
        expect(row.locator(".credits")).to_have_text(f"{credits:.2f}")
        assert fits_the_screen(page)
        page.screenshot(path=tmp_path / "2-accounts.png", full_page=True)
        (cookie,) = [c for c in context.cookies() if c["name"] == "textos_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/dashboard"

        row.get_by_role("link", name=tenant.service).click()
        expect(page.locator("#credits")).to_have_text(f"{credits:.2f}")
        expect(page.locator("#ledger tbody tr")).to_have_count(2)  # the first credits, then the message
        page.screenshot(path=tmp_path / "3-ledger.png", full_page=True)

        page.get_by_role("link", name="Campaigns").click()
        expect(page.locator("#campaigns tbody tr td").nth(1)).to_have_text("spring-sale")
        expect(page.locator("#campaigns tbody tr td").nth(2)).to_have_text("1")
        page.get_by_role("link", name="Queue").click()
        expect(page.locator("#queued")).to_have_text("0")
        expect(page.locator("#queue-chart")).to_be_visible()
        assert page.locator("meta[http-equiv=refresh]").get_attribute("content") == "5"

        page.get_by_role("link", name="Callbacks").click()
        page.get_by_role("link", name="failed").click()
        expect(page.locator("#callbacks tbody tr")).to_have_count(2)
        assert fits_the_screen(page)

        target = page.locator(f"#callbacks tr[data-id='{failed[-1]}']")
        target.locator("input[name=csrf]").evaluate("input => { input.value = 'forged' }")
        target.get_by_role("button", name="Replay").click()
        expect(page.locator("#refusal")).to_contain_text("CSRF")
        page.screenshot(path=tmp_path / "4-forged-csrf-refused.png", full_page=True)
        assert sorted(tenant.client.get(base, status="failed")) == sorted(failed)

        sink.answer = lambda request: 200
        page.goto(f"{fast.endpoint.removesuffix('/1.0')}/dashboard/callbacks?status=failed")
        page.locator(f"#callbacks tr[data-id='{failed[-1]}']").get_by_role("button", name="Replay").click()
        wait_until(lambda: tenant.client.get(base, status="delivered") == [failed[-1]], what="the replayed event delivered")
        page.goto(f"{fast.endpoint.removesuffix('/1.0')}/dashboard/callbacks")
        expect(page.locator(f"#callbacks tr[data-id='{failed[-1]}'] .status")).to_have_text("delivered")
        page.screenshot(path=tmp_path / "5-replayed.png", full_page=True)

        page.get_by_role("button", name="Log out").click()
        expect(page.locator("h1")).to_have_text("Log in")
        context.add_cookies([{**cookie}])  # the cookie of the ended session, put back
        page.goto(f"{fast.endpoint.removesuffix('/1.0')}/dashboard/accounts")
        expect(page.locator("h1")).to_have_text("Log in")
        context.close()
    assert len(list(tmp_path.glob("*.png"))) == 5
