"""What routes reach through ``AppState``: the composition root's price book and wake-up, never the runtime."""

from __future__ import annotations

import httpx
import pytest

from signed_calls import against, call, new_keys
from textos.api.app import create_app
from textos.api.state import AppState
from textos.config import Settings
from textos.domain.encoding import Concatenation
from textos.services.prices import PriceBook
from textos.storage.db import Database


@pytest.fixture
def keys(db):
    return new_keys(db)


def test_defaults_wake_nothing_and_split_with_udh8(db: Database):
    state = AppState(settings=Settings(), db=db, prices=PriceBook.from_settings(Settings()))
    assert state.wake() is None
    assert state.concat_for("+33612345678") is Concatenation.UDH8


def test_an_accepted_job_wakes_the_dispatcher_once(db: Database, keys):
    woken: list[bool] = []
    settings = Settings()
    app = create_app(AppState(settings=settings, db=db, prices=PriceBook.from_settings(settings), wake=lambda: woken.append(True)))

    async def scenario(client: httpx.AsyncClient) -> None:
        report = await call(client, keys, "POST", f"/sms/{keys[0]}/jobs", {"message": "hi", "receivers": ["+33612345678"], "noStopClause": True})
        assert len(report["ids"]) == 1 and woken == [True]
        await call(client, keys, "GET", f"/sms/{keys[0]}/jobs")
        assert woken == [True]

    against(app, scenario)


def test_routes_price_with_the_book_they_are_handed(db: Database, keys):
    settings = Settings(credit_rates={"GB": 2})
    book = PriceBook.from_settings(Settings(credit_rates={"GB": 2}, prices={"currency": "GBP", "packs": {"10": 0.5}}))

    async def scenario(client: httpx.AsyncClient) -> None:
        rates = (await client.get("/1.0/sms/rates/destinations", params={"country": "gb"})).json()
        assert rates["credit"] == 2.0 and rates["price"]["text"] == "1.00 £"
        preview = await call(client, keys, "GET", f"/order/sms/{keys[0]}/credits?quantity=10")
        assert preview["prices"]["withoutTax"]["value"] == 5.0

    against(create_app(AppState(settings=settings, db=db, prices=book)), scenario)
