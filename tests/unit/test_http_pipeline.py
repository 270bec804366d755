"""The request pipeline's pure rules: request ids, traces, error mapping, field errors."""

from __future__ import annotations

import gc
import json
import re

import flask
import functions_framework
import pytest
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug import exceptions as wz
from werkzeug.test import EnvironBuilder

from common import errors
from common.http import Api
from common.http.inputs import field_errors, request_id, trace
from common.http.problems import as_api_error, problem_response
from common.logging import LogContext

pytestmark = pytest.mark.unit


def request_with(headers: dict[str, str]) -> flask.Request:
    return flask.Request(EnvironBuilder(path="/v1/todos", headers=headers).get_environ())


@pytest.mark.parametrize("given", ["abc", "A-1_b.c", "x" * 64, "0123456789abcdef0123456789abcdef"])
def test_a_valid_request_id_is_kept(given: str) -> None:
    assert request_id(request_with({"X-Request-Id": given})) == given


@pytest.mark.parametrize(
    "given", ["", "x" * 65, "has space", "semi;colon", "ünïcode", "a/b", "tab\there"]
)
def test_an_invalid_request_id_is_replaced(given: str) -> None:
    got = request_id(request_with({"X-Request-Id": given}))
    assert got != given
    assert re.fullmatch(r"[0-9a-f]{32}", got)


def test_a_missing_request_id_is_generated_fresh_each_time() -> None:
    first = request_id(request_with({}))
    second = request_id(request_with({}))
    assert first != second


def test_traceparent_sets_trace_and_span() -> None:
    ctx = LogContext(request_id="r", function="todos")
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    trace(request_with({"traceparent": header}), ctx)
    assert ctx.trace == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ctx.span_id == "00f067aa0ba902b7"


def test_cloud_trace_context_sets_trace_and_hex_span() -> None:
    ctx = LogContext(request_id="r", function="todos")
    trace(request_with({"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"}), ctx)
    assert ctx.trace == "105445aa7843bc8bf206b12000100000"
    assert ctx.span_id == "0000000000000001"


def test_a_malformed_traceparent_is_ignored() -> None:
    ctx = LogContext(request_id="r", function="todos")
    trace(request_with({"traceparent": "00-nothex-00f067aa0ba902b7-01"}), ctx)
    assert ctx.trace is None


def _pg_error(code: str) -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception({"C": code, "M": "message"}))


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.Conflict(), 409),
        (errors.TooManyRequests(30), 429),
        (InterfaceError("connect", {}, Exception("Can't create a connection")), 503),
        (_pg_error("57014"), 503),  # statement_timeout
        (_pg_error("55P03"), 503),  # lock_timeout
        (_pg_error("57P01"), 503),  # admin shutdown
        (_pg_error("42P01"), 500),  # undefined table: our bug, not an outage
        (wz.RequestEntityTooLarge(), 413),
        (wz.NotFound(), 404),
        (RuntimeError("boom"), 500),
        (KeyError("x"), 500),
    ],
)
def test_errors_map_to_statuses(exc: Exception, status: int) -> None:
    assert as_api_error(exc, attempts=3).status == status


def test_a_500_problem_carries_only_the_request_id() -> None:
    exc = RuntimeError("SELECT password_hash FROM auth_identities")
    response = problem_response(as_api_error(exc, attempts=3), "req-1")
    body = response.get_json()
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert body["request_id"] == "req-1"
    assert "password_hash" not in json.dumps(body)
    assert set(body) == {"type", "title", "status", "detail", "request_id"}


def test_503_carries_retry_after() -> None:
    response = problem_response(errors.ServiceUnavailable(), "r")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


def test_401_challenge_has_no_error_param_without_a_token() -> None:
    assert errors.Unauthorized(error=None).headers["WWW-Authenticate"] == "Bearer"
    assert errors.Unauthorized().headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


class Inner(BaseModel):
    interval: int = Field(ge=1)


class Outer(BaseModel, extra="forbid"):
    title: str = Field(min_length=1)
    recurrence: Inner


def test_field_errors_list_every_field_with_dotted_paths() -> None:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"title": "", "recurrence": {"interval": 0}, "id": "x"})
    found = {e.field: e.message for e in field_errors(caught.value)}
    assert set(found) == {"title", "recurrence.interval", "id"}
    assert found["id"] == "unknown field"


def test_field_errors_never_echo_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"title": 12345678, "recurrence": {"interval": "hunter2-secret"}})
    assert "hunter2-secret" not in json.dumps([e.message for e in field_errors(caught.value)])


def test_the_first_request_of_each_route_freezes_the_heap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # what lives as long as the process leaves the collector's sight (issue 18's tail)
    freezes: list[int] = []
    real_freeze = gc.freeze

    def counted_freeze() -> None:
        freezes.append(1)
        real_freeze()

    monkeypatch.setattr(gc, "freeze", counted_freeze)
    # No functions-framework app loads this one: its Flask handlers go nowhere, as they do
    # before functions-framework creates an app (not onto an app that has served already).
    monkeypatch.setattr(
        functions_framework, "errorhandler", functions_framework.DummyErrorHandler()
    )
    api = Api("freezer")  # a function of its own: none of its routes served yet

    def status(path: str) -> int:
        return api.handle(flask.Request(EnvironBuilder(path=path).get_environ())).status_code

    assert status("/v1/freezer/openapi.json") == 200
    assert len(freezes) == 1
    assert status("/v1/freezer/openapi.json") == 200  # served before: no freeze again
    assert len(freezes) == 1
    assert status("/v1/freezer/nope") == 404  # no route is a route of its own here
    assert len(freezes) == 2
