"""Log hygiene: the structured log of a full API run holds no password, access token, refresh
token, push token or email address.

The whole API runs as in the container (scripts/serve_gateway.py): the gateway under gunicorn
in its own process, its stdout (the JSON log, one object per line) and stderr captured to
files, read once the process has exited (so nothing it wrote is still on its way). A client
then registers, logs in (also with a wrong password), refreshes (also a reused token),
changes its password, uses todos, memos and contacts (with emails in them), shares by email,
registers a push device, provokes errors, resets its password and verifies its email with
mailed codes (through the session's SMTP server), and deletes its account. Every secret,
code and address it sent or received is then looked for in everything the process wrote.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ROOT, ServerProcess, free_port, server_process
from tests.smtp_stub import SmtpStub

pytestmark = pytest.mark.api

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@contextmanager
def gateway_process(folder: Path) -> Iterator[ServerProcess]:
    """The whole API under gunicorn, as in the container (scripts/serve_gateway.py)."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        f"--bind=127.0.0.1:{port}",
        "--workers=1",
        "--threads=4",
        "devtools.gateway:create_gateway()",
    ]
    env = {"PYTHONPATH": str(ROOT)}
    with server_process(
        "gateway", argv, port=port, wait_path="/v1/auth/health", env=env, folder=folder
    ) as server:
        yield server


