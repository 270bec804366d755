"""The OpenAPI documents as a contract: complete, valid, and saying what the server does.

- every route of every function is in its function's document (and in the gateway's merged
  one), with every status the pipeline can answer and `application/problem+json` for errors;
- the merged document is valid OpenAPI 3.1, its schemas valid JSON Schema 2020-12, every
  `$ref` resolves, operation ids are unique, every link names a real operation, real
  parameters and a well-formed runtime expression;
- the request schemas agree with the validators: `null` is listed for a body field exactly
  when the server accepts it, and the patterns written for NUL-free, non-blank and trimmed
  strings accept exactly what pydantic accepts.
Schemathesis then fuzzes the API against these documents (tests/reliability/test_fuzz.py).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import functions_framework
import jsonschema_rs
import pytest
from pydantic import BaseModel, ValidationError
from werkzeug.test import Client

from common.openapi import openapi_path, operation_id
from common.schemas.auth import RegisterIn
from common.schemas.tags import TagCreate
from devtools.gateway import ROOT, function_names
from tests.factories import Account, register

pytestmark = pytest.mark.api

ERROR_STATUSES_OF_EVERY_ROUTE = {405, 500}


def function_apis() -> dict[str, Any]:
    """Each function's `Api`, loaded from its main.py as Cloud Functions loads it
    (functions-framework keeps the module it loaded as `main`)."""
    apis = {}
    for name in function_names():
        functions_framework.create_app(
            target=name, source=str(ROOT / "functions" / name / "main.py")
        )
        apis[name] = sys.modules["main"].api
    return apis


@pytest.fixture(scope="module")
def apis() -> dict[str, Any]:
    return function_apis()


@pytest.fixture(scope="module")
def merged(gateway: Any) -> dict[str, Any]:
    response = Client(gateway).get("/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def test_every_route_of_every_function_is_in_its_document(
    client: Client, apis: dict[str, Any], merged: dict[str, Any]
) -> None:
    everything = set()
    for name, api in apis.items():
        response = client.get(f"/v1/{name}/openapi.json")
        assert response.status_code == 200
        document = response.get_json()
        declared = {(r.method, openapi_path(r.path)) for r in api.routes}
        described = {(m, p) for m, p, _ in operations(document)}
        assert described == declared, name
        everything |= declared
    assert {(m, p) for m, p, _ in operations(merged)} == everything
    assert len(everything) == 77  # 64, api-v1 §11 (5), §10's four feeds, §12's four routes


def test_every_status_the_pipeline_can_answer_is_documented(
    apis: dict[str, Any], merged: dict[str, Any]
) -> None:
    for name, api in apis.items():
        for route in api.routes:
            op = merged["paths"][openapi_path(route.path)][route.method.lower()]
            documented = {int(s) for s in op["responses"]}
            expected = {route.status, *route.also, *route.errors, *ERROR_STATUSES_OF_EVERY_ROUTE}
            if route.body is not None:
                expected |= {400, 413, 415, 422}
            if route.query is not None or route.idempotent:
                expected.add(422)
            if route.idempotent:
                expected.add(409)
            if not route.public:
                expected.add(401)
            if "<" in route.path:
                expected.add(404)
            if not route.path.endswith("/openapi.json"):
                expected.add(503)
            assert documented == expected, (name, route.method, route.path)
            assert op["operationId"] == operation_id(route, name)


def test_errors_are_problems_with_their_headers(merged: dict[str, Any]) -> None:
    for method, path, op in operations(merged):
        for status, response in op["responses"].items():
            headers = response["headers"]
            assert headers["X-Request-Id"]["required"] is True, (method, path, status)
            code = int(status)
            if code < 400 or (code == 503 and path.endswith("/health")):
                continue
            content = response["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
            assert content["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }
            required = {
                401: "WWW-Authenticate",
                405: "Allow",
                429: "Retry-After",
                503: "Retry-After",
            }.get(code)
            if required:
                assert headers[required]["required"] is True, (method, path, status)


def test_single_resources_document_their_etag_and_creations_their_location(
    merged: dict[str, Any],
) -> None:
    with_etag = set()
    for method, path, op in operations(merged):
        for status, response in op["responses"].items():
            if status == "201":
                assert response["headers"]["Location"]["required"] is True, path
            if "ETag" in response["headers"]:
                with_etag.add(f"{method} {path}")
    assert {
        "POST /v1/todos",
        "GET /v1/todos/{item_id}",
        "PATCH /v1/todos/{item_id}",
        "POST /v1/todos/{item_id}/complete",
        "GET /v1/tags/{tag_id}",
        "GET /v1/users/me",
    } <= with_etag
    assert not any(label.endswith("/health") for label in with_etag)


def test_the_merged_document_is_valid_openapi_3_1(merged: dict[str, Any]) -> None:
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    assert merged["openapi"] == "3.1.0"
    errors = [str(e) for e in OPENAPI_31_VALIDATOR.iter_errors(merged)]
    assert errors == []
    components = {"components": merged["components"]}
    for name, schema in merged["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
        # compiles, with its references resolved and every pattern an ECMA 262 regex
        jsonschema_rs.Draft202012Validator({**components, "$ref": f"#/components/schemas/{name}"})


def test_every_reference_resolves_and_ids_are_unique(merged: dict[str, Any]) -> None:
    text = json.dumps(merged)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    assert refs
    assert refs <= set(merged["components"]["schemas"])
    assert "#/components/" not in text.replace("#/components/schemas/", "")
    ids = [op["operationId"] for _, _, op in operations(merged)]
    assert len(ids) == len(set(ids))
    schemes = {name for _, _, op in operations(merged) for s in op["security"] for name in s}
    assert schemes <= set(merged["components"]["securitySchemes"])


EXPRESSION = re.compile(r"\$request\.path\.\w+|\$response\.body#(/\w+)+|\$response\.header\.ETag")


def test_links_name_real_operations_parameters_and_fields(merged: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for _, _, op in operations(merged)}
    schemas = merged["components"]["schemas"]
    count = 0
    for method, path, op in operations(merged):
        for response in op["responses"].values():
            for name, link in response.get("links", {}).items():
                count += 1
                target = by_id[link["operationId"]]
                params = {(p["in"], p["name"]) for p in target.get("parameters", [])}
                required = {p["name"] for p in target.get("parameters", []) if p["required"]}
                given = set()
                for key, expression in link["parameters"].items():
                    where, _, param = key.partition(".")
                    assert (where, param) in params, (method, path, name, key)
                    assert EXPRESSION.fullmatch(expression), expression
                    if expression.startswith("$request.path."):
                        assert "{" + expression.rsplit(".", 1)[1] + "}" in path
                    if expression.startswith("$response.body#"):
                        schema = schemas[
                            response["content"]["application/json"]["schema"]["$ref"].rsplit(
                                "/", 1
                            )[1]
                        ]
                        for part in expression.split("#", 1)[1].strip("/").split("/"):
                            schema = schema["properties"][part]
                            schema = schemas.get(schema.get("$ref", "").rsplit("/", 1)[-1], schema)
                    if expression == "$response.header.ETag":
                        assert "ETag" in response["headers"]
                    given.add(param)
                assert required <= given, (method, path, name)
    assert count >= 50
    creates = merged["paths"]["/v1/todos"]["post"]["responses"]["201"]["links"]
    assert {
        "todos_get_item",
        "todos_update_item",
        "todos_delete_item",
        "todos_complete_todo",
    } <= set(creates)
    assert creates["todos_update_item"]["parameters"]["header.If-Match"] == "$response.header.ETag"


# --- the schemas say what the validators check ------------------------------------------


def body_operations(merged: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for m, p, op in operations(merged) if "requestBody" in op]


@pytest.fixture(scope="module")
def someone(gateway: Any) -> Account:
    return register(Client(gateway))


def test_null_is_documented_exactly_where_it_is_accepted(
    client: Client, merged: dict[str, Any], someone: Account
) -> None:
    schemas = merged["components"]["schemas"]
    checked = 0
    for method, path, op in body_operations(merged):
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body_schema = schemas[ref.rsplit("/", 1)[1]]
        url = re.sub(r"\{\w+\}", "7c6f2f8e-5a3c-4f4b-9d2e-2b1d6c0f9a10", path)
        for field, prop in body_schema["properties"].items():
            nullable = {"type": "null"} in prop.get("anyOf", []) or prop.get("type") == "null"
            response = client.open(url, method=method, json={field: None}, headers=someone.headers)
            errors = response.get_json().get("errors", []) if response.is_json else []
            refused = any(e["field"] == field for e in errors)
            assert refused != nullable, (method, path, field, response.status_code)
            checked += 1
    assert checked >= 60


def schema_of(merged: dict[str, Any], model: str, field: str) -> dict[str, Any]:
    """A field's schema without its `null` alternative, its `$ref` resolved."""
    schemas = merged["components"]["schemas"]
    prop: dict[str, Any] = schemas[model]["properties"][field]
    prop = next((o for o in prop.get("anyOf", []) if o != {"type": "null"}), prop)
    if "$ref" in prop:
        prop = schemas[prop["$ref"].rsplit("/", 1)[1]]
    return prop


