"""Our signature is the official client's signature."""

from __future__ import annotations

import ovh
from hypothesis import given, settings, strategies as st

from textos.domain.signing import parse_timestamp, sign, signature_matches


@settings(derandomize=True, max_examples=100, database=None)
@given(st.text(min_size=1, max_size=40), st.sampled_from(["GET", "POST", "PUT", "DELETE"]), st.text(max_size=60))
def test_matches_python_ovh_client(secret, method, body):
    captured = {}

    class Session:
        def request(self, method, url, headers, data, timeout):
            captured.update(headers=headers, url=url, data=data)
            return None

    ovh.client.ENDPOINTS["sign-test"] = "http://127.0.0.1:9/1.0"
    client = ovh.Client(endpoint="sign-test", application_key="AK", application_secret=secret, consumer_key="CK")
    client._time_delta = 0
    client._session = Session()
    client.raw_call(method, "/sms/x?tag=a%20b", data={"b": body} if method in ("POST", "PUT") else None)
    h = captured["headers"]
    mine = sign(secret, "CK", method, captured["url"], captured["data"], h["X-Ovh-Timestamp"])
    assert signature_matches(mine, h["X-Ovh-Signature"])
    assert not signature_matches(sign(secret + "x", "CK", method, captured["url"], captured["data"], h["X-Ovh-Timestamp"]), h["X-Ovh-Signature"])


def test_a_timestamp_is_ascii_digits_only():
    assert parse_timestamp("1764633600") == 1764633600
    assert parse_timestamp("-5") == -5
    for bad in ["", "-", "²", "¹²³", "-²", "١٢٣", "12a", " 12", "12\n", "+12", "9" * 21, "9" * 5000]:
        assert parse_timestamp(bad) is None, bad
