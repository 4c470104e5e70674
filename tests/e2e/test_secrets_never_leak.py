"""Secrets never leak: a whole day of a deployment on a real server (JSON logs, the most verbose
format) — keys made by the CLI and asked for through the API and validated on its page, users with
passwords, http2sms with a user's password (right and wrong, GET and POST), a dashboard operator and
a customer logging in and out, callbacks with a token in their URL, an export and an order — with
every answer recorded (status line, headers, body) and every log line kept. Then each secret made is
looked for everywhere: it is in the one answer that made it (and, for the few that are bearer
links, the answers their owner is shown them in by OVH's design), and nowhere else, never in a log."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Iterator

import httpx
import pytest

from api_world import Key, handset
from callback_sink import CallbackSink
from helpers import BACKENDS, Server, start_server, stop_server, wait_until

D = "/dashboard"


@dataclass
class Exchange:
    """One request and its answer, as a client saw them."""

    method: str
    url: str
    sent: str
    """What the request carried: URL, headers and body."""
    answer: str
    """Status, headers and body."""


class Recorder:
    """An ``httpx.Client`` keeping every exchange."""

    def __init__(self, base: str) -> None:
        self.exchanges: list[Exchange] = []
        self.client = httpx.Client(base_url=base, event_hooks={"response": [self._keep]}, timeout=30)

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        request.read()
        sent = f"{request.url}\n{request.headers}\n{request.content.decode(errors='replace')}"
        answer = f"{response.status_code}\n{response.headers}\n{response.text}"
        self.exchanges.append(Exchange(request.method, str(request.url), sent, answer))

    def key(self, server: Server, app_key: str, app_secret: str, consumer_key: str, nic: str) -> Key:
        return Key(server, app_key, app_secret, consumer_key, nic, http=self.client)


@pytest.fixture(scope="module")
def verbose(make_database, tmp_path_factory) -> Iterator[Server]:
    """A server logging JSON (an access line per request, every line with its fields)."""
    backend = BACKENDS[0]
    srv = start_server(make_database(backend), tmp_path_factory.mktemp("verbose"), backend, args=["--log-format", "json"],
                       extra_env={"TEXTOS_CALLBACK_BACKOFF": "0.2"})
    yield srv
    stop_server(srv)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _dashboard(rec: Recorder, kind: str, name: str, password: str) -> str:
    """Log in to the dashboard, look at every page, log out; the session's token."""
    http = rec.client
    http.cookies.clear()
    http.post(f"{D}/login", data={"csrf": _csrf(http.get(f"{D}/login").text), "kind": kind, "nic": name, "password": password + "x"})
    answer = http.post(f"{D}/login", data={"csrf": _csrf(http.get(f"{D}/login").text), "kind": kind, "nic": name, "password": password})
    assert answer.status_code == 303, answer.text
    token = answer.cookies["textos_session"]
    pages = ["/", "/accounts", "/campaigns", "/queue", "/incoming", "/callbacks", "/users"] + (["/orders", "/senders"] if kind == "operator" else [])
    for page in pages:
        assert http.get(D + page, follow_redirects=True).status_code == 200, page
    http.post(f"{D}/logout", data={"csrf": _csrf(http.get(f"{D}/accounts").text)})
    assert http.get(f"{D}/accounts", follow_redirects=True).url.path == f"{D}/login"
    return token