def accepts(model: type[BaseModel], field: str, value: str, base: dict[str, Any]) -> bool:
    try:
        model.model_validate_json(json.dumps({**base, field: value}), strict=True)
    except ValidationError as exc:
        return not any(e["loc"][:1] == (field,) for e in exc.errors())
    return True


SAMPLES = [
    chr(c) for c in (*range(0x00, 0x21), 0x7F, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200C))
] + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", "a", "\u00e9", "\U0001f600"]


def candidates(length: int) -> Iterator[str]:
    for c in SAMPLES:
        yield from (c, f"a{c}", f"{c}a", f"{c}a{c}", f"a{c}b", c * 3)
        yield "x" * (length - 1) + c
        yield c + "x" * length + c


@pytest.mark.parametrize(
    ("model", "schema_name", "field", "base"),
    [
        (TagCreate, "TagCreate", "name", {}),
        (RegisterIn, "RegisterIn", "username", {"email": "a@b.co", "password": "x" * 20}),
        (RegisterIn, "RegisterIn", "display_name", {}),
    ],
)
def test_string_patterns_accept_exactly_what_the_validators_accept(
    merged: dict[str, Any],
    model: type[BaseModel],
    schema_name: str,
    field: str,
    base: dict[str, Any],
) -> None:
    schema = schema_of(merged, schema_name, field)
    pattern = re.compile(schema["pattern"])
    for value in candidates(schema.get("maxLength", 50)):
        length_ok = schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**6)
        documented = bool(pattern.search(value)) and length_ok
        assert documented == accepts(model, field, value, base), repr(value)


