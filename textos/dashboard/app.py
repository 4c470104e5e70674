"""Routes of ``/dashboard``: login and logout, then one page per view, every form CSRF-protected.

Sessions are server-side (``services.dashboard_sessions``): the cookie ``textos_session`` holds
a random token, ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when the request came over HTTPS
(directly or through a trusted proxy's ``X-Forwarded-Proto``), scoped to ``/dashboard``.

CSRF: every form carries a token. After login it is the session's (synchronizer token, stored
with the session); the login form itself, before any session, uses a double-submit token (a
random cookie ``textos_login_csrf`` repeated in the form). A POST whose token does not match
is refused with 403 and changes nothing. ``SameSite=Lax`` already keeps the cookie off
cross-site POSTs; the token is the second lock.

Charts are inline SVG drawn on the server (``dashboard.charts``, called by the templates); the
live view refreshes itself with ``<meta http-equiv=refresh>`` (no script at all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from textos.config import Settings
from textos.dashboard import charts, report_charts
from textos.domain.errors import NotFound, TextosError, TooManyRequests
from textos.domain.pricing import to_credits
from textos.services import batches, callbacks, dashboard_sessions as sessions, dashboard_views as views, orders, reports, senders
from textos.services.dashboard_sessions import Who
from textos.services.password_guard import PasswordGuard
from textos.storage.db import Database

PREFIX = "/dashboard"
SESSION_COOKIE = "textos_session"
LOGIN_CSRF_COOKIE = "textos_login_csrf"
QUEUE_REFRESH_SECONDS = 5

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.globals.update(charts=charts, Bar=charts.Bar, report_charts=report_charts)
_templates.filters.update(percent=report_charts.percent, duration=report_charts.duration, credits=to_credits)

Page = Callable[[Request, Who], Awaitable[Response]]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="lax", secure=_secure(request))


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(name).render(prefix=PREFIX, **context), status_code=status,
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                                            "form-action 'self'; frame-ancestors 'none'"})


class Dashboard:
    """The pages, on one database, its settings and the password guard every password check goes through."""

    def __init__(self, db: Database, settings: Settings, guard: PasswordGuard) -> None:
        self.db, self.settings, self.guard = db, settings, guard

    # --- sessions ------------------------------------------------------------------------------

    async def _who(self, request: Request) -> Who | None:
        return await run_in_threadpool(sessions.who, self.db, request.cookies.get(SESSION_COOKIE))

    def page(self, handler: Page, *, operator: bool = False, post: bool = False) -> Callable[[Request], Awaitable[Response]]:
        """``handler`` for a logged-in person (else to the login page); a POST must carry the session's CSRF token."""

        async def endpoint(request: Request) -> Response:
            who = await self._who(request)
            if who is None:
                if post:
                    return render("error.html", 403, who=None, message="Your session has ended: log in again.")
                return RedirectResponse(f"{PREFIX}/login", status_code=303)
            if operator and not who.operator:
                return render("error.html", 403, who=who, message="Operators only.")
            if post:
                form = await request.form()
                if not sessions.tokens_match(who.csrf, _text(form.get("csrf"))):
                    return render("error.html", 403, who=who, message="This form has expired or was not sent by this site (CSRF).")
            try:
                return await handler(request, who)
            except TextosError as exc:
                return render("error.html", exc.status, who=who, message=str(exc))

        return endpoint

    async def login_page(self, request: Request) -> Response:
        if await self._who(request) is not None:
            return RedirectResponse(f"{PREFIX}/", status_code=303)
        return self._login_form(request)

    def _login_form(self, request: Request, *, error: str = "", status: int = 200, nic: str = "", kind: str = "customer") -> Response:
        token = sessions.new_token()
        response = render("login.html", status, who=None, csrf=token, error=error, nic=nic, kind=kind)
        _set_cookie(response, request, LOGIN_CSRF_COOKIE, token)
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not expected or not sessions.tokens_match(expected, _text(form.get("csrf"))):
            return render("error.html", 403, who=None, message="This form has expired or was not sent by this site (CSRF).")
        kind = sessions.OPERATOR if form.get("kind") == sessions.OPERATOR else sessions.CUSTOMER
        name, password = _text(form.get("nic")), _text(form.get("password"))
        address = request.client.host if request.client else None
        try:
            token = await run_in_threadpool(
                sessions.log_in, self.db, self.guard, kind, name, password, address, hours=self.settings.dashboard_session_hours
            )
        except TooManyRequests as exc:
            response = self._login_form(request, error="Too many failed attempts: try again later.", status=429, nic=name, kind=kind)
            response.headers["Retry-After"] = str(exc.retry_after or 60)
            return response
        if token is None:
            return self._login_form(request, error="Wrong login or password.", status=401, nic=name, kind=kind)
        response = RedirectResponse(f"{PREFIX}/", status_code=303)
        _set_cookie(response, request, SESSION_COOKIE, token, max_age=int(self.settings.dashboard_session_hours * 3600))
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
        return response

    async def logout(self, request: Request, who: Who) -> Response:
        await run_in_threadpool(sessions.log_out, self.db, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="lax", secure=_secure(request))
        return response

    # --- pages ---------------------------------------------------------------------------------

    def _read(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        def work() -> Any:
            with self.db.read() as session:
                return fn(session, *args)
        return run_in_threadpool(work)

    def _write(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        def work() -> Any:
            with self.db.session() as session:
                return fn(session, *args)
        return run_in_threadpool(work)

    async def home(self, request: Request, who: Who) -> Response:
        return RedirectResponse(f"{PREFIX}/accounts", status_code=303)

    async def accounts(self, request: Request, who: Who) -> Response:
        rows = await self._read(views.accounts_in_view, who)
        return render("accounts.html", who=who, accounts=rows, page="accounts")

    async def account(self, request: Request, who: Who) -> Response:
        service = request.path_params["service"]

        def work(session: Any) -> tuple[Any, list[dict[str, Any]]]:
            account = views.account_in_view(session, who, service)
            row = next(r for r in views.accounts_in_view(session, who) if r.id == account.id)
            return row, views.ledger_rows(session, account)

        row, ledger = await self._read(work)
        return render("account.html", who=who, account=row, ledger=ledger, page="accounts")

    async def campaigns(self, request: Request, who: Who) -> Response:
        def work(session: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            ids = views.account_ids(session, who)
            return views.campaigns(session, ids), views.batches(session, ids)

        tags, named = await self._read(work)
        return render("campaigns.html", who=who, campaigns=tags, batches=named, page="campaigns")

    async def campaign(self, request: Request, who: Who) -> Response:
        """The report of a tag (``services.reports``): its numbers and its four charts."""
        service, tag = request.path_params["service"], request.path_params["tag"]

        def work(session: Any) -> reports.Report:
            account = views.account_in_view(session, who, service)
            return reports.report(session, reports.Scope(account.id, tag=tag))

        report = await self._read(work)
        return render("campaign.html", who=who, service=service, heading=tag, tag=tag, batch=None, report=report, page="campaigns")

    async def batch(self, request: Request, who: Who) -> Response:
        """The report of a batch: the messages of its job, whatever their tag."""
        service, batch_id = request.path_params["service"], request.path_params["id"]

        def work(session: Any) -> tuple[dict[str, Any], reports.Report]:
            account = views.account_in_view(session, who, service)
            found = batches.get_batch(session, account.id, batch_id)
            view = {"id": found.id, "name": found.name, "status": found.status, "tag": found.tag}
            return view, reports.report(session, reports.Scope(account.id, batch_id=found.id))

        view, report = await self._read(work)
        return render("campaign.html", who=who, service=service, heading=view["name"] or view["id"], tag=None, batch=view,
                      report=report, page="campaigns")

    async def queue(self, request: Request, who: Who) -> Response:
        snapshot = await self._read(lambda s: views.queue(s, views.account_ids(s, who)))
        return render("queue.html", who=who, q=snapshot, refresh=QUEUE_REFRESH_SECONDS, page="queue")

    async def incoming(self, request: Request, who: Who) -> Response:
        rows = await self._read(lambda s: views.incoming(s, views.account_ids(s, who)))
        return render("incoming.html", who=who, messages=rows, page="incoming")

    async def callbacks_page(self, request: Request, who: Who) -> Response:
        status = request.query_params.get("status") or None

        def work(session: Any) -> list[dict[str, Any]]:
            if who.operator:
                return callbacks.list_views(session, status=status)
            rows: list[dict[str, Any]] = []
            for account in views.accounts_in_view(session, who):
                rows += callbacks.list_views(session, status=status, service=account.service_name)
            return sorted(rows, key=lambda r: r["id"], reverse=True)

        rows = await self._read(work)
        return render("callbacks.html", who=who, events=rows, shown=status or "", page="callbacks")

    async def replay(self, request: Request, who: Who) -> Response:
        form = await request.form()
        service, event_id = _text(form.get("service")), _int(request.path_params["id"])

        def work(session: Any) -> None:
            account = views.account_in_view(session, who, service)
            callbacks.replay(session, account.id, event_id)

        await self._write(work)
        return RedirectResponse(f"{PREFIX}/callbacks?replayed={event_id}", status_code=303)

    async def users(self, request: Request, who: Who) -> Response:
        rows = await self._read(lambda s: views.users(s, views.account_ids(s, who)))
        return render("users.html", who=who, users=rows, page="users")

    async def orders_page(self, request: Request, who: Who) -> Response:
        rows = await self._read(lambda s: [orders.order_summary(s, o) for o in orders.list_orders(s, status=orders.OrderStatus.NOT_PAID)])
        return render("orders.html", who=who, orders=rows, page="orders")

    async def confirm(self, request: Request, who: Who) -> Response:
        order_id = _int(request.path_params["id"])
        await self._write(lambda s: orders.confirm_payment(s, order_id, actor=f"operator:{who.name}", provider="dashboard"))
        return RedirectResponse(f"{PREFIX}/orders?confirmed={order_id}", status_code=303)

    async def senders_page(self, request: Request, who: Who) -> Response:
        rows = await self._read(views.senders_waiting)
        return render("senders.html", who=who, senders=rows, page="senders")

    async def decide_sender(self, request: Request, who: Who) -> Response:
        form = await request.form()
        service, name = _text(form.get("service")), _text(form.get("sender"))
        refusal = _text(form.get("refusal")).strip() if form.get("decision") == "refuse" else None

        def work(session: Any) -> None:
            account = views.account_in_view(session, who, service)
            senders.validate(session, account, name, refusal=refusal or ("refused" if refusal is not None else None))

        await self._write(work)
        return RedirectResponse(f"{PREFIX}/senders", status_code=303)

    def routes(self) -> Mount:
        p = self.page
        return Mount(PREFIX, routes=[
            Route("/", p(self.home)),
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", p(self.logout, post=True), methods=["POST"]),
            Route("/accounts", p(self.accounts)),
            Route("/accounts/{service}", p(self.account)),
            Route("/campaigns", p(self.campaigns)),
            Route("/campaigns/{service}/{tag:path}", p(self.campaign)),
            Route("/batches/{service}/{id}", p(self.batch)),
            Route("/queue", p(self.queue)),
            Route("/incoming", p(self.incoming)),
            Route("/callbacks", p(self.callbacks_page)),
            Route("/callbacks/{id}/replay", p(self.replay, post=True), methods=["POST"]),
            Route("/users", p(self.users)),
            Route("/orders", p(self.orders_page, operator=True)),
            Route("/orders/{id}/confirm", p(self.confirm, operator=True, post=True), methods=["POST"]),
            Route("/senders", p(self.senders_page, operator=True)),
            Route("/senders/decide", p(self.decide_sender, operator=True, post=True), methods=["POST"]),
        ])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise NotFound(f"id: {value!r} does not exist")
    return int(value)


def mount(db: Database, settings: Settings, guard: PasswordGuard) -> Mount:
    """``/dashboard``, for the composition root to add to the app."""
    return Dashboard(db, settings, guard).routes()
