"""Run a function the way Cloud Functions does: its own process, functions-framework's
production server (gunicorn), a real port. Used by tests that need real HTTP or their
own database."""

from __future__ import annotations

import os
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
def function_process(
    source: Path, target: str, env: dict[str, str], *, wait_path: str
) -> Iterator[str]:
    """Start `functions-framework` on a free port; yield its base URL; stop it afterwards."""
    port = free_port()
    binary = Path(sys.executable).parent / "functions-framework"
    full_env = {**os.environ, **env, "THREADS": "4"}
    errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [str(binary), "--source", str(source), "--target", target, "--port", str(port)],
        env=full_env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{target} exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            try:
                get(base + wait_path, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        errors.close()
