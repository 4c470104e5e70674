"""Money routes: ordering credits and new accounts (``/order/sms``), the customer's orders (``/me/order``),
credit transfers, the ledger history (a Textos extension) and the payment page."""

from __future__ import annotations

import datetime as dt
import html
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from textos.api.auth import Caller, authenticate
from textos.api.deps import Id, granted_services, owned_account, public_base
from textos.api.schemas import VOID, DateTime, OrderCredits, OrderNewAccount, Out, TransferCredits
from textos.api.state import state_of
from textos.domain.clock import naive_utc, naive_utc_until
from textos.domain.errors import NotFound
from textos.services import movements, orders, payments, transfers
from textos.storage import models_billing

router = APIRouter(tags=["billing"])

ORDER_OPTIONS = ["credits"]


class OrderPrice(Out):
    """``order.Price`` as ``order.json`` has it (with ``priceInUcents``: 1 € = 10⁸)."""

    currencyCode: str
    priceInUcents: int | None
    text: str
    value: float


class Contract(Out):
    """``order.Contract``."""

    content: str
    name: str
    url: str


class Reduction(Out):
    """``order.Reduction``."""

    context: Literal["promotion", "voucher"]
    description: str
    price: OrderPrice
    reductionDescription: str
    type: Literal["fixed_amount", "forced_amount", "percentage"]
    value: OrderPrice


class OrderDetail(Out):
    """``order.OrderDetail``."""

    cartItemID: int | None
    description: str
    detailType: str | None
    domain: str
    originalTotalPrice: OrderPrice
    quantity: int
    reductionTotalPrice: OrderPrice
    reductions: list[Reduction]
    totalPrice: OrderPrice
    unitPrice: OrderPrice


class OrderPrices(Out):
    """``order.OrderPrices``."""

    originalWithoutTax: OrderPrice | None
    reduction: OrderPrice | None
    tax: OrderPrice
    withTax: OrderPrice
    withoutTax: OrderPrice


class Order(Out):
    """``order.Order``: ``orderId`` and ``url`` null in a preview."""

    contracts: list[Contract]
    details: list[OrderDetail]
    orderId: int | None
    prices: OrderPrices
    url: str | None


class BillingOrder(Out):
    """``billing.Order``: ``url`` and ``pdfUrl`` are the payment page (its token is ``password``)."""

    date: DateTime
    expirationDate: DateTime | None
    orderId: int
    password: str
    pdfUrl: str
    priceWithTax: OrderPrice | None
    priceWithoutTax: OrderPrice | None
    retractionDate: DateTime | None
    tax: OrderPrice | None
    url: str


class LedgerEntry(Out):
    """A credit movement (Textos extension)."""

    id: int
    date: DateTime
    kind: str
    credits: float
    creditsLeft: float
    actor: str
    reason: str
    jobId: int | None
    messageId: int | None
    orderId: int | None
    counterpart: str | None


# --- /order/sms -------------------------------------------------------------------------------


