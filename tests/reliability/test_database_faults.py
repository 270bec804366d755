"""A database outage under a write load: the PostgreSQL server is stopped (fast shutdown:
open connections are cut) and started again while threads create and patch todos through a
real server (functions-framework's gunicorn running the todos function).

- during the outage every response is a 503 problem with Retry-After: no 500, no hang past
  the configured timeouts (DB_CONNECT_TIMEOUT_S, DB_POOL_TIMEOUT_S, statement timeout);
- within 5 s of the server's return, requests succeed again, without restarting anything;
- afterwards every write acknowledged with a 2xx is in the database exactly once.

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
# The longest a request may take while the database is gone: a connection attempt (pg8000's
# socket timeout is the statement timeout plus the connect timeout), a wait for the pool, and
# slack for a loaded machine. A hang would run into the client's 30 s timeout instead.
NO_HANG_S = STATEMENT_TIMEOUT_MS / 1000 + CONNECT_TIMEOUT_S + POOL_TIMEOUT_S + 3
THREADS = 4
MAX_REQUESTS = 3_000  # the load stops at this count or when told, whichever comes first
OUTAGE_S = 3.0
RECOVERY_S = 5.0


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
        time.sleep(1.0)  # the load runs against a healthy database first
        db.stop_embedded(database.server)
        down = time.monotonic()
        time.sleep(OUTAGE_S)
        returning = time.monotonic()
        db.restart_embedded(database.server)
        back = time.monotonic()
        time.sleep(RECOVERY_S + 1.5)
    assert all(not t.is_alive() for t in load.threads), "a load thread hung"

    sent = sorted(load.sent, key=lambda s: s.started)
    assert 0 not in {s.status for s in sent}, "a request got no HTTP answer"
    assert 500 not in {s.status for s in sent}
    slowest = max(s.ended - s.started for s in sent)
    assert slowest < NO_HANG_S, f"a request took {slowest:.1f} s"

    # Entirely inside the outage: every answer is a 503 problem with Retry-After.
    outage = [s for s in sent if s.started >= down and s.ended <= returning]
    assert len(outage) >= 20, "too few requests fell inside the outage to show anything"
    for s in outage:
        assert s.status == 503, s
        assert int(s.headers["Retry-After"]) > 0
        assert s.headers["Content-Type"] == "application/problem+json"
        assert s.body["status"] == 503
        assert set(s.body) == {"type", "title", "status", "detail", "request_id"}

    # Back within 5 s of the server's return, with no restart of the function.
    late = [s for s in sent if s.started >= back + RECOVERY_S]
    assert late, "no request was sent after the recovery window"
    assert {s.status for s in late} <= {200, 201}, Counter(s.status for s in late)
    first_ok = min(s.ended for s in sent if s.started >= back and s.status in (200, 201))
    assert first_ok - back < RECOVERY_S

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
    around = Counter(s.status for s in sent if s.ended > down and s.started < back + RECOVERY_S)
    print(
        f"\noutage {OUTAGE_S:.0f} s: {len(outage)} requests entirely inside it, statuses "
        f"{dict(statuses)}; {sum(around.values())} requests overlapping the outage and its "
        f"recovery window, statuses {dict(around)}; first success {first_ok - back:.2f} s "
        f"after the restart; {len(sent)} requests in all; acknowledged writes verified: "
        f"{verified} ({len(load.created)} creates, {len(load.patched)} patches)"
    )
