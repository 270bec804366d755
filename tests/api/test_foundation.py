"""The conventions every endpoint shares (docs/api.md §1-2), through the functions' entry points."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from werkzeug.test import Client

from devtools.gateway import function_names
from tests.api import helpers

pytestmark = pytest.mark.api

FUNCTIONS = function_names()


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The shared check, and every problem here also has a title and a detail."""
    body = helpers.assert_problem(response, status)
    assert body["title"]
    assert body["detail"]
    return body


@pytest.mark.parametrize("function", FUNCTIONS)
def test_health_reports_the_function_and_the_database(client: Client, function: str) -> None:
    response = client.get(f"/v1/{function}/health")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "function": function,
        "version": "test",
        "database": "ok",
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_openapi_describes_the_function(client: Client, function: str) -> None:
    response = client.get(f"/v1/{function}/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    assert f"/v1/{function}/health" in doc["paths"]
    prefix = f"/v1/{function}"
    assert all(p == prefix or p.startswith(prefix + "/") for p in doc["paths"])
    assert "Problem" in doc["components"]["schemas"]


def test_the_gateway_merges_every_function_document(client: Client) -> None:
    doc = client.get("/v1/openapi.json").get_json()
    for function in FUNCTIONS:
        assert f"/v1/{function}/health" in doc["paths"]


def test_the_docs_page_renders_the_merged_document(client: Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "/v1/openapi.json" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/v1/todos/nope", "/v1/todos/health/extra", "/v1/unknown", "/", "/robots.txt"]
)
def test_unknown_routes_are_404_problems(client: Client, path: str) -> None:
    assert_problem(client.get(path), 404)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_wrong_methods_are_405_with_allow(client: Client, method: str) -> None:
    response = client.open("/v1/todos/health", method=method)
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD"}


@pytest.mark.parametrize("given", ["client-id.1_x", "A" * 64])
def test_a_valid_request_id_is_echoed(client: Client, given: str) -> None:
    response = client.get("/v1/todos/health", headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] == given


@pytest.mark.parametrize("given", ["A" * 65, "bad id", ""])
def test_an_invalid_request_id_is_replaced(client: Client, given: str) -> None:
    response = client.get("/v1/todos/nope", headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] != given
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])
    assert response.get_json()["request_id"] == response.headers["X-Request-Id"]


# --- bodies, through a test-only function with one body route (tests/api/echo) ---------


def post(echo: Client, data: bytes | str, content_type: str = "application/json") -> Any:
    return echo.post("/v1/echo/items", data=data, content_type=content_type)


def test_a_valid_body_passes(echo: Client) -> None:
    response = post(echo, json.dumps({"title": "ok", "count": 2}))
    assert response.status_code == 201
    assert response.get_json() == {"title": "ok", "count": 2, "recurrence": None}


@pytest.mark.parametrize("data", ["{", "{'a': 1}", "", "   ", '{"title": NaN}', "\xff"])
def test_malformed_json_is_400(echo: Client, data: str) -> None:
    assert_problem(post(echo, data.encode("latin-1")), 400)


def test_deeply_nested_json_is_400_not_500(echo: Client) -> None:
    assert_problem(post(echo, "[" * 30_000 + "]" * 30_000), 400)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_other_content_types_are_415(echo: Client, content_type: str) -> None:
    assert_problem(post(echo, '{"title": "x"}', content_type), 415)


def test_a_missing_content_type_is_415(echo: Client) -> None:
    response = echo.post("/v1/echo/items", data=b'{"title": "x"}')
    assert_problem(response, 415)


def test_a_body_over_64_kib_is_413(echo: Client) -> None:
    body = json.dumps({"title": "x" * (64 * 1024)})
    assert_problem(post(echo, body), 413)


def test_a_body_of_exactly_64_kib_is_read(echo: Client) -> None:
    padding = 64 * 1024 - len(json.dumps({"title": "ok"}))
    body = json.dumps({"title": "ok"}) + " " * padding
    assert len(body) == 64 * 1024
    assert post(echo, body).status_code == 201


def test_every_invalid_field_is_one_422_entry(echo: Client) -> None:
    body = {"title": "", "count": "many", "recurrence": {"interval": 0}, "id": "x"}
    problem = assert_problem(post(echo, json.dumps(body)), 422)
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"title", "count", "recurrence.interval", "id"}


def test_a_body_that_is_not_an_object_is_422(echo: Client) -> None:
    problem = assert_problem(post(echo, "[1, 2]"), 422)
    assert problem["errors"][0]["field"] == "body"


def test_nul_characters_are_a_field_error(echo: Client) -> None:
    problem = assert_problem(post(echo, json.dumps({"title": "a\u0000b"})), 422)
    assert problem["errors"] == [{"field": "title", "message": "must not contain NUL characters"}]


def test_an_unexpected_failure_is_a_bare_500(echo: Client) -> None:
    problem = assert_problem(echo.get("/v1/echo/boom"), 500)
    assert "secret_column" not in json.dumps(problem)
    assert "Traceback" not in json.dumps(problem)


# --- bodies and responses as JSON Schema counts them -------------------------------------


def test_a_204_carries_no_content_type(client: Client) -> None:
    from tests.factories import register

    me = register(client)
    tag = client.post("/v1/tags", json={"name": "errands"}, headers=me.headers).get_json()
    responses = [
        client.delete(f"/v1/tags/{tag['id']}", headers=me.headers),
        client.post("/v1/auth/logout", json={"refresh_token": me.refresh_token}),
    ]
    for response in responses:
        assert response.status_code == 204
        assert "Content-Type" not in response.headers, response.headers
        assert response.get_data() == b""


@pytest.mark.parametrize(
    ("sent", "stored"), [("4", 4), ("4.0", 4), ("4e0", 4), ("0.4e1", 4), ("-0.0", 0)]
)
def test_an_integer_field_takes_every_spelling_of_an_integer(
    client: Client, sent: str, stored: int
) -> None:
    """JSON Schema's `integer` is any number without a fraction: 4.0 is 4 (as in JSON)."""
    from tests.factories import register

    me = register(client)
    body = '{"title": "numbers", "priority": ' + sent + "}"
    headers = {**me.headers, "Content-Type": "application/json"}
    response = client.post("/v1/todos", data=body, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["priority"] == stored


@pytest.mark.parametrize("sent", ["4.5", "1e-1", "1e400", "40e-1000", "3.0000000000000001e0"])
def test_a_fraction_is_not_an_integer(client: Client, sent: str) -> None:
    from tests.factories import register

    me = register(client)
    body = '{"title": "numbers", "priority": ' + sent + "}"
    headers = {**me.headers, "Content-Type": "application/json"}
    response = client.post("/v1/todos", data=body, headers=headers)
    assert helpers.error_fields(response) == {"priority"}, response.get_data(as_text=True)
