"""Money routes: ordering credits (``/order/sms``), the customer's orders (``/me/order``),
credit transfers, the ledger history (a Textos extension) and the payment page."""

from __future__ import annotations

import datetime as dt
import html

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from textos.api.auth import Caller, authenticate
from textos.api.deps import Id, granted_services, public_base, iso, owned_account, to_naive_utc
from textos.api.schemas import OrderCredits, TransferCredits
from textos.api.state import state_of
from textos.services import billing, transfers
from textos.storage import ledger
from textos.domain.errors import BadRequest, NotFound
from textos.storage.models import Account, LedgerEntry
from textos.storage.models_billing import Order

router = APIRouter(tags=["billing"])

ORDER_OPTIONS = ["credits"]
STATUS = {"notPaid": "notPaid", "delivered": "delivered", "cancelled": "cancelled"}
"""Order status → ``billing.order.OrderStatusEnum``."""



# --- /order/sms -------------------------------------------------------------------------------


@router.get("/order/sms", summary="SMS accounts the caller may order credits for", response_model=list[str])
def order_services(request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        return granted_services(session, caller, "GET", lambda n: f"/order/sms/{n}")


@router.get("/order/sms/{serviceName}", summary="Allowed options of an SMS account's orders", response_model=list[str])
def order_options(serviceName: str, request: Request, caller: Caller = Depends(authenticate)) -> list[str]:
    with state_of(request).db.read() as session:
        owned_account(session, caller, serviceName)
    return ORDER_OPTIONS


@router.get("/order/sms/{serviceName}/credits", summary="Prices and contracts of a credits order (order.Order)")
def order_preview(serviceName: str, request: Request, quantity: str = Query(...), caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    count = billing.parse_quantity(quantity)
    with st.db.read() as session:
        account = owned_account(session, caller, serviceName)
        return billing.price_book(st.settings).order_body(count, account.service_name)


@router.post("/order/sms/{serviceName}/credits", summary="Create a credits order (order.Order)")
def order_create(serviceName: str, body: OrderCredits, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    st = state_of(request)
    with st.db.session() as session:
        account = owned_account(session, caller, serviceName)
        order = billing.create_order(session, account, body.quantity, actor=caller.actor, settings=st.settings)
        return billing.order_view(order, public_base(request))


# --- /me/order --------------------------------------------------------------------------------


@router.get("/me/order", summary="The caller's orders (ids)", response_model=list[int])
def my_orders(
    request: Request,
    caller: Caller = Depends(authenticate),
    date_from: dt.datetime | None = Query(default=None, alias="date.from"),
    date_to: dt.datetime | None = Query(default=None, alias="date.to"),
) -> list[int]:
    with state_of(request).db.read() as session:
        orders = billing.list_orders(session, customer_id=caller.customer_id,
                                     since=to_naive_utc(date_from), until=to_naive_utc(date_to))
    return [o.id for o in orders]


def _my_order(session, caller: Caller, order_id: int) -> Order:  # type: ignore[no-untyped-def]
    try:
        return billing.get_order(session, order_id, customer_id=caller.customer_id)
    except NotFound:
        raise NotFound(f"orderId: this order does not exist ({order_id})") from None


@router.get("/me/order/{orderId}", summary="One of the caller's orders (billing.Order)")
def my_order(orderId: Id, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    with state_of(request).db.read() as session:
        return billing.billing_order_view(_my_order(session, caller, orderId), public_base(request))


@router.get("/me/order/{orderId}/status", summary="Status of an order (billing.order.OrderStatusEnum)", response_model=str)
def my_order_status(orderId: Id, request: Request, caller: Caller = Depends(authenticate)) -> str:
    with state_of(request).db.read() as session:
        return STATUS.get(_my_order(session, caller, orderId).status, "unknown")


# --- transfers --------------------------------------------------------------------------------


@router.post("/sms/{serviceName}/transferCredits", summary="Transfer credits to another SMS account")
def transfer_credits(serviceName: str, body: TransferCredits, request: Request, caller: Caller = Depends(authenticate)) -> None:
    with state_of(request).db.session() as session:
        source = owned_account(session, caller, serviceName)
        transfers.transfer(session, source, body.smsAccountTarget, body.credits, actor=caller.actor)


# --- ledger (Textos extension) ----------------------------------------------------------------


@router.get(
    "/sms/{serviceName}/ledger",
    summary="Textos extension: the account's credit movements, newest first",
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
    kinds = [k.strip() for k in kind.split(",") if k.strip()] if kind else []
    unknown = [k for k in kinds if k not in ledger.Kind.ALL]
    if unknown:
        raise BadRequest(f"kind: unknown kind {unknown[0]!r} (one of {', '.join(ledger.Kind.ALL)})")
    with state_of(request).db.read() as session:
        account = owned_account(session, caller, serviceName)
        stmt = select(LedgerEntry).where(LedgerEntry.account_id == account.id)
        if date_from is not None:
            stmt = stmt.where(LedgerEntry.created_at >= to_naive_utc(date_from))
        if date_to is not None:
            stmt = stmt.where(LedgerEntry.created_at <= to_naive_utc(date_to))
        if kinds:
            stmt = stmt.where(LedgerEntry.kind.in_(kinds))
        entries = session.scalars(stmt.order_by(LedgerEntry.id.desc()).limit(limit)).all()
        others = {e.counterpart_account_id for e in entries if e.counterpart_account_id}
        names = dict(session.execute(select(Account.id, Account.service_name).where(Account.id.in_(others))).all()) if others else {}
    return [entry_view(e, names) for e in entries]


def entry_view(e: LedgerEntry, names: dict[int, str]) -> dict:
    return {
        "id": e.id,
        "date": iso(e.created_at),
        "kind": e.kind,
        "credits": ledger.to_credits(e.amount_milli),
        "creditsLeft": ledger.to_credits(e.balance_after_milli),
        "actor": e.actor,
        "reason": e.reason,
        "jobId": e.job_id,
        "messageId": e.message_id,
        "orderId": e.order_id,
        "counterpart": names.get(e.counterpart_account_id) if e.counterpart_account_id else None,
    }


# --- payment page -----------------------------------------------------------------------------


@router.get("/pay/{orderToken}", response_class=HTMLResponse, include_in_schema=False)
def payment_page(orderToken: str, request: Request) -> HTMLResponse:
    with state_of(request).db.read() as session:
        order = session.scalar(select(Order).where(Order.token == orderToken))
        if order is None:
            return HTMLResponse(_page("Order not found", "<p>This payment link is not valid.</p>"), status_code=404)
        service = session.scalar(select(Account.service_name).where(Account.id == order.account_id)) or ""
    prices = order.priced.get("prices", {})
    rows = [
        ("Order", str(order.id)),
        ("SMS account", service),
        ("Credits", str(order.quantity)),
        ("Price without tax", prices.get("withoutTax", {}).get("text", "")),
        ("Tax", prices.get("tax", {}).get("text", "")),
        ("Price with tax", prices.get("withTax", {}).get("text", "")),
        ("Created", iso(order.created_at) or ""),
        ("Status", {"notPaid": "awaiting payment", "delivered": "paid — credits added", "cancelled": "cancelled"}.get(order.status, order.status)),
    ]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    action = billing.provider(order.payment_provider or "manual").instructions(order) if order.status == "notPaid" else ""
    return HTMLResponse(_page(f"Order {order.id}", f"<table>{table}</table>{action}"))


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Textos — "
        f"{html.escape(title)}</title><style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}"
        "th{text-align:left;padding-right:1em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
