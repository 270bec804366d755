"""Requests with the database some milliseconds away, with pg8000 as the functions drive it
(one round trip per statement, the BEGIN with the first) and as pg8000 ships, side by side.

    python scripts/bench_db_latency.py [--delays 0,1,10] [--runs 30]

Each mode runs in its own process: the gateway app in-process (every function's real entry
point), its database reached through devtools/latency_proxy.py, which holds every chunk for
the delay in each direction (a round trip costs at least twice the delay) and counts the
client's round trips. "stock" undoes the changes to pg8000's statements
(`common.db.engine._pipeline_statements` and `_begin_with_the_first_statement`): pg8000
sends each BEGIN, statement and COMMIT as it ships. Routes: a todo created, read, patched
with If-Match, completed (recurring), the todo list, and a login. Prints p50 per route and
round trips per request.

The database: `DATABASE_URL`'s server if set (a scratch database is created, migrated and
dropped), else a private embedded PostgreSQL. A measurement for docs/benchmarks.md, not a
test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools import database as db  # noqa: E402
from devtools.latency_proxy import LatencyProxy  # noqa: E402
from scripts.timing import measure_ms  # noqa: E402

PASSWORD = "latency bench password 2026"
TODO = {"title": "latency bench todo"}
RECURRENCE = {"type": "daily", "interval": 1, "start_at": "2026-01-05T09:00:00Z"}


def measure(mode: str, database_url: str, delay_ms: float, runs: int) -> dict[str, Any]:
    """One mode and delay, in this process: {route: {"p50": ms, "trips": per request}}."""
    from scripts.bench_login import environment

    if mode == "stock":  # pg8000's own statements, BEGIN and COMMIT back in place
        from common.db.engine import replaced_methods  # replaces them at import

        for owner, name in replaced_methods():
            function = getattr(owner, name)
            setattr(owner, name, getattr(function, "stock", function))
    with LatencyProxy(database_url, delay_ms=delay_ms) as proxy:
        os.environ.update(environment(proxy.url))
        from werkzeug.test import Client

        from devtools.gateway import create_gateway

        client = Client(create_gateway())
        email = f"latency-{secrets.token_hex(6)}@example.com"
        body = {"email": email, "password": PASSWORD, "username": "latency"}
        registered = client.post("/v1/auth/register", json=body).get_json()
        auth = {"Authorization": f"Bearer {registered['tokens']['access_token']}"}

        def new_todo(**extra: Any) -> dict[str, Any]:
            response = client.post("/v1/todos", json={"title": "t", **extra}, headers=auth)
            assert response.status_code == 201, response.get_data(as_text=True)
            return {"id": response.get_json()["id"], "etag": response.headers["ETag"]}

        def patch(todo: dict[str, Any]) -> None:
            headers = {**auth, "If-Match": todo["etag"]}
            path = f"/v1/todos/{todo['id']}"
            response = client.patch(path, json={"title": "renamed"}, headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)
            todo["etag"] = response.headers["ETag"]

        def ok(response: Any) -> None:
            assert response.status_code in (200, 201), response.get_data(as_text=True)

        todo = new_todo()
        recurring = new_todo(recurrence=RECURRENCE)
        routes: dict[str, Callable[[], None]] = {
            "POST /v1/todos": lambda: ok(client.post("/v1/todos", json=TODO, headers=auth)),
            "GET /v1/todos/{id}": lambda: ok(client.get(f"/v1/todos/{todo['id']}", headers=auth)),
            "PATCH /v1/todos/{id} (If-Match)": lambda: patch(todo),
            "POST /v1/todos/{id}/complete (recurring)": lambda: ok(
                client.post(f"/v1/todos/{recurring['id']}/complete", headers=auth)
            ),
            "GET /v1/todos (limit 50)": lambda: ok(client.get("/v1/todos?limit=50", headers=auth)),
            "POST /v1/auth/login": lambda: ok(
                client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
            ),
        }
        results = {}
        for name, run in routes.items():
            start_trips = proxy.turns
            samples = measure_ms(run, runs=runs)  # and a warm-up call: runs + 1 requests
            trips = (proxy.turns - start_trips) / (runs + 1)
            results[name] = {"p50": statistics.median(samples), "trips": trips}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", default="0,1,10", help="one-way delays in ms")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "URL", "DELAY"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        mode, url, delay = args.child
        print(json.dumps(measure(mode, url, float(delay), args.runs)))
        return

    delays = [float(d) for d in args.delays.split(",")]
    with db.fresh_database("sealy_latency") as url:
        table: dict[tuple[str, float], dict[str, Any]] = {}
        for delay in delays:
            for mode in ("stock", "pipelined"):
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--runs",
                        str(args.runs),
                        "--child",
                        mode,
                        url,
                        str(delay),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                    env={**os.environ, "LOG_LEVEL": "WARNING"},
                )
                table[(mode, delay)] = json.loads(done.stdout.strip().splitlines()[-1])
    routes = list(table[("stock", delays[0])])
    print(f"p50 ms (round trips per request); {args.runs} runs; delay is one-way, per chunk")
    header = "".join(f"{f'{d:g} ms stock':>18}{f'{d:g} ms pipelined':>20}" for d in delays)
    print(f"{'route':<42}{header}")
    for route in routes:
        cells = ""
        for delay in delays:
            for mode, width in (("stock", 18), ("pipelined", 20)):
                r = table[(mode, delay)][route]
                cells += f"{r['p50']:>{width - 6}.1f} ({r['trips']:>2.0f})"
        print(f"{route:<42}{cells}")


if __name__ == "__main__":
    main()
