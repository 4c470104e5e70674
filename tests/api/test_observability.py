"""api/observability.py in process: route templates, the request id in a handler's log lines, /ready without delivery."""

from __future__ import annotations

import json
import logging
import time

import httpx
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from signed_calls import against, new_keys, signed

from textos.api.observability import UNMATCHED, logged_path, route_template
from textos.observability import logs


class Lines(logging.Handler):
    """Formats each record as it is emitted (in the thread that logs it), as the server's handler does."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logs.JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_a_line_logged_by_a_threaded_handler_carries_the_answers_query_id(app):
    @app.get("/_test/log")
    def logging_route() -> dict[str, str]:  # a sync route: Starlette runs it in a worker thread
        logging.getLogger("textos.test").warning("inside")
        return {}

    handler = Lines()
    logger = logging.getLogger("textos.test")
    logger.addHandler(handler)
    try:
        with TestClient(app) as client:
            answer = client.get("/_test/log")
    finally:
        logger.removeHandler(handler)
    (line,) = handler.lines
    assert json.loads(line)["request_id"] == answer.headers["x-ovh-queryid"]


def test_requests_are_timed_by_route_template(app):
    def count(route: str, status: int) -> float:
        labels = {"method": "GET", "route": route, "status": str(status)}
        return REGISTRY.get_sample_value("textos_http_request_duration_seconds_count", labels) or 0.0

    outgoing = "/1.0/sms/{serviceName}/outgoing"
    with TestClient(app) as client:
        before = count(outgoing, 403), count(UNMATCHED, 404)
        assert client.get("/1.0/sms/sms-xy1-1/outgoing").status_code == 403  # unsigned
        assert client.get("/no/such/page").status_code == 404
        after = count(outgoing, 403), count(UNMATCHED, 404)
    assert after == (before[0] + 1, before[1] + 1)


def test_route_template_of_an_unrouted_request():
    assert route_template({"path": "/x"}) == UNMATCHED
    assert route_template({"path": "/1.0/sms/a/jobs", "textos.route": "/1.0/sms/{serviceName}/jobs"}) == "/1.0/sms/{serviceName}/jobs"


def test_the_access_log_hides_bearer_tokens_in_paths():
    assert logged_path({"path": "/1.0/pay/Zx9-abc", "path_params": {"orderToken": "Zx9-abc"}}) == "/1.0/pay/[hidden]"
    assert logged_path({"path": "/1.0/download/t0k3n", "path_params": {"token": "t0k3n"}}) == "/1.0/download/[hidden]"
    jobs = {"path": "/1.0/sms/sms-ab1-1/jobs/7", "path_params": {"serviceName": "sms-ab1-1", "id": "7"}}
    assert logged_path(jobs) == "/1.0/sms/sms-ab1-1/jobs/7"
    assert logged_path({"path": "/no/such/page"}) == "/no/such/page"


def test_ready_without_delivery_in_this_process_asks_the_database_only(app):
    with TestClient(app) as client:
        answer = client.get("/ready")
    assert answer.status_code == 200 and answer.json() == {"status": "ready", "database": True, "carriers": None}


def test_a_method_of_the_clients_invention_is_counted_as_other(app):
    labels = {"method": "other", "route": UNMATCHED, "status": "404"}
    before = REGISTRY.get_sample_value("textos_http_request_duration_seconds_count", labels) or 0.0
    with TestClient(app) as client:
        for n in range(3):
            client.request(f"BREW{n}", "/coffee")
    assert REGISTRY.get_sample_value("textos_http_request_duration_seconds_count", labels) == before + 3


def test_the_requests_answered_in_front_of_fastapi_are_timed_and_named_too(app):
    """A listed job (``api/onthefly.py``) and ``GET /auth/time`` are answered before FastAPI's routing
    (``api.app.TextosAPI``): still timed by their route template, and each answer has its query id."""
    keys = new_keys(app.state.textos.db)
    jobs, time_route = "/1.0/sms/{serviceName}/jobs", "/1.0/auth/time"

    def count(method: str, route: str, status: int) -> float:
        labels = {"method": method, "route": route, "status": str(status)}
        return REGISTRY.get_sample_value("textos_http_request_duration_seconds_count", labels) or 0.0

    before = count("POST", jobs, 200), count("POST", jobs, 403), count("GET", time_route, 200), count("GET", time_route, 400)
    answers: list[httpx.Response] = []

    async def scenario(client: httpx.AsyncClient) -> None:
        answers.append(await signed(client, keys, "POST", f"/sms/{keys[0]}/jobs", {"message": "hi", "receivers": ["0612345678"]}))
        answers.append(await signed(client, keys, "POST", f"/sms/{keys[0]}/jobs", {"message": "hi", "receivers": ["0612345678"] * 2 + [f"06123456{n:02d}" for n in range(20)]}))
        answers.append(await client.get("/1.0/auth/time"))
        answers.append(await client.get("/1.0/auth/time?x=1"))  # FastAPI's route: refused, as every route refuses what it does not declare

    against(app, scenario)
    assert [a.status_code for a in answers] == [200, 403, 200, 400]
    assert abs(answers[2].json() - time.time()) < 5
    assert len({a.headers["x-ovh-queryid"] for a in answers}) == 4
    after = count("POST", jobs, 200), count("POST", jobs, 403), count("GET", time_route, 200), count("GET", time_route, 400)
    assert after == tuple(b + 1 for b in before)
