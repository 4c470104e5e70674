"""OVH authentication, end to end with the official client: every refusal and its errorCode."""

from __future__ import annotations

import threading
import time

import httpx
import ovh
import pytest

from helpers import wait_until
from textos.domain.signing import sign


def test_auth_time_is_unauthenticated(server):
    answer = httpx.get(f"{server.endpoint}/auth/time")
    assert answer.status_code == 200
    assert abs(answer.json() - time.time()) < 5


def test_unknown_application_key_is_invalid_key(server, tenant):
    client = server.client("nosuchappkey", tenant.app_secret, tenant.consumer_key)
    with pytest.raises(ovh.exceptions.InvalidKey):
        client.get("/sms")


def test_missing_application_header_is_invalid_key(server):
    answer = httpx.get(f"{server.endpoint}/sms")
    assert answer.status_code == 403
    assert answer.json()["errorCode"] == "INVALID_KEY"
    assert answer.json()["class"].startswith("Client::Forbidden")


def test_unknown_consumer_key_is_invalid_credential(server, tenant):
    client = server.client(tenant.app_key, tenant.app_secret, "nosuchconsumerkey")
    with pytest.raises(ovh.exceptions.InvalidCredential):
        client.get("/sms")


def test_consumer_key_of_another_application_is_invalid_credential(server, tenant):
    other = server.tenant()
    client = server.client(other.app_key, other.app_secret, tenant.consumer_key)
    with pytest.raises(ovh.exceptions.InvalidCredential):
        client.get("/sms")


def test_missing_consumer_key_is_not_credential(server, tenant):
    answer = httpx.get(f"{server.endpoint}/sms", headers={"X-Ovh-Application": tenant.app_key})
    assert answer.status_code == 403
    assert answer.json()["errorCode"] == "NOT_CREDENTIAL"


def test_wrong_secret_is_invalid_signature_a_bad_request_as_ovh_answers(server, tenant):
    client = server.client(tenant.app_key, "not-the-secret", tenant.consumer_key)
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        client.get("/sms")
    assert caught.value.response.status_code == 400
    assert caught.value.response.json() == {
        "class": "Client::BadRequest", "message": "Invalid signature", "errorCode": "INVALID_SIGNATURE", "httpCode": "400 Bad Request",
    }


