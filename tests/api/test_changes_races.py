"""Change feeds under concurrency (api-v1 §10): no change is ever lost, however transactions
interleave.

- Commit order: a transaction that took its id first and commits last is not skipped by a
  client that synced in between (held open on a side connection: deterministic).
- A write racing a share: the item written while it is being shared reaches the new sharee
  as written (the write's audience is read after the share committed).
- Writers and a paging client at once (barrier threads, 20 tries): after the writers stop,
  one more round makes every replica exact.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from werkzeug.test import Client

from tests.api.replicas import Replica, assert_exact
from tests.api.test_changes import created, ops, patched, share
from tests.factories import Account, register

pytestmark = pytest.mark.api

TRIES = 20


def xid_of(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())


def logged_xid(engine: Engine, user: Account, item: dict[str, Any]) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT xid FROM feed_entries WHERE user_id = :u AND item_id = :i"),
                {"u": user.id, "i": item["id"]},
            ).scalar_one()
        )


def rename_on_the_side(side: Connection, item: dict[str, Any], title: str) -> None:
    """A write by another transaction, left open: the row and the owner's feed lock held."""
    side.execute(
        text(
            "UPDATE todos SET title = :t, version = version + 1, updated_at = now() WHERE id = :i"
        ),
        {"t": title, "i": item["id"]},
    )


def test_a_transaction_that_commits_after_a_later_one_is_not_skipped(
    client: Client, engine: Engine
) -> None:
    me = register(client)
    early = created(client, me, "/v1/todos", title="early")
    late = created(client, me, "/v1/todos", title="late")
    replica = Replica(client, me, "todos", limit=1)
    replica.sync()
    with engine.connect() as side:
        side.begin()
        rename_on_the_side(side, early, "written first, committed last")
        first = xid_of(side)
        patched(client, me, f"/v1/todos/{late['id']}", title="written second, committed first")
        # The later transaction has the larger id: a client that kept "the largest id seen"
        # would pass the first one by.
        assert logged_xid(engine, me, late) > first
        assert ops(replica.sync()) == {late["id"]: "upsert"}  # between the two commits
        side.commit()
    # (`late` may come again: this round starts below the transaction that was open)
    assert ops(replica.sync())[early["id"]] == "upsert"
    assert replica.items[early["id"]]["title"] == "written first, committed last"
    assert_exact(replica)