@router.get("/order/sms", summary="SMS accounts the caller may order credits for", response_model=list[str])
def order_services(request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        return granted_services(session, caller, "GET", lambda n: f"/order/sms/{n}")


# Before /order/sms/{serviceName}: "new" is not a service name.
@router.get("/order/sms/new", summary="Prices and contracts of a new SMS account with its credits (order.Order)", response_model=Order)
def order_new_account_preview(
    request: Request,
    quantity: str = Query(..., description="Sms credit quantity"),
    channel: str | None = Query(default=None, description="sms.ChannelEnum: what the account is for (default both)"),
    smpp: bool | None = Query(default=None, description="SMPP access: not offered (false only)"),
    caller: Caller = Depends(authenticate),
) -> dict:
    return orders.new_account_body(state_of(request).prices, orders.check_new_account(quantity, channel, smpp))


@router.post("/order/sms/new", summary="Order a new SMS account with its credits (order.Order); created when the order is paid",
             response_model=Order)
def order_new_account(body: OrderNewAccount, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    wanted = orders.check_new_account(body.quantity, body.channel, body.smpp)
    with st.db.session() as session:
        order = orders.create_new_account_order(session, caller.customer_id, wanted, actor=caller.actor, book=st.prices)
        return orders.order_view(order, public_base(request))


@router.get("/order/sms/{serviceName}", summary="Allowed options of an SMS account's orders", response_model=list[str])
def order_options(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        owned_account(session, caller, serviceName)
    return ORDER_OPTIONS


@router.get("/order/sms/{serviceName}/credits", summary="Prices and contracts of a credits order (order.Order)", response_model=Order)
def order_preview(serviceName: str, request: Request, quantity: str = Query(...), caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    count = orders.parse_quantity(quantity)
    with st.db.read() as session:
        account = owned_account(session, caller, serviceName)
        return orders.order_body(st.prices, count, account.service_name)


@router.post("/order/sms/{serviceName}/credits", summary="Create a credits order (order.Order)", response_model=Order)
def order_create(serviceName: str, body: OrderCredits, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    with st.db.session() as session:
        account = owned_account(session, caller, serviceName)
        order = orders.create_order(session, account, body.quantity, actor=caller.actor, book=st.prices)
        return orders.order_view(order, public_base(request))


# --- /me/order --------------------------------------------------------------------------------


@router.get("/me/order", summary="The caller's orders (ids)", response_model=list[int])
def my_orders(
    request: Request,
    caller: Caller = Depends(authenticate),
    date_from: dt.datetime | None = Query(default=None, alias="date.from"),
    date_to: dt.datetime | None = Query(default=None, alias="date.to"),
) -> list[int]:
    with state_of(request).db.read() as session:
        found = orders.list_orders(session, customer_id=caller.customer_id, since=naive_utc(date_from), until=naive_utc_until(date_to))
    return [o.id for o in found]


def _my_order(session: Session, caller: Caller, order_id: int) -> models_billing.Order:
    try:
        return orders.get_order(session, order_id, customer_id=caller.customer_id)
    except NotFound:
        raise NotFound(f"orderId: this order does not exist ({order_id})") from None


@router.get("/me/order/{orderId}", summary="One of the caller's orders (billing.Order)", response_model=BillingOrder)
def my_order(orderId: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return orders.billing_order_view(_my_order(session, caller, orderId), public_base(request))


@router.get("/me/order/{orderId}/status", summary="Status of an order (billing.order.OrderStatusEnum)", response_model=str)
def my_order_status(orderId: Id, request: Request, caller: Caller = Depends(authenticate)) -> str:
    with state_of(request).db.read() as session:
        return orders.status_view(_my_order(session, caller, orderId))


# --- transfers --------------------------------------------------------------------------------


@router.post("/sms/{serviceName}/transferCredits", summary="Transfer credits to another SMS account", response_model=VOID)
def transfer_credits(serviceName: str, body: TransferCredits, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        source = owned_account(session, caller, serviceName)
        transfers.transfer(session, source, body.smsAccountTarget, body.credits, actor=caller.actor)


# --- ledger (Textos extension) ----------------------------------------------------------------


@router.get(
    "/sms/{serviceName}/ledger",
    summary="Textos extension: the account's credit movements, newest first", response_model=list[LedgerEntry],
    description=(
        "Every credit movement of the account as an immutable entry: purchase, job_debit, refund, "
        "transfer_out, transfer_in, quota_hold, quota_release, adjustment. `credits` is signed; "
        "`creditsLeft` is the free balance after the entry. Not part of the OVH API."
    ),
)
def ledger_history(
    serviceName: str,
    request: Request,
    caller: Caller = Depends(authenticate),
    date_from: dt.datetime | None = Query(default=None, alias="from"),
    date_to: dt.datetime | None = Query(default=None, alias="to"),
    kind: str | None = Query(default=None),
    limit: int = Query(default=1000, ge=1, le=100_000),
) -> list[dict]:
    kinds = movements.parse_kinds(kind)
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        entries = movements.history(session, account.id, since=naive_utc(date_from), until=naive_utc_until(date_to), kinds=kinds, limit=limit)
        names = movements.counterpart_names(session, entries)
    return [movements.entry_view(e, names) for e in entries]


# --- payment page -----------------------------------------------------------------------------


@router.get("/pay/{orderToken}", response_class=HTMLResponse, include_in_schema=False)
def payment_page(orderToken: str, request: Request) -> HTMLResponse:
    with state_of(request).db.read() as session:
        order = orders.order_by_token(session, orderToken)
        if order is None:
            return HTMLResponse(_page("Order not found", "<p>This payment link is not valid.</p>"), status_code=404)
        rows = orders.payment_page_rows(session, order)
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    unpaid = order.status == orders.OrderStatus.NOT_PAID
    action = payments.provider(order.payment_provider or "manual").instructions(order) if unpaid else ""
    return HTMLResponse(_page(f"Order {order.id}", f"<table>{table}</table>{action}"))


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Textos — "
        f"{html.escape(title)}</title><style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}"
        "th{text-align:left;padding-right:1em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
