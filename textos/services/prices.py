"""The price book: what credits cost, and what one SMS costs towards a country.

Built once from settings (``PriceBook.from_settings``) by the composition roots
(``textos.server``, the CLI) and handed to whoever prices: the rates and order routes,
and the automatic top-up (``services.topup``). From the ``[prices]`` table of
``textos.toml`` (every key optional)::

    [prices]
    currency = "EUR"          # order.CurrencyCodeEnum
    tax_rate = 0.20           # VAT added to prices without tax
    min_quantity = 100        # smallest order (default: the first pack's minimum)
    max_quantity = 10000000
    order_validity_days = 30  # an unpaid order's expirationDate
    contract_url = "https://sms.example.com/terms"   # order.Contract shown with orders
    [prices.packs]            # degressive price of one credit, without tax, by minimum quantity
    100 = 0.08
    1000 = 0.07
    10000 = 0.06
    100000 = 0.05

An order of N credits is priced entirely at the pack N reaches (1 000 credits:
1 000 × 0.07 €); the difference with the first pack's price is shown as a
reduction. Credits per destination country are *not* in the price book: they are
the ``credit_rates`` / ``default_credit_rate`` settings that jobs are charged with
(``Settings.rates``), so ``/sms/rates/*`` and jobs always agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from textos.config import Settings
from textos.domain.countries import country_name
from textos.domain.errors import BadRequest
from textos.domain.pricing import CreditRates

DEFAULT_PACKS: tuple[tuple[int, str], ...] = ((100, "0.08"), (1000, "0.07"), (10000, "0.06"), (100000, "0.05"))
DEFAULT_TAX_RATE = "0.20"
DEFAULT_CURRENCY = "EUR"
CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
CENT = Decimal("0.01")
BILLING_COUNTRIES = ("es", "fr", "gb", "ie", "it", "pl")
"""``sms.BillingCountryEnum``."""


def _decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except Exception:  # noqa: BLE001 - any unreadable value is a configuration error
        raise ValueError(f"prices: {name} must be a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"prices: {name} must be a positive number, got {value!r}")
    return number


@dataclass(frozen=True)
class Pack:
    min_quantity: int
    credit_price: Decimal
    max_quantity: int | None = None
    """Excluded; ``None`` for the last pack."""


@dataclass(frozen=True)
class Quote:
    """The price of ``quantity`` credits, in the book's currency (cents)."""

    quantity: int
    unit_price: Decimal
    original_without_tax: Decimal
    without_tax: Decimal
    reduction: Decimal
    tax: Decimal
    with_tax: Decimal
    pack: Pack


