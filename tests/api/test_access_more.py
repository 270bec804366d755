"""The access matrix, continued (tests/api/test_access.py has todos, sub-todos, memos and
contacts): tags, push devices, the share lists of every shareable resource, and a deleted
user's still-unexpired access token on every route of every function.

No case returns data it should not, and lists never leak a row.
"""

from __future__ import annotations

import itertools
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from werkzeug.test import Client

from tests.api.helpers import assert_problem, lapse_shares
from tests.factories import Account, register
from tests.identity_providers import GOOGLE

pytestmark = pytest.mark.api


def headers_of(who: Account | None) -> dict[str, str]:
    return {} if who is None else who.headers


def new_tag(client: Client, who: Account) -> dict[str, Any]:
    response = client.post(
        "/v1/tags", json={"name": f"tag-{secrets.token_hex(4)}"}, headers=who.headers
    )
    assert response.status_code == 201
    data: dict[str, Any] = response.get_json()
    return data


def listed(client: Client, url: str, who: Account) -> list[dict[str, Any]]:
    """Every row of a paged list, walking its cursors."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": "200"} | ({"cursor": cursor} if cursor else {})
        response = client.get(url, query_string=query, headers=who.headers)
        assert response.status_code == 200
        page = response.get_json()
        rows.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return rows


# --- tags: owner, a sharee of a tagged todo, stranger, anonymous ------------------------
# Tags are never shared: only their owner reads, renames, deletes or uses them.

TAG_ACTORS = ["owner", "sharee", "stranger", "anonymous"]
TAG_ACTIONS = ["list", "get", "rename", "delete", "attach", "create_with"]
TAG_EXPECTED = {
    "owner": {"get": 200, "rename": 200, "delete": 204, "attach": 204, "create_with": 201},
    # A foreign tag is "no such tag" wherever it is named: 404 on its own routes and when
    # attached, 422 as a field of a body (docs/api.md §6: a foreign or unknown tag id is 422).
    "sharee": {"get": 404, "rename": 404, "delete": 404, "attach": 404, "create_with": 422},
    "stranger": {"get": 404, "rename": 404, "delete": 404, "attach": 404, "create_with": 422},
}
TAG_CASES = list(itertools.product(TAG_ACTORS, TAG_ACTIONS))


@dataclass
class TagWorld:
    owner: Account
    sharee: Account
    stranger: Account
    tag: dict[str, Any]
    shared_todo: str


@pytest.fixture(scope="module")
def tag_people(gateway: Any) -> dict[str, Account]:
    client = Client(gateway)
    return {name: register(client) for name in ("owner", "sharee", "stranger")}


def tag_world(client: Client, people: dict[str, Account]) -> TagWorld:
    owner = people["owner"]
    tag = new_tag(client, owner)
    todo = client.post(
        "/v1/todos", json={"title": "tagged", "tag_ids": [tag["id"]]}, headers=owner.headers
    ).get_json()
    share = {"email": people["sharee"].email, "permission": "write"}
    assert client.put(f"/v1/todos/{todo['id']}/shares", json=share, headers=owner.headers)
    return TagWorld(owner, people["sharee"], people["stranger"], tag, todo["id"])


@pytest.mark.parametrize(("actor", "action"), TAG_CASES)
def test_tag_access(
    client: Client, tag_people: dict[str, Account], actor: str, action: str
) -> None:
    world = tag_world(client, tag_people)
    who = None if actor == "anonymous" else tag_people[actor]
    tag_id = world.tag["id"]
    h = headers_of(who)
    if actor == "anonymous":
        responses = [
            client.get("/v1/tags", headers=h),
            client.get(f"/v1/tags/{tag_id}", headers=h),
            client.patch(f"/v1/tags/{tag_id}", json={"name": "x"}, headers=h),
            client.delete(f"/v1/tags/{tag_id}", headers=h),
        ]
        for response in responses:
            assert_problem(response, 401)
        return
    assert who is not None
    if action == "list":
        names = {t["id"] for t in listed(client, "/v1/tags", who)}
        assert (tag_id in names) == (actor == "owner")
        return
    if action == "get":
        response = client.get(f"/v1/tags/{tag_id}", headers=h)
    elif action == "rename":
        response = client.patch(f"/v1/tags/{tag_id}", json={"name": "renamed"}, headers=h)
    elif action == "delete":
        response = client.delete(f"/v1/tags/{tag_id}", headers=h)
    elif action == "attach":  # to a todo of the actor's own
        mine = client.post("/v1/todos", json={"title": "mine"}, headers=h).get_json()
        response = client.put(f"/v1/todos/{mine['id']}/tags/{tag_id}", headers=h)
    else:
        response = client.post("/v1/memos", json={"content": "m", "tag_ids": [tag_id]}, headers=h)
    expected = TAG_EXPECTED[actor][action]
    assert response.status_code == expected, response.get_data(as_text=True)
    if expected >= 400:
        assert_problem(response, expected)
        assert world.tag["name"] not in response.get_data(as_text=True)
    if actor != "owner":  # the refusal changed nothing
        seen = client.get(f"/v1/tags/{tag_id}", headers=world.owner.headers)
        assert seen.status_code == 200
        assert seen.get_json() == world.tag


def test_a_sharee_sees_only_its_own_tags_on_a_shared_todo(
    client: Client, tag_people: dict[str, Account]
) -> None:
    world = tag_world(client, tag_people)
    as_owner = client.get(f"/v1/todos/{world.shared_todo}", headers=world.owner.headers)
    as_sharee = client.get(f"/v1/todos/{world.shared_todo}", headers=world.sharee.headers)
    assert as_owner.get_json()["tag_ids"] == [world.tag["id"]]
    assert as_sharee.status_code == 200
    assert world.tag["name"] not in as_sharee.get_data(as_text=True)
    assert world.tag["id"] not in {t["id"] for t in listed(client, "/v1/tags", world.sharee)}


# --- push devices: own vs another user's -------------------------------------------------

DEVICES = "/v1/notifications/devices"


def push_token() -> str:
    return f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(96)}"


def add_device(client: Client, who: Account, token: str | None = None) -> dict[str, Any]:
    response = client.put(
        DEVICES, json={"token": token or push_token(), "platform": "ios"}, headers=who.headers
    )
    assert response.status_code == 200
    data: dict[str, Any] = response.get_json()
    return data


DEVICE_CASES = ["list", "delete", "anonymous"]


@pytest.mark.parametrize("case", DEVICE_CASES)
def test_device_access(client: Client, case: str) -> None:
    owner, other = register(client), register(client)
    mine = add_device(client, owner)
    theirs = add_device(client, other)
    if case == "list":
        assert [d["id"] for d in listed_devices(client, owner)] == [mine["id"]]
        assert [d["id"] for d in listed_devices(client, other)] == [theirs["id"]]
        assert "token" not in client.get(DEVICES, headers=owner.headers).get_json()["items"][0]
    elif case == "delete":
        assert_problem(client.delete(f"{DEVICES}/{theirs['id']}", headers=owner.headers), 404)
        assert [d["id"] for d in listed_devices(client, other)] == [theirs["id"]]
        assert client.delete(f"{DEVICES}/{mine['id']}", headers=owner.headers).status_code == 204
        assert listed_devices(client, owner) == []
    else:
        assert_problem(client.get(DEVICES), 401)
        assert_problem(client.delete(f"{DEVICES}/{mine['id']}"), 401)
        assert_problem(client.put(DEVICES, json={"token": push_token(), "platform": "ios"}), 401)
        assert [d["id"] for d in listed_devices(client, owner)] == [mine["id"]]


def listed_devices(client: Client, who: Account) -> list[dict[str, Any]]:
    response = client.get(DEVICES, headers=who.headers)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def test_a_token_registered_again_moves_to_the_new_user_and_leaves_the_old(
    client: Client,
) -> None:
    old, new = register(client), register(client)
    token = push_token()
    first = add_device(client, old, token)
    second = add_device(client, new, token)  # the phone changed hands (docs/api.md §9)
    assert listed_devices(client, old) == []
    assert [d["id"] for d in listed_devices(client, new)] == [second["id"]]
    assert_problem(client.delete(f"{DEVICES}/{first['id']}", headers=old.headers), 404)


# --- share lists: who may read, add and revoke the shares of an item -------------------

SHARE_ACTORS = ["owner", "read", "write", "expired", "revoked", "stranger", "anonymous"]
SHARE_ACTIONS = ["list", "put", "delete"]
SHARE_TARGETS = ["todos", "memos", "contacts"]
SHARE_EXPECTED = {
    "owner": {"list": 200, "put": 200, "delete": 204},
    "read": {"list": 403, "put": 403, "delete": 403},
    "write": {"list": 403, "put": 403, "delete": 403},
    "anonymous": {"list": 401, "put": 401, "delete": 401},
}
SHARE_CASES = list(itertools.product(SHARE_ACTORS, SHARE_ACTIONS, SHARE_TARGETS))
BODIES = {
    "todos": {"title": "shared"},
    "memos": {"content": "shared", "secret": False},
    "contacts": {"name": "shared"},
}


@pytest.fixture(scope="module")
def share_people(gateway: Any) -> dict[str, Account]:
    client = Client(gateway)
    names = ["owner", "read", "write", "expired", "revoked", "stranger", "bystander"]
    return {name: register(client) for name in names}


@pytest.fixture(scope="module")
def share_items(
    gateway: Any, engine: Engine, share_people: dict[str, Account]
) -> dict[tuple[str, ...], str]:
    """One item per case, shared with read, write, an expired and a revoked sharee."""
    client = Client(gateway)
    owner = share_people["owner"]
    # The expiring share is made live (a day ahead), then lapsed in the database before any
    # case runs: however slow the machine, none expires while the items are made.
    expiry = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    items = {}
    for case in SHARE_CASES:
        collection = case[2]
        item = client.post(f"/v1/{collection}", json=BODIES[collection], headers=owner.headers)
        url = f"/v1/{collection}/{item.get_json()['id']}/shares"
        for who, permission, expires in [
            ("read", "read", None),
            ("write", "write", None),
            ("expired", "write", expiry),
            ("revoked", "write", None),
        ]:
            body = {"email": share_people[who].email, "permission": permission}
            if expires:
                body["expires_at"] = expires
            assert client.put(url, json=body, headers=owner.headers).status_code == 200
        revoked = share_people["revoked"].id
        assert client.delete(f"{url}/{revoked}", headers=owner.headers).status_code == 204
        items[case] = url
    assert lapse_shares(engine, share_people["expired"].id, expiry) == len(SHARE_CASES)
    return items


@pytest.mark.parametrize(("actor", "action", "target"), SHARE_CASES)
def test_share_list_access(
    client: Client,
    share_people: dict[str, Account],
    share_items: dict[tuple[str, ...], str],
    actor: str,
    action: str,
    target: str,
) -> None:
    url = share_items[(actor, action, target)]
    owner = share_people["owner"]
    h = {} if actor == "anonymous" else share_people[actor].headers
    bystander = share_people["bystander"]
    if action == "list":
        response = client.get(url, headers=h)
    elif action == "put":
        body = {"email": bystander.email, "permission": "read"}
        response = client.put(url, json=body, headers=h)
    else:
        response = client.delete(f"{url}/{share_people['read'].id}", headers=h)
    expected = SHARE_EXPECTED.get(actor, {}).get(action, 404)  # expired, revoked, stranger
    assert response.status_code == expected, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    if expected >= 400:
        assert_problem(response, expected)
        for person in share_people.values():  # nobody learns who else has the item
            assert person.email not in text
            assert person.id not in text
    shares = {
        s["user"]["id"]: s for s in client.get(url, headers=owner.headers).get_json()["items"]
    }
    before = {share_people[n].id for n in ("read", "write", "expired")}
    if actor == "owner" and action == "list":
        assert set(response.get_json()["items"][0]) >= {"user", "permission", "expires_at"}
        assert {s["user"]["id"] for s in response.get_json()["items"]} == before
    elif actor == "owner" and action == "put":
        assert set(shares) == before | {bystander.id}
    elif actor == "owner" and action == "delete":
        assert set(shares) == before - {share_people["read"].id}
    else:
        assert set(shares) == before  # refused: nothing changed


def test_share_cases_count() -> None:
    assert len(TAG_CASES) == 24
    assert len(SHARE_CASES) == 63


# --- a deleted user's still-unexpired access token ------------------------------------


@dataclass
class Ghost:
    """A user who deleted their account; their access token lives on for up to 15 minutes."""

    account: Account
    ids: dict[str, str]  # path parameter -> an id that was theirs, or shared with them


@pytest.fixture(scope="module")
def ghost(gateway: Any) -> Ghost:
    client = Client(gateway)
    owner, ghost = register(client), register(client)
    h = ghost.headers
    ids = {
        "tag_id": new_tag(client, ghost)["id"],
        "device_id": add_device(client, ghost)["id"],
        "user_id": owner.id,
    }
    for collection, body in BODIES.items():
        mine = client.post(f"/v1/{collection}", json=body, headers=h).get_json()
        theirs = client.post(f"/v1/{collection}", json=body, headers=owner.headers).get_json()
        share = {"email": ghost.email, "permission": "write"}
        url = f"/v1/{collection}/{theirs['id']}/shares"
        assert client.put(url, json=share, headers=owner.headers).status_code == 200
        assert client.get(f"/v1/{collection}/{theirs['id']}", headers=h).status_code == 200
        ids[f"{collection}:mine"], ids[f"{collection}:shared"] = mine["id"], theirs["id"]
    deleted = client.delete("/v1/users/me", json={"password": ghost.password}, headers=h)
    assert deleted.status_code == 204
    return Ghost(ghost, ids)


def ghost_cases() -> list[tuple[str, str, str]]:
    """Every authenticated operation of every function, from the merged OpenAPI document;
    item routes twice: with an id that was the ghost's and with one shared with it."""
    from tests.reliability.operations import OPERATIONS

    cases = []
    for op in OPERATIONS:
        if op.public:
            continue
        if "{item_id}" in op.path:
            cases += [(op.method, op.path, "mine"), (op.method, op.path, "shared")]
        else:
            cases.append((op.method, op.path, "-"))
    return cases


