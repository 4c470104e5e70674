"""Money: the price book, purchase orders, their payment, and the automatic top-up.

Price book (``[prices]`` table of ``textos.toml``; every key optional)::

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
the ``credit_rates`` / ``default_credit_rate`` settings that jobs are charged with,
so ``/sms/rates/*`` and jobs always agree.

Orders: ``notPaid`` until a payment is confirmed, then ``delivered`` (credited by
one ``purchase`` ledger entry), or ``cancelled``. Confirming a payment goes through
:func:`confirm_payment` whatever the provider: the first confirmation credits the
account, later ones only count (``payment_confirmations``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import secrets
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from textos.config import Settings, load_settings
from textos.storage import ledger
from textos.domain.errors import BadRequest, Conflict, NotFound
from textos.domain.clock import iso
from textos.domain.pricing import CreditRates
from textos.storage.models import Account, Customer, utcnow
from textos.storage.models_billing import Order

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


def money(value: Decimal | float, currency: str) -> dict[str, Any]:
    """``order.Price``: value, text, currency and micro-cents (``priceInUcents``, 1 € = 10⁸)."""
    amount = Decimal(str(value))
    exponent = amount.normalize().as_tuple().exponent
    digits = max(2, min(4, -exponent)) if amount and isinstance(exponent, int) else 2
    symbol = CURRENCY_SYMBOLS.get(currency, currency)
    return {
        "currencyCode": currency,
        "priceInUcents": int((amount * 100_000_000).to_integral_value(ROUND_HALF_UP)),
        "text": f"{amount:.{digits}f} {symbol}",
        "value": float(amount),
    }


@dataclass(frozen=True)
class Pack:
    min_quantity: int
    credit_price: Decimal
    max_quantity: int | None = None
    """Excluded; ``None`` for the last pack."""


@dataclass(frozen=True)
class Quote:
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

    def contracts(self) -> list[dict[str, str]]:
        content = (
            "SMS credits are prepaid, valid without time limit, and debited per SMS part "
            "according to the destination rates of GET /sms/rates/destinations. "
            "Unsent messages (cancelled, expired, refused at submission) are refunded."
        )
        return [{"content": content, "name": "Textos SMS credits terms", "url": self.contract_url or ""}]

    def order_body(self, quantity: int, service_name: str) -> dict[str, Any]:
        """``order.Order`` without ``orderId`` and ``url`` (the preview)."""
        q = self.quote(quantity)
        cur = self.currency
        reductions = []
        if q.reduction > 0:
            reductions.append({
                "context": "promotion",
                "description": f"Volume price from {q.pack.min_quantity} credits",
                "price": money(q.reduction, cur),
                "reductionDescription": (
                    f"{q.unit_price} {CURRENCY_SYMBOLS.get(cur, cur)} per credit instead of {self.packs[0].credit_price}"
                ),
                "type": "fixed_amount",
                "value": money(q.reduction, cur),
            })
        detail = {
            "cartItemID": None,
            "description": f"{quantity} SMS credits for {service_name}",
            "detailType": "QUANTITY",
            "domain": service_name,
            "originalTotalPrice": money(q.original_without_tax, cur),
            "quantity": quantity,
            "reductionTotalPrice": money(q.reduction, cur),
            "reductions": reductions,
            "totalPrice": money(q.without_tax, cur),
            "unitPrice": money(q.unit_price, cur),
        }
        return {
            "contracts": self.contracts(),
            "details": [detail],
            "orderId": None,
            "prices": {
                "originalWithoutTax": money(q.original_without_tax, cur),
                "reduction": money(q.reduction, cur),
                "tax": money(q.tax, cur),
                "withTax": money(q.with_tax, cur),
                "withoutTax": money(q.without_tax, cur),
            },
            "url": None,
        }

    def pack_details(self, country: str) -> list[dict[str, Any]]:
        """``sms.PackDetails[]`` towards ``country`` (prices without tax)."""
        credit = self.credit_rate(country)
        rows = []
        for pack in self.packs:
            rows.append({
                "countryCode": country.lower(),
                "credit": credit,
                "creditPrice": money(pack.credit_price, self.currency),
                "creditQuantityMax": pack.max_quantity,
                "creditQuantityMin": pack.min_quantity,
                "discountCreditPrice": None,
                "discountPercentage": None,
                "discountSmsPrice": None,
                "smsPrice": money(pack.credit_price * Decimal(str(credit)), self.currency),
                "smsQuantityMax": None if pack.max_quantity is None or not credit else math.floor(pack.max_quantity / credit),
                "smsQuantityMin": math.ceil(pack.min_quantity / credit) if credit else 0,
            })
        return rows

    def sms_price(self, country: str) -> dict[str, Any]:
        """Price of one SMS towards ``country`` at the first pack's credit price, without tax."""
        return money(self.packs[0].credit_price * Decimal(str(self.credit_rate(country))), self.currency)

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "taxRate": float(self.tax_rate),
            "minQuantity": self.min_quantity,
            "maxQuantity": self.max_quantity,
            "packs": [{"min": p.min_quantity, "max": p.max_quantity, "creditPrice": float(p.credit_price)} for p in self.packs],
            "creditRates": dict(sorted(self.rates.by_country.items())),
            "defaultCreditRate": self.rates.default,
        }


