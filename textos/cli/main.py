"""The ``textos`` command: run the server, and administer customers, accounts and keys."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from textos.cli.common import DbOption, JsonOption, console, emit, err, session_for, settings_for
from textos.config import load_settings
from textos.services import accounts, admin, credentials, movements, senders
from textos.services.quickstart import quickstart as set_up_demo
from textos.storage import ledger
from textos.storage.db import Database

SmscOption = typer.Option(
    [], "--smsc", metavar="URL", help="Add a carrier (repeatable): smpp://system_id:password@host:port?window=64&tps=500"
)

app = typer.Typer(
    help="Textos: a self-hostable SMS platform, wire-compatible with the OVHcloud SMS API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Click's plain help: typer's rich one labels every flag "<bool>" as if it took a value.
    rich_markup_mode=None,
)
customer_app = typer.Typer(help="Customers (nic handles).", no_args_is_help=True)
account_app = typer.Typer(help="SMS accounts (serviceName).", no_args_is_help=True)
credits_app = typer.Typer(help="Credits of an SMS account.", no_args_is_help=True)
application_app = typer.Typer(help="API applications (application key + secret).", no_args_is_help=True)
credential_app = typer.Typer(help="Consumer keys and their access rules.", no_args_is_help=True)
sender_app = typer.Typer(help="Senders of an SMS account.", no_args_is_help=True)
app.add_typer(customer_app, name="customer")
app.add_typer(account_app, name="account")
app.add_typer(credits_app, name="credits")
app.add_typer(application_app, name="app")
app.add_typer(credential_app, name="credential")
app.add_typer(sender_app, name="sender")


@app.command()
def serve(
    host: str = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port (default 8080)."),
    database_url: Optional[str] = DbOption,
    public_url: Optional[str] = typer.Option(None, "--public-url", help="Base URL clients sign against, behind a reverse proxy."),
    smsc: list[str] = SmscOption,
    config: Optional[str] = typer.Option(None, "--config", help="TOML settings file (default ./textos.toml)."),
    no_dispatch: bool = typer.Option(
        False, "--no-dispatch", help="Serve the API only; textos dispatch delivers (one on SQLite, any number on PostgreSQL)."
    ),
    workers: int = typer.Option(None, "--workers", min=1, help="API processes (default 1); more than one needs PostgreSQL."),
    tls_cert: Optional[str] = typer.Option(None, "--tls-cert", help="Serve HTTPS with this PEM certificate (textos tls selfsigned makes one)."),
    tls_key: Optional[str] = typer.Option(None, "--tls-key", help="The PEM private key of --tls-cert."),
    log_format: Optional[str] = typer.Option(
        None, "--log-format", help="text (default) or json: one JSON object per line, with the request id (X-Ovh-Queryid)."
    ),
) -> None:
    """Run the API, the dispatcher and the built-in SMSC simulator in one process."""
    from textos.server import serve as run

    settings = load_settings(
        config, database_url=database_url, host=host, port=port, public_url=public_url, workers=workers, tls_cert=tls_cert, tls_key=tls_key,
        log_format=log_format,
    )
    if smsc:
        settings.smsc_urls = [*settings.smsc_urls, *smsc]
    run(settings, dispatch=not no_dispatch)


@app.command()
def dispatch(
    database_url: Optional[str] = DbOption,
    smsc: list[str] = SmscOption,
    config: Optional[str] = typer.Option(None, "--config", help="TOML settings file (default ./textos.toml)."),
    metrics_port: Optional[int] = typer.Option(
        None, "--metrics-port", help="Serve this dispatcher's Prometheus metrics (its carriers) on --host (127.0.0.1) at this port."
    ),
    log_format: Optional[str] = typer.Option(None, "--log-format", help="text (default) or json: one JSON object per line."),
) -> None:
    """Run a dispatcher without the API. On PostgreSQL several can share the queue."""
    from textos.server import dispatch as run

    settings = load_settings(config, database_url=database_url, metrics_port=metrics_port, log_format=log_format)
    if smsc:
        settings.smsc_urls = [*settings.smsc_urls, *smsc]
    run(settings)


@app.command()
def migrate(database_url: Optional[str] = DbOption) -> None:
    """Apply database migrations (textos serve does it at start too)."""
    db = Database.of(settings_for(database_url))
    db.migrate()
    db.dispose()
    console.print("database is up to date")


@app.command()
def quickstart(
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="API endpoint to print (default from settings)."),
) -> None:
    """Create (once) a demo customer, account with 100 credits and application; issue an all-rights key.

    Consumer keys are stored as digests: a key issued by an earlier run cannot be shown again, so
    every run issues a new one (earlier ones keep working until revoked)."""
    settings = settings_for(database_url)
    with session_for(database_url) as session:
        qs = set_up_demo(session)
    scheme = "https" if settings.tls_cert else "http"
    base = endpoint or (settings.public_url.rstrip("/") + "/1.0" if settings.public_url else f"{scheme}://{settings.host}:{settings.port}/1.0")
    data = {
        "endpoint": base,
        "nic": qs.nic,
        "applicationKey": qs.application_key,
        "applicationSecret": qs.application_secret,
        "consumerKey": qs.consumer_key,
        "serviceName": qs.service_name,
        "newConsumerKey": True,
    }
    if qs.password:
        data["password"] = qs.password
    if as_json:
        print(json.dumps(data))
        return
    emit(data, False, "Textos quickstart" + (" (created)" if qs.created else " (already set up)"))
    if not qs.created:
        console.print(
            "This is a [bold]new consumer key[/bold]: keys are stored hashed and cannot be shown again.\n"
            "Keys printed by earlier runs keep working (revoke one with: textos credential revoke KEY)."
        )
    console.print("\n[bold]Try it[/bold] (Python, pip install ovh):")
    print(try_it(base, qs.application_key, qs.application_secret, qs.consumer_key, qs.service_name))


def try_it(endpoint: str, application_key: str, application_secret: str, consumer_key: str, service_name: str) -> str:
    """Python sending a first SMS with these keys: unindented and one statement a line (printed as is, never
    wrapped, so that it can be pasted into Python from a terminal or a file)."""
    return "\n".join([
        "import ovh",
        f"ovh.client.ENDPOINTS['textos'] = {endpoint!r}",
        f"client = ovh.Client(endpoint='textos', application_key={application_key!r}, "
        f"application_secret={application_secret!r}, consumer_key={consumer_key!r})",
        f"print(client.post('/sms/{service_name}/jobs', message='Hello', receivers=['+33612345678'], noStopClause=True))",
    ])


@customer_app.command("create")
def customer_create(
    nic: str = typer.Option(..., "--nic"),
    password: Optional[str] = typer.Option(None, "--password", help="Generated when omitted."),
    name: str = typer.Option("", "--name"),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a customer (nic handle + password)."""
    with session_for(database_url) as session:
        customer, pwd = admin.create_customer(session, nic, password, name=name)
        emit({"nic": customer.nic, "password": pwd}, as_json)


