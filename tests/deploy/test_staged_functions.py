"""Every staged function starts on its own, as Cloud Functions would start it.

Each function is staged (scripts/stage_function.py) into a temporary build/<fn>/, then
run by `functions-framework --source build/<fn>/main.py --target <fn>` from a fresh
virtual environment that holds only that function's requirements.txt: nothing from the
project's environment, no path to the repository. Its health route must answer 200 with
the database reachable. A missing dependency in the pinned requirements, an import of
something outside common/, or a file the folder forgot, fails here.

Virtual environments are made with uv (the project's dev dependency) and kept in
.sealy/deploy-test-venvs/, one per distinct requirements.txt, so later runs reuse them.
uv installs the pins from its own cache when it has them (offline, as on a machine that
already ran this) and otherwise downloads them from PyPI, the one registry a fresh
machine and CI reach; without uv, pip does the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import pytest

from tests.deploy.conftest import REPO

pytestmark = pytest.mark.deploy

VENVS = REPO / ".sealy" / "deploy-test-venvs"
STARTUP_DEADLINE_S = 120.0  # only bounds a hang; nothing asserts on how long start-up takes
PORT_TRIES = 3  # starts of one server when another process took its free port


@dataclass
class Server:
    """One staged function's server. `marker` is its RELEASE, which its health route
    reports as `version`: how an answer is known to come from this server, not from
    another process that took the same free port first (the machine is shared)."""

    name: str
    marker: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    handle: IO[bytes]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start on a port free now; `wait_for_health` starts again if it was taken."""
        self.port = free_port()
        self.process = subprocess.Popen(
            [*self.command, f"--port={self.port}"],
            cwd=self.cwd,
            env=self.env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def running(self) -> subprocess.Popen[bytes]:
        assert self.process is not None
        return self.process


def _uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.exists() else shutil.which("uv")


def venv_for(requirements: Path) -> Path:
    """A virtual environment with exactly these requirements, reused across runs."""
    pins = [line for line in requirements.read_text().splitlines() if not line.startswith("#")]
    digest = hashlib.sha256("\n".join(["v3", sys.version, *pins]).encode()).hexdigest()[:16]
    venv = VENVS / digest
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    VENVS.mkdir(parents=True, exist_ok=True)
    uv = _uv()
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        install = [
            uv,
            "pip",
            "install",
            "-q",
            "--compile-bytecode",  # as pip and the Cloud Functions build do: fast imports
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            str(requirements),
        ]
        offline = subprocess.run([*install, "--offline"], capture_output=True, check=False)
        if offline.returncode != 0:  # something is not in uv's cache yet: ask PyPI
            subprocess.run(install, check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
                str(requirements),
            ],
            check=True,
        )
    (venv / ".complete").write_text(requirements.read_text())
    return venv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    functions: dict[str, dict[str, Any]],
    stage: ModuleType,
) -> Iterator[dict[str, Server]]:
    build = tmp_path_factory.mktemp("build")
    logs = tmp_path_factory.mktemp("logs")
    started: dict[str, Server] = {}
    try:
        for name in functions:
            stage.stage(name, build)
            venv = venv_for(build / name / "requirements.txt")
            log = logs / f"{name}.log"
            marker = f"staged-{name}-{secrets.token_hex(8)}"
            env = {
                "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
                "HOME": os.environ.get("HOME", "/tmp"),
                "ENV": "test",
                "RELEASE": marker,
                "DATABASE_URL": database_url,
                "PYTHONDONTWRITEBYTECODE": "1",  # leave the staged folder (and its hash) as is
                "THREADS": str(functions[name]["threads"]),
            }
            command = [
                str(venv / "bin" / "functions-framework"),
                f"--source={build / name / 'main.py'}",
                f"--target={functions[name]['entry_point']}",
                "--host=127.0.0.1",
            ]
            server = Server(name, marker, command, build / name, env, log, log.open("wb"))
            server.start()
            started[name] = server
        yield started
    finally:
        for server in started.values():
            server.running().send_signal(signal.SIGINT)  # gunicorn: quick shutdown
        for server in started.values():
            try:
                server.running().wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.running().kill()
                server.running().wait()
            server.handle.close()


def ours(server: Server, body: bytes) -> bool:
    """Whether a health answer came from `server` (its marker), not another process's."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("version") == server.marker


def wait_for_health(server: Server) -> tuple[int, bytes]:
    """The server's health answer. Another process may have taken its port between
    `free_port` and the bind (gunicorn then exits): the server starts again on a new port,
    a few times; an answer that is not the server's own is never taken for it."""
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    for _ in range(PORT_TRIES):
        while server.running().poll() is None:
            try:
                status, body = get(f"http://127.0.0.1:{server.port}/v1/{server.name}/health")
            except (ConnectionError, urllib.error.URLError, TimeoutError):
                status, body = 0, b""
            if ours(server, body):
                return status, body
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{server.name} did not answer on {server.port}:\n"
                    + server.log.read_text(errors="replace")[-4000:]
                )
            time.sleep(0.2)
        output = server.log.read_text(errors="replace")
        if "in use" not in output:  # it died for another reason than its port
            pytest.fail(
                f"{server.name} exited with {server.running().returncode}:\n{output[-4000:]}"
            )
        server.start()
    pytest.fail(f"{server.name}: every port it tried was taken:\n{output[-4000:]}")


@pytest.mark.parametrize(
    "name", [fn["name"] for fn in json.loads((REPO / "functions.json").read_text())["functions"]]
)
def test_staged_function_serves_health_from_its_own_venv(
    servers: dict[str, Server], name: str
) -> None:
    status, body = wait_for_health(servers[name])
    assert status == 200, body[:2000]
    payload = json.loads(body)
    assert payload["status"] == "ok"
    assert payload["database"] == "ok"


def test_only_notifications_has_firebase_in_its_venv(servers: dict[str, Server]) -> None:
    for name, server in servers.items():
        python = Path(server.command[0]).with_name("python")
        probe = subprocess.run(
            [
                str(python),
                "-c",
                "import importlib.util as u; print(bool(u.find_spec('firebase_admin')))",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert probe.stdout.strip() == str(name == "notifications"), name