_active: PriceBook | None = None
_active_from: Settings | None = None


def activate(settings: Settings) -> PriceBook:
    """Use ``settings``' price book for orders created without settings at hand (automatic top-ups).

    ``textos serve`` activates its settings on its first priced request; before that (and in
    other processes) the price book of ``load_settings()`` (textos.toml, environment) is used.
    """
    global _active, _active_from
    if _active is None or _active_from is not settings:
        _active, _active_from = PriceBook.from_settings(settings), settings
    return _active


def price_book(settings: Settings | None = None) -> PriceBook:
    """The price book of ``settings``; without them, the activated one (or the configured one)."""
    if settings is not None:
        return activate(settings)
    return _active or activate(load_settings())


# --- orders -----------------------------------------------------------------------------------


def _create_order(session: Session, account: Account, quantity: int, *, reason: str, actor: str, book: PriceBook) -> Order:
    body = book.order_body(quantity, account.service_name)
    q = book.quote(quantity)
    now = utcnow()
    order = Order(
        customer_id=account.customer_id,
        account_id=account.id,
        quantity=quantity,
        currency=book.currency,
        without_tax_cents=int(q.without_tax * 100),
        tax_cents=int(q.tax * 100),
        with_tax_cents=int(q.with_tax * 100),
        priced=body,
        status="notPaid",
        reason=reason,
        token=secrets.token_urlsafe(24),
        actor=actor,
        created_at=now,
        expires_at=now + dt.timedelta(days=book.order_validity_days),
        payment_confirmations=0,
    )
    session.add(order)
    session.flush()
    return order


def create_order(session: Session, account: Account, quantity: int, *, actor: str, settings: Settings | None = None) -> Order:
    """``POST /order/sms/{serviceName}/credits``: a priced, unpaid order."""
    return _create_order(session, account, quantity, reason="manual", actor=actor, book=price_book(settings))


def create_automatic_order(session: Session, account_id: int, quantity: int, *, cause: str = "system") -> Order:
    """The automatic top-up's order (called by the ledger once per threshold crossing)."""
    account = session.get(Account, account_id)
    assert account is not None
    book = price_book()
    quantity = max(int(quantity), 1)
    if quantity < book.min_quantity:  # the account's amount is an OVH enum value; never refuse it here
        book = dataclasses.replace(book, min_quantity=quantity)
    return _create_order(session, account, quantity, reason="automatic", actor=f"automatic top-up (after {cause})", book=book)


def get_order(session: Session, order_id: int, customer_id: int | None = None) -> Order:
    stmt = select(Order).where(Order.id == order_id)
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    order = session.scalar(stmt)
    if order is None:
        raise NotFound(f"orderId: order {order_id} does not exist")
    return order


def list_orders(session: Session, *, customer_id: int | None = None, account_id: int | None = None,
                since: dt.datetime | None = None, until: dt.datetime | None = None,
                status: str | None = None) -> list[Order]:
    stmt = select(Order).order_by(Order.id)
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    if account_id is not None:
        stmt = stmt.where(Order.account_id == account_id)
    if since is not None:
        stmt = stmt.where(Order.created_at >= since)
    if until is not None:
        stmt = stmt.where(Order.created_at <= until)
    if status is not None:
        stmt = stmt.where(Order.status == status)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class PaymentResult:
    order_id: int
    credited: bool
    """True only for the confirmation that credited the account."""
    status: str
    confirmations: int
    credits_left: float | None


def confirm_payment(session: Session, order_id: int, *, actor: str, provider: str = "manual",
                    reference: str | None = None) -> PaymentResult:
    """Record that ``order_id`` is paid; credits its account exactly once, however often it is called.

    The order moves ``notPaid → delivered`` by an UPDATE guarded on ``notPaid``, in the
    same transaction as the ``purchase`` entry; a second confirmation (or a concurrent
    one) finds it delivered and only counts. A partial unique index on the ledger makes
    a second purchase entry for the same order impossible anyway.
    """
    now = utcnow()
    row = session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == "notPaid")
        .values(status="delivered", paid_at=now, paid_by=actor, payment_provider=provider,
                payment_reference=reference, payment_confirmations=Order.payment_confirmations + 1)
        .returning(Order.account_id, Order.quantity, Order.payment_confirmations),
        execution_options={"synchronize_session": False},
    ).one_or_none()
    if row is None:
        counted = session.execute(
            update(Order).where(Order.id == order_id)
            .values(payment_confirmations=Order.payment_confirmations + 1)
            .returning(Order.status, Order.payment_confirmations),
            execution_options={"synchronize_session": False},
        ).one_or_none()
        if counted is None:
            raise NotFound(f"orderId: order {order_id} does not exist")
        if counted[0] == "cancelled":
            raise Conflict(f"orderId: order {order_id} is cancelled and cannot be paid")
        return PaymentResult(order_id, False, counted[0], counted[1], None)
    account_id, quantity, confirmations = row
    entry = ledger.post(
        session, account_id,
        ledger.Movement(ledger.Kind.PURCHASE, quantity * ledger.MILLI, actor=actor,
                        reason=f"order {order_id} paid ({provider}{': ' + reference if reference else ''})",
                        order_id=order_id),
    )
    return PaymentResult(order_id, True, "delivered", confirmations, ledger.to_credits(entry.balance_after_milli))


