"""The access matrix: actor x action x target -> status, and lists never leak.

Targets: a todo, a sub-todo of a recursively shared todo, a memo, a contact. Each case gets
its own world, built up front: the owner's item (a todo with a sub-todo for todos), shared
with a reader, a writer, an expiring sharee (expired before the cases run) and a revoked
sharee; plus a stranger. Destructive actions therefore never affect another case.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from werkzeug.test import Client

from tests.api.helpers import lapse_shares
from tests.factories import Account, register

pytestmark = pytest.mark.api

ACTORS = ["anonymous", "owner", "read", "write", "expired", "revoked", "stranger"]
ACTIONS = ["list", "get", "patch", "delete", "complete", "reopen", "tag", "share", "unshare"]
TARGETS = ["todo", "subtodo", "memo", "contact"]
# target -> (collection, the body creating it, a field a write sharee may change)
KINDS = {
    "todo": ("todos", {"title": "shared"}, {"title": "changed"}),
    "subtodo": ("todos", {"title": "shared"}, {"title": "changed"}),
    "memo": ("memos", {"content": "shared", "secret": False}, {"content": "changed"}),
    "contact": ("contacts", {"name": "shared", "numbers": ["1"]}, {"name": "changed"}),
}

SEES = {"owner", "read", "write"}
EXPECTED: dict[str, dict[str, int]] = {
    "owner": {
        "get": 200,
        "patch": 200,
        "delete": 204,
        "complete": 200,
        "reopen": 200,
        "tag": 204,
        "share": 200,
        "unshare": 204,
    },
    "write": {
        "get": 200,
        "patch": 200,
        "delete": 403,
        "complete": 200,
        "reopen": 200,
        "tag": 403,
        "share": 403,
        "unshare": 403,
    },
    "read": {
        "get": 200,
        "patch": 403,
        "delete": 403,
        "complete": 403,
        "reopen": 403,
        "tag": 403,
        "share": 403,
        "unshare": 403,
    },
}


def expected_status(actor: str, action: str) -> int:
    if actor == "anonymous":
        return 401
    if actor in EXPECTED:
        return EXPECTED[actor][action]
    return 404  # expired, revoked, stranger: the todo does not exist for them


@dataclass
class World:
    owner: Account
    actors: dict[str, Account]
    collection: str
    item: str
    tag: str
    bystander: Account  # an existing user, the target of share/unshare


@dataclass
class People:
    owner: Account
    read: Account
    write: Account
    expired: Account
    revoked: Account
    stranger: Account
    bystander: Account


def _put(
    client: Client,
    owner: Account,
    url: str,
    who: Account,
    permission: str,
    expires_at: str | None = None,
) -> None:
    body: dict[str, Any] = {"email": who.email, "permission": permission}
    if expires_at:
        body["expires_at"] = expires_at
    response = client.put(f"{url}/shares", json=body, headers=owner.headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def build_world(client: Client, people: People, target: str, expires_at: str) -> World:
    owner = people.owner
    collection, body, _ = KINDS[target]
    shared = client.post(f"/v1/{collection}", json=body, headers=owner.headers).get_json()
    item = shared["id"]
    if target == "subtodo":
        sub = {"title": "sub", "parent_id": shared["id"]}
        item = client.post("/v1/todos", json=sub, headers=owner.headers).get_json()["id"]
    tag = client.post(
        "/v1/tags", json={"name": f"t{secrets.token_hex(6)}"}, headers=owner.headers
    ).get_json()
    url = f"/v1/{collection}/{shared['id']}"
    _put(client, owner, url, people.read, "read")
    _put(client, owner, url, people.write, "write")
    _put(client, owner, url, people.expired, "write", expires_at)
    _put(client, owner, url, people.revoked, "write")
    _put(client, owner, url, people.bystander, "read")
    revoked = client.delete(f"{url}/shares/{people.revoked.id}", headers=owner.headers)
    assert revoked.status_code == 204
    actors = {
        "owner": owner,
        "read": people.read,
        "write": people.write,
        "expired": people.expired,
        "revoked": people.revoked,
        "stranger": people.stranger,
    }
    return World(owner, actors, collection, item, tag["id"], people.bystander)


CASES = [
    (actor, action, target)
    for actor, action, target in itertools.product(ACTORS, ACTIONS, TARGETS)
    if action not in ("complete", "reopen") or target in ("todo", "subtodo")
]


@pytest.fixture(scope="module")
def worlds(gateway: Any, engine: Engine) -> dict[tuple[str, str, str], World]:
    client = Client(gateway)
    # One set of people per (actor, action, target) would be slow; people are reusable,
    # todos are not: every case gets its own todo tree.
    people = People(*(register(client) for _ in range(7)))
    # The expiring shares are made live (a day ahead), then lapsed in the database before
    # any case runs: however slow the machine, no share expires while the worlds are built.
    expiry = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    built = {case: build_world(client, people, case[2], expiry) for case in CASES}
    assert lapse_shares(engine, people.expired.id, expiry) == len(CASES)
    return built


def act(client: Client, world: World, actor: str, action: str, target: str) -> Any:
    headers = {} if actor == "anonymous" else world.actors[actor].headers
    url = f"/v1/{world.collection}/{world.item}"
    if action == "list":
        return client.get(f"/v1/{world.collection}?limit=200", headers=headers)
    if action == "get":
        return client.get(url, headers=headers)
    if action == "patch":
        return client.patch(url, json=KINDS[target][2], headers=headers)
    if action == "delete":
        return client.delete(url, headers=headers)
    if action in ("complete", "reopen"):
        return client.post(f"{url}/{action}", headers=headers)
    if action == "tag":
        return client.put(f"{url}/tags/{world.tag}", headers=headers)
    if action == "share":
        body = {"email": world.bystander.email, "permission": "write"}
        return client.put(f"{url}/shares", json=body, headers=headers)
    assert action == "unshare"
    return client.delete(f"{url}/shares/{world.bystander.id}", headers=headers)


@pytest.mark.parametrize(("actor", "action", "target"), CASES)
def test_access_matrix(
    client: Client,
    worlds: dict[tuple[str, str, str], World],
    actor: str,
    action: str,
    target: str,
) -> None:
    world = worlds[(actor, action, target)]
    response = act(client, world, actor, action, target)
    item = world.item
    if action == "list":
        if actor == "anonymous":
            assert response.status_code == 401
            return
        assert response.status_code == 200
        listed = {t["id"] for t in response.get_json()["items"]}
        while (cursor := response.get_json()["next_cursor"]) is not None:
            response = client.get(
                f"/v1/{world.collection}?limit=200&cursor={cursor}",
                headers=world.actors[actor].headers,
            )
            listed |= {t["id"] for t in response.get_json()["items"]}
        assert (item in listed) == (actor in SEES)
        return
    assert response.status_code == expected_status(actor, action), response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
    if actor not in SEES and actor != "anonymous":
        # A refused write changed nothing: the owner still sees the item as it was.
        seen = client.get(f"/v1/{world.collection}/{item}", headers=world.owner.headers)
        assert seen.get_json()["version"] == 1
        assert "changed" not in seen.get_data(as_text=True)


def test_the_matrix_has_every_case() -> None:
    # 7 actors x (9 actions on todos and sub-todos + 7 on memos and contacts)
    assert len(CASES) == 7 * (9 * 2 + 7 * 2) == 224


def test_sharees_see_their_access_and_lists_hold_exactly_what_they_may_see(
    client: Client,
) -> None:
    owner, reader, writer, stranger = (register(client) for _ in range(4))
    root = client.post("/v1/todos", json={"title": "r"}, headers=owner.headers).get_json()
    child = client.post(
        "/v1/todos", json={"title": "c", "parent_id": root["id"]}, headers=owner.headers
    ).get_json()
    lone = client.post("/v1/todos", json={"title": "l"}, headers=owner.headers).get_json()
    flat = client.post("/v1/todos", json={"title": "f"}, headers=owner.headers).get_json()
    flat_child = client.post(
        "/v1/todos", json={"title": "fc", "parent_id": flat["id"]}, headers=owner.headers
    ).get_json()
    _put(client, owner, f"/v1/todos/{root['id']}", reader, "read")
    _put(client, owner, f"/v1/todos/{root['id']}", writer, "write")
    share = {"email": reader.email, "permission": "write", "recursive": False}
    assert (
        client.put(f"/v1/todos/{flat['id']}/shares", json=share, headers=owner.headers).status_code
        == 200
    )
    mine = client.post("/v1/todos", json={"title": "mine"}, headers=reader.headers).get_json()

    def listed(who: Account, scope: str) -> dict[str, str]:
        page = client.get(f"/v1/todos?scope={scope}&limit=200", headers=who.headers).get_json()
        return {t["id"]: t["access"] for t in page["items"]}

    assert listed(reader, "shared") == {
        root["id"]: "read",
        child["id"]: "read",
        flat["id"]: "write",
    }
    assert listed(reader, "owned") == {mine["id"]: "owner"}
    assert listed(reader, "all") == {**listed(reader, "shared"), mine["id"]: "owner"}
    assert flat_child["id"] not in listed(reader, "all")  # not recursive
    assert lone["id"] not in listed(reader, "all")
    assert listed(writer, "all") == {root["id"]: "write", child["id"]: "write"}
    assert listed(stranger, "all") == {}
    assert set(listed(owner, "all")) == {
        root["id"],
        child["id"],
        lone["id"],
        flat["id"],
        flat_child["id"],
    }