def waiting(engine: Engine, thread: threading.Thread) -> None:
    """Until `thread` has finished or one of our server sessions waits for a lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with engine.connect() as conn:
        while thread.is_alive() and not conn.execute(query).scalar_one():
            conn.rollback()
            time.sleep(0.005)  # polling a condition, not waiting for time to pass


def test_an_item_written_while_it_is_being_shared_reaches_the_new_sharee(
    client: Client, gateway: Any, engine: Engine
) -> None:
    """The write comes first and stays open; the share is granted meanwhile. Whenever the
    sharee syncs, its replica ends with the item as written: the grant waits for the write
    (the owner's feed lock), so its entries are read after the write committed."""
    for _ in range(5):
        owner, friend = register(client), register(client)
        todo = created(client, owner, "/v1/todos", title="before")
        replica = Replica(client, friend, "todos")
        replica.sync()
        granted: list[Any] = []
        body = {"email": friend.email, "permission": "read"}
        request = (f"/v1/todos/{todo['id']}/shares", body, owner.headers)
        with engine.connect() as side:
            side.begin()
            rename_on_the_side(side, todo, "written while being shared")
            grant = threading.Thread(target=_put, args=(gateway, request, granted))
            grant.start()
            waiting(engine, grant)
            if not grant.is_alive():  # it did not wait: sync between the two commits
                replica.sync()
            side.commit()
        grant.join()
        assert granted[0].status_code == 200
        replica.sync()
        assert replica.items[todo["id"]]["title"] == "written while being shared"
        assert_exact(replica)


# --- writers while a client pages ---------------------------------------------------------------


def test_replicas_are_exact_after_concurrent_writers_stop(client: Client, gateway: Any) -> None:
    rng = random.Random(2026)
    for _ in range(TRIES):
        owner, friend = register(client), register(client)
        roots = [created(client, owner, "/v1/todos", title=f"root {i}") for i in range(3)]
        for root in roots[:2]:
            share(client, owner, f"/v1/todos/{root['id']}", friend, permission="write")
        mine = [created(client, friend, "/v1/todos", title="friend's")]
        readers = [Replica(client, friend, "todos", limit=2), Replica(client, owner, "todos", 3)]
        for replica in readers:
            replica.sync()
        plans = _writers(rng, owner, friend, roots, mine)
        barrier = threading.Barrier(len(plans) + 1)
        failures: list[str] = []
        threads = [
            threading.Thread(target=_write, args=(gateway, barrier, plan, failures))
            for plan in plans
        ]
        for thread in threads:
            thread.start()
        reading = Client(gateway)
        paging = [Replica(reading, r.who, r.collection, r.limit, r.items, r.token) for r in readers]
        barrier.wait()
        while any(thread.is_alive() for thread in threads):
            for replica in paging:
                replica.sync()
        for thread in threads:
            thread.join()
        assert failures == [], failures
        for replica in paging:
            replica.sync()  # one more round after the writers stopped
            assert_exact(replica)


def _put(gateway: Any, request: tuple[str, Any, dict[str, str]], out: list[Any]) -> None:
    url, body, headers = request
    out.append(Client(gateway).put(url, json=body, headers=headers))


def _write(
    gateway: Any,
    barrier: threading.Barrier,
    steps: list[Callable[[Client], Any]],
    failures: list[str],
) -> None:
    worker = Client(gateway)
    barrier.wait()
    for step in steps:
        response = step(worker)
        if response.status_code >= 500:
            failures.append(response.get_data(as_text=True))


def _writers(
    rng: random.Random,
    owner: Account,
    friend: Account,
    roots: list[dict[str, Any]],
    mine: list[dict[str, Any]],
) -> list[list[Callable[[Client], Any]]]:
    """Three writers: the owner edits and builds sub-todos, the friend edits what it may,
    the owner grants, widens, narrows and revokes shares."""

    def edit(who: Account, item: dict[str, Any]) -> Callable[[Client], Any]:
        title = f"edit {rng.random():.6f}"
        return lambda c: c.patch(
            f"/v1/todos/{item['id']}", json={"title": title}, headers=who.headers
        )

    def sub(parent: dict[str, Any]) -> Callable[[Client], Any]:
        return lambda c: c.post(
            "/v1/todos", json={"title": "sub", "parent_id": parent["id"]}, headers=owner.headers
        )

    def move(item: dict[str, Any], parent: dict[str, Any] | None) -> Callable[[Client], Any]:
        body = {"parent_id": parent["id"] if parent else None}
        return lambda c: c.patch(f"/v1/todos/{item['id']}", json=body, headers=owner.headers)

    def grant(item: dict[str, Any], permission: str) -> Callable[[Client], Any]:
        body = {"email": friend.email, "permission": permission, "recursive": rng.random() < 0.7}
        return lambda c: c.put(f"/v1/todos/{item['id']}/shares", json=body, headers=owner.headers)

    def revoke(item: dict[str, Any]) -> Callable[[Client], Any]:
        return lambda c: c.delete(
            f"/v1/todos/{item['id']}/shares/{friend.id}", headers=owner.headers
        )

    r0, r1, r2 = roots
    return [
        [edit(owner, r0), sub(r0), move(r2, r0), edit(owner, r2), sub(r1), move(r2, None)],
        [edit(friend, r0), edit(friend, r1), edit(friend, mine[0]), edit(friend, r0)],
        [grant(r2, "read"), revoke(r1), grant(r1, "write"), grant(r0, "read"), revoke(r2)],
    ]