def cancel_order(session: Session, order_id: int, *, actor: str) -> Order:
    changed = session.execute(
        update(Order).where(Order.id == order_id, Order.status == "notPaid").values(status="cancelled")
        .returning(Order.id), execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    order = get_order(session, order_id)
    session.refresh(order)
    if changed is None and order.status != "cancelled":
        raise Conflict(f"orderId: order {order_id} is {order.status} and cannot be cancelled")
    return order


# --- views ------------------------------------------------------------------------------------


def pay_path(order: Order) -> str:
    return f"/1.0/pay/{order.token}"


def order_view(order: Order, base_url: str) -> dict[str, Any]:
    """``order.Order`` of a created order."""
    return {**order.priced, "orderId": order.id, "url": base_url.rstrip("/") + pay_path(order)}


def billing_order_view(order: Order, base_url: str) -> dict[str, Any]:
    """``billing.Order`` (``GET /me/order/{orderId}``)."""
    prices = order.priced.get("prices", {})
    return {
        "date": iso(order.created_at),
        "expirationDate": iso(order.expires_at),
        "orderId": order.id,
        "password": order.token,
        "pdfUrl": base_url.rstrip("/") + pay_path(order),
        "priceWithTax": prices.get("withTax"),
        "priceWithoutTax": prices.get("withoutTax"),
        "retractionDate": None,
        "tax": prices.get("tax"),
        "url": base_url.rstrip("/") + pay_path(order),
    }


def order_summary(session: Session, order: Order) -> dict[str, Any]:
    """The admin's view of an order (CLI ``--json``)."""
    service = session.scalar(select(Account.service_name).where(Account.id == order.account_id))
    nic = session.scalar(select(Customer.nic).where(Customer.id == order.customer_id))
    return {
        "orderId": order.id,
        "serviceName": service,
        "nic": nic,
        "quantity": order.quantity,
        "status": order.status,
        "reason": order.reason,
        "withoutTax": order.without_tax_cents / 100,
        "withTax": order.with_tax_cents / 100,
        "currency": order.currency,
        "date": iso(order.created_at),
        "paidAt": iso(order.paid_at),
        "paidBy": order.paid_by,
        "paymentConfirmations": order.payment_confirmations,
    }


# --- payment providers ------------------------------------------------------------------------


class PaymentProvider(Protocol):
    """How customers pay. A provider renders the payment page's action and, when its
    payment succeeds (webhook, return URL…), calls :func:`confirm_payment` with its
    name and reference — the only way an order gets credited."""

    name: str

    def instructions(self, order: Order) -> str:
        """HTML fragment shown on the payment page of an unpaid order."""
        ...


class ManualPayment:
    """Default: an administrator confirms payment (bank transfer, invoice…) with ``textos order pay ID``."""

    name = "manual"

    def instructions(self, order: Order) -> str:
        return (
            "<p>Pay this order as agreed with your provider (bank transfer quoting "
            f"<strong>order {order.id}</strong>). Once the payment is received, an administrator "
            f"confirms it with <code>textos order pay {order.id}</code> and the credits are added "
            "to the account at once.</p>"
        )


_providers: dict[str, PaymentProvider] = {"manual": ManualPayment()}


def register_provider(provider: PaymentProvider) -> None:
    _providers[provider.name] = provider


def provider(name: str = "manual") -> PaymentProvider:
    return _providers.get(name) or _providers["manual"]


def parse_quantity(value: Any) -> int:
    """``quantity`` as OVH's ``long``: an integer (or an integral string/number)."""
    if isinstance(value, bool):
        raise BadRequest(f"quantity: {value!r} is not an integer")
    try:
        number = Decimal(str(value).strip())
    except Exception:  # noqa: BLE001
        raise BadRequest(f"quantity: {value!r} is not an integer") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise BadRequest(f"quantity: {value!r} is not an integer")
    if abs(number) > 2**63 - 1:
        raise BadRequest(f"quantity: {value!r} is out of range")
    return int(number)

