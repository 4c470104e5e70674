"""Generated values (Hypothesis) for every request header the server parses, sent as raw bytes to a
real server: never a 5xx; an answer from the application (it carries ``X-Ovh-Queryid``) to a
``/1.0`` request that refuses is in OVH's shape; the HTTP server's own refusals (a request it
cannot read as HTTP: no ``X-Ovh-Queryid``) are 400s.

Headers and who parses them: ``X-Ovh-Application``, ``X-Ovh-Consumer``, ``X-Ovh-Timestamp``,
``X-Ovh-Signature`` and ``Host`` (``api/auth.py``: the signed URL; ``public_base``: links handed
out), ``Content-Type`` (FastAPI's body parsing; the on-the-fly path reads JSON whatever it says),
``Content-Length`` (the HTTP server, ``api/body_limit.py``), ``X-Forwarded-For`` and
``X-Forwarded-Proto`` from a trusted proxy (uvicorn, for the test servers' loopback: the client
address of ``allowedIPs``, the password limits of http2sms, the validation page and the
dashboard), ``Cookie`` (the dashboard's session and CSRF cookies).
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers import Server, Tenant
from textos.domain.signing import sign

GARBAGE = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=100).map(lambda text: text.encode("utf-8")),
    st.integers(min_value=-(10**40), max_value=10**40).map(lambda n: str(n).encode()),
    st.sampled_from([b"", b" ", b"\t", b"-", b"0", b"-0", b"+1", b"1e9", b"0x10", b"\xff" * 8, b"9" * 5000, b"\x00",
                     b"${jndi:ldap://x}", b"' OR 1=1 --", b"\xc3\x28", b"\xed\xa0\x80", b"[", b"[::1", b"a" * 8000]),
).map(lambda value: value.replace(b"\r", b"").replace(b"\n", b""))
"""Header values: any bytes but CR and LF (which would end the header, not be its value)."""

EXAMPLES = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def send(server: Server, method: str, path: str, headers: list[tuple[str, bytes]], body: bytes = b"") -> Answer:
    """One request with exactly these headers (values as bytes), on a connection of its own."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders(body or None)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def assert_well_refused(answer: Answer, *, ovh: bool = True) -> None:
    """Never a 5xx; a refusal from the application in OVH's shape (``ovh``: a ``/1.0`` route)."""
    assert answer.status < 500, (answer.status, answer.body[:300])
    if "x-ovh-queryid" not in answer.headers:  # the HTTP server's own refusal: not HTTP it can read
        assert answer.status == 400, (answer.status, answer.body[:300])
        return
    if ovh and answer.status >= 400:
        error = json.loads(answer.body)
        assert isinstance(error["class"], str) and isinstance(error["message"], str) and error["message"], error


def signed(server: Server, tenant: Tenant, method: str, path: str, body: bytes = b"") -> dict[str, bytes]:
    """The headers of a request signed as the ``ovh`` client signs it."""
    now = str(int(time.time()))
    url = f"http://127.0.0.1:{server.port}{path}"
    return {
        "Host": f"127.0.0.1:{server.port}".encode(), "X-Ovh-Application": tenant.app_key.encode(),
        "X-Ovh-Consumer": tenant.consumer_key.encode(), "X-Ovh-Timestamp": now.encode(),
        "X-Ovh-Signature": sign(tenant.app_secret, tenant.consumer_key, method, url, body.decode(), now).encode(),
        "Content-Type": b"application/json", "Content-Length": str(len(body)).encode(),
    }


def with_value(headers: dict[str, bytes], name: str, value: bytes) -> list[tuple[str, bytes]]:
    return list({**headers, name: value}.items())


@pytest.fixture(scope="module")
def tenant(server: Server) -> Tenant:
    return server.tenant(credits=100_000)


def job(receiver: str = "+33612345678") -> bytes:
    return json.dumps({"message": "hi", "receivers": [receiver], "noStopClause": True, "differedPeriod": 600}).encode()


SIGNED = ("X-Ovh-Application", "X-Ovh-Consumer", "X-Ovh-Timestamp", "X-Ovh-Signature", "Host")


@pytest.mark.parametrize("name", SIGNED)
def test_a_signed_route_refuses_any_value_of_a_signing_header_in_ovh_shape(server: Server, tenant: Tenant, name: str):
    path = f"/1.0/sms/{tenant.service}"

    @EXAMPLES
    @given(value=GARBAGE)
    def check(value: bytes) -> None:
        assert_well_refused(send(server, "GET", path, with_value(signed(server, tenant, "GET", path), name, value)))

    check()


@pytest.mark.parametrize("name", SIGNED)
def test_the_on_the_fly_path_refuses_any_value_of_a_signing_header_in_ovh_shape(server: Server, tenant: Tenant, name: str):
    path, body = f"/1.0/sms/{tenant.service}/jobs", job()

    @EXAMPLES
    @given(value=GARBAGE)
    def check(value: bytes) -> None:
        assert_well_refused(send(server, "POST", path, with_value(signed(server, tenant, "POST", path, body), name, value), body))

    check()


