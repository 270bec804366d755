"""Small helpers shared by the API tests."""

from __future__ import annotations

import logging
from typing import Any

import pytest


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-Id"]
    return body


def error_fields(response: Any) -> set[str]:
    return {e["field"] for e in assert_problem(response, 422)["errors"]}


class QueryLog:
    """The statement count of each request, read from the pipeline's request log line."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        caplog.set_level(logging.INFO, logger="common.http")

    def last(self) -> int:
        lines = [r for r in self.caplog.records if hasattr(r, "db_queries")]
        assert lines, "no request log line captured"
        return int(lines[-1].db_queries)

    def of(self, response: Any) -> int:
        request_id = response.headers["X-Request-Id"]
        for record in reversed(self.caplog.records):
            if getattr(record, "request_id", None) == request_id and hasattr(record, "db_queries"):
                return int(record.db_queries)
        raise AssertionError("no log line for this request")


SHARE_TABLES = ("shared_todos", "shared_memos", "shared_contacts")


def lapse_shares(engine: Any, grantee_id: str, expires_at: str) -> int:
    """Move the expiry of the shares `grantee_id` got with `expires_at` into the past, as
    if that moment had come: time controlled, never waited for. How many shares moved."""
    from sqlalchemy import text

    moved = 0
    with engine.begin() as conn:
        for table in SHARE_TABLES:
            done = conn.execute(
                text(
                    f"UPDATE {table} SET expiration = now() - interval '1 minute' "
                    "WHERE shared_user_id = :user AND expiration = CAST(:given AS timestamptz)"
                ),
                {"user": grantee_id, "given": expires_at},
            )
            moved += done.rowcount
    return moved
