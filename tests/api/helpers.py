"""Small helpers shared by the API tests."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
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


# --- concurrency: threads released together, bounded waits, revocation checks ---------------

WAIT_S = 10.0  # the longest a test waits for a state it expects (a bound, not a pace)


def wait_for(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
    """Poll `condition` until it holds (True) or `timeout_s` passed (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.002)
    return False


def run_together(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable on its own thread, released together by a barrier; their results
    (an exception in a thread is raised here, never lost)."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        barrier.wait(timeout=WAIT_S)
        try:
            results[index] = work[index]()
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def live(client: Any, refresh_token: str) -> bool:
    """Whether a session is live: its refresh token still works (one use rotates it)."""
    response = client.post("/v1/auth/refresh", json={"refresh_token": refresh_token})
    if response.status_code == 200:
        return True
    assert_problem(response, 401)
    return False


def login_outlived(client: Any, earlier_token: str, revocation: Any, login: Any) -> bool:
    """After a revocation that answered with a token pair (`revocation`) raced a login with
    the old password (`login`): the pair is live, the session from before is not, and
    whether the racing login's session outlived the revocation (the bug)."""
    assert revocation.status_code == 200, revocation.get_data(as_text=True)
    assert login.status_code in (200, 401), login.get_data(as_text=True)
    assert live(client, revocation.get_json()["tokens"]["refresh_token"])
    assert not live(client, earlier_token)
    return login.status_code == 200 and live(client, login.get_json()["tokens"]["refresh_token"])
