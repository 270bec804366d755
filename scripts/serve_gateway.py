"""The container's command: every function behind the local gateway, under gunicorn.

The same preparation as `make dev` (devtools.dev.prepare_environment: DATABASE_URL's
server, migrations; the settings find the dev JWT keys in .sealy/jwt), then gunicorn,
the production WSGI server that functions-framework itself runs on Cloud Functions. Used
by Dockerfile and compose.yaml; PORT (8080), WEB_CONCURRENCY (2 workers) and THREADS (8)
tune it.
"""

from __future__ import annotations

import os

from devtools.dev import prepare_environment


def main() -> None:
    prepare_environment()  # exports DATABASE_URL and ENV to the environment
    port = os.environ.get("PORT", "8080")
    os.execvp(  # replaces this process: gunicorn gets its signals directly
        "gunicorn",
        [
            "gunicorn",
            f"--bind=0.0.0.0:{port}",
            f"--workers={os.environ.get('WEB_CONCURRENCY', '2')}",
            f"--threads={os.environ.get('THREADS', '8')}",
            "--timeout=60",
            "--access-logfile=-",
            "devtools.gateway:create_gateway()",
        ],
    )


if __name__ == "__main__":
    main()