@pytest.mark.parametrize("name", ["X-Ovh-Application", "Host", "X-Forwarded-Proto", "X-Forwarded-For"])
def test_a_consumer_key_request_takes_any_value_of_the_headers_it_reads(server: Server, tenant: Tenant, name: str):
    """``POST /auth/credential`` reads the application key, and the host and scheme of the
    ``validationUrl`` it hands out."""
    path = "/1.0/auth/credential"
    body = json.dumps({"accessRules": [{"method": "GET", "path": "/sms"}]}).encode()
    headers = {"Host": f"127.0.0.1:{server.port}".encode(), "X-Ovh-Application": tenant.app_key.encode(),
               "Content-Type": b"application/json", "Content-Length": str(len(body)).encode()}

    @EXAMPLES
    @given(value=GARBAGE)
    def check(value: bytes) -> None:
        assert_well_refused(send(server, "POST", path, with_value(headers, name, value), body))

    check()


@pytest.mark.parametrize("path", ["/1.0/sms/{s}/jobs", "/1.0/sms/{s}"])
def test_any_content_type_is_read_or_refused_in_ovh_shape(server: Server, tenant: Tenant, path: str):
    """The on-the-fly path (``POST …/jobs``) and FastAPI's body parsing (``PUT /sms/{s}``)."""
    path = path.format(s=tenant.service)
    method, body = ("POST", job()) if path.endswith("/jobs") else ("PUT", json.dumps({"description": "x"}).encode())

    @EXAMPLES
    @given(value=GARBAGE)
    def check(value: bytes) -> None:
        assert_well_refused(send(server, method, path, with_value(signed(server, tenant, method, path, body), "Content-Type", value), body))

    check()


CONTENT_LENGTHS = st.one_of(
    GARBAGE.filter(lambda value: not value.strip().isdigit()),
    st.integers(min_value=0, max_value=40).map(lambda n: str(n).encode()),
    st.integers(min_value=4 * 1024 * 1024 + 1, max_value=10**60).map(lambda n: str(n).encode()),
)
"""Anything but a length the server would wait for: not a number, at most the body's length (the
rest is read as the next request), or over ``max_body_bytes``."""


@pytest.mark.parametrize("path", ["/1.0/sms/{s}/jobs", "/1.0/auth/credential"])
def test_any_content_length_is_refused_or_read_never_a_server_error(server: Server, tenant: Tenant, path: str):
    path = path.format(s=tenant.service)
    body = job()

    @EXAMPLES
    @given(value=CONTENT_LENGTHS)
    def check(value: bytes) -> None:
        assert_well_refused(send(server, "POST", path, with_value(signed(server, tenant, "POST", path, body), "Content-Length", value), body))

    check()


def test_any_forwarded_client_address_is_refused_by_a_key_limited_to_some_addresses(server: Server, tenant: Tenant):
    """A trusted proxy's ``X-Forwarded-For`` is the client address ``allowedIPs`` is checked against."""
    limited = server.tenant()
    limited.client.put(f"/me/api/credential/{limited.client.get('/auth/currentCredential')['credentialId']}", allowedIPs=["192.0.2.0/24"])
    path = f"/1.0/sms/{limited.service}"

    @EXAMPLES
    @given(value=GARBAGE)
    def check(value: bytes) -> None:
        headers = signed(server, limited, "GET", path)
        for name in ("X-Forwarded-For", "X-Forwarded-Proto"):
            answer = send(server, "GET", path, with_value(headers, name, value))
            assert_well_refused(answer)

    check()


def test_http2sms_takes_any_forwarded_address_never_a_server_error(server: Server, tenant: Tenant):
    """http2sms counts password failures per client address (``X-Forwarded-For``); it answers 200
    in its own format, whatever the outcome."""
    login = f"h{secrets.token_hex(3)}"
    tenant.client.post(f"/sms/{tenant.service}/users", login=login, password="abcd1234")
    query = urlencode({"account": tenant.service, "login": login, "password": "wrong123", "from": "", "to": "+33612345678",
                       "message": "hi", "contentType": "text/json"})

    @EXAMPLES
    @given(value=GARBAGE)
    def check(value: bytes) -> None:
        answer = send(server, "GET", f"/cgi-bin/sms/http2sms.cgi?{query}", [("Host", b"127.0.0.1"), ("X-Forwarded-For", value)])
        assert_well_refused(answer, ovh=False)
        if "x-ovh-queryid" in answer.headers:
            assert answer.status == 200 and json.loads(answer.body)["status"] in (201, 401, 429), answer.body

    check()


@pytest.mark.parametrize("name", ["X-Forwarded-For", "Cookie"])
def test_the_dashboard_login_takes_any_cookie_or_forwarded_address_never_a_server_error(server: Server, tenant: Tenant, name: str):
    body = urlencode({"csrf": "t" * 20, "nic": tenant.nic, "password": "wrong", "kind": "customer"}).encode()

    @EXAMPLES
    @given(value=GARBAGE)
    def check(value: bytes) -> None:
        headers = {"Host": b"127.0.0.1", "Cookie": b"textos_login_csrf=" + b"t" * 20, "X-Forwarded-For": b"192.0.2.1",
                   "Content-Type": b"application/x-www-form-urlencoded", "Content-Length": str(len(body)).encode()}
        answer = send(server, "POST", "/dashboard/login", with_value(headers, name, value), body)
        assert_well_refused(answer, ovh=False)
        if "x-ovh-queryid" in answer.headers:
            assert answer.status in (401, 403, 429), answer.status
        page = send(server, "GET", "/dashboard/accounts", with_value({"Host": b"127.0.0.1"}, name, value))
        assert_well_refused(page, ovh=False)

    check()
