"""Change feeds (api-v1 §10): snapshots, rounds, pages, tokens; visibility is a change.

Every check builds a replica from the feed alone (tests/api/replicas.py) and holds it
against what the list and single-GET routes show the same user, field for field.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, text
from werkzeug.test import Client

from common import paging, sync
from common.config import get_settings
from tests.api.helpers import QueryLog, assert_problem, error_fields
from tests.api.replicas import COLLECTIONS, Replica, assert_exact, lapse
from tests.factories import Account, register

pytestmark = pytest.mark.api


def created(client: Client, who: Account, path: str, **body: Any) -> dict[str, Any]:
    response = client.post(path, json=body, headers=who.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def patched(client: Client, who: Account, path: str, **body: Any) -> dict[str, Any]:
    response = client.patch(path, json=body, headers=who.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def share(client: Client, owner: Account, path: str, friend: Account, **body: Any) -> None:
    body = {"email": friend.email, "permission": "read", **body}
    response = client.put(f"{path}/shares", json=body, headers=owner.headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def ops(entries: list[dict[str, Any]]) -> dict[str, str]:
    """The last op of each id in a round (what applying it in order leaves)."""
    return {entry["id"]: entry["op"] for entry in entries}


def later(hours: int = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


# --- snapshots and rounds ------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 7, 500])
def test_a_snapshot_holds_every_item_the_lists_show(client: Client, limit: int) -> None:
    me, friend = register(client), register(client)
    tag = created(client, me, "/v1/tags", name="home")
    for i in range(9):
        created(client, me, "/v1/todos", title=f"todo {i}", tag_ids=[tag["id"]])
    theirs = created(client, friend, "/v1/todos", title="shared")
    created(client, friend, "/v1/todos", title="sub", parent_id=theirs["id"])
    share(client, friend, f"/v1/todos/{theirs['id']}", me, permission="write")
    created(client, friend, "/v1/todos", title="not shared")
    created(client, me, "/v1/memos", content="the code is 4321", obfuscated=True)
    created(client, me, "/v1/contacts", name="Ada", numbers=["1", "2"])
    for collection in COLLECTIONS:
        replica = Replica(client, me, collection, limit)
        entries = replica.sync()
        assert all(entry["op"] == "upsert" for entry in entries)
        assert_exact(replica)
        if limit == 1:
            assert len(replica.pages) == len(replica.items)  # the last one ends the round
    todos = Replica(client, me, "todos", limit)
    todos.sync()
    access = {t["title"]: t["access"] for t in todos.items.values()}
    assert (access["shared"], access["sub"], access["todo 0"]) == ("write", "write", "owner")
    memos = Replica(client, me, "memos")
    memos.sync()
    assert [m["content"] for m in memos.items.values()] == ["the code is 4321"]  # the GET's


def test_rounds_carry_creates_edits_and_deletes(client: Client) -> None:
    me = register(client)
    keep = created(client, me, "/v1/todos", title="keep")
    gone = created(client, me, "/v1/todos", title="gone")
    replica = Replica(client, me, "todos", limit=7)
    replica.sync()
    assert replica.sync() == []  # nothing changed: an empty round, and a new token
    patched(client, me, f"/v1/todos/{keep['id']}", title="kept")
    assert client.delete(f"/v1/todos/{gone['id']}", headers=me.headers).status_code == 204
    new = created(client, me, "/v1/todos", title="new")
    assert ops(replica.sync()) == {keep["id"]: "upsert", gone["id"]: "remove", new["id"]: "upsert"}
    assert_exact(replica)
    assert replica.items[keep["id"]]["title"] == "kept"
    patched(client, me, f"/v1/todos/{keep['id']}")  # a PATCH that changes nothing
    assert replica.sync() == []


def test_every_collection_has_its_rounds(client: Client) -> None:
    me = register(client)
    replicas = {c: Replica(client, me, c, limit=2) for c in COLLECTIONS}
    for replica in replicas.values():
        replica.sync()
    tag = created(client, me, "/v1/tags", name="a")
    memo = created(client, me, "/v1/memos", content="m", tag_ids=[tag["id"]])
    contact = created(client, me, "/v1/contacts", name="c", emails=["c@example.com"])
    todo = created(client, me, "/v1/todos", title="t", tag_ids=[tag["id"]])
    patched(client, me, f"/v1/contacts/{contact['id']}", numbers=["12"])
    patched(client, me, f"/v1/memos/{memo['id']}", note="n")
    for replica in replicas.values():
        replica.sync()
        assert_exact(replica)
    # Deleting the tag detaches it: the items it leaves change (their tag_ids) and come again.
    assert client.delete(f"/v1/tags/{tag['id']}", headers=me.headers).status_code == 204
    assert ops(replicas["tags"].sync()) == {tag["id"]: "remove"}
    assert ops(replicas["todos"].sync()) == {todo["id"]: "upsert"}
    assert ops(replicas["memos"].sync()) == {memo["id"]: "upsert"}
    for replica in replicas.values():
        assert_exact(replica)
    assert replicas["todos"].items[todo["id"]]["tag_ids"] == []


# --- visibility is a change -------------------------------------------------------------------


def test_shares_granted_widened_renewed_revoked(client: Client, engine: Engine) -> None:
    owner, friend = register(client), register(client)
    for collection, body in (
        ("todos", {"title": "t"}),
        ("memos", {"content": "m", "secret": False}),
        ("contacts", {"name": "c"}),
    ):
        item = created(client, owner, f"/v1/{collection}", **body)
        path = f"/v1/{collection}/{item['id']}"
        replica = Replica(client, friend, collection, limit=1)
        replica.sync()
        share(client, owner, path, friend)  # granted
        assert ops(replica.sync()) == {item["id"]: "upsert"}
        assert replica.items[item["id"]]["access"] == "read"
        share(client, owner, path, friend, permission="write")  # widened
        assert ops(replica.sync()) == {item["id"]: "upsert"}
        assert replica.items[item["id"]]["access"] == "write"
        share(client, owner, path, friend, permission="write", expires_at=later())
        replica.sync()
        assert lapse(engine, collection, item["id"], friend.id)  # time passes: no write
        assert ops(replica.sync()) == {item["id"]: "remove"}
        assert replica.items == {}
        share(client, owner, path, friend, expires_at=later())  # renewed
        assert ops(replica.sync()) == {item["id"]: "upsert"}
        assert_exact(replica)
        revoked = client.delete(f"{path}/shares/{friend.id}", headers=owner.headers)
        assert revoked.status_code == 204
        assert ops(replica.sync()) == {item["id"]: "remove"}
        assert_exact(replica)


def test_an_expiry_is_a_remove_in_the_first_round_after_it_with_no_write(
    client: Client, engine: Engine
) -> None:
    owner, friend = register(client), register(client)
    root = created(client, owner, "/v1/todos", title="root")
    child = created(client, owner, "/v1/todos", title="child", parent_id=root["id"])
    share(client, owner, f"/v1/todos/{root['id']}", friend, expires_at=later())
    replica = Replica(client, friend, "todos", limit=1)
    replica.sync()
    assert replica.items.keys() == {root["id"], child["id"]}
    assert lapse(engine, "todos", root["id"], friend.id)
    with engine.connect() as conn:  # the lapse left no trace for the feed to read
        logged = conn.execute(
            text("SELECT count(*) FROM feed_entries WHERE user_id = :u AND xid >= :x"),
            {"u": friend.id, "x": json.loads(_payload(replica.token))[3]},
        ).scalar_one()
    assert logged == 0
    assert ops(replica.sync()) == {root["id"]: "remove", child["id"]: "remove"}
    assert_exact(replica)
    assert replica.sync() == []  # once


def test_sub_todos_moving_in_and_out_of_a_shared_tree(client: Client) -> None:
    owner, friend = register(client), register(client)
    shared = created(client, owner, "/v1/todos", title="shared")
    private = created(client, owner, "/v1/todos", title="private")
    below = created(client, owner, "/v1/todos", title="below", parent_id=private["id"])
    share(client, owner, f"/v1/todos/{shared['id']}", friend, recursive=True)
    replica = Replica(client, friend, "todos", limit=7)
    replica.sync()
    assert replica.items.keys() == {shared["id"]}
    made = created(client, owner, "/v1/todos", title="made under", parent_id=shared["id"])
    assert ops(replica.sync()) == {made["id"]: "upsert"}
    patched(client, owner, f"/v1/todos/{private['id']}", parent_id=shared["id"])  # moved in
    assert ops(replica.sync()) == {private["id"]: "upsert", below["id"]: "upsert"}
    assert_exact(replica)
    patched(client, owner, f"/v1/todos/{private['id']}", parent_id=None)  # moved out
    assert ops(replica.sync()) == {private["id"]: "remove", below["id"]: "remove"}
    assert_exact(replica)
    share(client, owner, f"/v1/todos/{shared['id']}", friend, recursive=False)
    assert ops(replica.sync()) == {shared["id"]: "upsert", made["id"]: "remove"}
    assert_exact(replica)


def test_a_memo_made_secret_is_removed(client: Client) -> None:
    owner, friend = register(client), register(client)
    memo = created(client, owner, "/v1/memos", content="m", secret=False)
    share(client, owner, f"/v1/memos/{memo['id']}", friend)
    replica = Replica(client, friend, "memos")
    replica.sync()
    assert replica.items.keys() == {memo["id"]}
    patched(client, owner, f"/v1/memos/{memo['id']}", secret=True)
    assert ops(replica.sync()) == {memo["id"]: "remove"}
    assert_exact(replica)


def test_an_erased_owner_disappears_from_every_sharee_feed(client: Client) -> None:
    owner, friend = register(client), register(client)
    root = created(client, owner, "/v1/todos", title="root")
    sub = created(client, owner, "/v1/todos", title="sub", parent_id=root["id"])
    memo = created(client, owner, "/v1/memos", content="m", secret=False)
    contact = created(client, owner, "/v1/contacts", name="c")
    for path in (f"/v1/todos/{root['id']}", f"/v1/memos/{memo['id']}"):
        share(client, owner, path, friend)
    share(client, owner, f"/v1/contacts/{contact['id']}", friend, expires_at=later())
    replicas = [Replica(client, friend, c) for c in ("todos", "memos", "contacts")]
    for replica in replicas:
        replica.sync()
    erased = client.open(
        "/v1/users/me", method="DELETE", json={"password": owner.password}, headers=owner.headers
    )
    assert erased.status_code == 204
    expected = [{root["id"], sub["id"]}, {memo["id"]}, {contact["id"]}]
    for replica, ids in zip(replicas, expected, strict=True):
        assert ops(replica.sync()) == dict.fromkeys(ids, "remove")
        assert replica.items == {}
        assert_exact(replica)


# --- tokens, cursors, limits -------------------------------------------------------------------


def _payload(sealed: str | None) -> str:
    assert sealed is not None
    encoded = sealed.partition(".")[0]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def test_tokens_and_cursors_are_bound_to_their_user_and_collection(client: Client) -> None:
    me, other = register(client), register(client)
    todos = [created(client, me, "/v1/todos", title=f"t{i}") for i in range(3)]
    mine = Replica(client, me, "todos", limit=1)
    mine.sync()
    token = mine.token
    assert token is not None
    for todo in todos:
        patched(client, me, f"/v1/todos/{todo['id']}", title="again")
    cursor = mine.page().get_json()["next_cursor"]  # of a round since `token`
    assert cursor is not None
    theirs = Replica(client, other, "todos")
    theirs.token = token
    assert "since" in error_fields(theirs.page())  # another user's token
    tags = Replica(client, me, "tags")
    tags.token = token
    assert "since" in error_fields(tags.page())  # another collection's token
    assert "since" in error_fields(
        client.get(f"/v1/todos/changes?since={quote(token[:-2])}", headers=me.headers)
    )
    forged = token.partition(".")[0] + ".AAAA"
    assert "since" in error_fields(
        client.get(f"/v1/todos/changes?since={quote(forged)}", headers=me.headers)
    )
    # a cursor of this round, with another `since` or with none, or someone else's
    mine.token = theirs.token = None
    assert "cursor" in error_fields(mine.page(cursor))
    assert "cursor" in error_fields(theirs.page(cursor))
    theirs.token = Replica(client, other, "todos").page().get_json()["sync_token"]
    assert "cursor" in error_fields(theirs.page(cursor))  # their own `since`, my cursor
    assert "cursor" in error_fields(
        client.get(f"/v1/todos/changes?cursor={quote(token)}", headers=me.headers)
    )
    for bad in ("limit=0", "limit=501", "limit=x", "since=", "cursor=%00"):
        assert_problem(client.get(f"/v1/todos/changes?{bad}", headers=me.headers), 422)
    assert_problem(client.get("/v1/todos/changes"), 401)


AT = "2030-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "values",
    [
        ["sync", "{me}", "todo", 2**64, 2**64, [], AT],
        ["sync", "{me}", "todo", 5, 4, [], AT],  # xmin past xmax
        ["sync", "{me}", "todo", 1, 5, [7], AT],  # running past xmax
        ["sync", "{me}", "todo", 1, 5, "2", AT],
        ["sync", "{me}", "todo", 1, 99, list(range(1, 70)), AT],  # more than a token keeps
        ["sync", "{me}", "todo", "1", 5, [], AT],
        ["sync", "{me}", "todo", True, 5, [], AT],
        ["sync", "{me}", "todo", 1, 5, [], "10000-01-01T00:00:00+00:00"],
        ["sync", "{me}", "todo", 1, 5, [], "2030-01-01T00:00:00"],  # no offset
        ["sync", "{me}", "todo", 1, 5, [], AT + "\u0000"],
        ["sync", "{me}", "todo", 1, 5, []],
        {"kind": "sync"},
        "sync",
    ],
)
def test_forged_tokens_are_422_never_500(client: Client, values: Any) -> None:
    """Signed with the (dev) secret, yet not a token we made: refused like a tampered one."""
    me = register(client)
    if isinstance(values, list):
        values = [v.replace("{me}", me.id) if isinstance(v, str) else v for v in values]
    forged = paging.seal(values)
    response = client.get(f"/v1/todos/changes?since={quote(forged)}", headers=me.headers)
    assert "since" in error_fields(response)


def test_a_token_older_than_the_retention_is_410(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = register(client)
    replica = Replica(client, me, "todos", limit=1)
    created(client, me, "/v1/todos", title="t")
    created(client, me, "/v1/todos", title="u")
    replica.sync()
    assert replica.page().status_code == 200
    month = datetime.now(UTC) - timedelta(days=30, minutes=1)
    old = paging.seal(["sync", me.id, "todo", 1, 1, [], month.isoformat()])
    assert_problem(client.get(f"/v1/todos/changes?since={quote(old)}", headers=me.headers), 410)
    # With a retention of zero, every token is already past it, the cursor of a round too.
    cursor = Replica(client, me, "todos", limit=1).page().get_json()["next_cursor"]
    short = get_settings().model_copy(update={"sync_retention_s": 0})
    monkeypatch.setattr(sync, "get_settings", lambda: short)
    assert_problem(replica.page(), 410)
    assert_problem(
        client.get(f"/v1/todos/changes?limit=1&cursor={quote(cursor)}", headers=me.headers), 410
    )


def test_every_page_runs_at_most_two_statements(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    log = QueryLog(caplog)
    owner, me = register(client), register(client)
    root = created(client, owner, "/v1/todos", title="root")
    for i in range(5):
        created(client, owner, "/v1/todos", title=f"sub {i}", parent_id=root["id"])
        created(client, me, "/v1/todos", title=f"mine {i}")
    share(client, owner, f"/v1/todos/{root['id']}", me, permission="write")
    for collection in COLLECTIONS:
        replica = Replica(client, me, collection, limit=3)
        replica.sync()
        snapshot = [log.of(page) for page in replica.responses]
        patched(client, owner, f"/v1/todos/{root['id']}", title="renamed")
        replica.sync()
        rounds = [*snapshot, *(log.of(page) for page in replica.responses)]
        assert len(rounds) >= 2
        assert max(rounds) <= 2, (collection, rounds)
