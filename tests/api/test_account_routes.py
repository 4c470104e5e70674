"""``PUT /sms/{serviceName}`` (api/routes/accounts.py): callback URLs the server would call are vetted when they are set."""

from __future__ import annotations

import httpx
import pytest

from signed_calls import against, call, new_keys, signed
from textos.api.app import create_app
from textos.api.state import AppState
from textos.config import Settings
from textos.services.prices import PriceBook
from textos.storage.db import Database

SETTINGS = Settings(fetch_allow_private=False)
NON_PUBLIC = [
    "http://127.0.0.1/", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://localhost/", "http://2130706433/", "http://0x7f000001/", "http://[::ffff:127.0.0.1]:8080/",
]  # fmt: skip
FIELDS = [
    ("callBack", lambda url: {"callBack": url}),
    ("stopCallBack", lambda url: {"stopCallBack": url}),
    ("smsResponse.cgiUrl", lambda url: {"smsResponse": {"responseType": "cgi", "cgiUrl": url}}),
]


@pytest.mark.parametrize(("field", "body"), FIELDS, ids=[f for f, _ in FIELDS])
def test_callbacks_to_non_public_addresses_are_refused_naming_the_field(db: Database, field, body):
    keys = new_keys(db)
    app = create_app(AppState(settings=SETTINGS, db=db, prices=PriceBook.from_settings(SETTINGS)))

    async def scenario(client: httpx.AsyncClient) -> None:
        for url in NON_PUBLIC:
            answer = await signed(client, keys, "PUT", f"/sms/{keys[0]}", body(url))
            assert answer.status_code == 400, (url, answer.text)
            refusal = answer.json()
            assert refusal["class"] == "Client::BadRequest" and refusal["message"].startswith(f"{field}: "), refusal
            if "[" not in url and not url.split("/")[2][0].isdigit():  # a name: what it resolved to is never shown
                assert "127.0.0.1" not in refusal["message"] and "::1" not in refusal["message"], refusal
            if url in ("http://2130706433/", "http://0x7f000001/"):
                assert "127.0.0.1" not in refusal["message"], refusal
        account = await call(client, keys, "GET", f"/sms/{keys[0]}")
        assert (account["callBack"], account["stopCallBack"], account["smsResponse"]["cgiUrl"]) == (None, None, None)

    against(app, scenario)


def test_public_callbacks_are_accepted(db: Database):
    keys = new_keys(db)
    app = create_app(AppState(settings=SETTINGS, db=db, prices=PriceBook.from_settings(SETTINGS)))

    async def scenario(client: httpx.AsyncClient) -> None:
        await call(client, keys, "PUT", f"/sms/{keys[0]}", {
            "callBack": "http://93.184.215.14/dlr", "stopCallBack": "https://[2606:4700:4700::1111]/stop",
            "smsResponse": {"responseType": "cgi", "cgiUrl": "http://93.184.215.14:8080/mo"},
        })  # fmt: skip
        account = await call(client, keys, "GET", f"/sms/{keys[0]}")
        assert account["callBack"] == "http://93.184.215.14/dlr"
        assert account["stopCallBack"] == "https://[2606:4700:4700::1111]/stop"
        assert account["smsResponse"]["cgiUrl"] == "http://93.184.215.14:8080/mo"
        await call(client, keys, "PUT", f"/sms/{keys[0]}", {"callBack": ""})  # empty clears
        assert (await call(client, keys, "GET", f"/sms/{keys[0]}"))["callBack"] is None

    against(app, scenario)


def test_templates_and_tracking_options_take_their_ovh_types_and_null_leaves_a_non_null_field(db: Database):
    """``sms.Templates`` and ``sms.ResponseTrackingOptions`` are typed: a value of another type is a 400
    naming the field, not stored to break ``GET`` (it answered what ``sms.Account`` does not allow);
    ``null`` for a field that is never null (``responseType``, ``customizedSmsMode``) leaves it as it is."""
    keys = new_keys(db)
    app = create_app(AppState(settings=SETTINGS, db=db, prices=PriceBook.from_settings(SETTINGS)))

    async def scenario(client: httpx.AsyncClient) -> None:
        path = f"/sms/{keys[0]}"
        for body, field in [({"templates": {"emailBody": 5}}, "templates.emailBody"),
                            ({"templates": {"customizedSmsMode": [1]}}, "templates.customizedSmsMode"),
                            ({"smsResponse": {"trackingOptions": [{"media": "fax", "sender": "a", "target": "b"}]}}, "media"),
                            ({"smsResponse": {"trackingOptions": [{"x": 1}]}}, "trackingOptions.0")]:
            answer = await signed(client, keys, "PUT", path, body)
            assert answer.status_code == 400 and field in answer.json()["message"], (body, answer.text)
        await call(client, keys, "PUT", path, {"templates": {"customizedSmsMode": True, "smsBody": "hi"},
                                               "smsResponse": {"responseType": "text", "text": "thanks"}})
        await call(client, keys, "PUT", path, {"templates": {"customizedSmsMode": None, "smsBody": None},
                                               "smsResponse": {"responseType": None, "trackingOptions": [{"media": "sms", "sender": "s", "target": "t"}]}})
        account = await call(client, keys, "GET", path)
        assert account["templates"]["customizedSmsMode"] is True and account["templates"]["smsBody"] is None
        assert account["smsResponse"]["responseType"] == "text"
        assert account["smsResponse"]["trackingOptions"] == [{"media": "sms", "sender": "s", "target": "t"}]

    against(app, scenario)
