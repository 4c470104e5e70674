"""The OpenAPI document describes every answer (textos/api/app.py, schemas.py): each operation's
2xx answer has a schema that says something (no ``{}``, no object of anything), so schemathesis's
response check means something and a new route cannot skip its ``response_model``; every refusal
is OVH's error shape; no operation promises FastAPI's 422 (a validation error is a 400 here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from textos.config import Settings
from textos.server import build_app

UNDESCRIBED = {
    "GET /1.0/sms/{serviceName}/users/{login}/outgoing/{id}/hlr": "never a 2xx: Textos does no HLR lookups (always a 404)",
}
"""Operations whose 2xx answer has no schema, and why."""


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document of the whole server (API, simulator hook), built without opening a database."""
    tmp: Path = tmp_path_factory.mktemp("doc")
    app = build_app(Settings(database_url=f"sqlite:///{tmp / 'unused.db'}", simulator="inprocess"), migrate=False, dispatch=False)
    try:
        return app.openapi()
    finally:
        app.state.auth_cache.close()
        app.state.textos.db.dispose()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def vague(schema: dict[str, Any], components: dict[str, Any], where: str = "") -> list[str]:
    """Where ``schema`` says nothing: an empty schema, or an object without properties whose values may be anything."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return vague(components[name], components, f"{where}/{name}")
    if not schema:
        return [where or "/"]
    found: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for i, option in enumerate(schema.get(key, [])):
            found += vague(option, components, f"{where}/{key}[{i}]")
    if schema.get("type") == "array":
        found += vague(schema.get("items", {}), components, f"{where}[]")
    if schema.get("type") == "object":
        extra = schema.get("additionalProperties", True)
        if not schema.get("properties") and not isinstance(extra, dict):
            found.append(f"{where or '/'}: an object of anything")
        if isinstance(extra, dict):
            found += vague(extra, components, f"{where}{{}}")
        for name, prop in schema.get("properties", {}).items():
            found += vague(prop, components, f"{where}.{name}")
    return found


def answers(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The JSON schemas of the operation's 2xx answers, by status."""
    return {status: response.get("content", {}).get("application/json", {}).get("schema", {})
            for status, response in operation["responses"].items() if status.startswith("2")}


def test_every_operation_describes_its_answer(document: dict[str, Any]):
    components = document["components"]["schemas"]
    problems = {}
    for name, operation in operations(document):
        if name in UNDESCRIBED:
            continue
        found = [f"{status}{where}" for status, schema in answers(operation).items() for where in vague(schema, components)]
        if found or not answers(operation):
            problems[name] = found or ["no 2xx answer"]
    assert problems == {}, "declare the route's response_model (textos/api/schemas.py: Out, VOID)"


def test_the_operations_left_undescribed_exist_and_still_are(document: dict[str, Any]):
    components = document["components"]["schemas"]
    named = dict(operations(document))
    for name in UNDESCRIBED:
        assert name in named, name
        assert any(vague(schema, components) for schema in answers(named[name]).values()), f"{name} is described now: drop it"


def test_every_refusal_is_described_in_ovh_shape_and_no_422_is_promised(document: dict[str, Any]):
    error = document["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"class", "message"} and error["additionalProperties"] is False
    for name, operation in operations(document):
        responses = operation["responses"]
        assert "422" not in responses, name
        assert responses["4XX"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, name


def test_void_operations_answer_null_and_models_name_every_field_they_return(document: dict[str, Any]):
    """``VOID``: JSON ``null``; a response model refuses fields it does not declare (none is dropped on the way out)."""
    named = dict(operations(document))
    assert answers(named["DELETE /1.0/sms/{serviceName}/jobs/{id}"])["200"]["type"] == "null"
    job = document["components"]["schemas"]["Job"]
    assert job["additionalProperties"] is False and "sentAt" in job["required"]
