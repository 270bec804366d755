"""One function alone, as Cloud Functions runs it and as the README shows it: started by
functions-framework's own command line (directly, and through `make fn NAME=auth`) under
`ENV=dev` with no JWT variable set, it signs a user in with the dev key pair that the
settings find (and create) in `JWT_DEV_KEYS_DIR`; a second lone function verifies the
tokens it signed."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ROOT, free_port, function_process, server_process

pytestmark = pytest.mark.workflow

JWT_VARIABLES = ("JWT_PUBLIC_KEYS", "JWT_SIGNING_KEY", "JWT_SIGNING_KID")
PASSWORD = "correct horse battery staple"


def call(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method)
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read()
            return response.status, json.loads(data) if data else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def sign_in(base: str) -> str:
    """Register, then log in, through a lone auth function; the access token."""
    email = f"lone-{uuid.uuid4().hex[:12]}@example.com"
    status, registered = call(
        "POST",
        f"{base}/v1/auth/register",
        {"email": email, "password": PASSWORD, "username": "lone"},
    )
    assert status == 201, registered
    status, logged_in = call(
        "POST", f"{base}/v1/auth/login", {"email": email, "password": PASSWORD}
    )
    assert status == 200, logged_in
    assert logged_in["user"]["id"] == registered["user"]["id"]
    token: str = logged_in["tokens"]["access_token"]
    return token


@pytest.fixture
def dev_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"ENV": "dev", "DATABASE_URL": database_url, "JWT_DEV_KEYS_DIR": str(tmp_path / "jwt")}


def test_functions_framework_alone_signs_in_with_the_dev_keys(
    dev_env: dict[str, str], tmp_path: Path
) -> None:
    auth = ROOT / "functions" / "auth" / "main.py"
    todos = ROOT / "functions" / "todos" / "main.py"
    with (
        function_process(
            auth, "auth", dev_env, wait_path="/v1/auth/health", without=JWT_VARIABLES
        ) as auth_base,
        function_process(
            todos, "todos", dev_env, wait_path="/v1/todos/health", without=JWT_VARIABLES
        ) as todos_base,
    ):
        token = sign_in(auth_base)
        assert (tmp_path / "jwt" / "signing-key.json").exists()
        # The other lone function verifies what auth signed: the same dev key pair.
        status, page = call("GET", f"{todos_base}/v1/todos", token=token)
        assert (status, page) == (200, {"items": [], "next_cursor": None})
        status, _ = call("POST", f"{auth_base}/v1/auth/logout-all", token=token)
        assert status == 204


def test_make_fn_serves_one_function(dev_env: dict[str, str]) -> None:
    port = free_port()
    # The stamps count as up to date: this tests the target, not a reinstall.
    command = ["make", "-s", "-o", ".venv/.installed-stamp"]
    command += ["-o", "clients/typescript/node_modules/.installed-stamp", "fn", "NAME=auth"]
    env = {**dev_env, "PORT": str(port)}
    with server_process(
        "make fn", command, port=port, wait_path="/v1/auth/health", env=env, without=JWT_VARIABLES
    ) as server:
        base = server.base
        said = server.output()
        assert "functions-framework --source=functions/auth/main.py --target=auth" in said
        sign_in(base)
        status, problem = call("GET", f"{base}/v1/todos")  # only auth is there
        assert status == 404
        assert problem["status"] == 404
