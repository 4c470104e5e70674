"""Query parameters a route does not declare are refused with a 400 naming them (textos/api/query_params.py),
on every route of a real server, signed calls included; declared ones and unsigned pages keep working."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import ovh
import pytest

from helpers import Server, Tenant

API = "/1.0"


def _refusal(answer: httpx.Response | ovh.exceptions.APIError) -> tuple[int, dict]:
    response = answer.response if isinstance(answer, ovh.exceptions.APIError) else answer
    return response.status_code, response.json()


def _concrete(path: str, tenant: Tenant) -> str:
    """An OpenAPI path with its parameters filled in (the rule answers before they are looked up)."""
    return re.sub(r"\{[^}]+\}", "1", path.replace("{serviceName}", tenant.service))


def test_every_get_operation_refuses_an_unknown_query_parameter(server: Server, tenant: Tenant):
    document = httpx.get(f"{server.endpoint}/openapi.json").json()
    paths = [path for path, operations in document["paths"].items() if "get" in operations]
    assert len(paths) > 20  # the whole API, not a handful
    for path in paths:
        concrete = _concrete(path, tenant)
        if concrete.startswith(API + "/"):  # signed as the ovh client signs: over the URL with its query string
            with pytest.raises(ovh.exceptions.BadParametersError) as caught:
                tenant.client.get(concrete[len(API):], unknownParam=1)
            status, body = _refusal(caught.value)
        else:  # /_simulator/*: unsigned, loopback
            status, body = _refusal(httpx.get(f"http://127.0.0.1:{server.port}{concrete}", params={"unknownParam": 1}))
        assert (status, body["class"]) == (400, "Client::BadRequest"), f"GET {path}: {status} {body}"
        assert body["message"] == "Unknown parameter: unknownParam", f"GET {path}: {body}"


def test_a_typo_of_a_filter_is_refused_and_the_filter_itself_works(tenant: Tenant):
    svc = f"/sms/{tenant.service}"
    report = tenant.client.post(f"{svc}/jobs", message="hi", noStopClause=True, receivers=["+33612345678"], tag="x")
    tenant.wait_final(report["ids"])
    for params in ({"tags": "x"}, {"foo": "bar"}, {"tag": "x", "Tag": "x"}):
        with pytest.raises(ovh.exceptions.BadParametersError) as caught:
            tenant.client.get(f"{svc}/outgoing", **params)
        unknown = next(name for name in params if name != "tag")
        assert caught.value.response.json()["message"] == f"Unknown parameter: {unknown}"
    assert tenant.client.get(f"{svc}/outgoing", tag="x") == report["ids"]
    assert tenant.client.get(f"{svc}/outgoing", tag="y") == []


def test_every_method_refuses_them_the_fast_job_path_included(tenant: Tenant):
    svc = f"/sms/{tenant.service}"
    before = tenant.credits()
    # POST /jobs with listed receivers is answered by api/onthefly.py; with a query string it is the route's
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        tenant.client.post(f"{svc}/jobs?dryRun=true", message="hi", noStopClause=True, receivers=["+33612345678"])
    assert caught.value.response.json()["message"] == "Unknown parameter: dryRun"
    assert tenant.credits() == before and tenant.client.get(f"{svc}/jobs") == []
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        tenant.client.put(f"{svc}?force=1", description="x")
    assert caught.value.response.json()["message"] == "Unknown parameter: force"
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        tenant.client.delete(f"{svc}/jobs/1", purge="yes")
    assert caught.value.response.json()["message"] == "Unknown parameter: purge"


def test_unsigned_pages_keep_working(server: Server, tenant: Tenant):
    assert httpx.get(f"{server.endpoint}/auth/time").status_code == 200
    assert httpx.get(f"{server.endpoint}/auth/time", params={"x": 1}).status_code == 400
    assert httpx.get(f"{server.endpoint}/openapi.json", params={"v": 2}).status_code == 200
    assert httpx.get(f"{server.endpoint}/docs", params={"v": 2}).status_code == 200
    # the consumer-key validation page, as a browser uses it: opened with its token, its form posted where it says
    client = server.client(tenant.app_key, tenant.app_secret, None)
    request = client.request_consumerkey([{"method": "GET", "path": f"/sms/{tenant.service}"}])
    page = httpx.get(request["validationUrl"])
    assert page.status_code == 200
    action = re.search(r'<form method="post"(?: action="([^"]*)")?', page.text)
    assert action is not None
    token = re.search(r'name="credentialToken" value="([^"]+)"', page.text)
    assert token is not None
    posted = httpx.post(urljoin(request["validationUrl"], action.group(1) or ""),  # no action: the page's own URL
                        data={"credentialToken": token.group(1), "nic": tenant.nic, "password": "secret-password"})
    assert posted.status_code == 200, posted.text
    assert client.get(f"/sms/{tenant.service}")["name"] == tenant.service
