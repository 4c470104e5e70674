"""Purchase orders of credits, or of a new account with its credits: create, pay, cancel, list, and their shapes.

An order is ``notPaid`` until a payment is confirmed, then ``delivered`` (credited by
one ``purchase`` ledger entry; an order of a new account creates the account first), or
``cancelled``. Confirming a payment goes through :func:`confirm_payment` whatever the
provider (``services.payments``): the first confirmation credits the account, later ones
only count (``payment_confirmations``).
Orders are priced by the ``PriceBook`` they are given (``services.prices``); the
priced ``order.Order`` is stored with the order, so a later change of prices does not
change it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from textos.domain.clock import iso
from textos.domain.errors import BadRequest, Conflict, NotFound
from textos.services import admin
from textos.services.prices import CURRENCY_SYMBOLS, PriceBook, money
from textos.storage import ledger
from textos.storage.models import Account, Customer, utcnow
from textos.storage.models_billing import Order


class OrderStatus:
    """``billing.order.OrderStatusEnum`` values an order goes through (``orders.status``)."""

    NOT_PAID = "notPaid"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    ALL = (NOT_PAID, DELIVERED, CANCELLED)


class Reason:
    """Why an order exists (``orders.reason``)."""

    MANUAL = "manual"
    AUTOMATIC = "automatic"


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


def contracts(book: PriceBook) -> list[dict[str, str]]:
    """``order.Contract[]`` shown with every order."""
    content = (
        "SMS credits are prepaid, valid without time limit, and debited per SMS part "
        "according to the destination rates of GET /sms/rates/destinations. "
        "Unsent messages (cancelled, expired, refused at submission) are refunded."
    )
    return [{"content": content, "name": "Textos SMS credits terms", "url": book.contract_url or ""}]


def order_body(book: PriceBook, quantity: int, service_name: str) -> dict[str, Any]:
    """``order.Order`` of ``quantity`` credits for ``service_name``, without ``orderId`` and ``url`` (the preview)."""
    return _priced(book, quantity, service_name, f"{quantity} SMS credits for {service_name}")


def new_account_body(book: PriceBook, account: "NewAccount") -> dict[str, Any]:
    """``order.Order`` of a new SMS account holding ``account.quantity`` credits (the preview of ``/order/sms/new``)."""
    return _priced(book, account.quantity, NEW_ACCOUNT_DOMAIN,
                   f"New SMS account ({account.channel}) with {account.quantity} SMS credits")


def _priced(book: PriceBook, quantity: int, domain: str, description: str) -> dict[str, Any]:
    q = book.quote(quantity)
    cur = book.currency
    reductions = []
    if q.reduction > 0:
        reductions.append({
            "context": "promotion",
            "description": f"Volume price from {q.pack.min_quantity} credits",
            "price": money(q.reduction, cur),
            "reductionDescription": (
                f"{q.unit_price} {CURRENCY_SYMBOLS.get(cur, cur)} per credit instead of {book.packs[0].credit_price}"
            ),
            "type": "fixed_amount",
            "value": money(q.reduction, cur),
        })
    detail = {
        "cartItemID": None,
        "description": description,
        "detailType": "QUANTITY",
        "domain": domain,
        "originalTotalPrice": money(q.original_without_tax, cur),
        "quantity": quantity,
        "reductionTotalPrice": money(q.reduction, cur),
        "reductions": reductions,
        "totalPrice": money(q.without_tax, cur),
        "unitPrice": money(q.unit_price, cur),
    }
    return {
        "contracts": contracts(book),
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


# --- new accounts -------------------------------------------------------------------------------

CHANNELS = ("both", "marketing", "transactional")
"""``sms.ChannelEnum``: what an account is for."""
NEW_ACCOUNT_DOMAIN = "*"
"""``domain`` of an order's detail when its account does not exist yet."""


@dataclass(frozen=True)
class NewAccount:
    """What ``/order/sms/new`` orders: an account for ``channel`` holding ``quantity`` credits."""

    quantity: int
    channel: str


