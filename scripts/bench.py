"""Benchmark the hot routes against the floor, and each function's cold start and imports.

    python scripts/bench.py [--database-url URL] [--seed] [--scale 1]
                            [--requests 1000] [--seconds 10] [--concurrency 4]
                            [--routes list,get,...] [--no-cold] [--no-trips] [--json PATH]

The database: `--database-url`, else `DATABASE_URL`, else a private embedded PostgreSQL kept
under `.sealy/bench/` (seeded on first use, reused afterwards). `--seed` (re)creates,
migrates and seeds the database first (scripts/seed.py, `--scale`).

Each function runs as in production: its own process, functions-framework's gunicorn (one
worker, `THREADS`, pool size and overflow from functions.json), `ENV=test` with a fresh key
pair, JSON request log on stdout. For each hot route, in this order:

1. capture: the route runs once in this process through its real entry point, with an engine
   event recording every statement and its parameters exactly as the driver received them;
2. floor: those statements replayed through pg8000 (unpatched) on one warm connection with
   the functions' session settings, each in autocommit, or in one transaction when two or
   more of them write; values the route makes fresh each time (the new todo's id, the
   refresh token's hash) are made fresh, and rows a write changed are put back between runs
   (untimed). Timed just before and just after the latency pass (login: with a bare argon2
   verification beside it), so that the machine's load weighs on both alike. pg8000 runs
   as it ships here (three round trips per statement, every placeholder rewrite done
   afresh); `floor1`, timed once before the latency pass, replays them as the functions
   drive pg8000 (common.db.engine: one round trip each, the rewrite cached);
3. latency: the route through HTTP from a separate driver process (`--drive`: threads,
   `http.client` keep-alive connections) at concurrency 1; p50/p95/p99 and the ratio
   endpoint p50 / floor p50. The targets are judged on this pass;
4. load: the same at `--concurrency`: p50/p95/p99 and requests per second.
Statements per request come from the function's own request log (`db_queries`); CPU per
request from the gunicorn worker's own CPU time (user + system, /proc/<pid>/stat) before and
after each pass, divided by the requests the log shows it served. Every pass is bounded by
`--requests` and `--seconds`. Todos the run created are deleted afterwards.

The todos change feed (`--routes changes`): a full snapshot round at limit=500 walked page by
page through HTTP (total time, per-page p50/p95, statements per page), then ten changes, then
the incremental round since the snapshot's token (ten changes, one page) as a hot route like
the others; its p50 is held against the todo list's (`list todos`, same run).

Then the cold start of every function (process start to the first 200 of an authenticated
route; median of 5) beside an empty functions-framework function's, and the import time of
every function's module with production settings (`ENV=prod`, fresh interpreter, best of 5):
alone, with the Cloud SQL connector (production imports it before its first query), and with
Cloud Logging's handler too (only with `LOG_HANDLER=google`).

Then (unless `--no-trips`) scripts/bench_db_latency.py's routes with the database 5 ms away
each way. Last, the table "targets": every target of issue 18 with its figure, its goal, their
ratio and ok/MISSED (docs/benchmarks.md, "Targets").

Results are printed and written to `.sealy/bench/results.json`. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DIR = ROOT / ".sealy" / "bench"  # the embedded server (scripts/seed.py) and results
SEARCH_TERM = "dentist"  # in about 2% of titles (scripts/seed.py)
CREATED_TODOS = "DELETE FROM todos WHERE user_id = :me AND title LIKE 'Bench todo%'"
FUNCTIONS = json.loads((ROOT / "functions.json").read_text())["functions"]
SETTINGS = {f["name"]: f for f in FUNCTIONS}

# --- the driver (a separate process: `bench.py --drive < spec.json`) -------------------------


def percentile(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def drive(spec: dict[str, Any]) -> dict[str, Any]:
    """Run `spec` from `concurrency` threads, each with one keep-alive connection."""
    host, port = spec["base"].removeprefix("http://").split(":")
    concurrency, total, seconds = spec["concurrency"], spec["requests"], spec["seconds"]
    kind = spec["kind"]
    headers = {"Content-Type": "application/json", **spec.get("headers", {})}
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    issued = 0
    start_gate = threading.Barrier(concurrency + 1)
    go = threading.Event()
    stop_at = [0.0]

    def take() -> bool:
        nonlocal issued
        with lock:
            if issued >= total or time.perf_counter() > stop_at[0]:
                return False
            issued += 1
            return True

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        items = spec["items"][index % len(spec["items"])] if spec.get("items") else [None]
        etag = spec["etags"][index % len(spec["etags"])] if spec.get("etags") else None
        n = 0

        def one(record: bool) -> None:
            nonlocal n, etag
            item = items[n % len(items)]
            n += 1
            path = spec["path"].format(item=item, n=n)
            body: dict[str, Any] | None = spec.get("body")
            request_headers = dict(headers)
            if kind == "patch":
                request_headers["If-Match"] = etag
                body = {"title": f"Renamed by the bench {n}"}
            if kind == "create":
                body = {**(body or {}), "title": f"Bench todo {index}-{n}"}
            payload = json.dumps(body).encode() if body is not None else None
            started = time.perf_counter()
            conn.request(spec["method"], path, body=payload, headers=request_headers)
            response = conn.getresponse()
            data = response.read()
            took = (time.perf_counter() - started) * 1000
            if response.status != spec["status"]:
                with lock:
                    failures.append(f"{response.status} {data[:200]!r}")
            elif kind == "patch":
                etag = response.getheader("ETag")
            if record:
                with lock:
                    latencies.append(took)

        for _ in range(spec.get("warmup", 0)):
            one(record=False)
        start_gate.wait()
        go.wait()
        while take():
            one(record=True)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    start_gate.wait()  # every thread has warmed up
    began = time.perf_counter()
    stop_at[0] = began + seconds
    go.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    return {
        "latencies": latencies,
        "failures": failures[:5],
        "failed": len(failures),
        "elapsed_s": elapsed,
    }


# --- statistics ------------------------------------------------------------------------------


@dataclass
class Pass:
    concurrency: int
    count: int
    p50: float
    p95: float
    p99: float
    rps: float
    failed: int

    @classmethod
    def of(cls, result: dict[str, Any], concurrency: int) -> Pass:
        lat = result["latencies"]
        return cls(
            concurrency=concurrency,
            count=len(lat),
            p50=statistics.median(lat) if lat else float("nan"),
            p95=percentile(lat, 95),
            p99=percentile(lat, 99),
            rps=len(lat) / result["elapsed_s"] if result["elapsed_s"] else 0.0,
            failed=result["failed"],
        )


@dataclass
class RouteResult:
    name: str
    route: str
    statements: int  # captured
    logged_max: int  # db_queries in the function's request log (max over the passes)
    logged_mean: float
    db_ms_p50: float  # the pipeline's own time in the database (request log)
    floor_p50: float
    floor_p99: float
    pipelined_floor_p50: float  # the same, one round trip per statement (as the functions)
    latency: Pass
    load: Pass | None
    cpu_ms: float  # the worker's CPU time per request, at concurrency 1
    cpu_ms_load: float  # the same during the load pass
    floor_note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.latency.p50 / self.floor_p50 if self.floor_p50 else float("nan")

    @property
    def tail(self) -> float:
        """p99 / p50 at concurrency 1."""
        return self.latency.p99 / self.latency.p50 if self.latency.p50 else float("nan")


# --- the database ------------------------------------------------------------------------------


@contextmanager
def bench_database(args: argparse.Namespace) -> Iterator[str]:
    """The URL of the seeded bench database (see the module docstring)."""
    from devtools import database as db
    from scripts import seed as seeder

    given = args.database_url or os.environ.get("DATABASE_URL")
    server = None
    fresh = False
    if given:
        url = db.normalize(given).render_as_string(hide_password=False)
        seeder.check_name(url, force=False)
        admin = db.with_database(url, "postgres")
        if not db.database_exists(admin, seeder.database_name(url)):
            db.create_database(admin, seeder.database_name(url))
            fresh = True
    else:
        server, url = seeder.embedded_bench_url()
    name = seeder.database_name(url)
    if fresh or args.seed or not is_seeded(url):
        if not (fresh or args.seed or server is not None):
            raise SystemExit(
                f"{name} holds no seeded data: run `make seed` or pass --seed to seed it here"
            )
        print(f"seeding {name} at scale {args.scale:g} ...", flush=True)
        db.migrate(url)
        seeder.print_report(seeder.seed(url, scale=args.scale))
    yield url


def is_seeded(url: str) -> bool:
    from scripts import seed as seeder

    con = seeder.connect(url)
    try:
        found = con.run(
            "SELECT to_regclass('users') IS NOT NULL AND EXISTS "
            "(SELECT 1 FROM users WHERE email = :e)",
            e=seeder.HEAVY_EMAIL,
        )
        return bool(found[0][0])
    except Exception:
        return False
    finally:
        con.close()


@dataclass
class Fixtures:
    user_id: uuid.UUID
    todo_ids: list[str]  # the heavy user's live todos (for GET)
    patch_ids: list[tuple[str, int]]  # (id, version), one per driver thread
    recurring_ids: list[str]  # live recurring todos, not done
    tag_ids: list[str]
    users_on_server: int


def load_fixtures(url: str) -> Fixtures:
    from scripts import seed as seeder

    con = seeder.connect(url)
    try:
        user_id = con.run("SELECT id FROM users WHERE email = :e", e=seeder.HEAVY_EMAIL)[0][0]
        todos = [
            str(r[0])
            for r in con.run(
                "SELECT id FROM todos WHERE user_id = :u AND deleted_at IS NULL "
                "ORDER BY md5(id::text) LIMIT 400",
                u=user_id,
            )
        ]
        patch = [
            (str(r[0]), int(r[1]))
            for r in con.run(
                "SELECT id, version FROM todos WHERE user_id = :u AND deleted_at IS NULL "
                "AND parent_id IS NULL ORDER BY md5(id::text || 'patch') LIMIT 64",
                u=user_id,
            )
        ]
        recurring = [
            str(r[0])
            for r in con.run(
                "SELECT t.id FROM todos t JOIN todo_recurrences r ON r.todo_id = t.id "
                "WHERE t.user_id = :u AND t.deleted_at IS NULL AND NOT t.done "
                "AND r.recurrence_type IS NOT NULL AND r.end_at IS NULL "
                "ORDER BY md5(t.id::text) LIMIT 1024",
                u=user_id,
            )
        ]
        tags = [str(r[0]) for r in con.run("SELECT id FROM tags WHERE user_id = :u", u=user_id)]
        users = con.run("SELECT count(*) FROM users")[0][0]
    finally:
        con.close()
    return Fixtures(user_id, todos, patch, recurring, tags, int(users))


# --- the functions ---------------------------------------------------------------------------


def function_env(url: str, keys: dict[str, str], name: str) -> dict[str, str]:
    """Production server settings for `name` (functions.json), against the bench database."""
    s = SETTINGS[name]
    return {
        "ENV": "test",
        "RELEASE": "bench",
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": url,
        "THREADS": str(s["threads"]),
        "DB_POOL_SIZE": str(s["pool_size"]),
        "DB_MAX_OVERFLOW": str(s["max_overflow"]),
        **keys,
    }


def make_keys() -> dict[str, str]:
    from common.auth.tokens import generate_dev_keypair

    kid, private_pem, public_pem = generate_dev_keypair(kid_prefix="bench-")
    return {
        "JWT_SIGNING_KEY": private_pem,
        "JWT_SIGNING_KID": kid,
        "JWT_PUBLIC_KEYS": json.dumps({kid: public_pem}),
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One function under functions-framework's gunicorn; its JSON log lines are collected."""

    def __init__(self, name: str, env: dict[str, str], source: Path | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.lines: list[dict[str, Any]] = []
        source = source or ROOT / "functions" / name / "main.py"
        binary = Path(sys.executable).parent / "functions-framework"
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(binary), "--source", str(source), "--target", name, "--port", str(self.port)],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict) and "db_queries" in entry:
                self.lines.append(entry)

    def first_ok(
        self,
        path: str,
        headers: dict[str, str],
        *,
        method: str = "GET",
        body: bytes | None = None,
        timeout: float = 30.0,
    ) -> float:
        """Seconds from process start to the first 200 of `path`."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.002)
        raise TimeoutError(f"{self.name}: no 200 from {path} within {timeout} s")

    def worker_cpu_ms(self) -> float:
        """CPU time (user + system, every thread) the process serving the requests has used:
        gunicorn's worker, the one child of functions-framework's master, from /proc."""
        pid = self.proc.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if len(children) != 1:
            raise RuntimeError(f"{self.name}: {len(children)} gunicorn workers, expected one")
        fields = Path(f"/proc/{children[0]}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
        return (utime + stime) * 1000 / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- capture and floor -------------------------------------------------------------------------


@dataclass
class Capture:
    statements: list[tuple[str, Any]]
    response: Any
    status: int


class Recorder:
    """Records (statement, parameters) of every statement the in-process engine runs."""

    def __init__(self) -> None:
        from sqlalchemy import event

        from common.db import get_engine

        self.on = False
        self.seen: list[tuple[str, Any]] = []

        def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
            if self.on:
                self.seen.append((statement, parameters))

        event.listen(get_engine(), "before_cursor_execute", record)

    def capture(self, call: Callable[[], Any]) -> Capture:
        self.seen = []
        self.on = True
        try:
            response = call()
        finally:
            self.on = False
        body = response.get_json(silent=True)
        return Capture(list(self.seen), body, response.status_code)


_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE)\b")


def floor(
    url: str,
    capture: Capture,
    *,
    fresh: dict[Any, Callable[[], Any]] | None = None,
    reset: tuple[str, tuple[Any, ...]] | None = None,
    runs: int,
    seconds: float,
    pipelined: bool = False,
) -> tuple[list[float], str]:
    """Replay the captured statements on one warm pg8000 connection; latencies in ms.
    `pipelined`: pg8000 as the functions drive it (common.db.engine: each statement in one
    round trip, the placeholder rewrite cached); else pg8000 as it ships (three round
    trips, every statement rewritten on every execution)."""
    import types

    import pg8000.dbapi

    from common.config import get_settings
    from common.db.engine import _startup_params, replaced_methods
    from devtools.database import pg8000_arguments

    con = pg8000.dbapi.connect(  # the session settings of the functions' connections
        **pg8000_arguments(url), startup_params=_startup_params(get_settings())
    )
    rewrite = pg8000.dbapi.convert_paramstyle  # common.db.engine keeps pg8000's as `stock`
    cur = con.cursor()
    if not pipelined:  # pg8000's own statements, BEGIN and COMMIT, on this connection only
        for owner, name in replaced_methods():
            target = cur if isinstance(cur, owner) else con
            function = getattr(owner, name)
            setattr(target, name, types.MethodType(getattr(function, "stock", function), target))
        pg8000.dbapi.convert_paramstyle = getattr(rewrite, "stock", rewrite)  # until the end
    writes = sum(1 for sql, _ in capture.statements if _WRITES.search(sql))
    transaction = writes >= 2
    con.autocommit = not transaction
    fresh = fresh or {}

    def params_for(params: Any) -> Any:
        if not fresh or params is None:
            return params
        new = {old: make() for old, make in fresh.items()}
        if isinstance(params, dict):
            return {k: new.get(v, v) if _hashable(v) else v for k, v in params.items()}
        return type(params)(new.get(v, v) if _hashable(v) else v for v in params)

    def once() -> float:
        if reset is not None:
            cur.execute(*reset)
            if transaction:
                con.commit()
        batch = [(sql, params_for(p)) for sql, p in capture.statements]
        started = time.perf_counter()
        for sql, p in batch:
            cur.execute(sql, p)
            if cur.description is not None:
                cur.fetchall()
        if transaction:
            con.commit()
        return (time.perf_counter() - started) * 1000

    try:
        for _ in range(min(50, runs)):
            once()  # warm: the connection, the plans' pages in shared buffers
        samples: list[float] = []
        stop = time.perf_counter() + seconds
        while len(samples) < runs and time.perf_counter() < stop:
            samples.append(once())
    finally:
        con.close()
        pg8000.dbapi.convert_paramstyle = rewrite
    note = f"{len(capture.statements)} stmt" + (", 1 transaction" if transaction else "")
    return samples, note


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


# --- the routes ----------------------------------------------------------------------------------


@dataclass
class RouteSpec:
    name: str
    function: str
    method: str
    route: str  # the route template, as the request log names it
    path: str  # the driver's path; {item} from `items`, {n} the request number
    status: int
    kind: str = "plain"
    body: dict[str, Any] | None = None
    items: list[list[str]] | None = None  # per driver thread
    etags: list[str] | None = None
    token: bool = True
    fresh: Callable[[Capture], dict[Any, Callable[[], Any]]] | None = None
    reset: Callable[[], tuple[str, tuple[Any, ...]]] | None = None
    warmup: int = 20
    capture_item: str | None = None  # the item the capture run uses
    cleanup: str | None = None  # SQL (parameter :me) removing what the route's runs made


def route_specs(fx: Fixtures, concurrency: int) -> list[RouteSpec]:
    from scripts import seed as seeder

    def per_thread(ids: list[str], threads: int) -> list[list[str]]:
        return [ids[i::threads] for i in range(threads)] if ids else [[]]

    def restore_todo(todo_id: str) -> Callable[[], tuple[str, tuple[Any, ...]]]:
        """Put the todo back as it is now (untimed, before each floor run)."""
        con = seeder.connect(os.environ["DATABASE_URL"])
        row = con.run(
            "SELECT version, deadline, remind_at, done, completed_at, title FROM todos "
            "WHERE id = :i",
            i=todo_id,
        )[0]
        con.close()
        sql = (
            "UPDATE todos SET version = %s, deadline = %s, remind_at = %s, done = %s, "
            "completed_at = %s, title = %s WHERE id = %s"
        )
        return lambda: (sql, (*row, uuid.UUID(todo_id)))

    threads = max(concurrency, 1)
    patch_targets = fx.patch_ids[: max(threads, 1) + 1]
    create_body = {
        "title": "Bench todo",
        "description": "Made by scripts/bench.py",
        "priority": 1,
        "deadline": "2031-01-01T09:00:00Z",
        "tag_ids": fx.tag_ids[:2],
    }
    return [
        RouteSpec(
            "list todos (scope=all, limit 50)",
            "todos",
            "GET",
            "/v1/todos",
            "/v1/todos?scope=all&limit=50",
            200,
        ),
        RouteSpec(
            "get a todo",
            "todos",
            "GET",
            "/v1/todos/<uuid:item_id>",
            "/v1/todos/{item}",
            200,
            items=per_thread(fx.todo_ids, threads),
        ),
        RouteSpec(
            "search todos (q, limit 50)",
            "todos",
            "GET",
            "/v1/todos",
            f"/v1/todos?q={SEARCH_TERM}&limit=50",
            200,
        ),
        RouteSpec(
            "create a todo",
            "todos",
            "POST",
            "/v1/todos",
            "/v1/todos",
            201,
            kind="create",
            body=create_body,
            fresh=lambda cap: _both_forms(uuid.UUID(cap.response["id"]), uuid.uuid4),
            # new todos would sit at the top of the heavy user's lists in later runs
            cleanup=CREATED_TODOS,
        ),
        RouteSpec(
            "patch a todo (If-Match)",
            "todos",
            "PATCH",
            "/v1/todos/<uuid:item_id>",
            "/v1/todos/{item}",
            200,
            kind="patch",
            items=[[tid] for tid, _ in patch_targets[1:]],
            etags=[f'"{v}"' for _, v in patch_targets[1:]],
            reset=restore_todo(patch_targets[0][0]),
            capture_item=patch_targets[0][0],
        ),
        RouteSpec(
            "complete a recurring todo",
            "todos",
            "POST",
            "/v1/todos/<uuid:item_id>/complete",
            "/v1/todos/{item}/complete",
            200,
            items=per_thread(fx.recurring_ids[1:], threads),
            reset=restore_todo(fx.recurring_ids[0]),
            capture_item=fx.recurring_ids[0],
        ),
        RouteSpec(
            "list contacts (limit 50)",
            "contacts",
            "GET",
            "/v1/contacts",
            "/v1/contacts?limit=50",
            200,
        ),
        RouteSpec(
            # the path gets its `since` (a sync token taken just before) in run()
            "changes since a token (10 changes)",
            "todos",
            "GET",
            "/v1/todos/changes",
            "/v1/todos/changes?since=" + SINCE,
            200,
        ),
        RouteSpec(
            "login",
            "auth",
            "POST",
            "/v1/auth/login",
            "/v1/auth/login",
            200,
            body={"email": seeder.HEAVY_EMAIL, "password": seeder.BENCH_PASSWORD},
            token=False,
            fresh=lambda cap: {
                _refresh_hash(cap.response["tokens"]["refresh_token"]): lambda: os.urandom(32)
            },
            warmup=3,
        ),
    ]


# --- change feeds -----------------------------------------------------------------------------

SINCE = "<since>"  # where the changes route's path takes its sync token
FEED_CHANGES = 10  # the todos an incremental round holds


@dataclass
class Snapshot:
    """A full snapshot round of the bench user's todos, page by page, through HTTP."""

    limit: int
    pages: int
    items: int
    total_ms: float
    page_p50: float
    page_p95: float
    statements_max: int
    token: str


