"""Credits end to end with the official ``ovh`` client: prices, orders and their payment,
automatic top-up, transfers, the ledger API and reseller isolation (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import secrets

import httpx
import ovh
import pytest

from helpers import start_server, stop_server


def accounts_of(server, tenant, *credits):
    """More SMS accounts for the tenant's customer."""
    return [server.cli("account", "create", "--nic", tenant.nic, "--credits", str(c))["serviceName"] for c in credits]


def key_for(server, tenant, rules):
    """Another application and consumer key of the tenant's customer, limited to ``rules``."""
    app = server.cli("app", "create", "--name", f"sub {secrets.token_hex(2)}", "--nic", tenant.nic)
    args = [a for r in rules for a in ("--rule", r)]
    ck = server.cli("credential", "create", "--app", app["applicationKey"], "--nic", tenant.nic, *args)["consumerKey"]
    return server.client(app["applicationKey"], app["applicationSecret"], ck)


# --- prices -----------------------------------------------------------------------------------


# sms.json's models of /sms/rates/* (its order.Price has no priceInUcents, unlike order.json's)
RATES_MODELS = {
    "sms.DestinationRates": {"country", "countryCode", "credit", "price"},
    "sms.PackDetails": {"countryCode", "credit", "creditPrice", "creditQuantityMax", "creditQuantityMin", "discountCreditPrice",
                        "discountPercentage", "discountSmsPrice", "smsPrice", "smsQuantityMax", "smsQuantityMin"},
    "order.Price": {"currencyCode", "text", "value"},
}


def test_rates_answer_sms_json_models_exactly(server):
    rate = httpx.get(f"{server.endpoint}/sms/rates/destinations", params={"country": "gb"}).json()
    assert set(rate) == RATES_MODELS["sms.DestinationRates"] and set(rate["price"]) == RATES_MODELS["order.Price"]
    for country in ("fr", "all"):
        for pack in httpx.get(f"{server.endpoint}/sms/rates/packs", params={"country": country}).json():
            assert set(pack) == RATES_MODELS["sms.PackDetails"]
            for field in ("creditPrice", "smsPrice", "discountCreditPrice", "discountSmsPrice"):
                assert pack[field] is None or set(pack[field]) == RATES_MODELS["order.Price"], (field, pack[field])


def test_default_price_book(server):
    packs = httpx.get(f"{server.endpoint}/sms/rates/packs", params={"country": "fr"}).json()
    assert [(p["creditQuantityMin"], p["creditQuantityMax"], p["creditPrice"]["value"]) for p in packs] == [
        (100, 1000, 0.08), (1000, 10000, 0.07), (10000, 100000, 0.06), (100000, None, 0.05)]
    assert packs[0]["credit"] == 1.0 and packs[0]["smsPrice"]["value"] == 0.08 and packs[0]["countryCode"] == "fr"
    assert packs[0]["creditPrice"]["currencyCode"] == "EUR" and packs[0]["creditPrice"]["text"] == "0.08 €"
    rate = httpx.get(f"{server.endpoint}/sms/rates/destinations", params={"country": "fr", "billingCountry": "fr"}).json()
    assert rate == {"country": "France", "countryCode": "fr", "credit": 1.0,
                    "price": {"currencyCode": "EUR", "text": "0.08 €", "value": 0.08}}
    for params, field in (({"country": "zz"}, "country"), ({}, "country"), ({"country": "fr", "billingCountry": "us"}, "billingCountry")):
        bad = httpx.get(f"{server.endpoint}/sms/rates/packs", params=params)
        assert bad.status_code == 400 and field in bad.json()["message"]


def test_configured_price_book(make_database, tmp_path):
    """The price book does not depend on the database: one backend is enough."""
    (tmp_path / "textos.toml").write_text(
        'credit_rates = { GB = 1.5 }\n'
        '[prices]\ncurrency = "EUR"\ntax_rate = 0.1\n[prices.packs]\n50 = 0.1\n500 = 0.09\n'
    )
    srv = start_server(make_database("sqlite"), tmp_path, "sqlite",
                       extra_env={"TEXTOS_CONFIG": str(tmp_path / "textos.toml")})
    try:
        packs = httpx.get(f"{srv.endpoint}/sms/rates/packs", params={"country": "gb"}).json()
        assert [(p["creditQuantityMin"], p["creditPrice"]["value"], p["smsPrice"]["value"], p["smsQuantityMin"]) for p in packs] == [
            (50, 0.1, 0.15, 34), (500, 0.09, 0.135, 334)]
        rate = httpx.get(f"{srv.endpoint}/sms/rates/destinations", params={"country": "gb"}).json()
        assert rate["credit"] == 1.5 and rate["price"]["value"] == 0.15
        t = srv.tenant()
        order = t.client.get(f"/order/sms/{t.service}/credits", quantity=500)
        assert order["prices"]["withoutTax"]["value"] == 45.0 and order["prices"]["tax"]["value"] == 4.5
        report = t.client.post(f"/sms/{t.service}/jobs", message="hi", receivers=["+447400123456"], noStopClause=True)
        assert report["totalCreditsRemoved"] == rate["credit"]
    finally:
        stop_server(srv)


