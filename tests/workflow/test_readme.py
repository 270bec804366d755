"""The README's walk-through, pasted into bash as it is, twice in a row, against the server
`make dev` runs (`python -m devtools.dev`: the gateway on a real port) on the test database.

Only `API` differs from what a reader pastes: it points at this server's port. The script
runs with `set -euo pipefail`, stricter than an interactive shell, so any command that fails
fails the test; the expected values are what the contract says of each step (a pinned
todo's version 2, the stale ETag's 412, Wednesday's occurrence after Sunday's)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT, free_port, server_process

pytestmark = pytest.mark.workflow


def walk_through() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## A walk through with curl") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the walk-through is one bash block"
    return str(blocks[0])


EXPECTED = [
    '{"status":"ok","function":"todos","version":"dev","database":"ok"}',
    "bob",
    "2",
    "412",
    "2030-01-09T09:00:00Z",
    "Water the plants",
    "write",
    "write",
]


def test_the_walk_through_runs_twice_against_make_dev(database_url: str, tmp_path: Path) -> None:
    assert shutil.which("curl"), "the walk-through (and so this test) needs curl: install it"
    # `python3` is whichever the reader has; here, this run's interpreter comes first.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    port = free_port()
    env = {
        "ENV": "dev",
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "JWT_DEV_KEYS_DIR": str(tmp_path / "jwt"),  # not the developer's .sealy/jwt
    }
    launcher = [sys.executable, "-m", "devtools.dev"]
    # As `make dev` runs: no JWT variable, no RELEASE (this run sets both).
    without = ("JWT_PUBLIC_KEYS", "JWT_SIGNING_KEY", "JWT_SIGNING_KID", "RELEASE")
    api = f"http://127.0.0.1:{port}"
    script = walk_through()
    with server_process(
        "make dev", launcher, port=port, wait_path="/v1/todos/health", env=env, without=without
    ):
        for run in (1, 2):
            ran = subprocess.run(
                ["bash", "-euo", "pipefail", "-s"],
                input=script,
                env={"PATH": path, "API": api, "HOME": str(tmp_path)},
                capture_output=True,
                text=True,
                timeout=120,  # bounds a hang; nothing asserts on the time
                check=False,
            )
            assert ran.returncode == 0, (run, ran.stdout, ran.stderr)
            lines = ran.stdout.splitlines()
            assert lines[:-1] == EXPECTED, (run, ran.stdout)
            assert re.fullmatch(
                r'\{"type":"about:blank","title":"Not Found","status":404,'
                r'"detail":"No such route.","request_id":"[0-9a-f]{32}"\}',
                lines[-1],
            )
            # The created todo's headers, shown by `-D /dev/stderr`.
            assert "HTTP/1.1 201 CREATED" in ran.stderr
            assert 'ETag: "1"' in ran.stderr
            assert re.search(r"Location: /v1/todos/[0-9a-f-]{36}", ran.stderr)
    assert (tmp_path / "jwt" / "signing-key.json").exists()  # the dev keys, found by settings