def walk_snapshot(server: Server, token: str, limit: int = 500) -> Snapshot:
    """Every page of a todos snapshot round at `limit`, timed one by one on one keep-alive
    connection (what a client syncing for the first time does)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    since = len(server.lines)
    timings: list[float] = []
    items, cursor = 0, None
    started = time.perf_counter()
    while True:
        path = f"/v1/todos/changes?limit={limit}"
        if cursor is not None:
            path += f"&cursor={quote(cursor)}"
        began = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = json.loads(response.read())
        timings.append((time.perf_counter() - began) * 1000)
        if response.status != 200:
            raise RuntimeError(f"snapshot page: {response.status} {body}")
        items += len(body["changes"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    total = (time.perf_counter() - started) * 1000
    conn.close()
    time.sleep(0.2)  # the last log lines
    pages = [e for e in server.lines[since:] if e.get("route") == "/v1/todos/changes"]
    return Snapshot(
        limit=limit,
        pages=len(timings),
        items=items,
        total_ms=total,
        page_p50=statistics.median(timings),
        page_p95=percentile(timings, 95),
        statements_max=max((int(e["db_queries"]) for e in pages), default=-1),
        token=body["sync_token"],
    )


def change_todos(server: Server, token: str, todo_ids: list[str]) -> None:
    """One change each (a new title) to `todo_ids`, through HTTP: what a round then holds."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for n, todo_id in enumerate(todo_ids):
        body = json.dumps({"title": f"Changed by the bench {n} {secrets.token_hex(2)}"})
        conn.request("PATCH", f"/v1/todos/{todo_id}", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"change for the feed: {response.status}")
    conn.close()