# --- orders -----------------------------------------------------------------------------------


def test_order_preview_create_pay_twice_credits_once(server, tenant):
    c = tenant.client
    assert tenant.service in c.get("/order/sms")
    assert c.get(f"/order/sms/{tenant.service}") == ["credits"]
    preview = c.get(f"/order/sms/{tenant.service}/credits", quantity=1000)
    assert preview["orderId"] is None and preview["url"] is None
    prices = {k: v["value"] for k, v in preview["prices"].items()}
    assert prices == {"originalWithoutTax": 80.0, "reduction": 10.0, "withoutTax": 70.0, "tax": 14.0, "withTax": 84.0}
    assert preview["prices"]["withTax"]["priceInUcents"] == 8_400_000_000
    (detail,) = preview["details"]
    assert detail["quantity"] == 1000 and detail["unitPrice"]["value"] == 0.07 and detail["domain"] == tenant.service
    assert detail["reductions"][0]["value"]["value"] == 10.0 and preview["contracts"][0]["name"]

    order = c.post(f"/order/sms/{tenant.service}/credits", quantity=1000)
    oid = order["orderId"]
    assert isinstance(oid, int) and order["prices"] == preview["prices"]
    page = httpx.get(order["url"])
    assert page.status_code == 200 and f"Order {oid}" in page.text and "84.00 €" in page.text and f"textos order pay {oid}" in page.text
    assert oid in c.get("/me/order")
    mine = c.get(f"/me/order/{oid}")
    assert mine["orderId"] == oid and mine["priceWithTax"]["value"] == 84.0 and mine["url"] == order["url"]
    assert c.get(f"/me/order/{oid}/status") == "notPaid"
    assert tenant.credits() == 100.0

    first = server.cli("order", "pay", str(oid))
    second = server.cli("order", "pay", str(oid))
    assert (first["credited"], second["credited"]) == (True, False)
    assert second["paymentConfirmations"] == 2 and second["creditsLeft"] == 1100.0
    assert tenant.credits() == 1100.0
    assert c.get(f"/me/order/{oid}/status") == "delivered"
    purchases = c.get(f"/sms/{tenant.service}/ledger", kind="purchase")
    assert [(e["credits"], e["orderId"], e["creditsLeft"]) for e in purchases] == [(1000.0, oid, 1100.0)]
    listed = server.cli("order", "list", "--service", tenant.service)["orders"]
    assert [(o["orderId"], o["status"], o["reason"]) for o in listed] == [(oid, "delivered", "manual")]


def test_order_a_new_account_created_when_paid(server, tenant):
    c = tenant.client
    preview = c.get("/order/sms/new", quantity=1000, channel="transactional")
    assert preview["orderId"] is None and preview["url"] is None
    assert preview["prices"] == c.get(f"/order/sms/{tenant.service}/credits", quantity=1000)["prices"]
    (detail,) = preview["details"]
    assert (detail["quantity"], detail["domain"], detail["detailType"]) == (1000, "*", "QUANTITY")
    for params, field in (({"quantity": 5}, "quantity"), ({"quantity": 100, "channel": "spam"}, "channel"),
                          ({"quantity": 100, "smpp": True}, "smpp")):
        for call in (c.get, c.post):
            with pytest.raises(ovh.exceptions.BadParametersError) as caught:
                call("/order/sms/new", **params)
            assert field in caught.value.response.json()["message"]

    order = c.post("/order/sms/new", quantity=1000, channel="transactional", smpp=False)
    oid = order["orderId"]
    assert order["prices"] == preview["prices"] and c.get(f"/me/order/{oid}/status") == "notPaid"
    assert "created when paid" in httpx.get(order["url"]).text
    assert c.get("/sms") == [tenant.service]                           # nothing exists before the payment

    paid = server.cli("order", "pay", str(oid))
    new = paid["serviceName"]
    assert paid["credited"] is True and paid["creditsLeft"] == 1000.0 and new != tenant.service
    assert c.get("/sms") == [tenant.service, new]
    account = c.get(f"/sms/{new}")
    assert (account["creditsLeft"], account["channel"], account["status"]) == (1000.0, "transactional", "enable")
    assert [(e["kind"], e["orderId"]) for e in c.get(f"/sms/{new}/ledger")] == [("purchase", oid)]
    assert c.get(f"/me/order/{oid}/status") == "delivered"
    again = server.cli("order", "pay", str(oid))                       # paid twice: still one account, credited once
    assert (again["credited"], again["serviceName"], again["creditsLeft"]) == (False, new, 1000.0)
    assert c.get("/sms") == [tenant.service, new]
    report = c.post(f"/sms/{new}/jobs", message="hi", receivers=["+33612345678"], noStopClause=True)
    assert report["totalCreditsRemoved"] == 1.0


