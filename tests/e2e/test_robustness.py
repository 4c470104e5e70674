"""No bad input gets a 500: out-of-range numbers, NUL characters, wrong shapes — each a 400/404 in OVH's shape."""

from __future__ import annotations

import httpx
import ovh
import pytest

BAD = [
    ("GET", "/sms/{s}/jobs/99999999999999999999999", None, 400),
    ("GET", "/sms/{s}/jobs/0", None, 400),
    ("GET", "/sms/{s}/jobs/abc", None, 400),
    ("DELETE", "/sms/{s}/outgoing/99999999999999999999", None, 400),
    ("GET", "/sms/{s}/outgoing/-1", None, 400),
    ("GET", "/sms/{s}/outgoing?ptt=99999999999999999999999", None, 400),
    ("GET", "/sms/{s}/outgoing?differedDelivery=99999999999999999999", None, 400),
    ("GET", "/sms/{s}/outgoing?deliveryReceipt=-99999999999999999999", None, 400),
    ("GET", "/sms/{s}/outgoing?creationDatetime.from=9999-99-99", None, 400),
    ("GET", "/sms/{s}/outgoing?receiver=%00", None, None),
    ("GET", "/sms/{s}/receivers/99999999999999999999", None, 400),
    ("GET", "/sms/ptts?ptt=99999999999999999999999", None, None),
    ("POST", "/sms/{s}/jobs", {"message": "hi\x00", "receivers": ["+33612345678"]}, 400),
    ("POST", "/sms/{s}/jobs", {"message": "hi", "receivers": ["+33612345678"], "tag": "\x00"}, 400),
    ("POST", "/sms/{s}/jobs", {"message": "hi", "receivers": ["+3361234\x005678"]}, 400),
    ("POST", "/sms/{s}/jobs", {"message": "\ud83d", "receivers": ["+33612345678"]}, 400),
    ("POST", "/sms/{s}/jobs", {"message": "hi", "receivers": ["+33612345678"], "differedPeriod": 1e30}, 400),
    ("POST", "/sms/{s}/jobs", [1, 2], 400),
    ("POST", "/sms/{s}/jobs", {"message": "hi", "receivers": [1, 2]}, 400),
    ("POST", "/sms/{s}/transferCredits", {"smsAccountTarget": "{s}", "credits": 1e308}, 400),
    ("GET", "/order/sms/{s}/credits?quantity=99999999999999999999", None, 400),
    ("POST", "/order/sms/{s}/credits", {"quantity": 99999999999999999999}, 400),
    ("GET", "/me/order/99999999999999999999", None, 400),
    ("POST", "/sms/{s}/receivers", {"slotId": 99999999999999999999, "csvUrl": "http://127.0.0.1/x.csv"}, 400),
    ("POST", "/sms/{s}/senders", {"sender": "\x00abc"}, 400),
    # lone surrogates (a JSON "\ud800" escape without its pair) in unbounded strings went on to the
    # database or into the refusal's text, neither of which UTF-8 can encode: a 500
    ("POST", "/sms/{s}/jobs", {"message": "hi", "receivers": ["+3361234\udc005678"]}, 400),
    ("POST", "/sms/{s}/senders", {"sender": "ab\ud800c"}, 400),
    ("PUT", "/sms/{s}", {"smsResponse": {"text": "\udfffx"}}, 400),
    ("PUT", "/sms/{s}", {"smsResponse": {"trackingOptions": [{"media": "sms", "sender": "\ud800", "target": "t"}]}}, 400),
    ("PUT", "/sms/{s}", {"description": "x" * 5000}, 400),
    ("PUT", "/sms/{s}", {"callBack": "javascript:alert(1)"}, 400),
]


