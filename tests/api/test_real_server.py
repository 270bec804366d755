"""Through a real server and socket: database outages and chunked bodies.

The outage test controls its own embedded PostgreSQL (never the shared server)."""

from __future__ import annotations

import http.client
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools import database as db
from tests.servers import ROOT, function_process, get

pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def own_database() -> Iterator[Any]:
    folder = Path(tempfile.mkdtemp(prefix="sealy-outage-pg-"))
    server = db.start_embedded(folder / "data", delete_on_exit=True)
    yield server
    db.restart_embedded(server)  # leave it running so its exit handler can clean up


def test_health_is_503_while_the_database_is_down_and_recovers(own_database: Any) -> None:
    env = {"DATABASE_URL": db.embedded_url(own_database), "DB_CONNECT_TIMEOUT_S": "2"}
    source = ROOT / "functions" / "todos" / "main.py"
    with function_process(source, "todos", env, wait_path="/v1/todos/health") as base:
        status, _, body = get(base + "/v1/todos/health")
        assert status == 200
        assert json.loads(body)["database"] == "ok"

        db.stop_embedded(own_database)
        # Answered while the database is down, not hung: the server's own timeouts end the
        # check (a hang would run into this client's generous timeout and fail the test).
        status, headers, body = get(base + "/v1/todos/health", timeout=60)
        assert status == 503
        assert json.loads(body) == {
            "status": "unavailable",
            "function": "todos",
            "version": "test",
            "database": "unavailable",
        }
        assert int(headers["Retry-After"]) > 0

        db.restart_embedded(own_database)
        # Back without a restart of the function: polled until it answers 200 (bounded, so a
        # function that never recovers fails instead of hanging).
        deadline = time.monotonic() + 120
        while (status := get(base + "/v1/todos/health", timeout=60)[0]) != 200:
            assert time.monotonic() < deadline, "no recovery after the restart"
            time.sleep(0.1)
        assert status == 200


@pytest.fixture(scope="module")
def echo_server(database_url: str) -> Iterator[str]:
    source = ROOT / "tests" / "api" / "echo" / "main.py"
    with function_process(source, "echo", {}, wait_path="/v1/echo/health") as base:
        yield base


def send_chunked(base: str, chunks: list[bytes]) -> tuple[int, dict[str, Any]]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/v1/echo/items")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for chunk in chunks:
        conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    return response.status, body


def test_a_chunked_body_over_the_limit_is_413(echo_server: str) -> None:
    payload = json.dumps({"title": "x" * 70_000}).encode()
    chunks = [payload[i : i + 8192] for i in range(0, len(payload), 8192)]
    status, body = send_chunked(echo_server, chunks)
    assert status == 413
    assert body["status"] == 413


def test_a_small_chunked_body_is_read(echo_server: str) -> None:
    status, body = send_chunked(echo_server, [b'{"title": ', b'"ok"}'])
    assert status == 201
    assert body["title"] == "ok"