def test_order_refusals(server, tenant):
    c = tenant.client
    other = server.tenant()
    for q in (0, 99, -5, "abc", 1.5):
        with pytest.raises(ovh.exceptions.BadParametersError) as caught:
            c.get(f"/order/sms/{tenant.service}/credits", quantity=q)
        assert "quantity" in caught.value.response.json()["message"]
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        c.post(f"/order/sms/{tenant.service}/credits", quantity="lots")
    assert "quantity" in caught.value.response.json()["message"]
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        c.post(f"/order/sms/{other.service}/credits", quantity=100)
    theirs = other.client.post(f"/order/sms/{other.service}/credits", quantity=100)["orderId"]
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        c.get(f"/me/order/{theirs}")
    assert theirs not in c.get("/me/order")
    assert httpx.get(f"{server.endpoint}/pay/not-a-token").status_code == 404


# --- automatic top-up -------------------------------------------------------------------------


def test_automatic_top_up_once_per_crossing(server, tenant):
    c = tenant.client
    c.put(f"/sms/{tenant.service}", creditThresholdForAutomaticRecredit=95, automaticRecreditAmount=100)
    assert c.get(f"/sms/{tenant.service}")["creditThresholdForAutomaticRecredit"] == 95.0
    c.post(f"/sms/{tenant.service}/jobs", message="hi", receivers=["+33612345678", "+33612345679"], noStopClause=True)
    assert c.get("/me/order") == []                             # 98 ≥ 95
    for n in range(4):                                          # 96, 94, 92, 90: crossed once
        c.post(f"/sms/{tenant.service}/jobs", message="hi", receivers=[f"+3361234560{n}", f"+3361234561{n}"], noStopClause=True)
    orders = c.get("/me/order")
    assert len(orders) == 1, orders
    listed = server.cli("order", "list", "--service", tenant.service)["orders"]
    assert [(o["reason"], o["quantity"], o["status"]) for o in listed] == [("automatic", 100, "notPaid")]
    server.cli("order", "pay", str(orders[0]))                 # back above: re-armed
    assert tenant.credits() == 190.0
    c.post(f"/sms/{tenant.service}/jobs", message="a" * 500, receivers=[f"+336123457{n:02d}" for n in range(30)], noStopClause=True)
    assert len(c.get("/me/order")) == 2                         # 190 - 30 × 4 parts = 70: second crossing


# --- transfers --------------------------------------------------------------------------------


