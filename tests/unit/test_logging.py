"""Structured log lines: Cloud Logging's fields, request context, nothing unlisted."""

from __future__ import annotations

import json
import logging

import pytest

from common.logging import JsonFormatter, LogContext, log_context

pytestmark = pytest.mark.unit


def render(msg: str, level: int = logging.INFO, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("t", level, __file__, 1, msg, None, None)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter().format(record))  # type: ignore[no-any-return]


def test_a_line_has_severity_message_and_time() -> None:
    line = render("hello", logging.WARNING)
    assert line["severity"] == "WARNING"
    assert line["message"] == "hello"
    assert str(line["time"]).endswith("Z")


def test_request_context_and_trace_are_on_every_line() -> None:
    token = log_context.set(
        LogContext(
            request_id="rid",
            function="todos",
            trace="projects/p/traces/abc",
            span_id="00f0",
            user_id="u1",
        )
    )
    try:
        line = render("inside")
    finally:
        log_context.reset(token)
    assert line["request_id"] == "rid"
    assert line["function"] == "todos"
    assert line["user_id"] == "u1"
    assert line["logging.googleapis.com/trace"] == "projects/p/traces/abc"
    assert line["logging.googleapis.com/spanId"] == "00f0"


def test_only_listed_extra_fields_are_written() -> None:
    line = render("x", status=200, db_queries=2, password="hunter2", email="a@b.c")
    assert line["status"] == 200
    assert line["db_queries"] == 2
    assert "password" not in line
    assert "email" not in line
