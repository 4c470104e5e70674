"""A key deleted through one server process is refused by another at once: two ``textos serve``
on one PostgreSQL database, each keeping keys in memory (``api.auth_cache``)."""

from __future__ import annotations

import ovh
import pytest

from helpers import start_server, stop_server


def test_a_key_deleted_or_limited_through_one_process_is_refused_by_the_other_on_its_next_request(make_database, tmp_path):
    database_url = make_database("postgresql")
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    first = start_server(database_url, tmp_path / "first", "postgresql")
    second = None
    try:
        second = start_server(database_url, tmp_path / "second", "postgresql", args=["--no-dispatch"])
        owner = first.tenant()
        for _ in range(5):
            key = first.cli("credential", "create", "--app", owner.app_key, "--nic", owner.nic, "--rule", "GET /*")["consumerKey"]
            on_second = second.client(owner.app_key, owner.app_secret, key)
            for _ in range(3):  # known, from now on checked from the second process's memory
                credential_id = on_second.get("/auth/currentCredential")["credentialId"]
            owner.client.delete(f"/me/api/credential/{credential_id}")  # through the first process
            with pytest.raises(ovh.exceptions.InvalidCredential):
                on_second.get("/auth/currentCredential")
            with pytest.raises(ovh.exceptions.InvalidCredential):
                second.client(owner.app_key, owner.app_secret, key).get(f"/sms/{owner.service}")
        key = first.cli("credential", "create", "--app", owner.app_key, "--nic", owner.nic, "--rule", "GET /*")["consumerKey"]
        on_second = second.client(owner.app_key, owner.app_secret, key)
        credential_id = on_second.get("/auth/currentCredential")["credentialId"]
        owner.client.put(f"/me/api/credential/{credential_id}", allowedIPs=["192.0.2.1"])  # through the first process
        with pytest.raises(ovh.exceptions.NotGrantedCall):
            on_second.get(f"/sms/{owner.service}")
        owner.client.put(f"/me/api/credential/{credential_id}", allowedIPs=None)
        assert on_second.get(f"/sms/{owner.service}")["name"] == owner.service
        owner.client.delete(f"/me/api/application/{on_second.get('/auth/currentCredential')['applicationId']}")
        with pytest.raises(ovh.exceptions.InvalidKey):  # the application and its keys are gone
            on_second.get(f"/sms/{owner.service}")
    finally:
        if second is not None:
            stop_server(second)
        stop_server(first)
