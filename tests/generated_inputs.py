"""Generated inputs (schemathesis) against a real server: every operation of its OpenAPI
document, valid and invalid data, each request signed with a real application and
consumer key as the ``ovh`` client signs it, path parameters naming real objects
(``generated_objects.Objects``) and, fewer, generated ones; each answer checked by
schemathesis against the document (status, content type, schema: 2xx against the
operation's response model, 4xx against OVH's error shape) and never a 5xx.

Used by ``tests/api/test_generated_inputs.py`` (the fast profile, in the suite) and by
``bench/fuzz_api.py`` (the long profile: ``--cases N``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings, strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from callback_sink import CallbackSink
from generated_objects import Objects, destroys
from helpers import Server, Tenant
from textos.domain.signing import sign
from textos.services import credentials
from textos.storage.db import Database

MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PINNED = ("serviceName", "applicationId", "credentialId")
"""Path parameters never generated: the tenant's account, and keys the cases may change or delete
(never the key they are signed with)."""


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
    """A case the server answered badly: a 5xx, an answer the document does not describe, or no answer."""

    operation: str
    kind: str
    """``server error``, ``schema violation`` or ``no answer``."""
    problem: str
    request: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.kind}: {self.problem}\n    {self.request}"


@dataclass
class Tally:
    """What one operation answered."""

    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: int = 0
    violations: int = 0

    @property
    def reached(self) -> bool:
        """Some case was served (2xx): the operation ran past its checks on a real object."""
        return any(200 <= s < 300 for s in self.statuses)


@dataclass
class Exploration:
    operations: dict[str, Tally] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(t.cases for t in self.operations.values())

    @property
    def statuses(self) -> Counter[int]:
        return sum((t.statuses for t in self.operations.values()), Counter())

    def table(self) -> str:
        """One line per operation: cases, answers by class, server errors, schema violations."""
        lines = [f"{'operation':<72} {'cases':>6} {'2xx':>6} {'4xx':>6} {'5xx':>4} {'viol':>4}"]
        for name, t in self.operations.items():
            by_class = Counter(s // 100 for s in t.statuses.elements())
            lines.append(f"{name:<72} {t.cases:>6} {by_class[2]:>6} {by_class[4]:>6} {t.server_errors:>4} {t.violations:>4}")
        return "\n".join(lines)


def explore(server: Server, tenant: Tenant, *, examples: int, seed: int | None = None,
            progress: Callable[[str, Exploration], None] | None = None, found: Exploration | None = None) -> Exploration:
    """Up to ``examples`` cases per operation and generation mode (valid, invalid) naming real
    objects, and a quarter as many with generated path parameters: the same cases every run when
    ``seed`` is None, else those of ``seed``. Counted in ``found`` when given (several passes)."""
    base = f"http://127.0.0.1:{server.port}"
    schema = schemathesis.openapi.from_url(f"{base}/1.0/openapi.json")
    signing = OvhSigning(tenant.app_key, tenant.app_secret, tenant.consumer_key)
    session = requests.Session()
    session.auth = signing
    found = Exploration() if found is None else found
    db = Database(server.database_url)
    try:
        with CallbackSink() as sink:
            objects = Objects(server, tenant, sink, db)
            objects.setup()
            operations = [result.ok() for result in schema.get_all_operations()]
            operations.sort(key=lambda op: destroys(op.method, op.path))  # what deletes comes last
            reads = [op for op in operations if op.method.upper() == "GET"]
            at = next((i for i, op in enumerate(operations) if destroys(op.method, op.path)), len(operations))
            # Every GET once more once the others changed things, before anything is deleted: what a PUT
            # or a POST stored must still read back in the document's shape.
            for operation, read_back in [(op, False) for op in operations[:at]] + [(op, True) for op in reads] + [
                    (op, False) for op in operations[at:]]:
                name = f"{operation.method.upper()} {operation.path}"
                tally = found.operations.setdefault(name, Tally())

                def run(strategy: st.SearchStrategy[schemathesis.Case], count: int) -> None:
                    _runner(strategy, count, seed, lambda case: _call(
                        case, name, base, session, tally, found, lambda: _new_key(db, tenant, signing)))()

                real = objects.path_parameters(operation.path, operation.method, min(examples, 20))
                if read_back:
                    run(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real[0]), 1)
                    continue
                generated = {k: v for k, v in real[0].items() if k in PINNED} or None
                valid = objects.valid_request(operation.method, operation.path)
                if valid is not None:  # one case the operation serves, as a client would send it
                    run(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real[0], query=valid.get("query"),
                                              body=valid.get("body", NOT_SET)), 1)
                runs = [(mode, real, examples) for mode in MODES]
                if generated != real[0]:  # path parameters to generate: a quarter as many cases
                    runs += [(mode, [generated], max(1, examples // 4)) for mode in _modes_of_generated(operation)]
                for mode, pinned, count in runs:
                    try:
                        run(st.one_of([operation.as_strategy(mode, path_parameters=p) for p in pinned]), count)
                    except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                        assert mode is GenerationMode.NEGATIVE, name
                if progress is not None:
                    progress(name, found)
    finally:
        session.close()
        db.dispose()
    return found


def _modes_of_generated(operation: Any) -> tuple[GenerationMode, ...]:
    """The modes of the cases with generated path parameters: invalid ones only when a path parameter
    can be invalid (a number: anything else; any string is a string, and looking for an invalid one
    only takes time)."""
    negatable = any(p.definition.get("schema", {}).get("type") != "string" for p in operation.path_parameters if p.name not in PINNED)
    return MODES if negatable else (GenerationMode.POSITIVE,)


def _runner(strategy: st.SearchStrategy[schemathesis.Case], examples: int, seed: int | None,
            call: Callable[[schemathesis.Case], None]) -> Callable[[], None]:
    @settings(max_examples=examples, derandomize=seed is None, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case: schemathesis.Case) -> None:
        call(case)

    return run if seed is None else hypothesis_seed(seed)(run)


def _call(case: schemathesis.Case, name: str, base: str, session: requests.Session, tally: Tally, found: Exploration,
          after_logout: Callable[[], None]) -> None:
    tally.cases += 1
    try:
        response = case.call(base_url=base, session=session, timeout=30)
    except requests.RequestException as exc:
        tally.server_errors += 1
        found.findings.append(Finding(name, "no answer", f"{exc!r}"[:300], _described(case)))
        return
    tally.statuses[response.status_code] += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as failures:
        server_error = response.status_code >= 500
        tally.server_errors += server_error
        tally.violations += not server_error
        kind = "server error" if server_error else "schema violation"
        titles = "; ".join(sorted({f.title for f in failures.exceptions}))
        found.findings.append(Finding(name, kind, f"{response.status_code} {titles}: {response.text[:300]}", _described(case)))
    if name == "POST /1.0/auth/logout" and response.status_code == 200:
        after_logout()


def _described(case: schemathesis.Case) -> str:
    parts = [f"path={case.path_parameters}" if case.path_parameters else "", f"query={case.query}" if case.query else ""]
    if case.body is not NOT_SET:
        parts.append(f"body={json.dumps(case.body, ensure_ascii=True, default=repr)[:600]}")
    return " ".join(p for p in parts if p)


def _new_key(db: Database, tenant: Tenant, signing: OvhSigning) -> None:
    """A logout expired the key the cases are signed with: sign the next ones with a fresh one."""
    with db.session() as session:
        rules = [f"{method} /*" for method in ("GET", "POST", "PUT", "DELETE")]
        signing.consumer_key = credentials.create_credential(session, tenant.app_key, tenant.nic, rules).consumer_key


def summary(found: Exploration) -> dict[str, Any]:
    """The figures of a run: cases, operations reached, server errors, schema violations."""
    return {
        "cases": found.cases, "operations": len(found.operations),
        "reached": sum(t.reached for t in found.operations.values()),
        "server_errors": sum(t.server_errors for t in found.operations.values()),
        "violations": sum(t.violations for t in found.operations.values()),
    }
