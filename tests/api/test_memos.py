"""Memos (docs/api.md §7): the endpoints, the secret/share rules, obfuscated lists."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from werkzeug.test import Client

from tests.api.helpers import QueryLog, assert_problem, error_fields
from tests.factories import Account, register

pytestmark = pytest.mark.api


@pytest.fixture
def me(client: Client) -> Account:
    return register(client)


def create(client: Client, who: Account, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/memos", json={"content": "c", **fields}, headers=who.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def share(client: Client, owner: Account, memo: str, who: Account, permission: str = "read") -> Any:
    return client.put(
        f"/v1/memos/{memo}/shares",
        json={"email": who.email, "permission": permission},
        headers=owner.headers,
    )


def test_create_defaults_to_secret(client: Client, me: Account) -> None:
    response = client.post("/v1/memos", json={"content": "pin 1234"}, headers=me.headers)
    assert response.status_code == 201
    memo = response.get_json()
    assert response.headers["Location"] == f"/v1/memos/{memo['id']}"
    assert response.headers["ETag"] == '"1"'
    assert (memo["secret"], memo["obfuscated"], memo["pinned"], memo["note"]) == (
        True,
        False,
        False,
        None,
    )
    assert (memo["access"], memo["owner_id"], memo["tag_ids"]) == ("owner", me.id, [])
    assert client.get(f"/v1/memos/{memo['id']}", headers=me.headers).get_json() == memo


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "x" * 20_001}, "content"),
        ({"content": "ok", "note": "x" * 2_001}, "note"),
        ({"content": "ok", "secret": "yes"}, "secret"),
        ({"content": "ok", "owner_id": str(uuid.uuid4())}, "owner_id"),
        ({"content": "ok", "tag_ids": [str(uuid.uuid4())]}, "tag_ids"),
        ({}, "content"),
    ],
)
def test_invalid_memos_are_422(client: Client, me: Account, body: Any, field: str) -> None:
    assert field in error_fields(client.post("/v1/memos", json=body, headers=me.headers))


def test_a_secret_memo_cannot_be_shared(client: Client, me: Account) -> None:
    friend = register(client)
    memo = create(client, me)
    assert_problem(share(client, me, memo["id"], friend), 409)
    assert client.get(f"/v1/memos/{memo['id']}/shares", headers=me.headers).get_json() == {
        "items": []
    }
    assert_problem(client.get(f"/v1/memos/{memo['id']}", headers=friend.headers), 404)


def test_making_a_memo_secret_revokes_its_shares(client: Client, me: Account) -> None:
    friend = register(client)
    memo = create(client, me, secret=False)
    assert share(client, me, memo["id"], friend, "write").status_code == 200
    assert client.get(f"/v1/memos/{memo['id']}", headers=friend.headers).status_code == 200
    patched = client.patch(f"/v1/memos/{memo['id']}", json={"secret": True}, headers=me.headers)
    assert patched.get_json()["secret"] is True
    assert client.get(f"/v1/memos/{memo['id']}/shares", headers=me.headers).get_json() == {
        "items": []
    }
    assert_problem(client.get(f"/v1/memos/{memo['id']}", headers=friend.headers), 404)
    # Making it shareable again does not bring the old shares back.
    client.patch(f"/v1/memos/{memo['id']}", json={"secret": False}, headers=me.headers)
    assert_problem(client.get(f"/v1/memos/{memo['id']}", headers=friend.headers), 404)


def test_obfuscated_memos_hide_content_in_lists_only(client: Client, me: Account) -> None:
    hidden = create(client, me, content="the code is 4321", obfuscated=True)
    plain = create(client, me, content="shopping")
    items = {m["id"]: m for m in client.get("/v1/memos", headers=me.headers).get_json()["items"]}
    assert items[hidden["id"]]["content"] is None
    assert items[plain["id"]]["content"] == "shopping"
    single = client.get(f"/v1/memos/{hidden['id']}", headers=me.headers).get_json()
    assert single["content"] == "the code is 4321"


def test_sharee_writes_are_limited_to_content_and_note(client: Client, me: Account) -> None:
    friend = register(client)
    memo = create(client, me, secret=False)
    share(client, me, memo["id"], friend, "write")
    url = f"/v1/memos/{memo['id']}"
    ok = client.patch(url, json={"content": "edited", "note": "n"}, headers=friend.headers)
    assert ok.status_code == 200
    assert ok.get_json()["access"] == "write"
    for field, value in (("pinned", True), ("secret", True), ("obfuscated", True), ("tag_ids", [])):
        assert_problem(client.patch(url, json={field: value}, headers=friend.headers), 403)
    assert_problem(client.delete(url, headers=friend.headers), 403)


def test_list_filters_and_search(client: Client, me: Account) -> None:
    tag = client.post("/v1/tags", json={"name": "x"}, headers=me.headers).get_json()["id"]
    a = create(client, me, content="Call the Plumber", pinned=True, tag_ids=[tag])
    b = create(client, me, content="other", note="plumbing notes")
    c = create(client, me, content="unrelated")

    def ids(query: str) -> list[str]:
        page = client.get(f"/v1/memos?{query}", headers=me.headers).get_json()
        return [m["id"] for m in page["items"]]

    assert ids("") == [c["id"], b["id"], a["id"]]
    assert ids("sort=created_at") == [a["id"], b["id"], c["id"]]
    assert ids("pinned=true") == [a["id"]]
    assert ids(f"tag={tag}") == [a["id"]]
    assert ids("q=PLUMB") == [b["id"], a["id"]]
    assert_problem(client.get("/v1/memos?sort=deadline", headers=me.headers), 422)


def test_memo_routes_stay_within_3_statements(
    client: Client, me: Account, caplog: pytest.LogCaptureFixture
) -> None:
    friend = register(client)
    tags = [
        client.post("/v1/tags", json={"name": f"t{i}"}, headers=me.headers).get_json()["id"]
        for i in range(3)
    ]
    memos = [
        create(client, me, content=f"memo {i}", tag_ids=tags, secret=False, obfuscated=i % 2 == 0)
        for i in range(200)
    ]
    for memo in memos[:30]:
        assert share(client, me, memo["id"], friend, "write").status_code == 200
    log = QueryLog(caplog)
    url = f"/v1/memos/{memos[0]['id']}"
    checks = {
        "list 200": client.get("/v1/memos?limit=200", headers=me.headers),
        "list shared": client.get("/v1/memos?limit=200&scope=shared", headers=friend.headers),
        "search": client.get("/v1/memos?limit=200&q=memo&tag=" + tags[0], headers=me.headers),
        "create": client.post(
            "/v1/memos",
            json={"content": "n", "tag_ids": tags},
            headers={**me.headers, "Idempotency-Key": "m1"},
        ),
        "get": client.get(url, headers=friend.headers),
        "patch": client.patch(url, json={"content": "x", "tag_ids": tags[:1]}, headers=me.headers),
        "make secret": client.patch(url, json={"secret": True}, headers=me.headers),
        "tag": client.put(f"{url}/tags/{tags[2]}", headers=me.headers),
        "shares": client.get(f"/v1/memos/{memos[1]['id']}/shares", headers=me.headers),
        "share": share(client, me, memos[1]["id"], friend),
        "unshare": client.delete(
            f"/v1/memos/{memos[1]['id']}/shares/{friend.id}", headers=me.headers
        ),
        "delete": client.delete(url, headers=me.headers),
    }
    assert len(checks["list 200"].get_json()["items"]) == 200
    assert len(checks["list shared"].get_json()["items"]) == 30
    counts = {name: log.of(response) for name, response in checks.items()}
    assert all(response.status_code < 400 for response in checks.values())
    assert all(count <= 3 for count in counts.values()), counts