@dataclass(frozen=True)
class PriceBook:
    packs: tuple[Pack, ...]
    tax_rate: Decimal = Decimal(DEFAULT_TAX_RATE)
    currency: str = DEFAULT_CURRENCY
    min_quantity: int = 100
    max_quantity: int = 10_000_000
    order_validity_days: int = 30
    contract_url: str | None = None
    rates: CreditRates = field(default_factory=CreditRates)
    """Credits per SMS part by country: the settings' rule, the one jobs are charged with."""

    @classmethod
    def from_settings(cls, settings: Settings) -> "PriceBook":
        """The book of ``settings.prices``; ``ValueError`` names a malformed entry."""
        raw = dict(settings.prices or {})
        packs_raw = raw.get("packs", None)
        if packs_raw is None:
            pairs = [(q, Decimal(p)) for q, p in DEFAULT_PACKS]
        elif isinstance(packs_raw, dict):
            pairs = [(int(q), _decimal(p, f"packs.{q}")) for q, p in packs_raw.items()]
        elif isinstance(packs_raw, list):
            pairs = [(int(item["min"]), _decimal(item["price"], f"packs[{i}].price")) for i, item in enumerate(packs_raw)]
        else:
            raise ValueError("prices: packs must be a table {min quantity = price} or a list of {min, price}")
        if not pairs or any(q <= 0 for q, _ in pairs):
            raise ValueError("prices: packs need at least one pack, with positive minimum quantities")
        pairs.sort()
        packs = tuple(
            Pack(q, price, pairs[i + 1][0] if i + 1 < len(pairs) else None) for i, (q, price) in enumerate(pairs)
        )
        currency = str(raw.get("currency", DEFAULT_CURRENCY)).upper()
        return cls(
            packs=packs,
            tax_rate=_decimal(raw.get("tax_rate", DEFAULT_TAX_RATE), "tax_rate"),
            currency=currency,
            min_quantity=int(raw.get("min_quantity", packs[0].min_quantity)),
            max_quantity=int(raw.get("max_quantity", 10_000_000)),
            order_validity_days=int(raw.get("order_validity_days", 30)),
            contract_url=raw.get("contract_url"),
            rates=settings.rates,
        )

    def credit_rate(self, country: str) -> float:
        """Credits per SMS part towards ``country`` (``all``: the default rate)."""
        return self.rates.per_part(country)

    def pack_for(self, quantity: int) -> Pack:
        chosen = self.packs[0]
        for pack in self.packs:
            if quantity >= pack.min_quantity:
                chosen = pack
        return chosen

    def check_quantity(self, quantity: int) -> None:
        if quantity < self.min_quantity:
            raise BadRequest(f"quantity: at least {self.min_quantity} credits can be ordered, got {quantity}")
        if quantity > self.max_quantity:
            raise BadRequest(f"quantity: at most {self.max_quantity} credits can be ordered at once, got {quantity}")

    def quote(self, quantity: int) -> Quote:
        self.check_quantity(quantity)
        pack = self.pack_for(quantity)
        original = (self.packs[0].credit_price * quantity).quantize(CENT, ROUND_HALF_UP)
        without_tax = (pack.credit_price * quantity).quantize(CENT, ROUND_HALF_UP)
        tax = (without_tax * self.tax_rate).quantize(CENT, ROUND_HALF_UP)
        return Quote(quantity, pack.credit_price, original, without_tax, original - without_tax, tax, without_tax + tax, pack)

    def sms_price(self, country: str) -> Decimal:
        """Price of one SMS towards ``country`` at the first pack's credit price, without tax."""
        return self.packs[0].credit_price * Decimal(str(self.credit_rate(country)))

    def as_dict(self) -> dict[str, Any]:
        """The book as ``textos prices --json`` shows it."""
        return {
            "currency": self.currency,
            "taxRate": float(self.tax_rate),
            "minQuantity": self.min_quantity,
            "maxQuantity": self.max_quantity,
            "packs": [{"min": p.min_quantity, "max": p.max_quantity, "creditPrice": float(p.credit_price)} for p in self.packs],
            "creditRates": dict(sorted(self.rates.by_country.items())),
            "defaultCreditRate": self.rates.default,
        }


def check_billing_country(value: str | None) -> None:
    """``billingCountry`` (optional) must be one of ``sms.BillingCountryEnum``."""
    if value is not None and value.strip().lower() not in BILLING_COUNTRIES:
        raise BadRequest(f"billingCountry: {value!r} is not one of {', '.join(BILLING_COUNTRIES)}")


# --- views --------------------------------------------------------------------------------------


def money(value: Decimal | float, currency: str, *, ucents: bool = True) -> dict[str, Any]:
    """``order.Price``: value, text, currency and, as ``order.json`` has it (orders), micro-cents
    (``priceInUcents``, 1 € = 10⁸); ``sms.json``'s ``order.Price`` (``/sms/rates/*``) has none: ``ucents=False``."""
    amount = Decimal(str(value))
    exponent = amount.normalize().as_tuple().exponent
    digits = max(2, min(4, -exponent)) if amount and isinstance(exponent, int) else 2
    symbol = CURRENCY_SYMBOLS.get(currency, currency)
    price: dict[str, Any] = {"currencyCode": currency}
    if ucents:
        price["priceInUcents"] = int((amount * 100_000_000).to_integral_value(ROUND_HALF_UP))
    return {**price, "text": f"{amount:.{digits}f} {symbol}", "value": float(amount)}


def destination_rates(book: PriceBook, country: str) -> dict[str, Any]:
    """``sms.DestinationRates`` towards ``country`` (a checked lowercase code)."""
    return {
        "country": country_name(country),
        "countryCode": country,
        "credit": book.credit_rate(country),
        "price": money(book.sms_price(country), book.currency, ucents=False),
    }


def pack_details(book: PriceBook, country: str) -> list[dict[str, Any]]:
    """``sms.PackDetails[]`` towards ``country`` (prices without tax)."""
    credit = book.credit_rate(country)
    rows = []
    for pack in book.packs:
        rows.append({
            "countryCode": country.lower(),
            "credit": credit,
            "creditPrice": money(pack.credit_price, book.currency, ucents=False),
            "creditQuantityMax": pack.max_quantity,
            "creditQuantityMin": pack.min_quantity,
            "discountCreditPrice": None,
            "discountPercentage": None,
            "discountSmsPrice": None,
            "smsPrice": money(pack.credit_price * Decimal(str(credit)), book.currency, ucents=False),
            "smsQuantityMax": None if pack.max_quantity is None or not credit else math.floor(pack.max_quantity / credit),
            "smsQuantityMin": math.ceil(pack.min_quantity / credit) if credit else 0,
        })
    return rows