def test_time_zones_and_locales_are_documented_as_checked(merged: dict[str, Any]) -> None:
    timezone = schema_of(merged, "RegisterIn", "timezone")
    assert "Europe/Berlin" in timezone["enum"]
    assert "Mars/Olympus" not in timezone["enum"]
    locale = re.compile(schema_of(merged, "RegisterIn", "locale")["pattern"])
    for tag, valid in [("en", True), ("en-US", True), ("zh-Hant-TW", True), ("es-419", True),
                       ("en_US", False), ("x-private", False), ("e", False)]:  # fmt: skip
        assert bool(locale.search(tag)) == valid, tag
        assert accepts(RegisterIn, "locale", tag, {}) == valid, tag
    assert schema_of(merged, "RegisterIn", "email")["format"] == "email"
    password = schema_of(merged, "RegisterIn", "password")
    assert (password["minLength"], password["maxLength"]) == (8, 256)


def test_dispatch_documents_its_own_credentials(merged: dict[str, Any]) -> None:
    op = merged["paths"]["/v1/notifications/dispatch"]["post"]
    assert op["security"] == [{"dispatchToken": []}, {"googleOidc": []}]
    assert not any(p["name"] in ("Authorization", "X-Dispatch-Token") for p in op["parameters"])


# --- what generated clients read: defaults, required fields, names -----------------------


def test_request_fields_have_a_default_only_where_the_server_applies_it(
    apis: dict[str, Any], merged: dict[str, Any]
) -> None:
    schemas = merged["components"]["schemas"]
    bodies = {r.body for api in apis.values() for r in api.routes if r.body is not None}
    with_default = set()
    for model in bodies:
        schema = schemas[model.__name__]
        for name, prop in schema["properties"].items():
            if "default" in prop:
                # The documented default is the value the model fills in for an absent field.
                assert prop["default"] == model.model_fields[name].default, (model, name)
                assert prop["default"] is not None, (model, name)
                with_default.add(f"{model.__name__}.{name}")
    assert "RecurrenceIn" in schemas
    assert not any("default" in p for p in schemas["RecurrenceIn"]["properties"].values())
    assert not any(name.endswith("Update") and "." in name for name in with_default)
    assert {"TodoCreate.priority", "MemoCreate.secret", "TodoShareIn.recursive"} <= with_default


