"""Bodies sent chunked, with no Content-Length, through a real server (functions-framework's
gunicorn, one process per function): over 64 KiB every body route answers 413 without
reading further; a small chunked body is read and validated like any other."""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from werkzeug.test import Client

from tests.factories import Account, register
from tests.reliability.operations import OPERATIONS, Operation, body_schema
from tests.servers import ROOT, function_process

pytestmark = pytest.mark.api

WITH_BODY = [op for op in OPERATIONS if body_schema(op) is not None]


def function_of(op: Operation) -> str:
    return op.path.split("/")[2]


@pytest.fixture(scope="module")
def servers(database_url: str) -> Iterator[dict[str, str]]:
    """Every function with a body route, each in its own server process: name -> base URL.
    Started side by side (each takes a second or two to answer its health route)."""

    def start(name: str) -> tuple[Any, str]:
        source = ROOT / "functions" / name / "main.py"
        server = function_process(source, name, {}, wait_path=f"/v1/{name}/health")
        return server, server.__enter__()

    names = sorted({function_of(op) for op in WITH_BODY})
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(len(names)) as pool:
        futures = {name: pool.submit(start, name) for name in names}
        bases, failed = {}, []
        for name, future in futures.items():  # every server that started is stopped
            try:
                server, bases[name] = future.result()
                stack.push(server.__exit__)
            except Exception as exc:
                failed.append(f"{name}: {exc!r}")
        assert not failed, failed
        yield bases


@pytest.fixture(scope="module")
def account(gateway: Any) -> Account:
    return register(Client(gateway))


def send_chunked(
    base: str, op: Operation, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, dict[str, str], dict[str, Any]]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest(op.method, op.url())
        for name, value in {**headers, "Content-Type": "application/json"}.items():
            conn.putheader(name, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for chunk in chunks:
            conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    finally:
        conn.close()


def payload(size: int) -> bytes:
    return json.dumps({"title": "x" * size}).encode()


@pytest.mark.parametrize("op", WITH_BODY, ids=lambda op: op.label)
def test_a_chunked_body_over_64_kib_is_413(
    servers: dict[str, str], account: Account, op: Operation
) -> None:
    headers = {} if op.public else account.headers
    big = payload(70_000)
    for size in (8192, 100):  # a few large chunks, and many small ones
        chunks = [big[i : i + size] for i in range(0, len(big), size)]
        status, response_headers, problem = send_chunked(
            servers[function_of(op)], op, headers, chunks
        )
        assert status == 413, problem
        assert problem["status"] == 413
        assert response_headers["Content-Type"] == "application/problem+json"
        assert response_headers["X-Request-Id"] == problem["request_id"]


@pytest.mark.parametrize("op", WITH_BODY, ids=lambda op: op.label)
def test_a_small_chunked_body_is_read_and_validated(
    servers: dict[str, str], account: Account, op: Operation
) -> None:
    headers = {} if op.public else account.headers
    status, _, body = send_chunked(servers[function_of(op)], op, headers, [b'{"unknown', b'": 1}'])
    assert status == 422, body  # read whole, then refused for its unknown field
    assert {e["field"] for e in body["errors"]} >= {"unknown"}
