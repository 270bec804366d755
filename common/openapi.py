"""OpenAPI 3.1 documents built from the registered routes and their pydantic schemas.

Every route declares its body, query, response and extra error statuses; the statuses that
the pipeline itself can answer (400/413/415/422 for bodies, 401 for authenticated routes,
404 for path ids, 405, 503) are added here, so the document lists every status a route
can return, with `application/problem+json` for errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from common.schemas import Health, Problem

if TYPE_CHECKING:
    from common.http import Api, Route

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_REF_TEMPLATE = "#/components/schemas/{model}"


def openapi_path(rule: str) -> str:
    return _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule)


def _path_params(rule: str) -> list[dict[str, Any]]:
    params = []
    for converter, name in _PARAM.findall(rule):
        schema: dict[str, Any] = {"type": "string"}
        if converter == "uuid":
            schema["format"] = "uuid"
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _statuses(route: Route) -> list[int]:
    found = {route.status, *route.errors}
    if route.body is not None:
        found |= {400, 413, 415, 422}
    if route.query is not None:
        found.add(422)
    if not route.public:
        found.add(401)
    if "<" in route.path:
        found.add(404)
    if not route.path.endswith("/openapi.json"):
        found.add(503)
    found.add(405)
    return sorted(found)


def _operation(route: Route, function: str, refs: dict[Any, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{function}_{getattr(route.handler, '__name__', 'op').strip('_')}",
        "summary": route.summary,
        "tags": [function],
        "responses": {},
    }
    params = _path_params(route.path)
    if route.query is not None:
        schema = route.query.model_json_schema(ref_template=_REF_TEMPLATE)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    params.extend(
        {"name": h, "in": "header", "required": False, "schema": {"type": "string"}}
        for h in route.headers
    )
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    op["security"] = [] if route.public else [{"bearer": []}]
    for status in _statuses(route):
        description = HTTPStatus(status).phrase
        if status == route.status or (status == 503 and route.response is Health):
            if status == 204 or route.response is None:
                op["responses"][str(status)] = {"description": description}
                if route.path.endswith("/openapi.json"):
                    op["responses"][str(status)]["content"] = {
                        "application/json": {"schema": {"type": "object"}}
                    }
                continue
            schema_ref = refs[(route.response, "serialization")]
            op["responses"][str(status)] = {
                "description": description,
                "content": {"application/json": {"schema": schema_ref}},
            }
        else:
            op["responses"][str(status)] = {
                "description": description,
                "content": {"application/problem+json": {"schema": _PROBLEM_REF}},
            }
    return op


def build_openapi(apis: Iterable[Api]) -> dict[str, Any]:
    """One OpenAPI document covering the given functions (one, or all for the gateway)."""
    apis = list(apis)
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (Problem, "serialization")
    ]
    for api in apis:
        for route in api.routes:
            if route.body is not None:
                models.append((route.body, "validation"))
            if route.response is not None:
                models.append((route.response, "serialization"))
    refs, defs = models_json_schema(list(dict.fromkeys(models)), ref_template=_REF_TEMPLATE)
    paths: dict[str, dict[str, Any]] = {}
    for api in apis:
        for route in api.routes:
            item = paths.setdefault(openapi_path(route.path), {})
            item[route.method.lower()] = _operation(route, api.function, refs)
    title = "Sealy API" if len(apis) != 1 else f"Sealy API: {apis[0].function}"
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
