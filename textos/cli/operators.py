"""``textos admin create``: operators of the dashboard (``/dashboard``)."""

from __future__ import annotations

from typing import Optional

import typer

from textos.cli.common import DbOption, JsonOption, emit, session_for
from textos.services import operators

__all__ = ["register"]

admin_app = typer.Typer(help="Operators of the web dashboard (/dashboard).", no_args_is_help=True)


@admin_app.command("create")
def create(
    login: str = typer.Option(..., "--login", help="The operator's login on /dashboard/login."),
    password: Optional[str] = typer.Option(None, "--password", help="At least 12 characters; generated when omitted."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Create an operator: logs in to /dashboard as "Operator", sees every account, confirms orders, validates senders."""
    with session_for(database_url) as session:
        operator, pwd = operators.create_operator(session, login, password)
        emit({"login": operator.login, "password": pwd}, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(admin_app, name="admin")