def _both_forms(value: uuid.UUID, make: Callable[[], uuid.UUID]) -> dict[Any, Callable[[], Any]]:
    """A fresh-value rule for a UUID, whether the driver got it as a UUID or as text."""
    return {value: make, str(value): lambda: str(make())}


def _refresh_hash(token: str) -> bytes:
    from common.auth.tokens import hash_refresh_token

    return hash_refresh_token(token)


def capture_route(client: Any, recorder: Recorder, spec: RouteSpec, token: str) -> Capture:
    """Run the route once in this process (the floor's statements), as the driver would."""
    headers = {"Authorization": f"Bearer {token}"} if spec.token else {}
    body: Any = spec.body
    if spec.kind == "patch":
        assert spec.capture_item is not None
        headers["If-Match"] = f'"{current_version(spec.capture_item)}"'
        body = {"title": "Renamed by the bench capture"}
    item = spec.capture_item or (spec.items[0][0] if spec.items and spec.items[0] else "")
    path = spec.path.format(item=item, n=0)
    capture = recorder.capture(
        lambda: client.open(path, method=spec.method, json=body, headers=headers)
    )
    if capture.status != spec.status:
        raise RuntimeError(f"capture of {spec.name}: {capture.status} {capture.response}")
    return capture


def clean(url: str, sql: str, me: uuid.UUID) -> None:
    from scripts import seed as seeder

    con = seeder.connect(url)
    try:
        con.run(sql, me=me)
    finally:
        con.close()


