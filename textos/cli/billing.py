"""``textos order``, ``textos transfer``, ``textos quota``, ``textos prices``: money administration."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from textos.cli.common import DbOption, JsonOption, console, emit, prices_of, session_for, settings_for
from textos.config import load_settings
from textos.services import accounts, admin, orders, transfers
from textos.storage import ledger

__all__ = ["register"]

order_app = typer.Typer(help="Credit purchase orders: list, pay (confirm payment), cancel.", no_args_is_help=True)
transfer_app = typer.Typer(help="Credit transfers between SMS accounts.", no_args_is_help=True)
quota_app = typer.Typer(
    help="Credits set aside on an account (creditsHoldByQuota): not spent or transferred until released. "
    "OVH holds them for the quotas of an account's SMS users, which Textos does not have yet: here an administrator sets them aside.",
    no_args_is_help=True,
)


# --- orders -----------------------------------------------------------------------------------


@order_app.command("pay")
def order_pay(
    order_id: int = typer.Argument(..., help="orderId"),
    reference: Optional[str] = typer.Option(None, "--reference", help="Payment reference (bank transfer id…)."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Confirm an order's payment: credits its account once (confirming again changes nothing)."""
    with session_for(database_url) as session:
        result = orders.confirm_payment(session, order_id, actor="admin (cli)", provider="manual", reference=reference)
        order = orders.get_order(session, order_id)
        data = orders.order_summary(session, order)
        data["credited"] = result.credited
        data["creditsLeft"] = accounts.credits_left(session, order.account_id)
    if not as_json and not result.credited:
        console.print(f"order {order_id} was already {result.status}: nothing credited")
    emit(data, as_json, f"Order {order_id}")


@order_app.command("cancel")
def order_cancel(order_id: int = typer.Argument(...), database_url: Optional[str] = DbOption, as_json: bool = JsonOption) -> None:
    """Cancel an unpaid order."""
    with session_for(database_url) as session:
        order = orders.cancel_order(session, order_id, actor="admin (cli)")
        emit(orders.order_summary(session, order), as_json, f"Order {order_id}")


@order_app.command("show")
def order_show(order_id: int = typer.Argument(...), database_url: Optional[str] = DbOption, as_json: bool = JsonOption) -> None:
    """One order."""
    with session_for(database_url) as session:
        emit(orders.order_summary(session, orders.get_order(session, order_id)), as_json, f"Order {order_id}")


