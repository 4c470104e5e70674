"""Access rules as OVH applies them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from textos.domain.access_rules import AccessRule, RuleError, is_allowed


@pytest.mark.parametrize(
    "rule, method, path, allowed",
    [
        ("GET /*", "GET", "/sms/sms-ab12345-1/outgoing/3", True),
        ("GET /*", "POST", "/sms/sms-ab12345-1/jobs", False),
        ("GET /sms", "GET", "/sms", True),
        ("GET /sms", "GET", "/sms/sms-ab12345-1", False),
        ("GET /sms/sms-ab12345-1/*", "GET", "/sms/sms-ab12345-1", True),
        ("GET /sms/sms-ab12345-1/*", "GET", "/sms/sms-ab12345-1/jobs", True),
        ("GET /sms/sms-ab12345-1/*", "GET", "/sms/sms-ab12345-10", False),
        ("GET /sms/sms-ab12345-1/*", "GET", "/sms/sms-ab12345-2/jobs", False),
        ("POST /sms/sms-ab12345-1/jobs", "POST", "/sms/sms-ab12345-1/jobs", True),
        ("POST /sms/sms-ab12345-1/jobs", "POST", "/sms/sms-ab12345-1/jobs/1", False),
        ("GET /sms/*/outgoing", "GET", "/sms/sms-x-1/outgoing", True),
        ("GET /sms/*/outgoing", "GET", "/sms/sms-x-1/incoming", False),
        ("GET /sms.", "GET", "/smsx", False),
    ],
)
def test_rule_matching(rule, method, path, allowed):
    assert AccessRule.parse(rule).allows(method, path) is allowed


@pytest.mark.parametrize("text", ["FETCH /sms", "GET sms", "", "GET"])
def test_malformed_rules_are_refused(text):
    with pytest.raises(RuleError):
        AccessRule.parse(text)


@settings(derandomize=True, max_examples=200, database=None)
@given(st.text(alphabet="abcdefghij-/0123456789", max_size=30))
def test_scoped_rule_never_reaches_another_service(tail):
    rules = [{"method": "GET", "path": "/sms/sms-aa00001-1/*"}]
    assert not is_allowed(rules, "GET", "/sms/sms-aa00001-2" + tail)
    assert is_allowed(rules, "GET", "/sms/sms-aa00001-1/" + tail)
