"""Guessing passwords on the consumer-key validation page: refused with 429 once a nic or an address
has failed too often (the right password too), and as slow for a nic that does not exist.

Each test posts from loopback addresses of its own (127.x.y.z), so the shared server's
per-address records of other tests do not meet its own."""

from __future__ import annotations

import secrets
import time

import httpx
import ovh
import pytest

from helpers import BACKENDS, Tenant, start_server, stop_server
from textos.config import Settings

DEFAULTS = Settings()


def source_address() -> str:
    return "127." + ".".join(str(1 + secrets.randbelow(254)) for _ in range(3))


class ValidationPage:
    """The validation page of one consumer-key request of ``tenant``'s application."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.client = tenant.server.client(tenant.app_key, tenant.app_secret, None)
        request = self.client.request_consumerkey([{"method": "GET", "path": f"/sms/{tenant.service}"}])
        self.url, self.token = request["validationUrl"].split("?")[0], request["validationUrl"].split("credentialToken=")[1]

    @staticmethod
    def connection(address: str) -> httpx.Client:
        """Requests from ``address`` (kept alive between them)."""
        return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)

    def post(self, nic: str, password: str, sender: str | httpx.Client) -> httpx.Response:
        """Log in to accept: from an address (a new connection), or on a connection."""
        if isinstance(sender, str):
            with self.connection(sender) as http:
                return self.post(nic, password, http)
        return sender.post(self.url, data={"credentialToken": self.token, "nic": nic, "password": password})

    def still_pending(self) -> bool:
        try:
            self.client.get(f"/sms/{self.tenant.service}")
        except ovh.exceptions.InvalidCredential:
            return True
        return False


def test_fifty_wrong_passwords_meet_429_well_before_the_end_and_so_does_the_right_one(tenant):
    page, address = ValidationPage(tenant), source_address()
    statuses = [page.post(tenant.nic, f"guess-{n}", address).status_code for n in range(50)]
    allowed = DEFAULTS.password_max_failures
    assert statuses == [403] * allowed + [429] * (50 - allowed)

    refused = page.post(tenant.nic, "secret-password", source_address())
    assert refused.status_code == 429
    assert refused.json() == {"class": "Client::TooManyRequests", "message": "Too many failed password attempts: try again later"}
    assert 0 < int(refused.headers["Retry-After"]) <= DEFAULTS.password_lockout_seconds
    assert page.still_pending()


def test_one_address_guessing_many_nics_meets_429(tenant):
    page, address = ValidationPage(tenant), source_address()
    statuses = [page.post(f"nobody-{secrets.token_hex(4)}", "guess", address).status_code for _ in range(30)]
    allowed = DEFAULTS.password_address_max_failures
    assert statuses == [403] * allowed + [429] * (30 - allowed)

    assert page.post(tenant.nic, "secret-password", address).status_code == 429
    assert page.still_pending()
    assert page.post(tenant.nic, "secret-password", source_address()).status_code == 200
    assert not page.still_pending()


def test_a_wrong_password_takes_as_long_for_a_nic_that_does_not_exist(server, tenant):
    """The fastest of 15 interleaved attempts each (within every nic's and address's limit; a loaded
    machine only adds time) are alike; checking only existing nics made unknown ones ~5x faster."""
    nics = [tenant.nic] + [server.cli("customer", "create", "--nic", f"tm{secrets.token_hex(5)}")["nic"] for _ in range(2)]
    page = ValidationPage(tenant)
    known: list[float] = []
    unknown: list[float] = []
    with page.connection(source_address()) as for_known, page.connection(source_address()) as for_unknown:
        for n in range(15):
            for times, http, nic in ((known, for_known, nics[n % 3]), (unknown, for_unknown, f"tm{secrets.token_hex(5)}")):
                start = time.perf_counter()
                assert page.post(nic, "wrong", http).status_code == 403
                times.append(time.perf_counter() - start)
    assert 0.5 < min(unknown) / min(known) < 2, f"fastest: known nic {min(known):.4f}s, unknown {min(unknown):.4f}s"


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="several API processes need PostgreSQL")
def test_two_api_processes_count_the_attempts_of_a_nic_together(make_database, tmp_path):
    server = start_server(make_database("postgresql"), tmp_path, "postgresql", args=["--workers", "2"])
    try:
        tenant = server.tenant()
        page, address = ValidationPage(tenant), source_address()
        statuses = [page.post(tenant.nic, f"guess-{n}", address).status_code for n in range(20)]  # new connections: either process
        allowed = DEFAULTS.password_max_failures
        assert statuses == [403] * allowed + [429] * (20 - allowed)
    finally:
        stop_server(server)
