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
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


@contextmanager
def server_process(
    command: list[str],
    env: dict[str, str],
    *,
    url: str,
    without: tuple[str, ...] = (),
    timeout: float = 60.0,
) -> Iterator[str]:
    """Start `command` (a server that will answer at `url`) in a process group of its own,
    with `env` over this process's environment less the variables named in `without`;
    yield its output so far once `url` answers, and stop the whole group afterwards (a
    launcher and the server it runs, a gunicorn master and its workers)."""
    full_env = {k: v for k, v in {**os.environ, **env}.items() if k not in without}
    output = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        command,
        env=full_env,
        cwd=ROOT,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def said() -> str:
        output.seek(0)
        return output.read().decode(errors="replace")

    try:
        deadline = time.monotonic() + timeout  # bounds a hang; nothing asserts on the time
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited ({proc.returncode}): {said()}")
            try:
                get(url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield said()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        output.close()


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
    command = [str(binary), "--source", str(source), "--target", target, "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with server_process(command, {**env, "THREADS": "4"}, url=base + wait_path, without=without):
        yield base