GHOST_CASES = ghost_cases()
GHOST_BODIES = {
    "/v1/users/me": {"display_name": "ghost"},
    "/v1/auth/password": {"current_password": "whatever-1", "new_password": "another-Pw-9"},
    # a valid Google token (made at import, valid for the whole run): linking it to a deleted
    # account must still find no account
    "/v1/auth/identities": {"provider": "google", "id_token": GOOGLE.token(exp=2**31 - 1)},
    "/v1/notifications/devices": {"token": "ghost:APA91bX", "platform": "web"},
    "/v1/auth/email-verification/confirm": {"code": "12345678"},
}
GHOST_BODIES_BY_COLLECTION = {**BODIES, "tags": {"name": "ghost tag"}, "auth": None}


def ghost_request(ghost: Ghost, method: str, path: str, whose: str) -> tuple[str, Any]:
    collection = path.split("/")[2]
    url = path
    for name in ("item_id", "tag_id", "device_id", "user_id"):
        key = f"{collection}:{whose}" if name == "item_id" else name
        url = url.replace(f"{{{name}}}", ghost.ids.get(key, str(uuid.uuid4())))
    body: Any = None
    if method in ("POST", "PUT", "PATCH") or path == "/v1/users/me":
        body = GHOST_BODIES.get(path, GHOST_BODIES_BY_COLLECTION.get(collection))
        if path.endswith("/shares"):
            body = {"email": "someone@example.com", "permission": "read"}
        if path == "/v1/users/me" and method == "DELETE":
            body = {"password": ghost.account.password}
        if path.endswith(("/complete", "/reopen", "/tags/{tag_id}")) and "item_id" in path:
            body = None
    return url, body


@pytest.mark.parametrize(("method", "path", "whose"), GHOST_CASES)
def test_a_deleted_users_token_reaches_no_data(
    client: Client, ghost: Ghost, method: str, path: str, whose: str
) -> None:
    url, body = ghost_request(ghost, method, path, whose)
    response = client.open(url, method=method, json=body, headers=ghost.account.headers)
    text = response.get_data(as_text=True)
    assert response.status_code != 500, text
    if response.status_code in (200, 201):
        # Only lists (and change feeds) may answer, and then with nothing in them.
        data = response.get_json()
        assert method == "GET", f"{method} {url}: {text[:300]}"
        assert data.get("items", data.get("changes")) == [], f"{method} {url}: {text[:300]}"
    elif response.status_code == 204:
        # Ending every session of the token's user: there are none left to end.
        assert (method, path) == ("POST", "/v1/auth/logout-all"), f"{method} {url}"
    else:
        assert response.status_code in (401, 404), f"{method} {url}: {text[:300]}"
        assert_problem(response, response.status_code)
    for key, value in ghost.ids.items():  # no id of theirs (or shared with them) is echoed
        assert key == "user_id" or value not in text
