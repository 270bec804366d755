"""A database outage under a write load: the PostgreSQL server is stopped (fast shutdown:
open connections are cut) and started again while threads create and patch todos through a
real server (functions-framework's gunicorn running the todos function).

- during the outage every response is a 503 problem with Retry-After: no 500, and every
  request gets an answer (the configured timeouts, DB_CONNECT_TIMEOUT_S, DB_POOL_TIMEOUT_S
  and the statement timeout, end it; a hang would run into the client's 30 s timeout);
- once the server is back, requests succeed again without restarting anything, and from
  the first success on every request succeeds;
- afterwards every write acknowledged with a 2xx is in the database exactly once.

The test moves on by what it has seen, never by waiting a fixed time: the load first has
writes acknowledged, the database goes down until enough requests have been answered during
the outage, and comes back until enough have succeeded after it. (Each wait is bounded, so a
server that never does what is awaited fails the test instead of hanging it.) How long the
slowest request took is printed, not asserted.

The server is an embedded PostgreSQL this module starts and controls, never the shared one.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from common.auth.tokens import issue_access_token
from devtools import database as db
from tests.servers import ROOT, function_process

pytestmark = pytest.mark.api

CONNECT_TIMEOUT_S = 1
POOL_TIMEOUT_S = 1
STATEMENT_TIMEOUT_MS = 2000
THREADS = 4
MAX_REQUESTS = 3_000  # the load stops at this count or when told, whichever comes first
HEALTHY_WRITES = 5  # acknowledged creates before the outage
DURING_OUTAGE = 20  # requests answered entirely inside the outage before it ends
AFTER_RECOVERY = 20  # requests succeeded after the return before the load stops
WAIT_LIMIT_S = 120  # bounds each wait: only a server that never gets there waits this long


@dataclass
class Sent:
    method: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Database:
    server: Any
    url: str


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    folder = Path(tempfile.mkdtemp(prefix="sealy-faults-pg-"))
    server = db.start_embedded(folder / "data", delete_on_exit=True)
    admin = db.embedded_url(server)
    db.create_database(admin, "sealy")
    url = db.with_database(admin, "sealy")
    db.migrate(url)
    yield Database(server, url)
    db.restart_embedded(server)  # running again, so its exit handler can clean up


def new_user(url: str) -> tuple[uuid.UUID, str]:
    """A user row, and an access token for it (the auth function is not in this server)."""
    user_id = uuid.uuid4()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO users (id, username) VALUES (:id, 'load')"), {"id": user_id}
            )
    finally:
        engine.dispose()
    token, _ = issue_access_token(user_id=user_id)
    return user_id, token


class Load:
    """Threads that create a todo, then patch it with its ETag, again and again."""

    def __init__(self, base: str, token: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.token = token
        self.sent: list[Sent] = []
        self.created: dict[str, str] = {}  # acknowledged creates: title -> id
        self.patched: dict[str, str] = {}  # acknowledged patches: id -> new title
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.work, args=(n,)) for n in range(THREADS)]

    def request(self, method: str, path: str, body: dict[str, Any], **headers: str) -> Sent:
        conn = http.client.HTTPConnection(*self.address, timeout=30)
        started = time.monotonic()
        try:
            conn.request(
                method,
                path,
                body=json.dumps(body),
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                    **headers,
                },
            )
            response = conn.getresponse()
            raw = response.read()
            sent = Sent(
                method,
                started,
                time.monotonic(),
                response.status,
                dict(response.headers),
                json.loads(raw) if raw else {},
            )
        except (OSError, http.client.HTTPException):
            sent = Sent(method, started, time.monotonic(), 0, {}, {})
        finally:
            conn.close()
        with self.lock:
            self.sent.append(sent)
        return sent

    def work(self, n: int) -> None:
        i = 0
        while not self.stop.is_set() and len(self.sent) < MAX_REQUESTS:
            title = f"load-{n}-{i}-{uuid.uuid4().hex[:8]}"
            i += 1
            created = self.request("POST", "/v1/todos", {"title": title})
            if created.status == 201:
                item = created.body["id"]
                with self.lock:
                    self.created[title] = item
                patch = {"title": f"{title}~p"}
                etag = created.headers["ETag"]
                patched = self.request("PATCH", f"/v1/todos/{item}", patch, **{"If-Match": etag})
                if patched.status == 200:
                    with self.lock:
                        self.patched[item] = patch["title"]
            time.sleep(0.01)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def count(self, matches: Any) -> int:
        with self.lock:
            return sum(1 for sent in self.sent if matches(sent))

    def wait_for(self, what: str, enough: Any) -> None:
        """Until `enough()` holds (checked every 10 ms), at most WAIT_LIMIT_S."""
        deadline = time.monotonic() + WAIT_LIMIT_S
        while not enough():
            assert time.monotonic() < deadline, f"never saw {what}"
            assert len(self.sent) < MAX_REQUESTS, f"the load ended before {what}"
            time.sleep(0.01)


def test_an_outage_is_503_then_recovers_and_no_acknowledged_write_is_lost(
    database: Database,
) -> None:
    user_id, token = new_user(database.url)
    env = {
        "DATABASE_URL": database.url,
        "DB_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S),
        "DB_POOL_TIMEOUT_S": str(POOL_TIMEOUT_S),
        "DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
    }
    source = ROOT / "functions" / "todos" / "main.py"
    with (
        function_process(source, "todos", env, wait_path="/v1/todos/health") as base,
        Load(base, token) as load,
    ):
        load.wait_for("writes before the outage", lambda: len(load.created) >= HEALTHY_WRITES)
        db.stop_embedded(database.server)
        down = time.monotonic()
        load.wait_for(
            "answers during the outage",
            lambda: load.count(lambda s: s.started >= down) >= DURING_OUTAGE,
        )
        returning = time.monotonic()
        db.restart_embedded(database.server)
        back = time.monotonic()
        load.wait_for(
            "successes after the return",
            lambda: (
                load.count(lambda s: s.started >= back and s.status in (200, 201)) >= AFTER_RECOVERY
            ),
        )
    assert all(not t.is_alive() for t in load.threads), "a load thread hung"

    sent = sorted(load.sent, key=lambda s: s.started)
    assert 0 not in {s.status for s in sent}, "a request got no HTTP answer"
    assert 500 not in {s.status for s in sent}

    # Entirely inside the outage: every answer is a 503 problem with Retry-After.
    outage = [s for s in sent if s.started >= down and s.ended <= returning]
    assert len(outage) >= DURING_OUTAGE - THREADS  # those in flight when it ended excepted
    for s in outage:
        assert s.status == 503, s
        assert int(s.headers["Retry-After"]) > 0
        assert s.headers["Content-Type"] == "application/problem+json"
        assert s.body["status"] == 503
        assert set(s.body) == {"type", "title", "status", "detail", "request_id"}

    # Back without restarting anything: from the first success after the return, every
    # request that started later succeeded.
    first_ok = min(s.ended for s in sent if s.started >= back and s.status in (200, 201))
    late = [s for s in sent if s.started >= first_ok]
    assert late, "no request was sent after the first success"
    assert {s.status for s in late} <= {200, 201}, Counter(s.status for s in late)

    # Every acknowledged write is in the database exactly once.
    engine = create_engine(database.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id::text, title FROM todos WHERE user_id = :u"), {"u": user_id}
            ).all()
    finally:
        engine.dispose()
    titles = Counter(title for _, title in rows)
    by_id = {item: title for item, title in rows}
    assert max(titles.values()) == 1, "a title was written twice"
    for title, item in load.created.items():
        assert by_id.get(item) in (title, f"{title}~p"), (title, item)
        assert titles[title] + titles[f"{title}~p"] == 1
    for item, title in load.patched.items():
        assert by_id[item] == title
    verified = len(load.created) + len(load.patched)

    statuses = Counter(s.status for s in outage)
    around = Counter(s.status for s in sent if s.ended > down and s.started < first_ok)
    slowest = max(s.ended - s.started for s in sent)
    print(
        f"\noutage {returning - down:.1f} s: {len(outage)} requests entirely inside it, "
        f"statuses {dict(statuses)}; {sum(around.values())} requests overlapping the outage "
        f"and the recovery, statuses {dict(around)}; first success {first_ok - back:.2f} s "
        f"after the restart; slowest request {slowest:.2f} s; {len(sent)} requests in all; "
        f"acknowledged writes verified: {verified} ({len(load.created)} creates, "
        f"{len(load.patched)} patches)"
    )