def current_version(todo_id: str) -> int:
    from scripts import seed as seeder

    con = seeder.connect(os.environ["DATABASE_URL"])
    try:
        return int(con.run("SELECT version FROM todos WHERE id = :i", i=todo_id)[0][0])
    finally:
        con.close()


def logged(server: Server, since: int, spec: RouteSpec) -> list[dict[str, Any]]:
    return [
        e
        for e in server.lines[since:]
        if e.get("route") == spec.route and e.get("method") == spec.method
    ]


def run_driver(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--drive"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def bench_route(
    spec: RouteSpec,
    server: Server,
    capture: Capture,
    token: str,
    url: str,
    args: argparse.Namespace,
) -> RouteResult:
    def floor_half(pipelined: bool = False) -> tuple[list[float], str]:
        return floor(
            url,
            capture,
            fresh=spec.fresh(capture) if spec.fresh else None,
            reset=spec.reset() if spec.reset else None,
            runs=max(args.requests // 2, 1),
            seconds=args.seconds / 2,
            pipelined=pipelined,
        )

    def argon2() -> list[float]:
        return [bare_argon2_ms(runs=25)] if spec.name == "login" else []

    # The floor (and, for login, a bare argon2 verification) is timed just before and just
    # after the latency pass, so that a change in the machine's load shows in both.
    floor_samples, note = floor_half()
    pipelined_samples = floor_half(pipelined=True)[0]
    argon2_ms = argon2()
    headers = {"Authorization": f"Bearer {token}"} if spec.token else {}
    base_spec = {
        "base": server.base,
        "kind": spec.kind,
        "method": spec.method,
        "path": spec.path,
        "status": spec.status,
        "body": spec.body,
        "headers": headers,
        "items": spec.items,
        "etags": spec.etags,
        "requests": args.requests,
        "seconds": args.seconds,
        "warmup": spec.warmup,
    }

    def served(concurrency: int) -> tuple[Pass, float]:
        """A pass from the driver, and the worker's CPU time per request it served (warm-up
        requests included: they are counted from the request log)."""
        since, cpu = len(server.lines), server.worker_cpu_ms()
        result = Pass.of(run_driver({**base_spec, "concurrency": concurrency}), concurrency)
        cpu = server.worker_cpu_ms() - cpu
        time.sleep(0.2)  # the last log lines
        return result, cpu / max(len(logged(server, since, spec)), 1)

    since = len(server.lines)
    latency, cpu_ms = served(1)
    floor_samples += floor_half()[0]
    argon2_ms += argon2()
    load, cpu_ms_load = None, float("nan")
    if args.concurrency > 1:
        # patch chains need their ETags: the latency pass moved the first thread's on
        if spec.kind == "patch" and spec.etags and spec.items:
            base_spec["etags"] = [f'"{current_version(ids[0])}"' for ids in spec.items]
        load, cpu_ms_load = served(args.concurrency)
    lines = logged(server, since, spec)
    queries = [int(e["db_queries"]) for e in lines]
    db_ms = [float(e["db_ms"]) for e in lines]
    return RouteResult(
        name=spec.name,
        route=f"{spec.method} {spec.route}",
        statements=len(capture.statements),
        logged_max=max(queries, default=-1),
        logged_mean=statistics.mean(queries) if queries else float("nan"),
        db_ms_p50=statistics.median(db_ms) if db_ms else float("nan"),
        floor_p50=statistics.median(floor_samples),
        floor_p99=percentile(floor_samples, 99),
        pipelined_floor_p50=statistics.median(pipelined_samples),
        latency=latency,
        load=load,
        cpu_ms=cpu_ms,
        cpu_ms_load=cpu_ms_load,
        floor_note=note,
        extra={"argon2_ms": statistics.mean(argon2_ms)} if argon2_ms else {},
    )


def bare_argon2_ms(runs: int = 50) -> float:
    """p50 of `PasswordHasher.verify` with the functions' parameters, in this process."""
    from argon2 import PasswordHasher

    from common.auth.passwords import ARGON2_PARAMETERS

    hasher = PasswordHasher.from_parameters(ARGON2_PARAMETERS)
    stored = hasher.hash("correct horse battery staple")
    hasher.verify(stored, "correct horse battery staple")
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        hasher.verify(stored, "correct horse battery staple")
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


# --- cold start and imports ------------------------------------------------------------------

EMPTY_FUNCTION = """import functions_framework


@functions_framework.http
def empty(request):
    return "ok"
"""

COLD_ROUTES: dict[str, tuple[str, str]] = {  # an authenticated route per function
    "auth": ("POST", "/v1/auth/login"),
    "users": ("GET", "/v1/users/me"),
    "todos": ("GET", "/v1/todos?limit=1"),
    "memos": ("GET", "/v1/memos?limit=1"),
    "contacts": ("GET", "/v1/contacts?limit=1"),
    "tags": ("GET", "/v1/tags?limit=1"),
    "notifications": ("GET", "/v1/notifications/devices"),
}


def cold_starts(
    url: str, keys: dict[str, str], token: str, runs: int, empty_source: Path
) -> dict[str, float | None]:
    from scripts import seed as seeder

    results: dict[str, float | None] = {}
    login = json.dumps({"email": seeder.HEAVY_EMAIL, "password": seeder.BENCH_PASSWORD}).encode()
    names = ["empty", *SETTINGS]
    for name in names:
        samples = []
        for _ in range(runs):
            if name == "empty":
                server = Server("empty", {"THREADS": "8"}, source=empty_source)
                method, path, body, headers = "GET", "/", None, {}
            else:
                server = Server(name, function_env(url, keys, name))
                method, path = COLD_ROUTES[name]
                body = login if name == "auth" else None
                headers = {"Content-Type": "application/json"}
                if name != "auth":
                    headers["Authorization"] = f"Bearer {token}"
            try:
                samples.append(server.first_ok(path, headers, method=method, body=body))
            except (RuntimeError, TimeoutError) as exc:
                print(f"  cold start of {name}: {exc}", file=sys.stderr)
                break
            finally:
                server.stop()
        results[name] = statistics.median(samples) * 1000 if samples else None
    return results


IMPORT_PROBE = """
import sys, time
sys.path.insert(0, {source!r})
start = time.perf_counter()
{before}
import {module}
print((time.perf_counter() - start) * 1000)
"""

PROD_ENV = {
    "ENV": "prod",
    "RELEASE": "bench",
    "CLOUD_SQL_INSTANCE": "project:region:instance",
    "DB_USER": "sealy-fn@project.iam",
    "CURSOR_SECRET": "x" * 48,
    "DISPATCH_TOKEN": "y" * 48,
    "FIREBASE_PROJECT_ID": "project",
    "LOG_LEVEL": "INFO",
    # auth and notifications send mail: production gives them a relay and the code secret
    # (functions.json), and they refuse to start without
    "SMTP_HOST": "smtp.example.com",
    "SMTP_USER": "sealy",
    "SMTP_PASSWORD": "z" * 24,
    "SMTP_FROM": "Sealy <no-reply@example.com>",
    "CODE_SECRET": "c" * 48,
}


def import_times(keys: dict[str, str], runs: int, empty_dir: Path) -> dict[str, dict[str, float]]:
    """Best of `runs` fresh interpreters: the module alone, + connector, + Cloud Logging."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEBUG")}
    env.update(PROD_ENV, JWT_PUBLIC_KEYS=keys["JWT_PUBLIC_KEYS"])
    variants = {
        "module": "",
        "+connector": "import google.cloud.sql.connector",
        "+connector+logging": "import google.cloud.sql.connector, google.cloud.logging_v2.handlers",
    }
    results: dict[str, dict[str, float]] = {}
    for name in ["empty", *SETTINGS]:
        source = str(empty_dir) if name == "empty" else str(ROOT / "functions" / name)
        module = "empty_main" if name == "empty" else "main"
        results[name] = {}
        for label, before in variants.items():
            probe = IMPORT_PROBE.format(source=source, before=before, module=module)
            best = float("inf")
            for _ in range(runs):
                done = subprocess.run(
                    [sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True
                )
                if done.returncode != 0:
                    print(f"  import of {name}: {done.stderr.strip()[-300:]}", file=sys.stderr)
                    break
                best = min(best, float(done.stdout.strip().splitlines()[-1]))
            results[name][label] = best
    return results


# --- the report ----------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    from scripts import seed as seeder

    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    con = seeder.connect(os.environ["DATABASE_URL"])
    try:
        server = con.run("SHOW server_version")[0][0]
    finally:
        con.close()
    return {
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "cpus": str(os.cpu_count()),
        "memory": mem,
        "postgresql": server,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def target_mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_table(
    results: list[RouteResult],
    argon2_ms: float,
    cold: dict[str, float | None],
    imports: dict[str, dict[str, float]],
    info: dict[str, str],
    concurrency: int,
) -> None:
    print()
    print(
        f"machine: {info['cpus']} CPUs, {info['memory']}, PostgreSQL {info['postgresql']}, "
        f"Python {info['python']}; load average at the start {info['load average']}"
    )
    print()
    head = (
        f"{'route':<34}{'stmts':>6}{'cpu':>6}{'floor':>8}{'floor1':>8}{'p50':>8}{'ratio':>7}{'ratio1':>7}"
        f"{'p95':>8}{'p99':>8}"
        f"{'@' + str(concurrency) + ' p50':>9}{'p99':>8}{'req/s':>8}  targets"
    )
    print(head)
    print("-" * len(head))
    nan = float("nan")
    for r in results:
        load = r.load
        is_list_or_get = r.name.startswith(("list", "get", "search"))
        checks = [f"stmts {target_mark(r.logged_max <= 3)}"]
        if r.name == "login":
            bare = r.extra.get("argon2_ms", argon2_ms)
            checks.append(
                f"login/argon2 {r.latency.p50 / bare:.2f} "
                f"{target_mark(r.latency.p50 <= 1.3 * bare)}"
            )
        else:
            checks.append(f"p99 {target_mark(r.latency.p99 < 50)}")
            if is_list_or_get:
                checks.append(f"ratio {target_mark(r.ratio <= 2.0)}")
        print(
            f"{r.name:<34}{r.logged_max:>6}{r.cpu_ms:>6.2f}{r.floor_p50:>8.2f}{r.pipelined_floor_p50:>8.2f}"
            f"{r.latency.p50:>8.2f}{r.ratio:>7.2f}{r.latency.p50 / r.pipelined_floor_p50:>7.2f}"
            f"{r.latency.p95:>8.2f}{r.latency.p99:>8.2f}"
            f"{load.p50 if load else nan:>9.2f}{load.p99 if load else nan:>8.2f}"
            f"{(load.rps if load else r.latency.rps):>8.0f}  {', '.join(checks)}"
        )
        if r.latency.failed or (load and load.failed):
            print(f"{'':<34}failures: {r.latency.failed} + {load.failed if load else 0}")
    print(
        "times in ms; cpu: the worker's CPU time per request at concurrency 1 (/proc);\n"
        "floor: p50 of the same statements through pg8000 on one warm connection\n"
        "(as pg8000 ships: three round trips per statement); floor1: the same as the functions\n"
        "drive pg8000: one round trip per statement, the rewrite cached (ratio1 = p50 / floor1);\n"
        "p50/p95/p99 and ratio (p50 / floor) at concurrency 1, where the targets are judged;\n"
        f"@{concurrency}: the same route from {concurrency} connections at once (throughput)"
    )
    login = next((r for r in results if r.name == "login"), None)
    if login is not None and "argon2_ms" in login.extra:
        argon2_ms = login.extra["argon2_ms"]
    print(
        f"bare argon2id verification p50: {argon2_ms:.2f} ms "
        "(this process, around the login pass: the login target's yardstick)"
    )
    if cold:
        print()
        empty = cold.get("empty")
        print(
            f"{'cold start':<16}{'ms':>8}{'x empty':>9}   import (prod, best of 5, ms): "
            f"{'module':>8}{'+connector':>12}{'+logging':>10}"
        )
        for name, ms in cold.items():
            ratio = ms / empty if ms and empty else float("nan")
            mark = "" if name == "empty" else target_mark(ratio <= COLD_GOAL)
            imp = imports.get(name, {})
            print(
                f"{name:<16}{(ms or float('nan')):>8.0f}{ratio:>9.2f} {mark:<7}"
                f"{'':>29}{imp.get('module', float('nan')):>8.0f}"
                f"{imp.get('+connector', float('nan')):>12.0f}"
                f"{imp.get('+connector+logging', float('nan')):>10.0f}"
            )


def print_feeds(snapshot: Snapshot, results: list[RouteResult]) -> None:
    """The change feed's figures: the snapshot round, and the incremental round's p50 against
    the list's (its target: at most the p50 of GET /v1/todos?limit=50)."""
    print()
    print(
        f"todos snapshot round at limit={snapshot.limit}: {snapshot.items} items in "
        f"{snapshot.pages} pages, {snapshot.total_ms / 1000:.2f} s in all; per page p50 "
        f"{snapshot.page_p50:.2f} ms, p95 {snapshot.page_p95:.2f} ms; statements per page "
        f"(request log) at most {snapshot.statements_max}"
    )
    round_ = next((r for r in results if r.name.startswith("changes")), None)
    listed = next((r for r in results if r.name.startswith("list todos")), None)
    if round_ is not None and listed is not None:
        print(
            f"incremental round of {FEED_CHANGES} changes: p50 {round_.latency.p50:.2f} ms "
            f"against the list's {listed.latency.p50:.2f} ms: "
            f"{target_mark(round_.latency.p50 <= listed.latency.p50)}"
        )


# --- issue 18's targets -----------------------------------------------------------------------

CPU_GOALS = {"list todos": 2.5, "get a todo": 1.0}  # ms of worker CPU per request
TAIL_GOAL = 2.0  # p99 / p50 at concurrency 1, every read route
COLD_GOAL = 2.5  # cold start / the empty function's
LOGIN_GOAL = 1.3  # login p50 / one argon2 verification
STATEMENTS_GOAL = 3  # per request, every route
TRIP_DELAY_MS = 5.0  # one way: the database as far away as Cloud SQL may be
TRIP_GOALS = {  # scripts/bench_db_latency.py's route names: p50 in ms at TRIP_DELAY_MS
    "GET /v1/todos/{id}": 15.0,
    "GET /v1/todos (limit 50)": 20.0,
    "PATCH /v1/todos/{id} (If-Match)": 35.0,
}


@dataclass
class Target:
    """One target of issue 18: a figure beside its goal (both at most: ok when ratio <= 1)."""

    name: str
    figure: float
    goal: float
    unit: str

    @property
    def ratio(self) -> float:
        return self.figure / self.goal

    @property
    def ok(self) -> bool:
        return self.ratio <= 1.0  # a figure not measured (nan) is missed


def round_trips(runs: int) -> dict[str, dict[str, float]]:
    """`scripts/bench_db_latency.py` with the database TRIP_DELAY_MS away each way, pg8000 as
    the functions drive it (its `--child` mode, in a scratch database on the bench's
    server): {route: {"p50": ms, "trips": round trips per request}}; {} when it fails."""
    from devtools import database as db

    with db.fresh_database("sealy_latency") as url:
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "bench_db_latency.py"),
                "--runs",
                str(runs),
                "--child",
                "pipelined",
                url,
                str(TRIP_DELAY_MS),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
        )
    if done.returncode != 0:
        print(f"  round trips: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return {}
    found: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def targets(
    results: list[RouteResult],
    argon2_ms: float,
    cold: dict[str, float | None],
    trips: dict[str, dict[str, float]] | None,
) -> list[Target]:
    """Every target of issue 18 the run measured (docs/benchmarks.md, "Targets")."""
    nan = float("nan")
    found: list[Target] = []
    for prefix, goal in CPU_GOALS.items():
        for r in results:
            if r.name.startswith(prefix):
                found.append(Target(f"CPU per request, {r.name}", r.cpu_ms, goal, "ms"))
    for r in results:
        if r.route.startswith("GET "):
            found.append(Target(f"p99 / p50, {r.name}", r.tail, TAIL_GOAL, "x"))
    if trips is not None:  # {} when the script failed: every round-trip target missed
        for route, goal in TRIP_GOALS.items():
            p50 = trips.get(route, {}).get("p50", nan)
            found.append(Target(f"{route} at {TRIP_DELAY_MS:g} ms each way", p50, goal, "ms"))
    empty = cold.get("empty")
    ratios = {n: ms / empty for n, ms in cold.items() if n != "empty" and ms and empty}
    if ratios:
        worst = max(ratios, key=lambda n: ratios[n])
        found.append(Target(f"cold start / empty, worst ({worst})", ratios[worst], COLD_GOAL, "x"))
    login = next((r for r in results if r.name == "login"), None)
    if login is not None:
        bare = login.extra.get("argon2_ms", argon2_ms)
        ratio = login.latency.p50 / bare
        found.append(Target("login / one argon2 verification", ratio, LOGIN_GOAL, "x"))
    if results:
        worst_route = max(results, key=lambda r: r.logged_max)
        found.append(
            Target(
                f"statements per request, worst ({worst_route.name})",
                worst_route.logged_max,
                STATEMENTS_GOAL,
                "",
            )
        )
    return found


def print_trips(trips: dict[str, dict[str, float]]) -> None:
    print()
    print(
        f"the database {TRIP_DELAY_MS:g} ms away each way (scripts/bench_db_latency.py, "
        "pg8000 as the functions drive it): p50 ms (round trips per request)"
    )
    for route, r in trips.items():
        print(f"  {route:<44}{r['p50']:>8.1f} ({r['trips']:.0f})")


def print_targets(found: list[Target]) -> None:
    print()
    print(f"targets (issue 18); load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    head = f"{'target':<64}{'figure':>10}{'goal':>10}{'ratio':>8}  "
    print(head)
    print("-" * (len(head) + 6))
    for t in found:
        print(
            f"{t.name:<64}{t.figure:>8.2f}{t.unit:<2}{t.goal:>8.2f}{t.unit:<2}{t.ratio:>8.2f}  "
            f"{target_mark(t.ok)}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url")
    parser.add_argument("--seed", action="store_true", help="create, migrate and seed first")
    parser.add_argument("--scale", type=float, default=1.0, help="seed scale with --seed")
    parser.add_argument("--requests", type=int, default=1000, help="per pass (and floor)")
    parser.add_argument("--seconds", type=float, default=10.0, help="at most, per pass")
    parser.add_argument("--concurrency", type=int, default=4, help="of the load pass")
    parser.add_argument("--routes", help="comma-separated name prefixes (default: all)")
    parser.add_argument("--no-cold", action="store_true", help="skip cold starts and imports")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument(
        "--no-trips", action="store_true", help="skip the database 5 ms away (round trips)"
    )
    parser.add_argument("--trip-runs", type=int, default=20, help="requests per route there")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "results.json")
    args = parser.parse_args(argv)
    if args.drive:
        print(json.dumps(drive(json.loads(sys.stdin.read()))))
        return

    with bench_database(args) as url:
        keys = make_keys()
        os.environ.update(
            {"ENV": "test", "RELEASE": "bench", "LOG_LEVEL": "WARNING", "DATABASE_URL": url},
            **keys,
        )
        os.environ.pop("LOG_HANDLER", None)
        run(url, keys, args)


def run(url: str, keys: dict[str, str], args: argparse.Namespace) -> None:
    import logging

    from common.auth.tokens import issue_access_token
    from devtools.gateway import create_gateway

    fx = load_fixtures(url)
    clean(url, CREATED_TODOS, fx.user_id)  # what an interrupted earlier run may have left
    fx = load_fixtures(url)
    info = machine()
    specs = route_specs(fx, args.concurrency)
    if args.routes:
        wanted = [w.strip() for w in args.routes.split(",")]
        specs = [s for s in specs if any(s.name.startswith(w) for w in wanted)]
    from werkzeug.test import Client

    client = Client(create_gateway(sorted({s.function for s in specs})))
    logging.getLogger().setLevel(logging.WARNING)  # the in-process capture logs nothing
    recorder = Recorder()
    argon2_ms = bare_argon2_ms()
    servers: dict[str, Server] = {}
    results: list[RouteResult] = []
    snapshot: Snapshot | None = None
    try:
        for name in sorted({s.function for s in specs}):
            servers[name] = Server(name, function_env(url, keys, name))
        for name, server in servers.items():
            server.first_ok(f"/v1/{name}/health", {})
        for spec in specs:
            token, _ = issue_access_token(user_id=fx.user_id)
            if SINCE in spec.path:
                print("changes: a full snapshot of todos at limit=500 ...", flush=True)
                snapshot = walk_snapshot(servers[spec.function], token)
                change_todos(servers[spec.function], token, fx.todo_ids[:FEED_CHANGES])
                spec = replace(spec, path=spec.path.replace(SINCE, quote(snapshot.token)))
            capture = capture_route(client, recorder, spec, token)
            print(f"{spec.name}: {len(capture.statements)} statements; running ...", flush=True)
            results.append(bench_route(spec, servers[spec.function], capture, token, url, args))
            if spec.cleanup:
                clean(url, spec.cleanup, fx.user_id)
    finally:
        for server in servers.values():
            server.stop()
    cold: dict[str, float | None] = {}
    imports: dict[str, dict[str, float]] = {}
    if not args.no_cold:
        print("cold starts and imports ...", flush=True)
        token, _ = issue_access_token(user_id=fx.user_id)
        with tempfile.TemporaryDirectory(prefix="sealy-empty-fn-") as tmp:
            empty = Path(tmp) / "main.py"
            empty.write_text(EMPTY_FUNCTION)
            (Path(tmp) / "empty_main.py").write_text(EMPTY_FUNCTION)
            cold = cold_starts(url, keys, token, args.cold_runs, empty)
            imports = import_times(keys, 5, Path(tmp))
    trips = None
    if not args.no_trips:
        print(f"the database {TRIP_DELAY_MS:g} ms away ...", flush=True)
        trips = round_trips(args.trip_runs)
    print_table(results, argon2_ms, cold, imports, info, args.concurrency)
    if snapshot is not None:
        print_feeds(snapshot, results)
    if trips:
        print_trips(trips)
    found = targets(results, argon2_ms, cold, trips)
    print_targets(found)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": info,
                "concurrency": args.concurrency,
                "argon2_ms": argon2_ms,
                "routes": [{**asdict(r), "ratio": r.ratio} for r in results],
                "snapshot": asdict(snapshot) if snapshot is not None else None,
                "cold_start_ms": cold,
                "import_ms": imports,
                "round_trips": trips,
                "targets": [{**asdict(t), "ratio": t.ratio, "ok": t.ok} for t in found],
                "load_average_end": os.getloadavg(),
                "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                "run_id": secrets.token_hex(4),
            },
            indent=2,
        )
    )
    print(f"\nresults: {args.json}")


if __name__ == "__main__":
    main()