def check_new_account(quantity: Any, channel: str | None, smpp: bool | None) -> NewAccount:
    """``/order/sms/new``'s parameters: ``quantity`` a long, ``channel`` an ``sms.ChannelEnum``
    (default ``both``), ``smpp`` false (customers get no SMPP access here)."""
    if channel is not None and channel not in CHANNELS:
        raise BadRequest(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")
    if smpp:
        raise BadRequest("smpp: this server offers no SMPP access to customers; order an account for the API")
    return NewAccount(parse_quantity(quantity), channel or "both")


# --- create -------------------------------------------------------------------------------------


def _create(session: Session, account: Account, quantity: int, *, reason: str, actor: str, book: PriceBook) -> Order:
    return _store(session, account.customer_id, account.id, quantity, order_body(book, quantity, account.service_name),
                  new_account=None, reason=reason, actor=actor, book=book)


def _store(session: Session, customer_id: int, account_id: int | None, quantity: int, body: dict[str, Any], *,
           new_account: dict[str, Any] | None, reason: str, actor: str, book: PriceBook) -> Order:
    q = book.quote(quantity)
    now = utcnow()
    order = Order(
        customer_id=customer_id,
        account_id=account_id,
        new_account=new_account,
        quantity=quantity,
        currency=book.currency,
        without_tax_cents=int(q.without_tax * 100),
        tax_cents=int(q.tax * 100),
        with_tax_cents=int(q.with_tax * 100),
        priced=body,
        status=OrderStatus.NOT_PAID,
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


def create_order(session: Session, account: Account, quantity: int, *, actor: str, book: PriceBook) -> Order:
    """``POST /order/sms/{serviceName}/credits``: a priced, unpaid order."""
    return _create(session, account, quantity, reason=Reason.MANUAL, actor=actor, book=book)


def create_new_account_order(session: Session, customer_id: int, account: NewAccount, *, actor: str, book: PriceBook) -> Order:
    """``POST /order/sms/new``: a priced, unpaid order of a new account; the account is
    created, holding the credits, when the order is paid (:func:`confirm_payment`)."""
    return _store(session, customer_id, None, account.quantity, new_account_body(book, account),
                  new_account={"channel": account.channel}, reason=Reason.MANUAL, actor=actor, book=book)


def create_automatic_order(session: Session, account_id: int, quantity: int, *, book: PriceBook, cause: str = "system") -> Order:
    """The automatic top-up's order (``services.topup``, once per threshold crossing)."""
    account = session.get(Account, account_id)
    assert account is not None
    quantity = max(int(quantity), 1)
    if quantity < book.min_quantity:  # the account's amount is an OVH enum value; never refuse it here
        book = dataclasses.replace(book, min_quantity=quantity)
    return _create(session, account, quantity, reason=Reason.AUTOMATIC, actor=f"automatic top-up (after {cause})", book=book)


# --- find ---------------------------------------------------------------------------------------


def get_order(session: Session, order_id: int, customer_id: int | None = None) -> Order:
    """Order ``order_id`` (of ``customer_id`` when given); 404 otherwise."""
    stmt = select(Order).where(Order.id == order_id)
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    order = session.scalar(stmt)
    if order is None:
        raise NotFound(f"orderId: order {order_id} does not exist")
    return order


def order_by_token(session: Session, token: str) -> Order | None:
    """The order whose payment page is ``/1.0/pay/{token}``."""
    return session.scalar(select(Order).where(Order.token == token))


def list_orders(session: Session, *, customer_id: int | None = None, account_id: int | None = None,
                since: dt.datetime | None = None, until: dt.datetime | None = None,
                status: str | None = None) -> list[Order]:
    """Orders matching every filter given, oldest first."""
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


# --- pay, cancel --------------------------------------------------------------------------------


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
        .where(Order.id == order_id, Order.status == OrderStatus.NOT_PAID)
        .values(status=OrderStatus.DELIVERED, paid_at=now, paid_by=actor, payment_provider=provider,
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
        if counted[0] == OrderStatus.CANCELLED:
            raise Conflict(f"orderId: order {order_id} is cancelled and cannot be paid")
        return PaymentResult(order_id, False, counted[0], counted[1], None)
    account_id, quantity, confirmations = row
    if account_id is None:  # an order of a new account: it exists from now on
        account_id = _open_ordered_account(session, order_id, actor=actor)
    entry = ledger.post(
        session, account_id,
        ledger.Movement(ledger.Kind.PURCHASE, quantity * ledger.MILLI, actor=actor,
                        reason=f"order {order_id} paid ({provider}{': ' + reference if reference else ''})",
                        order_id=order_id),
    )
    return PaymentResult(order_id, True, OrderStatus.DELIVERED, confirmations, ledger.to_credits(entry.balance_after_milli))


def _open_ordered_account(session: Session, order_id: int, *, actor: str) -> int:
    """Create the account a paid order of a new account ordered (with no credits: the purchase
    entry brings them), and make the order point at it."""
    order = get_order(session, order_id)
    nic = session.scalar(select(Customer.nic).where(Customer.id == order.customer_id))
    assert nic is not None and order.new_account is not None
    account = admin.create_account(session, nic, description=f"ordered (order {order_id})", actor=actor)
    account.channel = order.new_account.get("channel") or "both"
    order.account_id = account.id
    session.flush()
    return account.id


def cancel_order(session: Session, order_id: int, *, actor: str) -> Order:
    """Cancel an unpaid order (cancelling a cancelled order changes nothing); 409 once paid."""
    changed = session.execute(
        update(Order).where(Order.id == order_id, Order.status == OrderStatus.NOT_PAID).values(status=OrderStatus.CANCELLED)
        .returning(Order.id), execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    order = get_order(session, order_id)
    session.refresh(order)
    if changed is None and order.status != OrderStatus.CANCELLED:
        raise Conflict(f"orderId: order {order_id} is {order.status} and cannot be cancelled")
    return order


# --- views --------------------------------------------------------------------------------------


def pay_path(order: Order) -> str:
    """Path of the order's payment page (its token is the secret)."""
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


def status_view(order: Order) -> str:
    """``billing.order.OrderStatusEnum`` of an order."""
    return order.status if order.status in OrderStatus.ALL else "unknown"


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


def payment_page_rows(session: Session, order: Order) -> list[tuple[str, str]]:
    """What the payment page shows of an order, row by row."""
    service = session.scalar(select(Account.service_name).where(Account.id == order.account_id)) or (
        f"a new account ({order.new_account.get('channel')}), created when paid" if order.new_account else "")
    prices = order.priced.get("prices", {})
    state = {OrderStatus.NOT_PAID: "awaiting payment", OrderStatus.DELIVERED: "paid — credits added",
             OrderStatus.CANCELLED: "cancelled"}.get(order.status, order.status)
    return [
        ("Order", str(order.id)),
        ("SMS account", service),
        ("Credits", str(order.quantity)),
        ("Price without tax", prices.get("withoutTax", {}).get("text", "")),
        ("Tax", prices.get("tax", {}).get("text", "")),
        ("Price with tax", prices.get("withTax", {}).get("text", "")),
        ("Created", iso(order.created_at) or ""),
        ("Status", state),
    ]
