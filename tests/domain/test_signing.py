"""Our signature is the official client's signature."""

from __future__ import annotations

import ovh
from hypothesis import given, settings, strategies as st

from textos.domain.signing import parse_timestamp, sign, signature_accepted, signature_matches, without_port


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


def test_without_port_drops_only_the_port_of_the_authority():
    assert without_port("https://h.example:8443/1.0/sms?tag=a:1") == "https://h.example/1.0/sms?tag=a:1"
    assert without_port("http://127.0.0.1:8080/1.0/sms") == "http://127.0.0.1/1.0/sms"
    assert without_port("https://[::1]:8443/1.0/sms") == "https://[::1]/1.0/sms"
    assert without_port("https://h:8443?x=1") == "https://h?x=1"
    for none in ["https://h.example/1.0/sms:80", "https://[::1]/1.0", "https://h:/1.0", "https://h:8o/1.0", "https://h:８０/1.0", "no-scheme:80/x"]:
        assert without_port(none) is None, none


def test_a_signature_is_accepted_over_the_url_or_the_url_without_its_port_and_nothing_else():
    def signed(url: str) -> str:
        return sign("secret", "CK", "GET", url, "", "1764633600")

    def accepted(given: str, url: str = "https://h.example:8443/1.0/sms") -> bool:
        return signature_accepted(given, "secret", "CK", "GET", url, "", "1764633600")

    assert accepted(signed("https://h.example:8443/1.0/sms"))
    assert accepted(signed("https://h.example/1.0/sms"))  # the Node.js client's way
    for other in ["https://h.example:8444/1.0/sms", "http://h.example/1.0/sms", "https://g.example/1.0/sms", "https://h.example/1.0/sms/"]:
        assert not accepted(signed(other)), other
    assert accepted(signed("https://h.example/1.0/sms"), "https://h.example/1.0/sms")
    assert not accepted(signed("https://h.example:443/1.0/sms"), "https://h.example/1.0/sms")  # a port is never added
