"""A customer's SMS accounts: only theirs are found, settings change field by field."""

from __future__ import annotations

import pytest

from credit_helpers import new_accounts
from textos.config import Settings
from textos.domain.errors import BadRequest, NotFound
from textos.services import accounts
from textos.storage.models import Account

SETTINGS = Settings()


def test_a_customer_finds_only_their_accounts(db):
    mine, second = new_accounts(db, 1, 0)
    (theirs,) = new_accounts(db, 0)
    with db.read() as s:
        assert accounts.customer_account(s, mine.customer_id, mine.service_name).id == mine.id
        with pytest.raises(NotFound, match=f"serviceName: this service does not exist \\({theirs.service_name}\\)"):
            accounts.customer_account(s, mine.customer_id, theirs.service_name)
        assert accounts.service_names(s, mine.customer_id) == [mine.service_name, second.service_name]
        assert accounts.service_names(s, mine.customer_id, where=lambda n: n == second.service_name) == [second.service_name]
        assert accounts.credits_left(s, mine.id) == 1.0 and accounts.credits_left(s, 10**9) is None
        assert accounts.balances(s)[theirs.service_name] == 0.0


def test_update_changes_only_the_fields_sent(db):
    (acc,) = new_accounts(db, 0)
    with db.session() as s:
        account = s.get(Account, acc.id)
        accounts.update_account(account, _checked({"callBack": "https://93.184.215.14/dlr", "description": "shop",
                                                   "creditThresholdForAutomaticRecredit": 12.5, "automaticRecreditAmount": 500,
                                                   "smsResponse": {"responseType": "cgi", "cgiUrl": "http://93.184.215.14/mo"},
                                                   "templates": {"smsBody": "Hi"}}))
        accounts.update_account(account, _checked({"description": None, "smsResponse": {"text": "thanks"}, "stopCallBack": ""}))
        view = accounts.account_view(account)
    assert (view["callBack"], view["description"], view["stopCallBack"]) == ("https://93.184.215.14/dlr", "shop", None)
    assert (view["creditThresholdForAutomaticRecredit"], view["automaticRecreditAmount"]) == (12.5, 500)
    assert view["smsResponse"]["cgiUrl"] == "http://93.184.215.14/mo" and view["smsResponse"]["text"] == "thanks"
    assert view["templates"]["smsBody"] == "Hi" and view["templates"]["customizedSmsMode"] is False


@pytest.mark.parametrize("changes, field", [
    ({"callBack": "ftp://x"}, "callBack"),
    ({"stopCallBack": "/relative"}, "stopCallBack"),
    ({"smsResponse": {"cgiUrl": "javascript:alert(1)"}}, "smsResponse.cgiUrl"),
    ({"templates": {"smsBodyy": "x"}}, "templates"),
    ({"callBack": "http://10.0.0.1/"}, "callBack"),
    ({"smsResponse": {"cgiUrl": "http://169.254.169.254/latest/meta-data/"}}, "smsResponse.cgiUrl"),
])
def test_bad_settings_are_refused_naming_the_field(changes, field):
    with pytest.raises(BadRequest, match=f"^{field}: "):
        accounts.check_changes(changes, SETTINGS)


def test_private_callbacks_are_accepted_when_the_deployment_allows_them():
    changes = accounts.check_changes({"callBack": "http://127.0.0.1:8000/dlr"}, Settings(fetch_allow_private=True))
    assert changes.values["callBack"] == "http://127.0.0.1:8000/dlr"


def _checked(changes: dict) -> accounts.AccountChanges:
    return accounts.check_changes(changes, SETTINGS)
