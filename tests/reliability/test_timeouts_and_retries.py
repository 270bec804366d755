"""Timeouts and retries.

- `lock_timeout` and `statement_timeout` turn a blocked statement into a fast 503 with
  Retry-After: a side connection holds a row lock (or the whole table) while a real server
  (functions-framework's gunicorn, small timeouts in its environment) serves the request;
  once the lock is gone the same request succeeds.
- Serialization failures and deadlocks are retried (the whole transaction, at most 3 runs,
  with jitter) and never surface as 500: two requests through the test-only echo function
  provoke a real write skew under SERIALIZABLE and a real deadlock; a conflict that outlasts
  the retries is a 503.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from werkzeug.test import Client

from common.db.engine import sqlstate
from tests.factories import Account, register
from tests.reliability import faults
from tests.servers import ROOT, function_process, get

pytestmark = pytest.mark.api

ECHO = Path(__file__).resolve().parent.parent / "api" / "echo" / "main.py"
SLACK_S = 3.0  # a loaded machine's scheduling, on top of the configured timeout


@pytest.fixture
def owner(client: Client) -> Account:
    return register(client)


def new_todo(client: Client, who: Account, title: str = "t") -> str:
    response = client.post("/v1/todos", json={"title": title}, headers=who.headers)
    assert response.status_code == 201
    return str(response.get_json()["id"])


# --- lock_timeout and statement_timeout, through a real server ------------------------


@contextlib.contextmanager
def todos_server(**settings: str) -> Iterator[str]:
    source = ROOT / "functions" / "todos" / "main.py"
    with function_process(source, "todos", settings, wait_path="/v1/todos/health") as base:
        yield base


@contextlib.contextmanager
def holding(engine: Engine, statement: str, **params: Any) -> Iterator[None]:
    """Run `statement` in a transaction on a side connection and keep its locks meanwhile."""
    with engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(text(statement), params)
        try:
            yield
        finally:
            transaction.rollback()


def call(base: str, method: str, path: str, who: Account, body: bytes | None = None) -> Any:
    import http.client

    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {**who.headers, "Content-Type": "application/json"}
    started = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, dict(response.headers), time.monotonic() - started
    finally:
        conn.close()


def test_a_row_lock_held_past_lock_timeout_is_a_fast_503(
    client: Client, owner: Account, engine: Engine
) -> None:
    item = new_todo(client, owner)
    patch = b'{"title": "changed"}'
    with todos_server(DB_LOCK_TIMEOUT_MS="300", DB_STATEMENT_TIMEOUT_MS="10000") as base:
        with holding(engine, "SELECT 1 FROM todos WHERE id = :id FOR UPDATE", id=item):
            status, headers, took = call(base, "PATCH", f"/v1/todos/{item}", owner, patch)
            assert status == 503
            assert int(headers["Retry-After"]) > 0
            assert headers["Content-Type"] == "application/problem+json"
            assert took < 0.3 + SLACK_S  # lock_timeout, not the 10 s statement timeout
            reads, _, _ = call(base, "GET", f"/v1/todos/{item}", owner)
            assert reads == 200  # a row lock blocks writers only
        status, headers, _ = call(base, "PATCH", f"/v1/todos/{item}", owner, patch)
        assert status == 200
    seen = client.get(f"/v1/todos/{item}", headers=owner.headers).get_json()
    assert (seen["title"], seen["version"]) == ("changed", 2)  # the refused PATCH left nothing


def test_a_statement_blocked_past_statement_timeout_is_a_fast_503(
    client: Client, owner: Account, engine: Engine
) -> None:
    item = new_todo(client, owner)
    with todos_server(DB_STATEMENT_TIMEOUT_MS="500", DB_LOCK_TIMEOUT_MS="10000") as base:
        # An exclusive table lock: every statement on todos waits (as behind a runaway one)
        # until statement_timeout cancels it.
        with holding(engine, "LOCK TABLE todos IN ACCESS EXCLUSIVE MODE"):
            for method, path in (("GET", f"/v1/todos/{item}"), ("GET", "/v1/todos")):
                status, headers, took = call(base, method, path, owner)
                assert status == 503, path
                assert int(headers["Retry-After"]) > 0
                assert took < 0.5 + SLACK_S
            health = get(base + "/v1/todos/health")[0]
            assert health == 200  # the database is up; only this table is stuck
        status, _, _ = call(base, "GET", f"/v1/todos/{item}", owner)
        assert status == 200


# --- retries of serialization failures and deadlocks, through the echo function -------


@pytest.fixture(scope="module")
def echo(gateway: Any) -> Client:
    return Client(functions_framework.create_app(target="echo", source=str(ECHO)))


@pytest.fixture(autouse=True)
def clean_faults() -> Iterator[None]:
    faults.reset()
    yield
    faults.reset()


def side_by_side(*requests: Any) -> list[Any]:
    """Send the requests from threads at once; their responses in order."""
    results: list[Any] = [None] * len(requests)

    def run(i: int) -> None:
        results[i] = requests[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(not thread.is_alive() for thread in threads)
    return results


def retries(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "transaction conflict, retrying"]


def test_a_serialization_failure_is_retried_and_both_requests_succeed(
    echo: Client, owner: Account, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="common.http")
    faults.meet(2)  # both transactions read before either writes: write skew
    url = f"/v1/echo/skew/{owner.id}"
    first, second = side_by_side(lambda: echo.post(url), lambda: echo.post(url))
    assert (first.status_code, second.status_code) == (201, 201)
    assert faults.attempts["skew"] == 3  # two runs, and one run again
    assert len(retries(caplog)) == 1
    assert sorted([first.get_json()["count"], second.get_json()["count"]]) == [0, 1]
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM todos WHERE user_id = :u"), {"u": owner.id}
        ).scalar_one()
    assert count == 2  # each request's insert, exactly once


def test_a_deadlock_is_retried_and_both_requests_succeed(
    echo: Client, client: Client, owner: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="common.http")
    a, b = new_todo(client, owner, "a"), new_todo(client, owner, "b")
    faults.meet(2)  # each holds its first row when it asks for the other's
    first, second = side_by_side(
        lambda: echo.post(f"/v1/echo/lock/{a}/{b}"), lambda: echo.post(f"/v1/echo/lock/{b}/{a}")
    )
    assert (first.status_code, second.status_code) == (204, 204)
    assert faults.attempts["lock"] == 3
    assert len(retries(caplog)) == 1


@pytest.fixture(scope="module")
def real_conflicts(engine: Engine, gateway: Any) -> dict[str, DBAPIError]:
    """A serialization failure and a deadlock, each raised by PostgreSQL for two transactions
    on side connections; the retry tests raise these very exceptions from a handler."""
    who = register(Client(gateway))
    found: dict[str, DBAPIError] = {}
    serializable = engine.execution_options(isolation_level="SERIALIZABLE")
    with serializable.connect() as one, serializable.connect() as two:
        count = text("SELECT count(*) FROM todos WHERE user_id = :u")
        add = text("INSERT INTO todos (user_id, title) VALUES (:u, 'skew')")
        one.execute(count, {"u": who.id})
        two.execute(count, {"u": who.id})
        one.execute(add, {"u": who.id})
        two.execute(add, {"u": who.id})
        one.commit()
        with pytest.raises(DBAPIError) as caught:
            two.commit()
        found["serialization failure"] = caught.value
        two.rollback()

    a, b = (new_todo(Client(gateway), who, t) for t in "ab")
    touch = text("UPDATE todos SET title = title WHERE id = :id")
    errors: list[DBAPIError] = []
    with engine.connect() as one, engine.connect() as two:
        one.execute(touch, {"id": a})
        two.execute(touch, {"id": b})

        def cross(conn: Any, item: str) -> None:
            try:
                conn.execute(touch, {"id": item})
            except DBAPIError as exc:
                errors.append(exc)
                conn.rollback()

        threads = [
            threading.Thread(target=cross, args=(one, b)),
            threading.Thread(target=cross, args=(two, a)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        one.rollback()
        two.rollback()
    found["deadlock"] = errors[0]
    assert {sqlstate(e) for e in found.values()} == {"40001", "40P01"}
    return found


@pytest.mark.parametrize("kind", ["serialization failure", "deadlock"])
def test_a_conflict_is_retried_with_jitter_until_the_third_run(
    echo: Client,
    real_conflicts: dict[str, DBAPIError],
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("common.http.pipeline.time.sleep", slept.append)
    faults.pending.extend([real_conflicts[kind]] * 2)
    response = echo.post("/v1/echo/flaky")
    assert response.status_code == 204
    assert faults.attempts["flaky"] == 3
    assert len(slept) == 2  # a pause before each run again
    for attempt, pause in enumerate(slept, start=1):
        assert 0.005 * attempt <= pause <= 0.025 * attempt


@pytest.mark.parametrize("kind", ["serialization failure", "deadlock"])
def test_a_conflict_that_outlasts_three_runs_is_503_not_500(
    echo: Client,
    real_conflicts: dict[str, DBAPIError],
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("common.http.pipeline.time.sleep", lambda seconds: None)
    faults.pending.extend([real_conflicts[kind]] * 5)
    response = echo.post("/v1/echo/flaky")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.mimetype == "application/problem+json"
    assert faults.attempts["flaky"] == 3  # at most 3 runs
    assert len(faults.pending) == 2


def test_jitter_spreads_the_pauses(echo: Client, real_conflicts: dict[str, DBAPIError]) -> None:
    # Not a timing assertion: the pauses are drawn, so two runs do not pause alike.
    pauses: list[float] = []
    import common.http.pipeline

    original = common.http.pipeline.random.uniform

    def record(low: float, high: float) -> float:
        value = original(low, high)
        pauses.append(value)
        return value

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(common.http.pipeline.random, "uniform", record)
        patch.setattr("common.http.pipeline.time.sleep", lambda seconds: None)
        for _ in range(5):
            faults.pending.extend([real_conflicts["deadlock"]] * 2)
            assert echo.post("/v1/echo/flaky").status_code == 204
    assert len(pauses) == 10
    assert len(set(pauses)) == 10


def test_a_run_again_starts_afresh(echo: Client, owner: Account) -> None:
    # A retried run is a new transaction: nothing the failed run wrote survives.
    faults.meet(2)
    url = f"/v1/echo/skew/{owner.id}"
    side_by_side(lambda: echo.post(url), lambda: echo.post(url))
    response = echo.post(url)  # a third, alone: it sees exactly the two committed rows
    assert response.status_code == 201
    assert response.get_json()["count"] == 2