@order_app.command("create")
def order_create(
    service: str = typer.Option(..., "--service"),
    quantity: int = typer.Option(..., "--quantity"),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Create an order on a customer's behalf (as POST /order/sms/{serviceName}/credits does)."""
    book = prices_of(settings_for(database_url))
    with session_for(database_url) as session:
        account = admin.get_account(session, service)
        order = orders.create_order(session, account, quantity, actor="admin (cli)", book=book)
        emit(orders.order_summary(session, order), as_json, f"Order {order.id}")


@order_app.command("list")
def order_list(
    service: Optional[str] = typer.Option(None, "--service"),
    status: Optional[str] = typer.Option(None, "--status", help="notPaid, delivered or cancelled."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """List orders, oldest first."""
    with session_for(database_url) as session:
        account_id = admin.get_account(session, service).id if service else None
        rows = [orders.order_summary(session, o) for o in orders.list_orders(session, account_id=account_id, status=status)]
    if as_json:
        print(json.dumps({"orders": rows}))
        return
    cols = ("orderId", "serviceName", "quantity", "withTax", "status", "reason", "date", "paidAt")
    table = Table(title="Orders")
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*("" if r[c] is None else str(r[c]) for c in cols))
    console.print(table)


# --- transfers --------------------------------------------------------------------------------


@transfer_app.command("allow")
def transfer_allow(
    source: str = typer.Option(..., "--from", help="serviceName credits may leave."),
    target: str = typer.Option(..., "--to", help="serviceName (of another customer) they may go to."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Allow transfers from one account to another customer's account."""
    with session_for(database_url) as session:
        transfers.allow(session, admin.get_account(session, source), admin.get_account(session, target), actor="admin (cli)")
    emit({"from": source, "to": target, "allowed": True}, as_json)


@transfer_app.command("revoke")
def transfer_revoke(
    source: str = typer.Option(..., "--from"),
    target: str = typer.Option(..., "--to"),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Withdraw a permission given by textos transfer allow."""
    with session_for(database_url) as session:
        transfers.revoke(session, admin.get_account(session, source), admin.get_account(session, target))
    emit({"from": source, "to": target, "allowed": False}, as_json)


@transfer_app.command("run")
def transfer_run(
    source: str = typer.Option(..., "--from"),
    target: str = typer.Option(..., "--to"),
    credits: float = typer.Option(..., "--credits"),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Transfer credits now (same rules as the API: same customer or allowed, within free credits)."""
    with session_for(database_url) as session:
        result = transfers.transfer(session, admin.get_account(session, source), target, credits, actor="admin (cli)")
    emit({"from": result.source, "to": result.target, "credits": result.credits,
           "fromCreditsLeft": result.source_credits_left, "toCreditsLeft": result.target_credits_left}, as_json)


# --- quotas -----------------------------------------------------------------------------------


def _quota(service: str, credits: float, hold: bool, reason: str, database_url: str | None, as_json: bool) -> None:
    with session_for(database_url) as session:
        account = admin.get_account(session, service)
        milli = ledger.to_milli(credits)
        if hold:
            ledger.hold_for_quota(session, account.id, milli, actor="admin (cli)", reason=reason)
        else:
            ledger.release_quota(session, account.id, milli, actor="admin (cli)", reason=reason)
        session.refresh(account)
        data = {"serviceName": service, "creditsLeft": ledger.to_credits(account.credits_milli),
                "creditsHoldByQuota": ledger.to_credits(account.credits_held_milli)}
    emit(data, as_json)


@quota_app.command("hold")
def quota_hold(
    service: str = typer.Option(..., "--service"),
    credits: float = typer.Option(..., "--credits"),
    reason: str = typer.Option("quota", "--reason"),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Set free credits aside: they move from creditsLeft to creditsHoldByQuota."""
    _quota(service, credits, True, reason, database_url, as_json)


@quota_app.command("release")
def quota_release(
    service: str = typer.Option(..., "--service"),
    credits: float = typer.Option(..., "--credits"),
    reason: str = typer.Option("quota released", "--reason"),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Give set-aside credits back: they move from creditsHoldByQuota to creditsLeft."""
    _quota(service, credits, False, reason, database_url, as_json)


# --- prices -----------------------------------------------------------------------------------


def prices(
    config: Optional[str] = typer.Option(None, "--config", help="TOML settings file (default ./textos.toml)."),
    as_json: bool = JsonOption,
) -> None:
    """Show the price book in effect (packs, tax rate, credits per country)."""
    book = prices_of(load_settings(config))
    data = book.as_dict()
    if as_json:
        print(json.dumps(data))
        return
    table = Table(title=f"Packs ({book.currency}, without tax; tax {float(book.tax_rate) * 100:g} %)")
    for c in ("from credits", "to (excluded)", "price per credit"):
        table.add_column(c)
    for p in data["packs"]:
        table.add_row(str(p["min"]), "" if p["max"] is None else str(p["max"]), str(p["creditPrice"]))
    console.print(table)
    console.print(f"credits per SMS part: default {book.rates.default:g}; "
                  + (", ".join(f"{k} {v:g}" for k, v in data["creditRates"].items()) or "no country overrides"))


def register(app: typer.Typer) -> None:
    app.add_typer(order_app, name="order")
    app.add_typer(transfer_app, name="transfer")
    app.add_typer(quota_app, name="quota")
    app.command("prices")(prices)