@dataclass
class Session:
    """A client that remembers every secret it sends or receives."""

    base: str
    secrets: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    statuses: list[int] = field(default_factory=list)
    # A client address of its own, as the edge reports it (the throttles count per address:
    # other tests' refusals from 127.0.0.1, the fuzzer's among them, must not throttle this)
    forwarded_for: str = field(
        default_factory=lambda: "198.51.100.7, 10.{}.{}.{}, 172.70.1.1, 34.120.0.1".format(
            *os.urandom(3)
        )
    )

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        **headers: str,
    ) -> tuple[int, Any]:
        host, port = self.base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        sent = {"X-Forwarded-For": self.forwarded_for, **headers}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body)
            sent["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        self.statuses.append(response.status)
        answer = json.loads(raw) if raw and raw[:1] in b"{[" else None
        self.keep(answer)
        return response.status, answer

    def keep(self, answer: Any) -> None:
        """Remember the tokens and emails in an answer."""
        if isinstance(answer, dict):
            for key, value in answer.items():
                if key in ("access_token", "refresh_token", "token") and isinstance(value, str):
                    self.secrets.add(value)
                elif isinstance(value, str) and EMAIL.fullmatch(value):
                    self.emails.add(value)
                else:
                    self.keep(value)
        elif isinstance(answer, list):
            for item in answer:
                self.keep(item)

    def password(self, value: str) -> str:
        self.secrets.add(value)
        return value

    def email(self, value: str) -> str:
        self.emails.add(value)
        return value


def full_run(s: Session, smtp: SmtpStub) -> None:
    """Every function, the happy paths and the refusals, as a client would."""
    x = os.urandom(4).hex()
    alice = s.email(f"Alice.Log-{x}@Example.com")
    bob = s.email(f"bob.log-{x}@example.org")
    carol = s.email(f"carol-{x}@example.com")
    first, second = s.password(f"first-Pw-{x}-x9"), s.password(f"second-Pw-{x}-y8")
    wrong = s.password(f"wrong-Pw-{x}-z7")

    def expect(status: int, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        got, answer = s.call(method, path, body, **kw)
        assert got == status, (method, path, got, answer)
        return answer

    expect(201, "POST", "/v1/auth/register", {"email": alice, "password": first, "username": "a"})
    bob_pw = s.password(f"bob-Pw-{x}")
    bobs = expect(
        201, "POST", "/v1/auth/register", {"email": bob, "password": bob_pw, "username": "b"}
    )
    expect(409, "POST", "/v1/auth/register", {"email": alice, "password": first, "username": "c"})
    expect(422, "POST", "/v1/auth/register", {"email": "x@y.z", "password": "short"})
    expect(401, "POST", "/v1/auth/login", {"email": alice, "password": wrong})
    login = expect(200, "POST", "/v1/auth/login", {"email": alice.lower(), "password": first})
    refresh = login["tokens"]["refresh_token"]
    refreshed = expect(200, "POST", "/v1/auth/refresh", {"refresh_token": refresh})
    expect(401, "POST", "/v1/auth/refresh", {"refresh_token": refresh})  # reused: revoked
    token = refreshed["tokens"]["access_token"]
    change = {"current_password": first, "new_password": second}
    changed = expect(200, "POST", "/v1/auth/password", change, token=token)
    change = {"current_password": wrong, "new_password": first}
    expect(403, "POST", "/v1/auth/password", change, token=token)
    token = changed["tokens"]["access_token"]
    expect(204, "POST", "/v1/auth/logout", {"refresh_token": changed["tokens"]["refresh_token"]})

    expect(200, "GET", "/v1/users/me", token=token)
    expect(200, "PATCH", "/v1/users/me", {"display_name": "Alice L."}, token=token)
    expect(401, "GET", "/v1/users/me", token="not-a-token")
    expect(401, "GET", "/v1/users/me", token=bobs["tokens"]["access_token"] + "x")

    key = {"Idempotency-Key": f"key-{x}"}
    todo = expect(201, "POST", "/v1/todos", {"title": f"write to {bob}"}, token=token, **key)
    item = f"/v1/todos/{todo['id']}"
    expect(200, "GET", f"/v1/todos?q={bob}&limit=5", token=token)
    expect(200, "PATCH", item, {"description": alice}, token=token)
    expect(200, "PUT", f"{item}/shares", {"email": bob, "permission": "write"}, token=token)
    nobody = {"email": s.email(f"nobody-{x}@example.net"), "permission": "read"}
    expect(404, "PUT", f"{item}/shares", nobody, token=token)
    expect(200, "GET", f"{item}/shares", token=token)
    expect(200, "POST", f"{item}/complete", token=token)
    expect(422, "POST", "/v1/todos", {"title": "", "deadline": "tomorrow"}, token=token)

    memo = expect(
        201, "POST", "/v1/memos", {"content": f"call {alice}", "secret": False}, token=token
    )
    share = {"email": bob, "permission": "read"}
    expect(200, "PUT", f"/v1/memos/{memo['id']}/shares", share, token=token)
    bad = {"name": "Carol", "emails": [carol, "not an email"]}
    expect(422, "POST", "/v1/contacts", bad, token=token)
    good = {"name": "Carol", "emails": [carol], "numbers": ["+49 30 1234567"]}
    contact = expect(201, "POST", "/v1/contacts", good, token=token)
    expect(200, "GET", f"/v1/contacts?q={carol}", token=token)
    share = {"email": bob.upper(), "permission": "read"}
    expect(200, "PUT", f"/v1/contacts/{contact['id']}/shares", share, token=token)

    device = f"{os.urandom(12).hex()}:APA91b{os.urandom(48).hex()}"
    s.secrets.add(device)
    devices = "/v1/notifications/devices"
    added = expect(200, "PUT", devices, {"token": device, "platform": "android"}, token=token)
    expect(200, "GET", devices, token=token)
    dispatch = {"X-Dispatch-Token": s.password(f"dispatch-{x}")}
    expect(401, "POST", "/v1/notifications/dispatch", **dispatch)
    expect(204, "DELETE", f"{devices}/{added['id']}", token=token)

    expect(202, "POST", "/v1/auth/password-reset", {"email": alice.upper()})
    expect(202, "POST", "/v1/auth/password-reset", {"email": s.email(f"nobody-{x}@example.org")})
    code = s.password(smtp.mail_to(alice)[0].code)
    third = s.password(f"third-Pw-{x}-w6")
    reset = {"email": alice, "code": f"{(int(code) + 1) % 10**8:08d}", "new_password": third}
    expect(401, "POST", "/v1/auth/password-reset/confirm", reset)
    reset["code"] = code
    token = expect(200, "POST", "/v1/auth/password-reset/confirm", reset)["tokens"]["access_token"]
    bob_token = bobs["tokens"]["access_token"]
    expect(202, "POST", "/v1/auth/email-verification", token=bob_token)
    bob_code = s.password(smtp.mail_to(bob)[0].code)
    verify = "/v1/auth/email-verification/confirm"
    expect(403, "POST", verify, {"code": f"{(int(bob_code) + 1) % 10**8:08d}"}, token=bob_token)
    expect(200, "POST", verify, {"code": bob_code}, token=bob_token)
    expect(409, "POST", "/v1/auth/email-verification", token=bob_token)

    expect(403, "DELETE", "/v1/users/me", {"password": wrong}, token=token)
    expect(204, "DELETE", "/v1/users/me", {"password": third}, token=token)
    expect(200, "GET", "/v1/todos", token=token)  # a token outliving its account: no rows
    expect(401, "POST", "/v1/todos", {"title": "late"}, token=token)


def test_the_log_of_a_full_run_holds_no_secret_and_no_email(
    database_url: str, tmp_path: Path, smtp: SmtpStub
) -> None:
    with gateway_process(tmp_path) as server:
        session = Session(server.base)
        full_run(session, smtp)
    output = server.output()  # the gateway has exited: everything it wrote is in the files

    lines = server.stdout.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # the structured log: JSON lines only
    requests = [r for r in records if "httpRequest" in r]
    assert len(requests) >= len(session.statuses)  # every request has its line
    assert {r["status"] for r in requests} >= {200, 201, 202, 204, 401, 403, 404, 409, 422}
    assert any(r.get("user_id") for r in requests)

    assert len(session.secrets) >= 12  # passwords, access/refresh tokens, push token, secret
    assert len(session.emails) >= 4
    for secret in session.secrets:
        assert secret not in output, "a secret is in the log"
        for part in secret.split("."):  # a JWT's header, claims or signature alone
            assert len(part) < 16 or part not in output
    for email in session.emails:
        assert email.lower() not in output.lower(), "an email address is in the log"
    found = EMAIL.findall(output)
    assert found == [], found


def test_an_unexpected_database_error_logs_its_statement_but_not_its_values() -> None:
    """A 500 logs the traceback with the failing SQL, never the values bound to it."""
    import io
    import logging

    import functions_framework
    from werkzeug.test import Client

    from common.logging import JsonFormatter

    echo = ROOT / "tests" / "api" / "echo" / "main.py"
    client = Client(functions_framework.create_app(target="echo", source=str(echo)))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        response = client.get("/v1/echo/broken-sql")
    finally:
        root.removeHandler(handler)
    assert response.status_code == 500
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    failure = next(line for line in lines if line["message"] == "unhandled error")
    assert "no_such_table" in failure["stack_trace"]  # what failed is there to debug
    assert "parameters hidden" in failure["stack_trace"]
    assert EMAIL.findall(stream.getvalue()) == []