def test_no_secret_is_shown_twice_nor_logged(verbose: Server):
    server = verbose
    base = f"http://127.0.0.1:{server.port}"
    rec = Recorder(base)
    made: dict[str, tuple[str, str]] = {}
    """Each secret: (its value, where it may be seen: 'made' = the answer that made it only,
    'carried' = also answers to requests that carry it, 'owner' = also answers to its owner)."""

    # --- the operator's CLI: a customer, an account, an application, a key, an operator -------
    nic = f"sl{secrets.randbelow(10**5):05d}-{secrets.token_hex(3)}"
    customer_password = "customer-" + secrets.token_hex(8)
    server.cli("customer", "create", "--nic", nic, "--password", customer_password)
    service = server.cli("account", "create", "--nic", nic, "--credits", "1000")["serviceName"]
    application = server.cli("app", "create", "--name", "crm", "--nic", nic)
    app_key, app_secret = application["applicationKey"], application["applicationSecret"]
    rules = [a for m in ("GET", "POST", "PUT", "DELETE") for a in ("--rule", f"{m} /*")]
    cli_key = server.cli("credential", "create", "--app", app_key, "--nic", nic, *rules)["consumerKey"]
    operator_password = "operator-" + secrets.token_hex(8)
    server.cli("admin", "create", "--login", f"op-{nic}", "--password", operator_password)
    made |= {"customer password": (customer_password, "made"), "application secret": (app_secret, "made"),
             "consumer key (CLI)": (cli_key, "made"), "operator password": (operator_password, "made")}

    # --- a key asked for through the API, refused once on its page, then validated -------------
    asked = rec.client.post("/1.0/auth/credential", headers={"X-Ovh-Application": app_key},
                            json={"accessRules": [{"method": m, "path": "/*"} for m in ("GET", "POST", "PUT", "DELETE")]}).json()
    api_key, validation_url = asked["consumerKey"], asked["validationUrl"]
    token = validation_url.split("credentialToken=")[1]
    made |= {"consumer key (API)": (api_key, "made"), "validation token": (token, "carried")}
    page = rec.client.get(validation_url.removeprefix(base)).text
    form = {"credentialToken": _csrf_free(page), "nic": nic, "validity": "1d", "decision": "accept"}
    assert rec.client.post("/auth/", data={**form, "password": "wrong-" + customer_password}).status_code == 403
    assert rec.client.post("/auth/", data={**form, "password": customer_password}).status_code == 200
    key = rec.key(server, app_key, app_secret, api_key, nic)
    assert service in key.ok("GET", "/sms")

    # --- users with passwords, http2sms with them ----------------------------------------------
    alice_password, alice_new, bob_password = (f"Pw{secrets.token_hex(3)}" for _ in range(3))
    made |= {"alice's password": (alice_password, "never"), "alice's new password": (alice_new, "never"),
             "bob's password": (bob_password, "never")}
    key.ok("POST", f"/sms/{service}/users", {"login": "alice", "password": alice_password})
    key.ok("POST", f"/sms/{service}/users", {"login": "bob", "password": bob_password})
    key.ok("PUT", f"/sms/{service}/users/alice", {"password": alice_new})
    assert key.call("POST", f"/sms/{service}/users", {"login": "carol", "password": alice_new + "!"}).status_code == 400
    for password in (alice_password, bob_password, alice_new):  # two wrong ones, then the right one
        for form_post in (False, True):
            params = {"account": service, "login": "alice", "password": password, "to": handset(), "message": "hi",
                      "noStop": "1", "contentType": "text/json"}
            answer = (rec.client.post("/cgi-bin/sms/http2sms.cgi", data=params) if form_post
                      else rec.client.get("/cgi-bin/sms/http2sms.cgi", params=params))
            assert answer.json()["status"] == (100 if password == alice_new else 401)

    # --- callbacks with a token in their URL, jobs, an export, an order, key listings --------------
    with CallbackSink() as sink:
        callback_token = secrets.token_hex(16)
        made["callback URL token"] = (callback_token, "owner")
        key.ok("PUT", f"/sms/{service}", {"callBack": sink.url(f"/dlr?token={callback_token}")})
        sent = key.ok("POST", f"/sms/{service}/jobs", {"message": "hello", "noStopClause": True, "receivers": [handset(), handset()]})
        sink.wait_for(4, path="/dlr")  # sent and delivered, each message
        sink.answer = lambda request: 500  # a receiver failing: logged retries must not show the URL's token either
        key.ok("POST", f"/sms/{service}/jobs", {"message": "again", "noStopClause": True, "receivers": [handset()]})
        sink.wait_for(6, path="/dlr")
    told = "\n".join(f"{r.path}?{r.query} {r.body!r}" for r in sink.received())
    for message in sent["ids"]:
        key.ok("GET", f"/sms/{service}/outgoing/{message}")
    key.ok("GET", f"/sms/{service}")
    key.ok("GET", f"/sms/{service}/callbacks")
    document = key.ok("GET", f"/sms/{service}/document", query={"wayType": "outgoing"})
    get_url = wait_until(lambda: (d := key.ok("GET", f"/me/document/{document}"))["size"] and d["getUrl"], what="the export")
    made["export link token"] = (get_url.rsplit("/", 1)[1], "owner")
    assert rec.client.get(get_url.removeprefix(base)).status_code == 200
    order = key.ok("POST", f"/order/sms/{service}/credits", {"quantity": 100})
    made["order payment token"] = (order["url"].rsplit("/", 1)[1], "owner")
    assert rec.client.get(order["url"].removeprefix(base)).status_code == 200
    key.ok("GET", f"/me/order/{order['orderId']}")
    for path in ("/auth/currentCredential", "/me/api/credential", "/me/api/application", "/auth/details"):
        key.ok("GET", path)
    for credential in key.ok("GET", "/me/api/credential"):
        key.ok("GET", f"/me/api/credential/{credential}")

    # --- the dashboard: the operator, then the customer ---------------------------------------------
    made["operator's session"] = (_dashboard(rec, "operator", f"op-{nic}", operator_password), "made")
    made["customer's session"] = (_dashboard(rec, "customer", nic, customer_password), "made")
    key.ok("POST", "/auth/logout")

    # --- where each secret was seen ----------------------------------------------------------------
    stop_server(server)  # every log line written
    log = server.log()
    assert '"textos.access"' in log or "textos.access" in log, "the JSON access log is on"
    leaks = [f"{name} in the server log" for name, (value, _) in made.items() if value in log]
    leaks += [f"{name} told to the callback URL" for name, (value, _) in made.items() if value in told and name != "callback URL token"]
    for name, (value, where) in made.items():
        seen = [x for x in rec.exchanges if value in x.answer]
        if where == "made":
            seen = seen[1:] if seen and _made_here(seen[0], name) else seen
        elif where == "carried":
            seen = [x for x in seen if value not in x.sent and not _made_here(x, name)]
        elif where == "owner":
            seen = [x for x in seen if not _owners_view(x)]
        leaks += [f"{name} in the answer to {x.method} {x.url}" for x in seen]
    assert not leaks, "\n".join(leaks)


def _csrf_free(page: str) -> str:
    """The validation page's token field (the page is the key's, not the dashboard's)."""
    return re.search(r'name="credentialToken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _made_here(exchange: Exchange, name: str) -> bool:
    """The answer that makes the secret ``name`` (the dashboard's login sets the session cookie)."""
    if "session" in name:
        return exchange.method == "POST" and exchange.url.endswith(f"{D}/login")
    return exchange.method == "POST" and exchange.url.endswith("/1.0/auth/credential")


def _owners_view(exchange: Exchange) -> bool:
    """Answers that show their owner a bearer link or their own URL (OVH's ``getUrl``, order ``url``
    and ``password``, ``callBack``): signed calls, the pages those links open, and the dashboard (a
    customer's own callbacks page, and the operator's, who sees every account)."""
    signed = "x-ovh-signature" in exchange.sent.lower()
    return signed or "/1.0/pay/" in exchange.url or f"{D}/callbacks" in exchange.url
