"""Access rules as OVH applies them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from textos.domain.access_rules import AccessRule, RuleError, check_allowed_ips, is_allowed


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
    with pytest.raises(RuleError, match="^accessRules: ") as refused:
        AccessRule.parse(text)
    assert refused.value.status == 400  # a BadRequest: the caller is told which field


def test_allowed_ips_are_addresses_or_networks():
    assert check_allowed_ips(None) is None
    assert check_allowed_ips(["192.0.2.1", "198.51.100.0/24", "2001:db8::/32", "10.1.2.3/8"]) == [
        "192.0.2.1", "198.51.100.0/24", "2001:db8::/32", "10.1.2.3/8"]
    for bad in ["not-an-ip", "10.0.0.300", "192.0.2.0/33", ""]:
        with pytest.raises(RuleError, match=f"^allowedIPs: {bad!r} is not an IP address or network$"):
            check_allowed_ips(["127.0.0.1", bad])


@settings(derandomize=True, max_examples=200, database=None)
@given(st.text(alphabet="abcdefghij-/0123456789", max_size=30))
def test_scoped_rule_never_reaches_another_service(tail):
    rules = [{"method": "GET", "path": "/sms/sms-aa00001-1/*"}]
    assert not is_allowed(rules, "GET", "/sms/sms-aa00001-2" + tail)
    assert is_allowed(rules, "GET", "/sms/sms-aa00001-1/" + tail)
