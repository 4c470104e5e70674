"""Authentication from memory: a known key costs no thread-pool hop nor query, and any change is seen at once."""

from __future__ import annotations

import httpx

from signed_calls import against, call, new_keys
from textos.api import auth
from textos.services import credentials



def test_known_keys_are_checked_from_memory_and_a_revoked_one_at_once(app, monkeypatch):
    db = app.state.textos.db
    keys = new_keys(db)
    lookups: list[str] = []
    real_lookup = auth._lookup

    def counted(st, request, consumer_key_hash):  # type: ignore[no-untyped-def]
        lookups.append(request.url.path)
        return real_lookup(st, request, consumer_key_hash)

    monkeypatch.setattr(auth, "_lookup", counted)

    async def scenario(client: httpx.AsyncClient) -> None:
        from helpers import wait_until

        wait_until(lambda: app.state.auth_cache.versions.current() is not None, what="auth version known")
        for _ in range(5):
            assert (await call(client, keys, "GET", "/auth/currentCredential"))["status"] == "validated"
        assert len(lookups) == 1
        with db.session() as s:
            credentials.revoke(s, keys[3])
        answer = await client.get("/1.0/auth/currentCredential", headers=signed_headers(keys))
        assert answer.status_code == 403 and answer.json()["errorCode"] == "INVALID_CREDENTIAL"
        assert len(lookups) == 2

    against(app, scenario)


def signed_headers(keys: tuple[str, ...]) -> dict[str, str]:
    import time

    from textos.domain.signing import sign

    _, app_key, app_secret, consumer_key = keys
    now = str(int(time.time()))
    return {
        "X-Ovh-Application": app_key, "X-Ovh-Consumer": consumer_key, "X-Ovh-Timestamp": now,
        "X-Ovh-Signature": sign(app_secret, consumer_key, "GET", "http://testserver/1.0/auth/currentCredential", "", now),
    }


def test_new_rules_allowed_ips_and_expiry_apply_to_a_cached_key_at_once(app):
    import datetime as dt
    import time

    from sqlalchemy import select

    from textos.storage.at_rest import key_digest
    from textos.storage.models import Credential

    db = app.state.textos.db
    keys = new_keys(db)

    def change(**values) -> None:  # type: ignore[no-untyped-def]
        with db.session() as s:
            cred = s.scalar(select(Credential).where(Credential.consumer_key_hash == key_digest(keys[3])))
            for name, value in values.items():
                setattr(cred, name, value)

    async def refused(client: httpx.AsyncClient) -> str:
        answer = await client.get("/1.0/auth/currentCredential", headers=signed_headers(keys))
        assert answer.status_code == 403
        return answer.json()["errorCode"]

    async def scenario(client: httpx.AsyncClient) -> None:
        await call(client, keys, "GET", "/auth/currentCredential")
        change(rules=[{"method": "GET", "path": "/sms"}])
        assert await refused(client) == "NOT_GRANTED_CALL"
        change(rules=[{"method": "GET", "path": "/*"}], allowed_ips=["203.0.113.0/24"])
        assert await refused(client) == "NOT_GRANTED_CALL"
        change(allowed_ips=["127.0.0.0/8"], expires_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=1))
        await call(client, keys, "GET", "/auth/currentCredential")
        time.sleep(1.1)  # expiry needs no change in the database: the cached date is checked on every call
        assert await refused(client) == "INVALID_CREDENTIAL"

    against(app, scenario)
