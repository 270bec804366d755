"""Run a function the way Cloud Functions does: its own process, functions-framework's
production server (gunicorn), a real port; or a launcher (`python -m devtools.dev`, what
`make dev` and `make fn` run). Used by tests that need real HTTP or their own database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# How long a server may take to answer its first request. Only a failure waits this long
# (a server that neither answers nor exits); a working one is used as soon as it answers.
STARTUP_LIMIT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@dataclass
class ServerProcess:
    """A server in its own process; its stdout and stderr in files."""

    base: str  # http://127.0.0.1:<port>
    stdout: Path
    stderr: Path

    def output(self) -> str:
        """Everything it wrote so far (all of it once the `server_process` block has ended:
        the process has exited by then)."""
        return self.stdout.read_text() + self.stderr.read_text()


@contextmanager
def server_process(
    name: str,
    argv: list[str],
    *,
    port: int,
    wait_path: str,
    env: dict[str, str] | None = None,
    without: tuple[str, ...] = (),
    folder: Path | None = None,
) -> Iterator[ServerProcess]:
    """Start `argv` (a server that listens on `port`) in a process group of its own, with
    `env` over this process's environment less the variables named in `without`; yield once
    `wait_path` answers, then stop the whole group (a launcher and the server it runs, a
    gunicorn master and its workers) and wait for it to exit. Its output goes to stdout.log
    and stderr.log in `folder` (a temporary folder, removed afterwards, by default). If it
    exits before answering, a RuntimeError says "<name> exited" with its status and stderr."""
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in without}
    with ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sealy-srv-")))
        server = ServerProcess(
            f"http://127.0.0.1:{port}", folder / "stdout.log", folder / "stderr.log"
        )
        with server.stdout.open("wb") as out, server.stderr.open("wb") as err:
            proc = subprocess.Popen(
                argv, env=full_env, cwd=ROOT, stdout=out, stderr=err, start_new_session=True
            )
        try:
            _wait_until_answering(name, proc, server, wait_path)
            yield server
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_until_answering(
    name: str, proc: subprocess.Popen[bytes], server: ServerProcess, wait_path: str
) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while True:
        if (status := proc.poll()) is not None:
            raise RuntimeError(f"{name} exited with status {status}: {server.stderr.read_text()}")
        try:
            get(server.base + wait_path, timeout=2)
            return
        except OSError:  # not listening yet: try again shortly
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not answer within {STARTUP_LIMIT_S} s: {server.stderr.read_text()}"
                ) from None
            time.sleep(0.1)


@contextmanager
def function_process(
    source: Path,
    target: str,
    env: dict[str, str],
    *,
    wait_path: str,
    without: tuple[str, ...] = (),
) -> Iterator[str]:
    """Start `functions-framework` on a free port; yield its base URL; stop it afterwards."""
    port = free_port()
    binary = Path(sys.executable).parent / "functions-framework"
    argv = [str(binary), "--source", str(source), "--target", target, "--port", str(port)]
    env = {**env, "THREADS": "4"}
    with server_process(
        target, argv, port=port, wait_path=wait_path, env=env, without=without
    ) as server:
        yield server.base
