"""The dashboard in a real browser (Debian's Chromium, headless, a phone-sized viewport): a customer
sends a tagged campaign through the server and its simulator with scripted outcomes (three
handsets deliver, ``+336990…`` is undeliverable, ``+336992…`` expires in the network, ``+336991…``
is refused at submit), one handset answers STOP to the clause's number and another replies
(``textos mo``, the simulator's incoming path over SMPP); the customer logs in (a wrong password is
refused first), sees their account's credits and ledger, opens the campaign and reads its numbers
and its four charts' values against what was scripted, sees the live queue, the callbacks that
failed against a dead receiver, replays one (it is delivered), and a form whose CSRF token was
tampered with is refused and changes nothing. Screenshots of each step go to the test's ``tmp_path``.

This module runs its own servers with fast callback retries (events fail after 4 s), like
test_callback_delivery.py."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from browser import INSTALL_TIMEOUT, PHONE
from callback_sink import CallbackSink
from helpers import BACKENDS, Server, Tenant, start_server, stop_server, wait_until
from textos.cli.main import app as cli_app

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


def number(prefix: str) -> str:
    """A random mobile number of ``prefix`` (``+3361``: plain, delivered; ``+33699x``: scripted by the server's simulator)."""
    return prefix + "".join(str(secrets.randbelow(10)) for _ in range(12 - len(prefix)))


def handset_sends(srv: Server, sender: str, text: str, *to: str) -> None:
    """``textos mo``: ``sender``'s handset sends ``text`` to ``to`` (or answers the last message it received)."""
    where = ["--receiver", to[0]] if to else ["--reply-to-last"]
    result = srv.runner.invoke(cli_app, ["mo", "--sender", sender, "--text", text, *where, "--url", f"http://127.0.0.1:{srv.port}"])
    assert result.exit_code == 0, result.output


def send_the_campaign(tenant: Tenant) -> dict[str, str]:
    """The campaign "spring-sale", commercial and answerable: three handsets deliver, one message fails, one expires
    in the network, one is refused at submit; then the first handset answers STOP to the clause's
    number (36111) and the second replies. Returns the receivers by role."""
    to = {"stops": number("+3361"), "replies": number("+3361"), "delivered": number("+3361"),
          "undeliverable": number("+336990"), "expired": number("+336992"), "rejected": number("+336991")}
    sent = tenant.client.post(f"/sms/{tenant.service}/jobs", message="Soldes de printemps", receivers=list(to.values()),
                              senderForResponse=True, tag="spring-sale")
    assert len(sent["ids"]) == 6
    tenant.wait_final(sent["ids"])
    handset_sends(tenant.server, to["stops"], "STOP", "36111")
    handset_sends(tenant.server, to["replies"], "Oui, je viens")
    wait_until(lambda: to["stops"] in tenant.client.get(f"/sms/{tenant.service}/blacklists"), what="the STOP blacklisted")
    wait_until(lambda: tenant.client.get(f"/sms/{tenant.service}/incoming"), what="the reply")
    return to


def chart(page: Page, chart_id: str) -> dict[str, str]:
    """Label → value of each bar the browser drew in chart ``chart_id``."""
    return page.locator(f"#{chart_id} svg g.bar").evaluate_all("bars => Object.fromEntries(bars.map(b => [b.dataset.label, b.dataset.value]))")


@pytest.mark.timeout(INSTALL_TIMEOUT + 120)
def test_a_customer_logs_in_reads_a_campaigns_report_and_replays_a_failed_callback(fast: Server, browser: Browser, tmp_path):
    tenant = fast.tenant(credits=50)
    base = f"/sms/{tenant.service}/callbacks"
    with CallbackSink() as sink:
        sink.answer = lambda request: 503
        tenant.client.put(f"/sms/{tenant.service}", callBack=sink.url("/dead"))
        stopped = send_the_campaign(tenant)["stops"]
        stop_day = dt.datetime.fromisoformat(tenant.client.get(f"/sms/{tenant.service}/blacklists/{stopped}")["dateCreation"])
        failed = wait_until(lambda: not tenant.client.get(base, status="pending") and tenant.client.get(base, status="failed"),
                            timeout=30, what="every delivery event failed")
        credits, ledger = tenant.credits(), tenant.client.get(f"/sms/{tenant.service}/ledger")

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
        expect(page.locator("#ledger tbody tr")).to_have_count(len(ledger))  # credits, the job, the refused message's refund, the reply
        page.screenshot(path=tmp_path / "3-ledger.png", full_page=True)

        page.get_by_role("link", name="Campaigns").click()
        expect(page.locator("#campaigns tbody tr td").nth(1)).to_have_text("spring-sale")
        expect(page.locator("#campaigns tbody tr td").nth(2)).to_have_text("6")
        page.get_by_role("link", name="spring-sale").click()
        expect(page.locator("h1")).to_contain_text("spring-sale")
        numbers = {key: page.locator(f"#{key}").inner_text() for key in (
            "messages", "delivered", "delivery-rate", "errors", "error-rate", "report-credits", "stops", "stop-rate", "replies", "reply-rate")}
        assert numbers == {"messages": "6", "delivered": "3", "delivery-rate": "50.0 %", "errors": "3", "error-rate": "50.0 %",
                           "report-credits": "5.00", "stops": "1", "stop-rate": "33.3 %", "replies": "1", "reply-rate": "33.3 %"}
        assert page.locator("#p50").inner_text().endswith(" s")  # the simulator answers in 0.05 s
        assert chart(page, "funnel") == {"Accepted": "6", "– rejected by the carrier": "1", "Handed to carrier": "5", "– failed": "2",
                                         "Delivered": "3"}
        times = chart(page, "delivery-times")
        assert times["≤1s"] == "3" and sum(int(n) for n in times.values()) == 3
        assert chart(page, "stops-over-time") == {stop_day.astimezone(dt.timezone.utc).strftime("%m-%d"): "1"}
        assert chart(page, "errors-by-ptt") == {"5 · Undelivered": "1", "8 · Expired": "1", "20 · Undeliverable": "1"}
        for figure in ("funnel", "delivery-times", "stops-over-time", "errors-by-ptt"):
            svg = page.locator(f"#{figure} svg[role=img]")
            expect(svg).to_be_visible()
            assert svg.locator("title").first.text_content() and svg.bounding_box()["width"] <= PHONE["width"]
        page.locator("#funnel summary").click()  # the values as a table, opened without any script
        expect(page.locator("#funnel tr[data-label='Delivered'] td")).to_have_text("3 (50.0 %)")
        assert fits_the_screen(page)
        page.screenshot(path=tmp_path / "4-campaign.png", full_page=True)

        page.get_by_role("link", name="Campaigns").click()
        page.get_by_role("link", name="Queue").click()
        expect(page.locator("#queued")).to_have_text("0")
        expect(page.locator("#queue-chart")).to_be_visible()
        assert page.locator("meta[http-equiv=refresh]").get_attribute("content") == "5"

        page.get_by_role("link", name="Callbacks").click()
        page.get_by_role("link", name="failed").click()
        expect(page.locator("#callbacks tbody tr")).to_have_count(len(failed))
        assert fits_the_screen(page)

        target = page.locator(f"#callbacks tr[data-id='{failed[-1]}']")
        target.locator("input[name=csrf]").evaluate("input => { input.value = 'forged' }")
        target.get_by_role("button", name="Replay").click()
        expect(page.locator("#refusal")).to_contain_text("CSRF")
        page.screenshot(path=tmp_path / "5-forged-csrf-refused.png", full_page=True)
        assert sorted(tenant.client.get(base, status="failed")) == sorted(failed)

        sink.answer = lambda request: 200
        page.goto(f"{fast.endpoint.removesuffix('/1.0')}/dashboard/callbacks?status=failed")
        page.locator(f"#callbacks tr[data-id='{failed[-1]}']").get_by_role("button", name="Replay").click()
        wait_until(lambda: tenant.client.get(base, status="delivered") == [failed[-1]], what="the replayed event delivered")
        page.goto(f"{fast.endpoint.removesuffix('/1.0')}/dashboard/callbacks")
        expect(page.locator(f"#callbacks tr[data-id='{failed[-1]}'] .status")).to_have_text("delivered")
        page.screenshot(path=tmp_path / "6-replayed.png", full_page=True)

        page.get_by_role("button", name="Log out").click()
        expect(page.locator("h1")).to_have_text("Log in")
        context.add_cookies([{**cookie}])  # the cookie of the ended session, put back
        page.goto(f"{fast.endpoint.removesuffix('/1.0')}/dashboard/accounts")
        expect(page.locator("h1")).to_have_text("Log in")
        context.close()
    assert len(list(tmp_path.glob("*.png"))) == 6
