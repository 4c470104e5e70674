"""Query parameters a route does not declare are refused, as OVH refuses them.

``GET /sms/{s}/outgoing?tags=x`` (a typo of ``tag``) must not quietly return every
message. The rule is one app-wide dependency (``create_app`` installs it, so it runs
before authentication on every FastAPI route): the request's query keys are compared with
the query parameters the matched route declares (its dependant tree, the same one FastAPI
reads them from and the OpenAPI document shows); a route that declares none refuses any.
The refusal is the usual 400 ``Client::BadRequest`` of a validation error, naming each
unknown parameter ("Unknown parameter: tags"), as an unknown body field is named.

Routes that are not FastAPI routes (``/1.0/docs``, ``/1.0/openapi.json``) are not
concerned. ``api/onthefly.py`` answers only requests without a query string and hands
the others on to the route, so they meet this rule too.
"""

from __future__ import annotations

from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request

__all__ = ["declared_query_parameters", "refuse_unknown_query"]


def declared_query_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameter names ``route`` declares, its dependencies' included (by their alias).

    Walked on each request that has a query string (a few microseconds; routes are not hashable
    and an id-keyed cache could outlive its app)."""
    names: set[str] = set()
    pending: list[Dependant] = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(field.alias for field in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)


async def refuse_unknown_query(request: Request) -> None:
    """400 naming the query parameters the matched route does not declare (none: nothing to do)."""
    if not request.scope.get("query_string"):
        return
    route = request.scope.get("route")
    declared = declared_query_parameters(route) if isinstance(route, APIRoute) else frozenset()
    unknown = [(name, value) for name, value in request.query_params.multi_items() if name not in declared]
    if unknown:
        raise RequestValidationError([
            {"type": "extra_forbidden", "loc": ("query", name), "msg": "Extra inputs are not permitted", "input": value}
            for name, value in dict(unknown).items()
        ])
