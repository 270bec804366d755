"""Change feeds against the routes, on random histories (api-v1 §10).

Several users act at random: they create, edit, complete, move and delete todos, memos,
contacts and tags, share them (read or write, todos with and without `recursive`, some with
an expiry), widen and revoke shares, let shares lapse (time passes, with no write), make
memos secret, delete tags, and one of them erases their account. Every few steps each user
syncs a replica of every collection from its feeds alone, one user with pages of 1, one of
7 and one of the maximum, and each replica must equal what the list and single-GET routes
show that user, field for field. The routes are the oracle: the history needs no model of
who sees what, only enough bookkeeping to pick operations that mean something.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from werkzeug.test import Client

from common.schemas.changes import MAX_LIMIT
from tests.api.replicas import COLLECTIONS, Replica, assert_exact, lapse
from tests.factories import Account, register

pytestmark = pytest.mark.api

STEPS = 90
CHECK_EVERY = 6
ERASE_AT = STEPS // 2
PAGE_SIZES = (1, 7, MAX_LIMIT, 7)  # the last user is the one who erases their account
SHAREABLE = ("todos", "memos", "contacts")


@dataclass
class History:
    """What the random history needs to pick its next operation."""

    rng: random.Random
    client: Client
    engine: Engine
    users: list[Account]
    owned: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # user -> coll -> ids
    expiring: set[tuple[str, str, str]] = field(default_factory=set)  # (coll, item, sharee)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.owned = {u.id: {c: [] for c in COLLECTIONS} for u in self.users}

    def pick(self, values: list[Any]) -> Any:
        return self.rng.choice(values) if values else None

    def send(self, who: Account, method: str, path: str, body: Any = None) -> Any:
        response = self.client.open(path, method=method, json=body, headers=who.headers)
        self.log.append(f"{who.id[:8]} {method} {path} {body} -> {response.status_code}")
        assert response.status_code < 500, (self.log[-1], response.get_data(as_text=True))
        return response

    # --- operations (each picks its own arguments) --------------------------------------

    def create(self, who: Account) -> None:
        collection = self.pick(list(COLLECTIONS))
        mine = self.owned[who.id]
        tags = mine["tags"][-3:]
        body: dict[str, Any]
        if collection == "tags":
            body = {"name": f"tag {self.rng.randrange(10**6)}"}
        elif collection == "todos":
            body = {"title": f"todo {self.rng.randrange(100)}", "tag_ids": tags[:1]}
            if mine["todos"] and self.rng.random() < 0.5:
                body["parent_id"] = self.pick(mine["todos"])
            if self.rng.random() < 0.3:
                start = datetime(2030, 1, 1, 9, tzinfo=UTC).isoformat()
                body["deadline"] = start
                body["recurrence"] = {"type": "daily", "interval": 1, "start_at": start}
        elif collection == "memos":
            body = {
                "content": "memo",
                "secret": self.rng.random() < 0.3,
                "obfuscated": self.rng.random() < 0.3,
                "tag_ids": tags[-1:],
            }
        else:
            body = {"name": "contact", "numbers": ["1", "2"][: self.rng.randrange(3)]}
        response = self.send(who, "POST", f"/v1/{collection}", body)
        if response.status_code == 201:
            mine[collection].append(response.get_json()["id"])

    def edit(self, who: Account) -> None:
        collection = self.pick(list(SHAREABLE))
        item = self.pick(self.everyone(collection))
        if item is None:
            return
        n = self.rng.randrange(1000)
        body = {
            "todos": {"title": f"edited {n}", "priority": n % 5},
            "memos": {"content": f"edited {n}", "note": None if n % 2 else "n"},
            "contacts": {"name": f"edited {n}", "emails": [f"e{n}@example.com"]},
        }[collection]
        self.send(who, "PATCH", f"/v1/{collection}/{item}", body)

    def complete(self, who: Account) -> None:
        item = self.pick(self.everyone("todos"))
        if item is not None:
            action = "complete" if self.rng.random() < 0.7 else "reopen"
            self.send(who, "POST", f"/v1/todos/{item}/{action}")

    def move(self, who: Account) -> None:
        todos = self.owned[who.id]["todos"]
        item = self.pick(todos)
        if item is not None:
            parent = self.pick(todos) if self.rng.random() < 0.7 else None
            self.send(who, "PATCH", f"/v1/todos/{item}", {"parent_id": parent})

    def delete(self, who: Account) -> None:
        collection = self.pick(list(COLLECTIONS))
        item = self.pick(self.owned[who.id][collection])
        if item is not None and self.rng.random() < 0.6:
            self.send(who, "DELETE", f"/v1/{collection}/{item}")
            self.owned[who.id][collection].remove(item)

    def share(self, who: Account) -> None:
        collection = self.pick(list(SHAREABLE))
        item = self.pick(self.owned[who.id][collection])
        friend = self.pick([u for u in self.users if u.id != who.id])
        if item is None or friend is None:
            return
        body: dict[str, Any] = {
            "email": friend.email,
            "permission": self.pick(["read", "write"]),
        }
        if collection == "todos":
            body["recursive"] = self.rng.random() < 0.7
        expires = self.rng.random() < 0.4
        if expires:
            body["expires_at"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        response = self.send(who, "PUT", f"/v1/{collection}/{item}/shares", body)
        key = (collection, item, friend.id)
        if response.status_code == 200:
            (self.expiring.add if expires else self.expiring.discard)(key)

    def revoke(self, who: Account) -> None:
        collection = self.pick(list(SHAREABLE))
        item = self.pick(self.owned[who.id][collection])
        friend = self.pick([u for u in self.users if u.id != who.id])
        if item is not None and friend is not None:
            self.send(who, "DELETE", f"/v1/{collection}/{item}/shares/{friend.id}")
            self.expiring.discard((collection, item, friend.id))

    def expire(self, who: Account) -> None:
        key = self.pick(sorted(self.expiring))
        if key is not None:
            self.expiring.discard(key)
            lapsed = lapse(self.engine, *key)
            self.log.append(f"time passes: {key} lapsed={lapsed}")

    def secret(self, who: Account) -> None:
        item = self.pick(self.owned[who.id]["memos"])
        if item is not None:
            flag = self.rng.random() < 0.5
            response = self.send(who, "PATCH", f"/v1/memos/{item}", {"secret": flag})
            if flag and response.status_code == 200:
                self.expiring = {k for k in self.expiring if k[1] != item}

    def tag(self, who: Account) -> None:
        collection = self.pick(list(SHAREABLE))
        item = self.pick(self.owned[who.id][collection])
        tag = self.pick(self.owned[who.id]["tags"])
        if item is not None and tag is not None:
            method = self.pick(["PUT", "DELETE"])
            self.send(who, method, f"/v1/{collection}/{item}/tags/{tag}")

    def erase(self, who: Account) -> None:
        response = self.send(who, "DELETE", "/v1/users/me", {"password": who.password})
        assert response.status_code == 204
        self.users.remove(who)
        self.expiring = {k for k in self.expiring if k[2] != who.id}
        self.expiring = {k for k in self.expiring if k[1] not in self.all_of(who)}

    def everyone(self, collection: str) -> list[str]:
        return [i for u in self.users for i in self.owned[u.id][collection]]

    def all_of(self, who: Account) -> set[str]:
        return {i for ids in self.owned[who.id].values() for i in ids}


WEIGHTS: dict[Callable[[History, Account], None], int] = {
    History.create: 8,
    History.edit: 5,
    History.complete: 2,
    History.move: 2,
    History.delete: 2,
    History.share: 5,
    History.revoke: 2,
    History.expire: 3,
    History.secret: 3,
    History.tag: 2,
}


@pytest.mark.parametrize("seed", [7, 2026])
def test_replicas_built_from_feeds_equal_the_routes(
    client: Client, engine: Engine, seed: int
) -> None:
    users = [register(client) for _ in PAGE_SIZES]
    history = History(random.Random(seed), client, engine, list(users))
    replicas = {
        (u.id, c): Replica(client, u, c, limit)
        for u, limit in zip(users, PAGE_SIZES, strict=True)
        for c in COLLECTIONS
    }
    operations, weights = list(WEIGHTS), list(WEIGHTS.values())
    for step in range(1, STEPS + 1):
        if step == ERASE_AT:
            history.erase(users[-1])
        else:
            done = len(history.log)
            while len(history.log) == done:  # until an operation found something to act on
                actor = history.rng.choice(history.users)
                history.rng.choices(operations, weights)[0](history, actor)
        if step % CHECK_EVERY == 0:
            for who in history.users:
                for collection in COLLECTIONS:
                    replica = replicas[who.id, collection]
                    replica.sync()
                    try:
                        assert_exact(replica)
                    except AssertionError:
                        print("\n".join(history.log))  # the history that broke it
                        raise
    # The history did what it is meant to (with these seeds).
    happened = "\n".join(history.log)
    for what in ("/shares {", "-> 200", "lapsed=True", "{'secret': True} -> 200", "DELETE"):
        assert what in happened, what
    assert "{'parent_id': '" in happened
