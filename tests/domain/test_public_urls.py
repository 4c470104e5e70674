"""Which URLs Textos may call (domain/public_urls.py): http(s), public addresses only, resolved addresses never shown."""

from __future__ import annotations

import ast
import ipaddress
import re
from pathlib import Path

import pytest
from outbound_attacks import ATTACKS, Attack, FakeDns

import textos
from textos.domain.public_urls import UrlRefused, address_refusal, check_public_url


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "not globally routable"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_address_policy(address: str, reason: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == reason


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return FakeDns(monkeypatch)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.form)
def test_every_attack_form_is_refused_with_the_system_resolver(attack: Attack) -> None:
    with pytest.raises(UrlRefused) as refused:
        check_public_url(attack.at(8080), allow_private=False, timeout=5)
    assert re.search(attack.refusal, refused.value.message), refused.value.message


def test_public_names_and_addresses_pass(dns: FakeDns) -> None:
    dns.answer("crm.example.test", ["93.184.215.14", "2606:4700:4700::1111"])
    assert check_public_url("https://crm.example.test/dlr?x=1", allow_private=False, timeout=1) == "https://crm.example.test/dlr?x=1"
    assert check_public_url("http://93.184.215.14:8080/", allow_private=False, timeout=1)


@pytest.mark.parametrize(("url", "message"), [
    ("http://127.0.0.1/", "address 127.0.0.1 is loopback, refused"),
    ("http://[::1]/", "address ::1 is loopback, refused"),
    ("http://mixed.example.test/", "host 'mixed.example.test' does not resolve to public addresses only, refused"),
    ("http://nowhere.example.test/", "could not resolve host 'nowhere.example.test'"),
    ("ftp://crm.example.test/", "only http and https URLs are accepted, not 'ftp'"),
    ("javascript:alert(1)", "only http and https"),
    ("http:///x", "the URL has no host"),
])  # fmt: skip
def test_refusals_say_why_without_resolved_addresses(dns: FakeDns, url: str, message: str) -> None:
    dns.answer("mixed.example.test", ["93.184.215.14", "10.0.0.5"])
    with pytest.raises(UrlRefused) as refused:
        check_public_url(url, allow_private=False, timeout=1)
    assert message in refused.value.message
    assert "10.0.0.5" not in refused.value.message


def test_private_addresses_pass_when_the_deployment_allows_them(dns: FakeDns) -> None:
    assert check_public_url("http://10.0.0.1/", allow_private=True, timeout=1) == "http://10.0.0.1/"
    with pytest.raises(UrlRefused, match="only http and https"):
        check_public_url("file:///etc/passwd", allow_private=True, timeout=1)


# --- who calls out, and who decides that private addresses may be called -----------------------------

SOURCES = Path(textos.__file__).parent
CLIENTS = {"Client", "AsyncClient", "get", "post", "put", "patch", "delete", "head", "options", "request", "stream"}
"""``httpx``'s ways of making a request."""
CALLERS = {
    "textos/domain/public_urls.py": {"httpx.AsyncClient"},  # send_pinned: sends with the client it is handed
    "textos/receivers/fetch.py": {"httpx.AsyncClient"},  # receiver documents: send_pinned at every hop
    "textos/delivery/callbacks.py": {"httpx.AsyncClient"},  # callbacks: send_pinned at every attempt
    "textos/cli/smsc.py": {"httpx.post"},  # ``textos mo``: the operator's command, to its own simulator
    "textos/services/quotas.py": {"smtplib"},  # quota alerts, through the operator's smtp_url
}
"""Every module of the server that makes an outbound HTTP or mail connection, and how."""


def _sources() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(SOURCES.parent).as_posix(), ast.parse(p.read_text())) for p in sorted(SOURCES.rglob("*.py"))]


def _outbound(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "httpx" and node.attr in CLIENTS:
            found.add(f"httpx.{node.attr}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found |= {m for m in modules if m.split(".")[0] in ("requests", "aiohttp", "urllib3", "smtplib") or m in ("urllib.request", "http.client")}
    return found


def test_only_the_guarded_modules_call_out_and_their_clients_follow_no_redirect_nor_proxy() -> None:
    """A URL a client gives is called only by the document fetch and the callbacks worker, both through
    ``send_pinned``; their clients never follow a redirect by themselves (fetch checks each hop) and
    ignore proxy variables (a proxy would resolve the name again)."""
    sources = _sources()
    assert {name: uses for name, tree in sources if (uses := _outbound(tree))} == CALLERS
    for name, tree in sources:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "AsyncClient":
                    options = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("trust_env", "follow_redirects")}
                    assert options == {"trust_env": False, "follow_redirects": False}, (name, options)
                if node.func.attr in ("send", "build_request"):
                    assert name == "textos/domain/public_urls.py", f"{name}: requests are sent by public_urls.send_pinned only"


def test_private_addresses_are_allowed_by_the_deployment_only() -> None:
    """``fetch_allow_private`` (the tests' servers set it: their receivers listen on 127.0.0.1) comes
    from the settings file or the environment: every ``allow_private=`` is given it (or passes its own
    parameter on), nothing assigns it, and no request model has such a field."""
    for name, tree in _sources():
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "allow_private":
                value = node.value
                from_settings = isinstance(value, ast.Attribute) and value.attr == "fetch_allow_private" and ast.unparse(value.value).endswith("settings")
                passed_on = isinstance(value, ast.Name) and value.id == "allow_private"
                assert from_settings or passed_on, f"{name}:{node.value.lineno}: allow_private={ast.unparse(value)}"
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                assert not any(isinstance(t, ast.Attribute) and t.attr == "fetch_allow_private" for t in targets), name
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "allow_private" in node.value and id(node) not in docstrings:
                assert name == "textos/config.py", f"{name} names allow_private: only the settings loader may"
        if name.startswith("textos/api/"):
            assert "allow_private" not in ast.unparse(tree), f"{name} mentions allow_private"
