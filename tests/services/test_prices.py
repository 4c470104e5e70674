"""The price book: read from settings once, it prices orders and announces what an SMS costs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from textos.config import Settings, load_settings
from textos.domain.errors import BadRequest
from textos.services import prices
from textos.services.prices import PriceBook


def test_default_book_has_four_degressive_packs():
    book = PriceBook.from_settings(Settings())
    assert [(p.min_quantity, p.max_quantity, p.credit_price) for p in book.packs] == [
        (100, 1000, Decimal("0.08")), (1000, 10000, Decimal("0.07")), (10000, 100000, Decimal("0.06")), (100000, None, Decimal("0.05"))]
    assert (book.currency, book.tax_rate, book.min_quantity) == ("EUR", Decimal("0.20"), 100)


def test_packs_as_a_table_or_a_list_and_min_quantity_from_the_first_pack():
    table = PriceBook.from_settings(Settings(prices={"currency": "gbp", "packs": {"500": 0.09, "50": "0.1"}}))
    listed = PriceBook.from_settings(Settings(prices={"currency": "GBP", "packs": [{"min": 500, "price": 0.09}, {"min": 50, "price": 0.1}]}))
    assert table == listed
    assert [p.min_quantity for p in table.packs] == [50, 500] and table.min_quantity == 50 and table.currency == "GBP"


@pytest.mark.parametrize("raw, named", [
    ({"packs": {"100": "cheap"}}, "packs.100"),
    ({"packs": {"100": -1}}, "packs.100"),
    ({"packs": {}}, "at least one pack"),
    ({"packs": {"0": 1}}, "positive minimum"),
    ({"packs": "0.08"}, "a table"),
    ({"tax_rate": "nan"}, "tax_rate"),
])
def test_a_malformed_book_names_its_entry(raw, named):
    with pytest.raises(ValueError, match=named):
        PriceBook.from_settings(Settings(prices=raw))


def test_an_order_is_priced_entirely_at_the_pack_it_reaches():
    q = PriceBook.from_settings(Settings()).quote(1000)
    assert (q.unit_price, q.original_without_tax, q.without_tax, q.reduction, q.tax, q.with_tax) == (
        Decimal("0.07"), Decimal("80.00"), Decimal("70.00"), Decimal("10.00"), Decimal("14.00"), Decimal("84.00"))


def test_quantities_outside_the_books_limits_are_refused():
    book = PriceBook.from_settings(Settings(prices={"max_quantity": 5000}))
    for quantity in (99, 5001):
        with pytest.raises(BadRequest, match="^quantity: "):
            book.quote(quantity)


def test_credit_rates_are_the_settings_rule_whatever_the_case(tmp_path: Path):
    (tmp_path / "textos.toml").write_text("credit_rates = { gb = 2.5 }\n")
    book = PriceBook.from_settings(load_settings(tmp_path / "textos.toml"))
    assert book.credit_rate("gb") == book.credit_rate("GB") == 2.5 and book.credit_rate("fr") == 1.0


def test_destination_rates_and_pack_details_announce_the_rate_jobs_are_charged():
    book = PriceBook.from_settings(Settings(credit_rates={"GB": 1.5}, prices={"packs": {"50": 0.1, "500": 0.09}}))
    assert prices.destination_rates(book, "gb") == {
        "country": "United Kingdom", "countryCode": "gb", "credit": 1.5,
        "price": {"currencyCode": "EUR", "text": "0.15 €", "value": 0.15}}  # sms.json's order.Price: no priceInUcents
    rows = prices.pack_details(book, "gb")
    assert [(r["creditQuantityMin"], r["creditQuantityMax"], r["smsQuantityMin"], r["smsQuantityMax"]) for r in rows] == [
        (50, 500, 34, 333), (500, None, 334, None)]
    assert rows[1]["smsPrice"]["text"] == "0.135 €"
    assert {key for r in rows for price in (r["creditPrice"], r["smsPrice"]) for key in price} == {"currencyCode", "text", "value"}


def test_money_shows_two_to_four_decimals_and_micro_cents():
    assert prices.money(Decimal("84"), "EUR") == {"currencyCode": "EUR", "priceInUcents": 8_400_000_000, "text": "84.00 €", "value": 84.0}
    assert prices.money(Decimal("0.0725"), "USD")["text"] == "0.0725 $"
    assert prices.money(Decimal("1.5"), "CHF")["text"] == "1.50 CHF"


def test_billing_countries_are_ovhs():
    prices.check_billing_country(None)
    prices.check_billing_country("FR")
    with pytest.raises(BadRequest, match="^billingCountry: "):
        prices.check_billing_country("us")
