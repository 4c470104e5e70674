"""Signed calls to an app in process (no socket), as the ``ovh`` client makes them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any, Awaitable, Callable

import httpx
from fastapi import FastAPI

from textos.domain.signing import sign
from textos.services import admin, credentials
from textos.storage.db import Database


def new_keys(db: Database) -> tuple[str, str, str, str]:
    """An account with 10 credits, and an all-rights consumer key: ``(service, app_key, app_secret, consumer_key)``."""
    with db.session() as s:
        admin.create_customer(s, "ab12345-test", "pw")
        account = admin.create_account(s, "ab12345-test", 10)
        app = admin.create_application(s, "t", nic="ab12345-test")
        rules = [f"{m} /*" for m in ("GET", "POST", "PUT", "DELETE")]
        cred = credentials.create_credential(s, app.app_key, "ab12345-test", rules)
        return account.service_name, app.app_key, app.app_secret, cred.consumer_key


def against(app: FastAPI, scenario: Callable[[httpx.AsyncClient], Awaitable[None]], *,
            lifespan: bool = False, client: tuple[str, int] = ("127.0.0.1", 40000)) -> None:
    """Run ``scenario`` with a client of ``app`` (in process, no socket) calling from ``client``;
    with ``lifespan``, inside the app's lifespan (what runs beside it started, then stopped)."""

    async def run() -> None:
        transport = httpx.ASGITransport(app=app, client=client)
        async with contextlib.AsyncExitStack() as stack:
            if lifespan:
                await stack.enter_async_context(app.router.lifespan_context(app))
            http = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
            await scenario(http)

    asyncio.run(run())


async def call(client: httpx.AsyncClient, keys: tuple[str, ...], method: str, path: str, body: Any = None) -> Any:
    """A signed call, as the ``ovh`` client makes it; it must answer 200: its JSON."""
    answer = await signed(client, keys, method, path, body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def signed(client: httpx.AsyncClient, keys: tuple[str, ...], method: str, path: str, body: Any = None) -> httpx.Response:
    """A signed call, as the ``ovh`` client makes it, signed for ``http://testserver`` (a real server
    started with ``TEXTOS_PUBLIC_URL=http://testserver`` checks the same); the answer, whatever it is."""
    _, app_key, app_secret, consumer_key = keys
    data = "" if body is None else json.dumps(body)
    now = str(int(time.time()))
    headers = {
        "X-Ovh-Application": app_key, "X-Ovh-Consumer": consumer_key, "X-Ovh-Timestamp": now,
        "X-Ovh-Signature": sign(app_secret, consumer_key, method, f"http://testserver/1.0{path}", data, now),
        "Content-Type": "application/json",
    }
    return await client.request(method, f"/1.0{path}", content=data or None, headers=headers)