def test_transfers_between_accounts(server, tenant):
    c = tenant.client
    (second,) = accounts_of(server, tenant, 0)
    c.post(f"/sms/{tenant.service}/transferCredits", smsAccountTarget=second, credits=12.5)
    assert tenant.credits() == 87.5 and c.get(f"/sms/{second}")["creditsLeft"] == 12.5
    (out,) = c.get(f"/sms/{tenant.service}/ledger", kind="transfer_out")
    assert (out["credits"], out["counterpart"], out["creditsLeft"]) == (-12.5, second, 87.5)
    assert "transfer" in out["reason"] and tenant.nic in out["actor"]
    (into,) = c.get(f"/sms/{second}/ledger", kind="transfer_in")
    assert (into["credits"], into["counterpart"]) == (12.5, tenant.service)

    for credits, field in ((0, "credits"), (-3, "credits"), ("x", "credits")):
        with pytest.raises(ovh.exceptions.BadParametersError) as caught:
            c.post(f"/sms/{tenant.service}/transferCredits", smsAccountTarget=second, credits=credits)
        assert field in caught.value.response.json()["message"]
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        c.post(f"/sms/{tenant.service}/transferCredits", credits=1)
    assert "smsAccountTarget" in caught.value.response.json()["message"]
    with pytest.raises(ovh.exceptions.APIError) as caught:
        c.post(f"/sms/{tenant.service}/transferCredits", smsAccountTarget=second, credits=87.501)
    assert caught.value.response.json()["class"] == "Client::Forbidden::NotEnoughCredits"

    server.cli("quota", "hold", "--service", tenant.service, "--credits", "80")
    account = c.get(f"/sms/{tenant.service}")
    assert (account["creditsLeft"], account["creditsHoldByQuota"]) == (7.5, 80.0)
    with pytest.raises(ovh.exceptions.APIError):
        c.post(f"/sms/{tenant.service}/transferCredits", smsAccountTarget=second, credits=8)
    c.post(f"/sms/{tenant.service}/transferCredits", smsAccountTarget=second, credits=7.5)
    assert [e["kind"] for e in c.get(f"/sms/{tenant.service}/ledger", limit=2)] == ["transfer_out", "quota_hold"]

    other = server.tenant()
    for target in (other.service, "sms-nosuch-9"):
        with pytest.raises(ovh.exceptions.ResourceNotFoundError) as caught:
            c.post(f"/sms/{second}/transferCredits", smsAccountTarget=target, credits=1)
        assert "smsAccountTarget" in caught.value.response.json()["message"]
    server.cli("transfer", "allow", "--from", second, "--to", other.service)
    c.post(f"/sms/{second}/transferCredits", smsAccountTarget=other.service, credits=1)
    assert other.credits() == 101.0
    ledger = server.cli("ledger", "--service", second)
    assert ledger["consistent"] is True


def test_ledger_api_filters(server, tenant):
    c = tenant.client
    c.post(f"/sms/{tenant.service}/jobs", message="hi", receivers=["+33612345678"], noStopClause=True)
    entries = c.get(f"/sms/{tenant.service}/ledger")
    assert [e["kind"] for e in entries] == ["job_debit", "adjustment"]
    assert entries[0]["credits"] == -1.0 and entries[0]["creditsLeft"] == 99.0 and entries[0]["jobId"]
    assert c.get(f"/sms/{tenant.service}/ledger", kind="adjustment,purchase")[0]["reason"] == "initial credits"
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).isoformat()
    assert c.get(f"/sms/{tenant.service}/ledger", **{"from": future}) == []
    assert len(c.get(f"/sms/{tenant.service}/ledger", **{"from": past, "to": future})) == 2
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        c.get(f"/sms/{tenant.service}/ledger", kind="gift")
    assert "kind" in caught.value.response.json()["message"]


# --- reseller isolation -----------------------------------------------------------------------


def test_key_scoped_to_one_account_cannot_transfer_from_or_read_another(server, tenant):
    second, third = accounts_of(server, tenant, 50, 50)
    scoped = key_for(server, tenant, ["GET /sms", f"GET /sms/{second}/*", f"POST /sms/{second}/*", f"PUT /sms/{second}/*"])
    assert scoped.get("/sms") == [second]
    assert scoped.get(f"/sms/{second}")["creditsLeft"] == 50.0
    for call in (
        lambda: scoped.get(f"/sms/{third}"),
        lambda: scoped.get(f"/sms/{third}/ledger"),
        lambda: scoped.post(f"/sms/{third}/transferCredits", smsAccountTarget=second, credits=10),
        lambda: scoped.post(f"/sms/{tenant.service}/transferCredits", smsAccountTarget=second, credits=10),
        lambda: scoped.post(f"/sms/{third}/jobs", message="hi", receivers=["+33612345678"]),
        lambda: scoped.get("/me/order"),
    ):
        with pytest.raises(ovh.exceptions.NotGrantedCall):
            call()
    scoped.post(f"/sms/{second}/transferCredits", smsAccountTarget=third, credits=5)   # its own credits, same customer
    assert [tenant.client.get(f"/sms/{s}")["creditsLeft"] for s in (tenant.service, second, third)] == [100.0, 45.0, 55.0]
    # a key of another customer with all rights still cannot reach these accounts
    intruder = server.tenant().client
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        intruder.post(f"/sms/{second}/transferCredits", smsAccountTarget=third, credits=1)
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        intruder.get(f"/sms/{second}/ledger")