def test_tampered_body_is_invalid_signature(server, tenant):
    ts = str(int(time.time()))
    url = f"{server.endpoint}/sms/{tenant.service}/jobs"
    signed_body = '{"message":"hi","receivers":["+33612345678"]}'
    sent_body = '{"message":"hi","receivers":["+33612345679"]}'
    headers = {
        "X-Ovh-Application": tenant.app_key,
        "X-Ovh-Consumer": tenant.consumer_key,
        "X-Ovh-Timestamp": ts,
        "X-Ovh-Signature": sign(tenant.app_secret, tenant.consumer_key, "POST", url, signed_body, ts),
        "Content-Type": "application/json",
    }
    answer = httpx.post(url, content=sent_body, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "INVALID_SIGNATURE"
    assert tenant.client.get(f"/sms/{tenant.service}/jobs") == []


def test_timestamp_outside_window_is_query_time_out_a_bad_request(server, tenant):
    client = tenant.client
    client._time_delta = -3600  # the client believes the server is an hour behind
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        client.get("/sms")
    assert caught.value.response.status_code == 400
    assert caught.value.response.json()["errorCode"] == "QUERY_TIME_OUT"


def _signed_get(tenant, url: str, signed_over: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    ts = str(int(time.time()))
    headers = {"X-Ovh-Application": tenant.app_key, "X-Ovh-Consumer": tenant.consumer_key, "X-Ovh-Timestamp": ts,
               "X-Ovh-Signature": sign(tenant.app_secret, tenant.consumer_key, "GET", signed_over, "", ts)}
    return httpx.get(url, headers=headers)


def test_a_signature_over_the_url_without_its_port_is_accepted_as_the_node_client_signs(server, tenant):
    url = f"http://127.0.0.1:{server.port}/1.0/sms/{tenant.service}/outgoing?tag=x"
    assert _signed_get(tenant, url, url).status_code == 200
    assert _signed_get(tenant, url, f"http://127.0.0.1/1.0/sms/{tenant.service}/outgoing?tag=x").status_code == 200
    for wrong in (f"http://127.0.0.1:{server.port + 1}/1.0/sms/{tenant.service}/outgoing?tag=x",   # another port
                  f"http://localhost/1.0/sms/{tenant.service}/outgoing?tag=x",                      # another host
                  f"https://127.0.0.1/1.0/sms/{tenant.service}/outgoing?tag=x",                     # another scheme
                  f"http://127.0.0.1/1.0/sms/{tenant.service}/outgoing?tag=y"):                     # another query
        refused = _signed_get(tenant, url, wrong)
        assert refused.status_code == 400 and refused.json()["errorCode"] == "INVALID_SIGNATURE", wrong


def test_scoped_key_cannot_read_nor_send_from_another_account(server):
    owner = server.tenant(credits=50)
    second = server.cli("account", "create", "--nic", owner.nic, "--credits", "50")["serviceName"]
    ck = server.cli(
        "credential", "create", "--app", owner.app_key, "--nic", owner.nic,
        "--rule", f"GET /sms/{owner.service}/*", "--rule", f"POST /sms/{owner.service}/jobs",
    )["consumerKey"]
    client = server.client(owner.app_key, owner.app_secret, ck)

    assert client.get(f"/sms/{owner.service}")["name"] == owner.service
    report = client.post(f"/sms/{owner.service}/jobs", message="hi", receivers=["+33612345678"], noStopClause=True)
    assert report["totalCreditsRemoved"] == 1.0

    with pytest.raises(ovh.exceptions.NotGrantedCall):
        client.get(f"/sms/{second}")
    with pytest.raises(ovh.exceptions.NotGrantedCall):
        client.post(f"/sms/{second}/jobs", message="hi", receivers=["+33612345678"])
    with pytest.raises(ovh.exceptions.NotGrantedCall):
        client.put(f"/sms/{owner.service}", description="not allowed")
    with pytest.raises(ovh.exceptions.NotGrantedCall):
        client.get("/sms")
    assert owner.client.get(f"/sms/{second}")["creditsLeft"] == 50.0


def test_list_shows_only_granted_accounts(server):
    owner = server.tenant()
    second = server.cli("account", "create", "--nic", owner.nic)["serviceName"]
    ck = server.cli(
        "credential", "create", "--app", owner.app_key, "--nic", owner.nic, "--rule", "GET /sms", "--rule", f"GET /sms/{second}",
    )["consumerKey"]
    assert server.client(owner.app_key, owner.app_secret, ck).get("/sms") == [second]
    assert sorted(owner.client.get("/sms")) == sorted([owner.service, second])


def test_other_customers_account_is_not_found(server):
    alice, bob = server.tenant(), server.tenant()
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        alice.client.get(f"/sms/{bob.service}")
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        alice.client.post(f"/sms/{bob.service}/jobs", message="hi", receivers=["+33612345678"])
    assert bob.service not in alice.client.get("/sms")


def test_consumer_key_request_and_validation_page(server, tenant):
    client = server.client(tenant.app_key, tenant.app_secret, None)
    request = client.request_consumerkey([{"method": "GET", "path": f"/sms/{tenant.service}"}])
    assert request["state"] == "pendingValidation"
    with pytest.raises(ovh.exceptions.InvalidCredential):
        client.get(f"/sms/{tenant.service}")
    page = httpx.get(request["validationUrl"])
    assert page.status_code == 200 and f"/sms/{tenant.service}" in page.text
    token = request["validationUrl"].split("credentialToken=")[1]
    refused = httpx.post(request["validationUrl"].split("?")[0], data={"credentialToken": token, "nic": tenant.nic, "password": "wrong"})
    assert refused.status_code == 403
    accepted = httpx.post(request["validationUrl"].split("?")[0], data={"credentialToken": token, "nic": tenant.nic, "password": "secret-password"})
    assert accepted.status_code == 200
    assert client.get(f"/sms/{tenant.service}")["name"] == tenant.service
    with pytest.raises(ovh.exceptions.NotGrantedCall):
        client.get(f"/sms/{tenant.service}/outgoing")


def test_signature_uses_the_public_url_behind_a_proxy(tmp_path, make_database):
    from helpers import start_server, stop_server

    srv = start_server(make_database("sqlite"), tmp_path, "sqlite", args=["--public-url", "https://sms.example.test/textos"])
    try:
        t = srv.tenant()
        ts = str(int(time.time()))
        path = f"/1.0/sms/{t.service}"
        good = sign(t.app_secret, t.consumer_key, "GET", f"https://sms.example.test/textos{path}", "", ts)
        bad = sign(t.app_secret, t.consumer_key, "GET", f"http://127.0.0.1:{srv.port}{path}", "", ts)
        base = {"X-Ovh-Application": t.app_key, "X-Ovh-Consumer": t.consumer_key, "X-Ovh-Timestamp": ts}
        assert httpx.get(f"http://127.0.0.1:{srv.port}{path}", headers={**base, "X-Ovh-Signature": good}).status_code == 200
        refused = httpx.get(f"http://127.0.0.1:{srv.port}{path}", headers={**base, "X-Ovh-Signature": bad})
        assert refused.status_code == 400 and refused.json()["errorCode"] == "INVALID_SIGNATURE"
    finally:
        stop_server(srv)



def test_behind_a_local_proxy_keeping_host_and_scheme_both_clients_signatures_are_accepted(server, tenant):
    """README's second proxy recipe: the client's Host (with its port) and X-Forwarded-Proto forwarded
    by a proxy on 127.0.0.1; the Python client signs with the port, the Node.js client without."""
    ts = str(int(time.time()))
    path = f"/1.0/sms/{tenant.service}"
    proxied = {"Host": "sms.example.test:8443", "X-Forwarded-Proto": "https", "X-Ovh-Application": tenant.app_key,
               "X-Ovh-Consumer": tenant.consumer_key, "X-Ovh-Timestamp": ts}
    for signed_over in (f"https://sms.example.test:8443{path}", f"https://sms.example.test{path}"):
        signature = sign(tenant.app_secret, tenant.consumer_key, "GET", signed_over, "", ts)
        answer = httpx.get(f"http://127.0.0.1:{server.port}{path}", headers={**proxied, "X-Ovh-Signature": signature})
        assert answer.status_code == 200, (signed_over, answer.text)
    plain = sign(tenant.app_secret, tenant.consumer_key, "GET", f"http://sms.example.test{path}", "", ts)
    refused = httpx.get(f"http://127.0.0.1:{server.port}{path}", headers={**proxied, "X-Ovh-Signature": plain})
    assert refused.status_code == 400 and refused.json()["errorCode"] == "INVALID_SIGNATURE"

class _Load:
    """Signed requests with one key from a few threads, each noting when it started and whether it was let in."""

    def __init__(self, server, tenant, threads: int = 4, call=lambda client: client.get("/auth/currentCredential")) -> None:
        self.stop = threading.Event()
        self.results: list[tuple[float, bool]] = []
        self.call = call
        self.threads = [threading.Thread(target=self._run, args=(server, tenant), daemon=True) for _ in range(threads)]

    def _run(self, server, tenant) -> None:
        client = server.client(tenant.app_key, tenant.app_secret, tenant.consumer_key)
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.call(client)
                self.results.append((started, True))
            except ovh.exceptions.InvalidCredential:
                self.results.append((started, False))

    def __enter__(self) -> "_Load":
        for thread in self.threads:
            thread.start()
        wait_until(lambda: sum(ok for _, ok in self.results) >= 20, what="the key in use under load")
        return self

    def __exit__(self, *_) -> None:
        time.sleep(0.2)
        self.stop.set()
        for thread in self.threads:
            thread.join(10)

    def let_in_after(self, moment: float) -> int:
        return sum(ok for started, ok in self.results if started > moment)


def test_a_key_revoked_by_the_cli_is_refused_at_once_under_load(server):
    tenant = server.tenant()
    with _Load(server, tenant) as load:
        server.cli("credential", "revoke", tenant.consumer_key)
        revoked = time.monotonic()
        with pytest.raises(ovh.exceptions.InvalidCredential):
            tenant.client.get("/auth/currentCredential")
    assert load.let_in_after(revoked) == 0
    assert any(not ok for _, ok in load.results)


def test_a_key_revoked_by_the_cli_sends_no_more_on_the_fly_jobs(server):
    """One-receiver POSTs are authenticated from memory and the change checked where the job is
    written (SQLite: once per group): none is accepted once the CLI has revoked the key."""
    tenant = server.tenant(credits=100_000)

    def send(client) -> None:
        client.post(f"/sms/{tenant.service}/jobs", message="code 1234", noStopClause=True, receivers=["+33612345678"])

    with _Load(server, tenant, call=send) as load:
        server.cli("credential", "revoke", tenant.consumer_key)
        revoked = time.monotonic()
        with pytest.raises(ovh.exceptions.InvalidCredential):
            send(tenant.client)
    assert load.let_in_after(revoked) == 0
    assert server.cli("ledger", "--service", tenant.service)["consistent"] is True


def test_a_key_logged_out_through_the_api_is_refused_at_once_under_load(server):
    tenant = server.tenant()
    with _Load(server, tenant) as load:
        tenant.client.post("/auth/logout")
        revoked = time.monotonic()
        with pytest.raises(ovh.exceptions.InvalidCredential):
            tenant.client.get("/auth/currentCredential")
    assert load.let_in_after(revoked) == 0


def test_revoking_one_key_leaves_the_others_working(server):
    kept, revoked = server.tenant(), server.tenant()
    kept.client.get("/auth/currentCredential")
    revoked.client.get("/auth/currentCredential")
    server.cli("credential", "revoke", revoked.consumer_key)
    assert kept.client.get("/auth/currentCredential")["status"] == "validated"
    with pytest.raises(ovh.exceptions.InvalidCredential):
        revoked.client.get("/auth/currentCredential")
    assert "no such consumer key" in server.cli_fails("credential", "revoke", "nosuchkey")
