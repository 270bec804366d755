"""A request body is never read further than its answer needs, through a real server
(functions-framework's gunicorn, as Cloud Functions runs it).

functions-framework reads the whole request body after every response (an after-request
hook). These tests send a body that never ends (a declared length the client never sends, or
a chunked body without its last chunk), so a server that reads it before answering never
answers: the client waits for the response with a socket timeout, and a timeout is the
failure. No test depends on how fast the server is: a correct server answers without any
more bytes from the client.
"""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.test import Client

from tests.factories import Account, register
from tests.servers import ROOT, function_process

pytestmark = pytest.mark.api

NEVER_ANSWERED = 20.0  # seconds the client waits before it calls the answer missing


@pytest.fixture(scope="module")
def todos_url(database_url: str) -> Iterator[str]:
    source = ROOT / "functions" / "todos" / "main.py"
    with function_process(source, "todos", {}, wait_path="/v1/todos/health") as base:
        yield base


@pytest.fixture(scope="module")
def auth_url(database_url: str) -> Iterator[str]:
    source = ROOT / "functions" / "auth" / "main.py"
    with function_process(source, "auth", {}, wait_path="/v1/auth/health") as base:
        yield base


@pytest.fixture(scope="module")
def account(gateway: Any) -> Account:
    return register(Client(gateway))


def exchange(base: str, head: str, body: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Send a request head and the start of a body that does not end; read the answer."""
    host, port = base.removeprefix("http://").split(":")
    with contextlib.closing(socket.create_connection((host, int(port)))) as sock:
        sock.settimeout(NEVER_ANSWERED)
        sock.sendall(head.encode() + b"\r\n" + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {received!r}"
            received += chunk
        status_and_headers, _, rest = received.partition(b"\r\n\r\n")
        lines = status_and_headers.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        length = int(headers.get("Content-Length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside the answer"
            rest += chunk
        return int(lines[0].split()[1]), headers, json.loads(rest[:length] or b"{}")


def head(method: str, path: str, headers: dict[str, str]) -> str:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: localhost",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return "\r\n".join(lines) + "\r\n"


def test_a_declared_body_over_64_kib_is_413_at_once(todos_url: str, account: Account) -> None:
    # 100 MB declared, 10 bytes sent: the answer comes without waiting for the rest.
    headers = {
        **account.headers,
        "Content-Type": "application/json",
        "Content-Length": "100000000",
    }
    status, response_headers, problem = exchange(
        todos_url, head("POST", "/v1/todos", headers), b'{"title":'
    )
    assert status == 413, problem
    assert problem["status"] == 413
    assert response_headers["Content-Type"] == "application/problem+json"


def test_without_a_token_the_401_comes_before_the_body(todos_url: str) -> None:
    # A 30 MB upload without a token: 1 KiB of it sent, the 401 comes anyway.
    headers = {"Content-Type": "application/json", "Content-Length": str(30 * 1024 * 1024)}
    status, response_headers, problem = exchange(
        todos_url, head("POST", "/v1/todos", headers), b" " * 1024
    )
    assert status == 401, problem
    assert response_headers["WWW-Authenticate"] == "Bearer"


def test_a_wrong_token_gets_its_401_before_the_body(todos_url: str) -> None:
    headers = {
        "Authorization": "Bearer not-a-token",
        "Content-Type": "application/json",
        "Content-Length": str(30 * 1024 * 1024),
    }
    status, _, problem = exchange(
        todos_url, head("PATCH", f"/v1/todos/{uuid.uuid4()}", headers), b"{"
    )
    assert status == 401, problem


def test_a_route_without_a_body_does_not_wait_for_one(todos_url: str, account: Account) -> None:
    # GET with a declared body it never finishes sending: the route reads no body at all.
    headers = {**account.headers, "Content-Length": "5000000"}
    status, _, page = exchange(todos_url, head("GET", "/v1/todos", headers), b"x" * 100)
    assert status == 200, page
    assert page["items"] == []


def test_a_chunked_body_is_cut_off_at_the_limit(todos_url: str, account: Account) -> None:
    # 70 000 bytes in chunks, and no last chunk: 413 once 64 KiB are in.
    headers = {
        **account.headers,
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    piece = b"x" * 7000
    body = b"".join(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(10))
    status, _, problem = exchange(todos_url, head("POST", "/v1/todos", headers), body)
    assert status == 413, problem


def test_a_public_route_does_not_wait_either(auth_url: str) -> None:
    # Login is public: its declared oversized body is 413 at once too.
    headers = {"Content-Type": "application/json", "Content-Length": "100000000"}
    status, _, problem = exchange(auth_url, head("POST", "/v1/auth/login", headers), b'{"email":')
    assert status == 413, problem


def test_a_complete_body_is_still_read_and_answered(todos_url: str, account: Account) -> None:
    body = json.dumps({"title": "read whole"}).encode()
    headers = {
        **account.headers,
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }
    status, _, todo = exchange(todos_url, head("POST", "/v1/todos", headers), body)
    assert status == 201, todo
    assert todo["title"] == "read whole"
