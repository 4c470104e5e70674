"""Scripted SMSC outcomes: rules by receiver prefix or regex, in the CLI's form too."""

from __future__ import annotations

import pytest

from textos.simulator.scenario import OUTCOMES, Rule, outcome_for, outcome_named
from textos.smpp.pdu import Status
from textos.smpp.receipt_text import MessageState


def test_prefix_and_regex_rules_first_match_wins():
    rules = [Rule("+3370", "undeliverable"), Rule("re:999$", "rejected"), Rule("33", "expired")]
    assert outcome_for(rules, "+33700000001") is rules[0]
    assert outcome_for(rules, "33612345999") is rules[1]
    assert outcome_for(rules, "33612345678") is rules[2]
    assert outcome_for(rules, "447400123456") is None


def test_the_cli_form():
    assert Rule.parse("3361=undeliverable") == Rule("3361", "undeliverable")
    rejected = Rule.parse("re:999$=rejected:0x0b")
    assert (rejected.pattern, rejected.outcome, rejected.status) == ("re:999$", "rejected", Status.ESME_RINVDSTADR)
    assert rejected.matches("+33612345999") and not rejected.matches("+33612345998")


def test_outcomes_and_their_receipts():
    assert OUTCOMES == {"delivered": MessageState.DELIVERED, "undeliverable": MessageState.UNDELIVERABLE,
                        "expired": MessageState.EXPIRED, "rejected": None, "stop": MessageState.DELIVERED}
    with pytest.raises(ValueError, match="unknown outcome"):
        Rule("33", "lost")


@pytest.mark.parametrize(
    ("word", "outcome"),
    [("UNDELIV", "undeliverable"), ("DELIVRD", "delivered"), ("EXPIRED", "expired"), ("REJECT", "rejected"),
     ("undeliverable", "undeliverable"), ("delivered", "delivered"), ("STOP", "stop")],
)
def test_settings_name_outcomes_by_stat_word_or_by_name(word: str, outcome: str) -> None:
    assert outcome_named(word) == outcome


def test_an_unknown_outcome_word_is_refused_by_the_rule() -> None:
    with pytest.raises(ValueError, match="bogus"):
        Rule("+33", outcome_named("BOGUS"))
