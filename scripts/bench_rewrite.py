"""What pg8000's placeholder rewrite costs the hot routes, on the connections production
uses (`pg8000.dbapi`), with the rewrite as pg8000 ships it and as common.db.engine caches it.

    python scripts/bench_rewrite.py [--runs 200]

In this process: the gateway app (every function's real entry point) on a scratch database
(`DATABASE_URL`'s server if set, else a private embedded PostgreSQL; created, migrated and
dropped), one user with 60 todos. For each route: its statements, captured as the driver
receives them, and the time one rewrite of each takes, as shipped and from the cache; then
the route's p50, requests alternating in blocks between the two rewrites so that the
machine's load weighs on both alike. A measurement for docs/benchmarks.md, not a test:
nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import functools
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools import database as db  # noqa: E402

PASSWORD = "rewrite bench password 2026"
BLOCK = 10  # requests per block before switching rewrites


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="requests per route and rewrite")
    args = parser.parse_args()
    with db.fresh_database("sealy_rewrite") as url:
        from scripts.bench_login import environment

        os.environ.update(environment(url))
        run(args.runs)


def run(runs: int) -> None:
    import pg8000.dbapi
    from sqlalchemy import event
    from werkzeug.test import Client

    from common.db import get_engine
    from devtools.gateway import create_gateway

    cached = pg8000.dbapi.convert_paramstyle
    shipped = cached.stock  # kept by common.db.engine when it put the cache in place
    client = Client(create_gateway())
    email = f"rewrite-{secrets.token_hex(6)}@example.com"
    body = {"email": email, "password": PASSWORD, "username": "rewrite"}
    registered = client.post("/v1/auth/register", json=body).get_json()
    auth = {"Authorization": f"Bearer {registered['tokens']['access_token']}"}
    todos = [
        client.post("/v1/todos", json={"title": f"todo {n}"}, headers=auth).get_json()
        for n in range(60)
    ]
    item = f"/v1/todos/{todos[0]['id']}"

    def ok(response: Any) -> None:
        assert response.status_code in (200, 201), response.get_data(as_text=True)

    routes: dict[str, Callable[[], None]] = {
        "GET /v1/todos/{id}": lambda: ok(client.get(item, headers=auth)),
        "GET /v1/todos (limit 50)": lambda: ok(client.get("/v1/todos?limit=50", headers=auth)),
        "POST /v1/todos": lambda: ok(client.post("/v1/todos", json={"title": "t"}, headers=auth)),
        "PATCH /v1/todos/{id}": lambda: ok(client.patch(item, json={"pinned": True}, headers=auth)),
        "GET /v1/contacts (limit 50)": lambda: ok(client.get("/v1/contacts", headers=auth)),
    }
    seen: list[str] = []
    event.listen(get_engine(), "before_cursor_execute", lambda c, cur, sql, *a: seen.append(sql))

    raw = get_engine().raw_connection()
    print(f"pg8000 {pg8000.__version__}; the functions' connections: {type(raw.dbapi_connection)}")
    raw.close()
    print(
        f"{'route':<30}{'stmts':>6}{'chars':>7}{'rewrite':>9}{'cached':>8}"
        f"{'p50 shipped':>13}{'p50 cached':>12}{'saved':>7}   (ms; rewrite: per request)"
    )
    for name, call in routes.items():
        seen.clear()
        call()
        statements = list(seen)
        rewrite = sum(_best_ms(functools.partial(shipped, "format", s, ())) for s in statements)
        hit = sum(_best_ms(functools.partial(cached, "format", s, ())) for s in statements)
        p50 = _alternating(call, runs, {"shipped": shipped, "cached": cached})
        chars = sum(len(s) for s in statements)
        print(
            f"{name:<30}{len(statements):>6}{chars:>7}{rewrite:>9.3f}{hit:>8.4f}"
            f"{p50['shipped']:>13.2f}{p50['cached']:>12.2f}{p50['shipped'] - p50['cached']:>7.2f}"
        )
    pg8000.dbapi.convert_paramstyle = cached


def _best_ms(call: Callable[[], object], repeat: int = 200) -> float:
    """The fastest of `repeat` calls, in ms: the cost without the machine's noise."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _alternating(call: Callable[[], None], runs: int, rewrites: dict[str, Any]) -> dict[str, float]:
    """p50 of `call` under each rewrite, switching every BLOCK requests."""
    import pg8000.dbapi

    samples: dict[str, list[float]] = {name: [] for name in rewrites}
    call()  # warm
    while min(len(s) for s in samples.values()) < runs:
        for name, rewrite in rewrites.items():
            pg8000.dbapi.convert_paramstyle = rewrite
            call()  # untimed: the first of a block
            for _ in range(BLOCK):
                start = time.perf_counter()
                call()
                samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(s) for name, s in samples.items()}


if __name__ == "__main__":
    main()