@pytest.mark.parametrize("method, path, body, status", BAD, ids=[f"{m} {p[:50]}" for m, p, _, _ in BAD])
def test_bad_input_is_refused_in_ovh_shape(tenant, method, path, body, status):
    path = path.replace("{s}", tenant.service)
    if isinstance(body, dict):
        body = {k: (v.replace("{s}", tenant.service) if isinstance(v, str) else v) for k, v in body.items()}
    answer = tenant.client.raw_call(method, path, body)
    assert answer.status_code < 500, answer.text
    assert answer.status_code == status if status else answer.status_code in (200, 400, 404)
    if answer.status_code >= 400:
        data = answer.json()
        assert data["class"].startswith("Client::") and data["message"]
    assert tenant.client.get(f"/sms/{tenant.service}")["creditsLeft"] == 100.0


# ----------------------------------------------------------------- inputs that used to answer 500


@pytest.mark.parametrize("timestamp", ["²".encode("latin-1"), "¹²³".encode("latin-1"), "-²".encode("latin-1"), b"9" * 5000])
def test_a_timestamp_that_is_no_ascii_number_is_an_invalid_signature(server, tenant, timestamp):
    headers = {"X-Ovh-Application": tenant.app_key, "X-Ovh-Consumer": tenant.consumer_key,
               "X-Ovh-Timestamp": timestamp, "X-Ovh-Signature": "$1$" + "0" * 40}
    answer = httpx.get(f"{server.endpoint}/sms", headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errorCode"] == "INVALID_SIGNATURE"


def _request_credential(server, tenant, body):  # type: ignore[no-untyped-def]
    return httpx.post(f"{server.endpoint}/auth/credential", json=body, headers={"X-Ovh-Application": tenant.app_key})


def test_a_credential_request_with_a_relative_rule_path_is_refused_naming_the_field(server, tenant):
    answer = _request_credential(server, tenant, {"accessRules": [{"method": "GET", "path": "sms/*"}]})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"class": "Client::BadRequest", "message": "accessRules: path 'sms/*' must start with '/'"}


def test_allowed_ips_that_are_no_addresses_are_refused_when_the_key_is_made(server, tenant):
    answer = _request_credential(server, tenant, {"accessRules": [{"method": "GET", "path": "/*"}], "allowedIPs": ["not-an-ip"]})
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"] == "allowedIPs: 'not-an-ip' is not an IP address or network"
    assert "allowedIPs" in server.cli_fails("credential", "create", "--app", tenant.app_key, "--nic", tenant.nic,
                                            "--rule", "GET /*", "--allowed-ip", "10.0.0.300")
    fine = _request_credential(server, tenant, {"accessRules": [{"method": "GET", "path": "/*"}], "allowedIPs": ["127.0.0.1", "2001:db8::/32"]})
    assert fine.status_code == 200, fine.text


@pytest.mark.parametrize("field", ["sender", "receiver"])
def test_an_injected_mo_with_an_address_outside_latin1_is_refused(server, field):
    body = {"sender": "+33612345678", "receiver": "36111", "text": "STOP", field: "+3361234€"}
    answer = httpx.post(f"http://127.0.0.1:{server.port}/_simulator/mo", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"].startswith(f"Invalid value for {field}: ")


@pytest.mark.parametrize("deferred", ["9999-12-31T00:00:00+00:00", "0001-01-01T00:00:00+01:00"])
def test_a_batch_deferred_beyond_a_year_or_the_calendar_is_refused_naming_the_field(tenant, deferred):
    with pytest.raises(ovh.exceptions.BadParametersError, match="^deferred: "):
        tenant.client.post(f"/sms/{tenant.service}/batches", name="far", message="hi", to=["+33612345678"],
                           deferred=deferred, noStop=True)
    assert tenant.client.get(f"/sms/{tenant.service}/batches") == []



@pytest.mark.parametrize("password", ["abcd123\x00", "abcd123\ud800"])
def test_a_refused_password_is_named_never_shown(tenant, password):
    answer = tenant.client.raw_call("POST", f"/sms/{tenant.service}/users", {"login": "shown", "password": password})
    assert answer.status_code == 400 and "password" in answer.json()["message"], answer.text
    assert "abcd123" not in answer.text
