"""No bad input gets a 500: out-of-range numbers, NUL characters, wrong shapes — each a 400/404 in OVH's shape."""

from __future__ import annotations

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
