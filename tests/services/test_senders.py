"""Senders: customers ask, the operator validates; only a registered, enabled sender can send."""

from __future__ import annotations

import pytest

from credit_helpers import new_accounts
from textos.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from textos.services import senders
from textos.storage.models import Account


@pytest.fixture
def on_account(db):
    """A session (committed at the end of the test) and a new account in it."""
    (acc,) = new_accounts(db, 0)
    with db.session() as s:
        yield s, s.get(Account, acc.id)


def test_customer_asks_and_waits_for_validation(on_account):
    s, account = on_account
    row = senders.request(s, account, "Shop", description="our shop", reason="campaigns")
    assert (row.status, row.type, row.referer) == ("waitingValidation", "alpha", "custom")
    senders.request(s, account, "+33612345678")
    with pytest.raises(Conflict):
        senders.request(s, account, "Shop")
    assert senders.names(s, account) == ["Shop", "+33612345678"]
    assert senders.sender_view(senders.get(s, account, "+33612345678")) == {
        "comment": None, "description": "", "referer": "custom", "sender": "+33612345678",
        "status": "waitingValidation", "type": "numeric", "validationMedia": None}
    with pytest.raises(Forbidden, match="is waitingValidation, not enabled"):
        senders.usable(s, account, "Shop")
    with pytest.raises(BadRequest, match="is not a sender of this account"):
        senders.usable(s, account, "Other")


def test_malformed_senders_are_refused_naming_the_rule(on_account):
    s, account = on_account
    for bad in ("", " Shop", "Twelve chars", "1234567890123456", "!!!"):
        with pytest.raises(BadRequest, match="^sender: "):
            senders.request(s, account, bad)
        with pytest.raises(BadRequest, match="^sender: "):
            senders.register(s, account, bad)


def test_operator_validates_or_refuses_and_registers_enabled(on_account):
    s, account = on_account
    senders.request(s, account, "Shop")
    senders.request(s, account, "Spam")
    assert senders.validate(s, account, "Shop").status == "enable"
    refused = senders.validate(s, account, "Spam", refusal="misleading")
    assert (refused.status, refused.comment) == ("refused", "misleading")
    with pytest.raises(NotFound, match="not registered"):
        senders.validate(s, account, "Other")
    assert senders.register(s, account, "Other", description="x").status == "enable"
    assert senders.register(s, account, "Spam").status == "enable"   # the operator overrides a refusal
    assert senders.usable(s, account, "Shop").sender == "Shop"


def test_customer_switches_only_validated_senders(on_account):
    s, account = on_account
    waiting = senders.request(s, account, "Wait")
    enabled = senders.register(s, account, "Shop")
    senders.update(enabled, status="disable", description="paused")
    assert (enabled.status, enabled.description) == ("disable", "paused")
    with pytest.raises(Forbidden, match="not enabled"):
        senders.usable(s, account, "Shop")
    senders.update(enabled, status="enable")
    with pytest.raises(Forbidden, match="validation is done by the operator"):
        senders.update(waiting, status="enable")
    with pytest.raises(Forbidden):
        senders.update(enabled, status="waitingValidation")
    senders.update(waiting, status="waitingValidation")   # no change, nothing to refuse
    with pytest.raises(Forbidden, match="is waitingValidation, not enabled"):
        senders.usable(s, account, "Wait")


def test_removed_sender_is_gone(on_account):
    s, account = on_account
    senders.register(s, account, "Shop")
    senders.remove(s, account, "Shop")
    assert senders.find(s, account, "Shop") is None
    with pytest.raises(NotFound):
        senders.remove(s, account, "Shop")