def test_responses_list_every_field_as_required(
    apis: dict[str, Any], merged: dict[str, Any]
) -> None:
    schemas = merged["components"]["schemas"]
    names = {r.response.__name__ for api in apis.values() for r in api.routes if r.response}
    names |= {"Recurrence", "ShareUser", "TokenPair", "FieldErrorOut"}
    for name in names:
        schema = schemas[name]
        assert not any("default" in p for p in schema["properties"].values()), name
        assert set(schema["required"]) == set(schema["properties"]), name
    problem = schemas["Problem"]
    assert set(problem["properties"]) - set(problem["required"]) == {"errors"}
    assert problem["properties"]["errors"]["type"] == "array"  # absent, never null


def test_each_document_declares_the_security_schemes_it_uses(client: Client) -> None:
    for name in function_names():
        document = client.get(f"/v1/{name}/openapi.json").get_json()
        used = {s for _, _, op in operations(document) for option in op["security"] for s in option}
        assert set(document["components"]["securitySchemes"]) == used, name
        assert document["servers"] == [
            {"url": "/", "description": "The host that serves this document."}
        ]
        assert document["info"]["license"]["name"] == "Proprietary"


def test_time_zones_are_one_component_with_distinct_member_names(merged: dict[str, Any]) -> None:
    timezone = merged["components"]["schemas"]["Timezone"]
    names = timezone["x-enum-varnames"]
    assert len(names) == len(timezone["enum"]) == len(set(names))
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", n) for n in names)
    assert dict(zip(timezone["enum"], names, strict=True))["Etc/GMT+1"] == "ETC_GMT_PLUS_1"
    text = json.dumps(merged)
    assert text.count('"Europe/Berlin"') == 1  # one enum, referenced from every field


@pytest.mark.parametrize(
    ("value", "matches"),
    [
        ('"3"', True),
        ('"3", "4"', True),
        ('"3","4"', True),
        ("*", True),
        ("", False),
        ("3", False),
        ('W/"3"', False),
        ('"3",', False),
        ('"\u0661"', False),
    ],
)
def test_the_if_match_pattern_is_the_form_the_server_reads(
    merged: dict[str, Any], value: str, matches: bool
) -> None:
    op = merged["paths"]["/v1/todos/{item_id}"]["patch"]
    header = next(p for p in op["parameters"] if p["name"] == "If-Match")
    assert bool(re.search(header["schema"]["pattern"], value)) == matches


RULES = [
    {},
    {"days_of_week": [0, 3]},
    {"days_of_week": [3, 3]},
    {"days_of_week": []},
    {"days_of_month": [0]},
    {"days_of_month": [-1, 15]},
    {"weeks_of_month": [0]},
    {"weeks_of_month": [-1]},
    {"months_of_year": [1, 12]},
    {"days_of_week": [1], "months_of_year": [2]},
    {"days_of_month": [1], "weeks_of_month": [1]},
    {"days_of_week": [1], "days_of_month": None},
]


@pytest.mark.parametrize("rule_type", ["daily", "weekly", "monthly", "yearly"])
@pytest.mark.parametrize("lists", RULES)
def test_the_recurrence_schema_accepts_what_the_rule_checks_accept(
    merged: dict[str, Any], rule_type: str, lists: dict[str, Any]
) -> None:
    from common.schemas.todos import Recurrence

    rule = {"type": rule_type, "interval": 2, "start_at": "2030-01-06T09:00:00Z", **lists}
    components = {"components": merged["components"]}
    validator = jsonschema_rs.validator_for(
        {**components, "$ref": "#/components/schemas/RecurrenceIn"}
    )
    try:
        accepted = Recurrence.model_validate_json(json.dumps(rule), strict=True).problems() == []
    except ValidationError:
        accepted = False
    assert validator.is_valid(rule) == accepted, rule
