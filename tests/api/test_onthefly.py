"""The on-the-fly fast path (textos/api/onthefly.py): POST /sms/{s}/jobs with listed receivers is
answered without FastAPI's routing, exactly as the route answers, refusals included; every
other request (a job from a document or slot, a query string), goes on to FastAPI unchanged."""

from __future__ import annotations

import json
import time

import httpx

from signed_calls import against, call, new_keys
from textos.api import onthefly
from textos.api.errors import ErrorOut
from textos.api.routes.jobs import SmsSendingReport
from textos.domain.signing import sign



async def raw(client: httpx.AsyncClient, keys: tuple[str, ...], path: str, body: bytes, *, secret: str | None = None) -> httpx.Response:
    _, app_key, app_secret, consumer_key = keys
    now = str(int(time.time()))
    headers = {
        "X-Ovh-Application": app_key, "X-Ovh-Consumer": consumer_key, "X-Ovh-Timestamp": now,
        "X-Ovh-Signature": sign(secret or app_secret, consumer_key, "POST", f"http://testserver/1.0{path}", body.decode(), now),
        "Content-Type": "application/json",
    }
    return await client.post(f"/1.0{path}", content=body, headers=headers)


def test_listed_jobs_take_the_fast_path_and_answer_as_the_route_does(app, monkeypatch):
    keys = new_keys(app.state.textos.db)
    service = keys[0]
    fast: list[bytes] = []
    real_send = onthefly._send_json

    async def counted_send(send, content):  # type: ignore[no-untyped-def]
        fast.append(json.dumps(content).encode())
        await real_send(send, content)

    monkeypatch.setattr(onthefly, "_send_json", counted_send)

    async def scenario(client: httpx.AsyncClient) -> None:
        report = await call(client, keys, "POST", f"/sms/{service}/jobs",
                            {"message": "hi", "receivers": ["0612345678", "nope"], "noStopClause": True, "tag": "otp"})
        assert report["validReceivers"] == ["+33612345678"] and report["invalidReceivers"] == ["nope"]
        assert report["totalCreditsRemoved"] == 1.0 and report["tag"] == "otp" and len(report["ids"]) == 1
        assert len(fast) == 1
        # refusals in OVH's shape, each naming what is wrong
        bad_signature = await raw(client, keys, f"/sms/{service}/jobs", b'{"message":"hi","receivers":["0612345678"]}', secret="wrong")
        assert bad_signature.status_code == 400 and bad_signature.json()["errorCode"] == "INVALID_SIGNATURE"
        broke = await raw(client, keys, f"/sms/{service}/jobs", json.dumps({"message": "x", "receivers": [f"06123456{n:02d}" for n in range(20)]}).encode())
        assert broke.status_code == 403 and broke.json()["class"] == "Client::Forbidden::NotEnoughCredits"
        assert broke.json()["message"] == "Not enough credits: 20 needed, creditsLeft is 9"
        not_mine = await raw(client, keys, "/sms/sms-zz99999-1/jobs", b'{"message":"hi","receivers":["0612345678"]}')
        assert not_mine.status_code == 404 and "class" in not_mine.json()
        assert len(fast) == 1  # refusals were answered, not reports
        # an invalid body and a document job go on to FastAPI, which answers as always
        invalid = await raw(client, keys, f"/sms/{service}/jobs", b'{"message":"hi","receivers":"0612345678"}')
        assert invalid.status_code == 400 and "receivers" in invalid.json()["message"]
        document = await raw(client, keys, f"/sms/{service}/jobs", b'{"message":"hi","receiversSlotId":"nope"}')
        assert document.status_code == 400 and "receiversSlotId" in document.json()["message"]
        # so does a query string: the route's rule refuses what it does not declare (api/query_params.py)
        queried = await raw(client, keys, f"/sms/{service}/jobs?tag=otp", b'{"message":"hi","receivers":["0612345678"]}')
        assert queried.status_code == 400 and queried.json()["message"] == "Unknown parameter: tag"
        assert len(fast) == 1

    against(app, scenario)



def test_a_signature_over_the_url_without_its_port_is_accepted_on_the_fast_path_as_on_the_routes(app):
    """The Node.js client signs ``https://`` + host + path without the port its Host header names."""
    service, app_key, app_secret, consumer_key = new_keys(app.state.textos.db)
    job = '{"message":"hi","receivers":["0612345678"],"noStopClause":true}'

    async def signed(client: httpx.AsyncClient, method: str, path: str, signed_over: str, body: str = "") -> httpx.Response:
        now = str(int(time.time()))
        headers = {"Host": "testserver:8443", "X-Ovh-Application": app_key, "X-Ovh-Consumer": consumer_key, "X-Ovh-Timestamp": now,
                   "X-Ovh-Signature": sign(app_secret, consumer_key, method, signed_over, body, now), "Content-Type": "application/json"}
        return await client.request(method, path, content=body or None, headers=headers)

    async def scenario(client: httpx.AsyncClient) -> None:
        for method, path, body in [("POST", f"/1.0/sms/{service}/jobs", job), ("GET", f"/1.0/sms/{service}", "")]:
            assert (await signed(client, method, path, f"http://testserver:8443{path}", body)).status_code == 200
            assert (await signed(client, method, path, f"http://testserver{path}", body)).status_code == 200
            other_port = await signed(client, method, path, f"http://testserver:8444{path}", body)
            assert other_port.status_code == 400 and other_port.json()["errorCode"] == "INVALID_SIGNATURE"

    against(app, scenario)


def test_the_fast_path_answers_what_the_openapi_document_describes(app, monkeypatch):
    """The document's ``POST /sms/{serviceName}/jobs`` (``SmsSendingReport``, OVH's error shape) is what
    the fast path answers, past FastAPI: its report and its refusals validate against those models."""
    operation = app.openapi()["paths"][onthefly.ROUTE]["post"]["responses"]
    assert operation["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SmsSendingReport"}
    assert operation["4XX"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    keys = new_keys(app.state.textos.db)
    service = keys[0]
    fast: list[object] = []
    real_send = onthefly._send_json

    async def counted_send(send, content):  # type: ignore[no-untyped-def]
        fast.append(content)
        await real_send(send, content)

    monkeypatch.setattr(onthefly, "_send_json", counted_send)

    async def scenario(client: httpx.AsyncClient) -> None:
        report = await raw(client, keys, f"/sms/{service}/jobs", b'{"message":"hi","receivers":["0612345678","nope"],"noStopClause":true}')
        assert len(fast) == 1 and report.status_code == 200
        assert SmsSendingReport.model_validate_json(report.content).model_dump() == report.json()
        broke = await raw(client, keys, f"/sms/{service}/jobs", json.dumps({"message": "x", "receivers": [f"06123456{n:02d}" for n in range(20)]}).encode())
        unsigned = await raw(client, keys, f"/sms/{service}/jobs", b'{"message":"hi","receivers":["0612345678"]}', secret="wrong")
        for refusal in (broke, unsigned):
            assert 400 <= refusal.status_code < 500
            assert ErrorOut.model_validate_json(refusal.content).model_dump(by_alias=True, exclude_none=True) == refusal.json()
        assert len(fast) == 1

    against(app, scenario)