@account_app.command("create")
def account_create(
    nic: str = typer.Option(..., "--nic"),
    credits: float = typer.Option(0, "--credits"),
    service_name: Optional[str] = typer.Option(None, "--service-name", help="Generated (sms-ab12345-1) when omitted."),
    countries: Optional[str] = typer.Option(None, "--countries", help="Allowed destinations, e.g. FR,BE (default from settings)."),
    description: str = typer.Option("", "--description"),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Create an SMS account for a customer."""
    with session_for(database_url) as session:
        account = admin.create_account(
            session, nic, credits, service_name=service_name, description=description,
            allowed_countries=[c.strip() for c in countries.split(",")] if countries else (),
        )
        emit({"serviceName": account.service_name, "creditsLeft": ledger.to_credits(account.credits_milli)}, as_json)


@account_app.command("list")
def account_list(database_url: Optional[str] = DbOption, as_json: bool = JsonOption) -> None:
    """List SMS accounts and their credits."""
    with session_for(database_url) as session:
        data = accounts.balances(session)
    if as_json:
        print(json.dumps({"accounts": [{"serviceName": k, "creditsLeft": v} for k, v in data.items()]}))
        return
    table = Table(title="SMS accounts")
    table.add_column("serviceName")
    table.add_column("creditsLeft", justify="right")
    for service_name, credits in data.items():
        table.add_row(service_name, str(credits))
    console.print(table)


@credits_app.command("add")
def credits_add(
    service: str = typer.Option(..., "--service"),
    credits: float = typer.Option(..., "--credits", help="Negative to remove."),
    reason: str = typer.Option("manual adjustment", "--reason"),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Add credits to an account (a ledger adjustment)."""
    with session_for(database_url) as session:
        balance = admin.add_credits(session, service, credits, actor="cli", reason=reason)
        emit({"serviceName": service, "creditsLeft": balance}, as_json)


@app.command("ledger")
def ledger_show(
    service: str = typer.Option(..., "--service"),
    limit: int = typer.Option(50, "--limit"),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only these kinds (comma-separated), e.g. purchase,transfer_in."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Show an account's credit movements, newest first, and check its balances against them."""
    with session_for(database_url) as session:
        account = admin.get_account(session, service)
        entries = movements.history(session, account.id, kinds=movements.parse_kinds(kind), limit=limit)
        rows = [movements.admin_entry_view(e) for e in entries]
        consistent = ledger.verify(session, account.id)
        session.refresh(account)
        totals = {"creditsLeft": ledger.to_credits(account.credits_milli),
                  "creditsHoldByQuota": ledger.to_credits(account.credits_held_milli)}
    if as_json:
        print(json.dumps({"serviceName": service, **totals, "consistent": consistent, "entries": rows}))
        return
    table = Table(title=f"Ledger of {service}")
    for col in ("id", "date", "kind", "credits", "balance", "actor", "reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("id", "date", "kind", "credits", "balance", "actor", "reason")))
    console.print(table)
    console.print(f"creditsLeft {totals['creditsLeft']:g}, creditsHoldByQuota {totals['creditsHoldByQuota']:g}")
    console.print("balances match the ledger" if consistent else "[red]balances do NOT match the ledger[/red]")


@application_app.command("create")
def application_create(
    name: str = typer.Option("", "--name"),
    description: str = typer.Option("", "--description"),
    nic: Optional[str] = typer.Option(None, "--nic", help="Owner customer (optional)."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Create an application (application key + secret)."""
    with session_for(database_url) as session:
        application = admin.create_application(session, name, description, nic)
        emit({"applicationKey": application.app_key, "applicationSecret": application.app_secret}, as_json)


@credential_app.command("create")
def credential_create(
    app_key: str = typer.Option(..., "--app", help="Application key."),
    nic: str = typer.Option(..., "--nic"),
    rule: list[str] = typer.Option(..., "--rule", metavar="RULE", help='Access rule "METHOD /path" (repeatable), e.g. "GET /sms/*".'),
    allowed_ip: list[str] = typer.Option([], "--allowed-ip", metavar="CIDR", help="IP block allowed to use the key (repeatable)."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a validated consumer key for a customer, limited to access rules."""
    from textos.domain.access_rules import RuleError

    with session_for(database_url) as session:
        try:
            cred = credentials.create_credential(session, app_key, nic, rule, allowed_ips=allowed_ip or None)
        except RuleError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        emit({"consumerKey": cred.consumer_key}, as_json)


@credential_app.command("list")
def credential_list(
    nic: Optional[str] = typer.Option(None, "--nic", help="One customer's keys."),
    app_key: Optional[str] = typer.Option(None, "--app", help="One application's keys (application key)."),
    status: Optional[str] = typer.Option(None, "--status", help="expired, pendingValidation, refused, validated or deleted."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Consumer keys (api.Credential, with the customer's nic and the application key), oldest first."""
    with session_for(database_url) as session:
        customer_id = admin.get_customer(session, nic).id if nic else None
        views = credentials.operator_views(session, customer_id=customer_id, app_key=app_key, status=status)
    if as_json:
        print(json.dumps(views))
        return
    table = Table("id", "nic", "app", "status", "created", "expires", "lastUse", "rules")
    for v in views:
        rules = ", ".join(f"{r['method']} {r['path']}" for r in v["rules"])
        table.add_row(str(v["credentialId"]), v["nic"] or "", v["applicationKey"], v["status"], v["creation"], v["expiration"] or "", v["lastUse"] or "", rules)
    console.print(table)


@credential_app.command("revoke")
def credential_revoke(
    consumer_key: Optional[str] = typer.Argument(None, help="The consumer key to revoke."),
    credential_id: Optional[int] = typer.Option(None, "--id", help="Or the key's credentialId (textos credential list)."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Revoke a consumer key: refused from its next request on, by every server process."""
    if (consumer_key is None) == (credential_id is None):
        err.print("[red]error:[/red] give the consumer key or --id, one of them")
        raise typer.Exit(2)
    with session_for(database_url) as session:
        if consumer_key is not None:
            credential_id = credentials.revoke(session, consumer_key)
        elif credential_id is not None:
            credential_id = credentials.revoke_id(session, credential_id)
    emit({"credentialId": credential_id, "status": credentials.CredentialState.EXPIRED}, as_json)


@sender_app.command("add")
def sender_add(
    service: str = typer.Option(..., "--service"),
    sender: str = typer.Option(..., "--sender"),
    description: str = typer.Option("", "--description"),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Register an enabled sender on an account (operator side: no validation step)."""
    with session_for(database_url) as session:
        row = senders.register(session, admin.get_account(session, service), sender, description=description)
        emit({"serviceName": service, "sender": row.sender, "status": row.status}, as_json)


@sender_app.command("validate")
def sender_validate(
    service: str = typer.Option(..., "--service"),
    sender: str = typer.Option(..., "--sender"),
    refuse: Optional[str] = typer.Option(None, "--refuse", help="Refuse instead, with this comment."),
    database_url: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Validate (or refuse) a sender a customer asked for."""
    with session_for(database_url) as session:
        row = senders.validate(session, admin.get_account(session, service), sender, refusal=refuse)
        emit({"serviceName": service, "sender": row.sender, "status": row.status}, as_json)


def _register_subcommands() -> None:
    from textos.cli import billing, callbacks, consumption, incoming, numbers, operators, report, send, smsc, tls

    for module in (smsc, send, billing, tls, numbers, incoming, callbacks, consumption, report, operators):
        module.register(app)


_register_subcommands()

if __name__ == "__main__":
    app()
