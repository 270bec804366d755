"""CORS (contract section 2): preflights on every function, headers for allowed origins only.

The suite runs under ENV=test, where any http://localhost:<port> or http://127.0.0.1:<port>
origin is allowed; CORS_ORIGINS is tested on a function in its own process, and the origin
rule itself on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.test import Client

from common.http.cors import origin_allowed
from devtools.gateway import function_names
from tests.factories import register
from tests.servers import ROOT, function_process

pytestmark = pytest.mark.api

METHODS = "GET, POST, PUT, PATCH, DELETE"
REQUEST_HEADERS = "Authorization, Content-Type, If-Match, Idempotency-Key, X-Request-Id"
EXPOSED = "ETag, Location, X-Request-Id, Retry-After, Idempotent-Replayed"
CORS_HEADERS = {
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Expose-Headers",
    "Access-Control-Allow-Credentials",
}


def preflight(client: Client, path: str, origin: str, method: str = "PATCH") -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, if-match",
        },
    )


def cors_headers(response: Any) -> set[str]:
    return {name for name, _ in response.headers.items() if name in CORS_HEADERS}


@pytest.mark.parametrize("function", function_names())
def test_every_function_answers_a_preflight_from_a_local_dev_origin(
    client: Client, function: str
) -> None:
    response = preflight(client, f"/v1/{function}/anything/{uuid.uuid4()}", "http://localhost:3000")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["Access-Control-Allow-Methods"] == METHODS
    assert response.headers["Access-Control-Allow-Headers"] == REQUEST_HEADERS
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]
    assert response.get_data() == b""


def test_a_preflight_needs_no_token_and_touches_no_data(client: Client, queries: Any) -> None:
    response = preflight(client, f"/v1/todos/{uuid.uuid4()}", "http://127.0.0.1:8081", "DELETE")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8081"
    assert queries() == 0


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://localhost",  # no port: not the dev rule
        "http://localhost.evil.example:3000",
        "https://localhost:3000",  # the dev rule is http:// only
        "http://127.0.0.1:3000/path",
        "null",
        "*",
    ],
)
def test_another_origin_gets_no_cors_header(client: Client, origin: str) -> None:
    response = preflight(client, "/v1/todos", origin)
    assert response.status_code == 204
    assert cors_headers(response) == set()
    account = register(client)
    got = client.get("/v1/todos", headers={**account.headers, "Origin": origin})
    assert got.status_code == 200
    assert cors_headers(got) == set()
    assert "Origin" in got.headers["Vary"]


def test_an_allowed_origin_reads_responses_and_their_headers(client: Client) -> None:
    account = register(client)
    origin = {"Origin": "http://localhost:5173"}
    created = client.post(
        "/v1/todos", json={"title": "from a browser"}, headers={**account.headers, **origin}
    )
    assert created.status_code == 201
    assert created.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert created.headers["Access-Control-Expose-Headers"] == EXPOSED
    assert "Access-Control-Allow-Credentials" not in created.headers
    assert "Origin" in created.headers["Vary"]
    for name in ("ETag", "Location", "X-Request-Id"):
        assert name in created.headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/todos", 401),  # no token
        ("GET", f"/v1/memos/{uuid.uuid4()}", 401),
        ("DELETE", "/v1/users/me/nothing", 404),
        ("PUT", "/v1/tags", 405),
    ],
)
def test_errors_are_readable_by_an_allowed_origin(
    client: Client, method: str, path: str, status: int
) -> None:
    response = client.open(path, method=method, headers={"Origin": "http://localhost:3000"})
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["Access-Control-Expose-Headers"] == EXPOSED


def test_an_options_request_that_is_not_a_preflight_is_routed(client: Client) -> None:
    response = client.options("/v1/todos", headers={"Origin": "http://localhost:3000"})
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    ("origin", "listed", "local", "allowed"),
    [
        ("https://app.sealy.dev", {"https://app.sealy.dev"}, False, True),
        ("https://app.sealy.dev", {"https://app.sealy.dev"}, True, True),
        ("https://APP.sealy.dev", {"https://app.sealy.dev"}, False, False),  # exact match
        ("https://app.sealy.dev/", {"https://app.sealy.dev"}, False, False),
        ("https://app.sealy.dev:443", {"https://app.sealy.dev"}, False, False),
        ("http://localhost:3000", set(), False, False),  # production: no dev origins
        ("http://localhost:3000", set(), True, True),
        ("http://127.0.0.1:65535", set(), True, True),
        ("http://[::1]:3000", set(), True, False),
    ],
)
def test_the_origin_rule(origin: str, listed: set[str], local: bool, allowed: bool) -> None:
    assert origin_allowed(origin, listed=frozenset(listed), local=local) is allowed


@pytest.fixture(scope="module")
def listed_origin_server(database_url: str) -> Iterator[str]:
    source = ROOT / "functions" / "tags" / "main.py"
    env = {"CORS_ORIGINS": "https://app.sealy.dev, https://admin.sealy.dev"}
    with function_process(source, "tags", env, wait_path="/v1/tags/health") as base:
        yield base


def test_cors_origins_lists_the_production_origins(listed_origin_server: str) -> None:
    import urllib.request

    def options(origin: str) -> dict[str, str]:
        request = urllib.request.Request(
            f"{listed_origin_server}/v1/tags",
            method="OPTIONS",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 204
            return dict(response.headers)

    for origin in ("https://app.sealy.dev", "https://admin.sealy.dev"):
        assert options(origin)["Access-Control-Allow-Origin"] == origin
    assert "Access-Control-Allow-Origin" not in options("https://other.sealy.dev")
