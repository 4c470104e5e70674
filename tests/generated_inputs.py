"""Generated inputs (schemathesis) against a real server: every operation of its OpenAPI
document, valid and invalid data, each request signed with a real application and
consumer key as the ``ovh`` client signs it; what answered 5xx (or not in OVH's shape).

Used by ``tests/api/test_generated_inputs.py`` (the fast profile, in the suite) and by
``bench/fuzz_api.py`` (the long profile: ``--cases N``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET

from helpers import Server, Tenant
from textos.domain.signing import sign
from textos.services import admin, credentials
from textos.storage.db import Database

MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


class OvhSigning(requests.auth.AuthBase):
    """Signs the request exactly as it goes on the wire: method, URL, body bytes, timestamp."""

    def __init__(self, app_key: str, app_secret: str, consumer_key: str) -> None:
        self.app_key, self.app_secret, self.consumer_key = app_key, app_secret, consumer_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
        now = str(int(time.time()))
        request.headers.update({
            "X-Ovh-Application": self.app_key, "X-Ovh-Consumer": self.consumer_key, "X-Ovh-Timestamp": now,
            "X-Ovh-Signature": sign(self.app_secret, self.consumer_key, str(request.method), str(request.url), text, now),
        })
        return request


@dataclass
class Finding:
    """A case the server answered badly: 5xx, an answer not in OVH's shape, or no answer."""

    operation: str
    problem: str
    request: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.problem}\n    {self.request}"


@dataclass
class Exploration:
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def _problem(response: requests.Response) -> str | None:
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:200]}"
    if response.status_code >= 400:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not (isinstance(data, dict) and isinstance(data.get("class"), str) and data.get("message")):
            return f"{response.status_code} not in OVH's shape: {response.text[:200]}"
    return None


def _described(case: schemathesis.Case) -> str:
    parts = [f"path={case.path_parameters}" if case.path_parameters else "", f"query={case.query}" if case.query else ""]
    if case.body is not NOT_SET:
        parts.append(f"body={json.dumps(case.body, ensure_ascii=True, default=repr)[:600]}")
    return " ".join(p for p in parts if p)


def explore(server: Server, tenant: Tenant, *, examples: int, seed: int | None = None,
            progress: Callable[[str, Exploration], None] | None = None) -> Exploration:
    """Up to ``examples`` cases per operation and generation mode (valid, invalid): the same
    cases every run when ``seed`` is None, else those of ``seed``."""
    base = f"http://127.0.0.1:{server.port}"
    schema = schemathesis.openapi.from_url(f"{base}/1.0/openapi.json")
    signing = OvhSigning(tenant.app_key, tenant.app_secret, tenant.consumer_key)
    session = requests.Session()
    session.auth = signing
    found = Exploration()
    db = Database(server.database_url)
    try:
        pinned = {"serviceName": tenant.service, **_spare_key(db, tenant)}
        for result in schema.get_all_operations():
            operation = result.ok()
            name = f"{operation.method.upper()} {operation.path}"
            fixed = {k: v for k, v in pinned.items() if f"{{{k}}}" in operation.path} or None
            for mode in MODES:
                run = _runner(operation.as_strategy(mode, path_parameters=fixed), examples, seed, lambda case: _call(
                    case, name, base, session, found, lambda: _new_key(db, tenant, signing)))
                try:
                    run()
                except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                    assert mode is GenerationMode.NEGATIVE, name
            if progress is not None:
                progress(name, found)
    finally:
        session.close()
        db.dispose()
    return found


def _runner(strategy, examples: int, seed: int | None, call: Callable[[schemathesis.Case], None]):  # type: ignore[no-untyped-def]
    @settings(max_examples=examples, derandomize=seed is None, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case: schemathesis.Case) -> None:
        call(case)

    return run if seed is None else hypothesis_seed(seed)(run)


def _call(case: schemathesis.Case, name: str, base: str, session: requests.Session, found: Exploration,
          after_logout: Callable[[], None]) -> None:
    found.cases += 1
    try:
        response = case.call(base_url=base, session=session, timeout=30)
    except requests.RequestException as exc:
        found.findings.append(Finding(name, f"no answer: {exc!r}"[:300], _described(case)))
        return
    found.statuses[response.status_code] = found.statuses.get(response.status_code, 0) + 1
    problem = _problem(response)
    if problem is not None:
        found.findings.append(Finding(name, problem, _described(case)))
    if name == "POST /1.0/auth/logout" and response.status_code == 200:
        after_logout()


def _spare_key(db: Database, tenant: Tenant) -> dict[str, int]:
    """An application and a key of the tenant's that ``/me/api`` cases may change and delete (never
    the key and application the cases are signed with)."""
    with db.session() as session:
        app_key = admin.create_application(session, "spare", "", tenant.nic).app_key
        cred = credentials.create_credential(session, app_key, tenant.nic, ["GET /*"]).credential
        return {"applicationId": cred.application_id, "credentialId": cred.id}


def _new_key(db: Database, tenant: Tenant, signing: OvhSigning) -> None:
    """A logout expired the key the cases are signed with: sign the next ones with a fresh one."""
    with db.session() as session:
        rules = [f"{method} /*" for method in ("GET", "POST", "PUT", "DELETE")]
        signing.consumer_key = credentials.create_credential(session, tenant.app_key, tenant.nic, rules).consumer_key
