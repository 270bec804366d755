"""Todo lists (filters, sorts, keyset paging), statement budgets, and write races."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug.test import Client

from tests.api.helpers import QueryLog, assert_problem, error_fields
from tests.factories import Account, register

pytestmark = pytest.mark.api


def create(client: Client, who: Account, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/todos", json={"title": "t", **fields}, headers=who.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def walk(client: Client, who: Account, query: str, limit: int = 3) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url = f"/v1/todos?limit={limit}&{query}"
    while True:
        response = client.get(url, headers=who.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        page = response.get_json()
        assert len(page["items"]) <= limit
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        url = f"/v1/todos?limit={limit}&{query}&cursor={page['next_cursor']}"


@pytest.fixture(scope="module")
def catalogue(gateway: Any) -> tuple[Account, list[dict[str, Any]], str]:
    """A user with varied todos: the expected answers are computed from what was sent."""
    client = Client(gateway)
    me = register(client)
    work = client.post("/v1/tags", json={"name": "work"}, headers=me.headers).get_json()["id"]
    base = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    todos = []
    for i in range(14):
        fields: dict[str, Any] = {
            "title": f"Item {i} {'Groceries' if i % 4 == 0 else 'chore'}",
            "priority": i % 5,
            "pinned": i % 3 == 0,
            "done": i % 2 == 0,
            "tag_ids": [work] if i % 5 == 0 else [],
        }
        if i % 4 != 3:  # some without a deadline
            fields["deadline"] = (base + timedelta(days=(i * 7) % 11)).isoformat()
        if i == 13:
            fields["description"] = "100% sure_thing"
        todos.append(create(client, me, **fields))
    return me, todos, work


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [t["id"] for t in items]


def test_default_order_is_newest_first(client: Client, catalogue: Any) -> None:
    me, todos, _ = catalogue
    assert ids(walk(client, me, "")) == ids(todos)[::-1]
    assert ids(walk(client, me, "sort=created_at")) == ids(todos)


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("done=true", lambda t: t["done"]),
        ("done=false", lambda t: not t["done"]),
        ("pinned=true", lambda t: t["pinned"]),
        ("q=groceries", lambda t: "Groceries" in t["title"]),
        ("q=100%25", lambda t: "100%" in (t["description"] or "")),
        ("q=1_c", lambda t: False),  # '_' is literal, not a wildcard ("Item 1 chore")
        ("q=SURE_THING", lambda t: "sure_thing" in (t["description"] or "")),
        ("parent_id=root", lambda t: True),
        (
            "due_before=2030-05-05T00:00:00Z",
            lambda t: t["deadline"] is not None and t["deadline"] < "2030-05-05T00:00:00Z",
        ),
        (
            "due_after=2030-05-05T00:00:00Z",
            lambda t: t["deadline"] is not None and t["deadline"] >= "2030-05-05T00:00:00Z",
        ),
    ],
)
def test_filters(client: Client, catalogue: Any, query: str, keep: Any) -> None:
    me, todos, _ = catalogue
    expected = [t["id"] for t in reversed(todos) if keep(t)]
    assert ids(walk(client, me, query)) == expected


def test_tag_filter(client: Client, catalogue: Any) -> None:
    me, todos, work = catalogue
    expected = [t["id"] for t in reversed(todos) if work in t["tag_ids"]]
    assert ids(walk(client, me, f"tag={work}")) == expected


@pytest.mark.parametrize(
    "sort", ["deadline", "-deadline", "-priority", "updated_at", "-updated_at"]
)
def test_sorts_walk_every_row_once_in_order(client: Client, catalogue: Any, sort: str) -> None:
    me, todos, _ = catalogue
    got = walk(client, me, f"sort={sort}", limit=4)
    assert sorted(ids(got)) == sorted(ids(todos))
    descending = sort.startswith("-")
    field = sort.lstrip("-")

    # Expected order: (key, id) ascending with NULLs last; descending is the exact reverse.
    def key(t: dict[str, Any]) -> tuple[Any, ...]:
        if field == "priority":
            return (t[field], t["id"])
        value = t[field]
        moment = datetime.fromisoformat(value) if value is not None else None
        return (moment is None, moment or datetime.min.replace(tzinfo=UTC), t["id"])

    ordered = sorted(todos, key=key)
    if descending:
        ordered.reverse()
    assert ids(got) == ids(ordered)


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=x",
        "sort=title",
        "done=maybe",
        "scope=everyone",
        "unknown=1",
        "due_before=yesterday",
        "parent_id=nope",
    ],
)
def test_bad_list_parameters_are_422(client: Client, catalogue: Any, query: str) -> None:
    me, _, _ = catalogue
    assert_problem(client.get(f"/v1/todos?{query}", headers=me.headers), 422)


def test_tampered_and_foreign_cursors_are_422(client: Client, catalogue: Any) -> None:
    me, _, _ = catalogue
    cursor = client.get("/v1/todos?limit=2", headers=me.headers).get_json()["next_cursor"]
    payload, _, signature = cursor.partition(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    assert "cursor" in error_fields(client.get(f"/v1/todos?cursor={tampered}", headers=me.headers))
    assert "cursor" in error_fields(client.get("/v1/todos?cursor=garbage", headers=me.headers))
    other = register(client)
    assert "cursor" in error_fields(
        client.get(f"/v1/todos?limit=2&cursor={cursor}", headers=other.headers)
    )
    for changed in ("sort=created_at", "done=true"):
        response = client.get(f"/v1/todos?limit=2&{changed}&cursor={cursor}", headers=me.headers)
        assert "cursor" in error_fields(response)
    tag_cursor_source = client.post("/v1/tags", json={"name": "a"}, headers=me.headers)
    assert tag_cursor_source.status_code in (201, 409)


def test_inserts_during_a_walk_cause_no_duplicates_or_gaps(client: Client) -> None:
    me = register(client)
    originals = [create(client, me, title=f"o{i}") for i in range(20)]
    seen: list[str] = []
    url = "/v1/todos?limit=6"
    while True:
        page = client.get(url, headers=me.headers).get_json()
        seen += ids(page["items"])
        create(client, me, title="inserted while walking")
        if page["next_cursor"] is None:
            break
        url = f"/v1/todos?limit=6&cursor={page['next_cursor']}"
    assert len(seen) == len(set(seen))
    assert set(ids(originals)) <= set(seen)


def test_every_todo_route_stays_within_3_statements_on_200_rich_rows(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    owner, friend = register(client), register(client)
    tags = [
        client.post("/v1/tags", json={"name": f"t{i}"}, headers=owner.headers).get_json()["id"]
        for i in range(3)
    ]
    rule = {
        "type": "weekly",
        "interval": 1,
        "days_of_week": [1, 4],
        "start_at": "2030-01-06T09:00:00Z",
    }
    todos = [
        create(
            client,
            owner,
            title=f"rich {i}",
            tag_ids=tags,
            recurrence=rule,
            deadline="2030-02-01T09:00:00Z",
            remind_at="2030-02-01T08:00:00Z",
        )
        for i in range(200)
    ]
    for todo in todos[:40]:
        share = {"email": friend.email, "permission": "write"}
        assert (
            client.put(
                f"/v1/todos/{todo['id']}/shares", json=share, headers=owner.headers
            ).status_code
            == 200
        )
    log = QueryLog(caplog)
    one = todos[0]["id"]
    url = f"/v1/todos/{one}"
    checks = {
        "list all 200": client.get("/v1/todos?limit=200", headers=owner.headers),
        "list shared": client.get("/v1/todos?limit=200&scope=shared", headers=friend.headers),
        "list filtered": client.get(
            f"/v1/todos?limit=200&tag={tags[0]}&q=rich&sort=deadline", headers=owner.headers
        ),
        "create": client.post(
            "/v1/todos",
            json={"title": "n", "tag_ids": tags, "recurrence": rule},
            headers=owner.headers,
        ),
        "create idempotent": client.post(
            "/v1/todos",
            json={"title": "n", "tag_ids": tags, "recurrence": rule},
            headers={**owner.headers, "Idempotency-Key": "count-me"},
        ),
        "replay": client.post(
            "/v1/todos",
            json={"title": "n", "tag_ids": tags, "recurrence": rule},
            headers={**owner.headers, "Idempotency-Key": "count-me"},
        ),
        "get": client.get(url, headers=friend.headers),
        "patch all": client.patch(
            url,
            json={
                "title": "p",
                "tag_ids": tags[:1],
                "recurrence": None,
                "parent_id": todos[1]["id"],
            },
            headers=owner.headers,
        ),
        "patch stale": client.patch(
            url, json={"title": "p"}, headers={**owner.headers, "If-Match": '"99"'}
        ),
        "complete": client.post(f"/v1/todos/{todos[2]['id']}/complete", headers=friend.headers),
        "reopen": client.post(f"/v1/todos/{todos[2]['id']}/reopen", headers=friend.headers),
        "tag": client.put(f"{url}/tags/{tags[2]}", headers=owner.headers),
        "untag": client.delete(f"{url}/tags/{tags[2]}", headers=owner.headers),
        "shares": client.get(f"/v1/todos/{todos[3]['id']}/shares", headers=owner.headers),
        "share": client.put(
            f"/v1/todos/{todos[3]['id']}/shares",
            json={"email": friend.email, "permission": "read"},
            headers=owner.headers,
        ),
        "unshare": client.delete(
            f"/v1/todos/{todos[3]['id']}/shares/{friend.id}", headers=owner.headers
        ),
        "refused share": client.get(f"/v1/todos/{todos[4]['id']}/shares", headers=friend.headers),
        "delete": client.delete(f"/v1/todos/{todos[5]['id']}", headers=owner.headers),
    }
    assert len(checks["list all 200"].get_json()["items"]) == 200
    assert len(checks["list shared"].get_json()["items"]) == 40
    counts = {name: log.of(response) for name, response in checks.items()}
    assert all(count <= 3 for count in counts.values()), counts
    assert counts["list all 200"] == 1


def test_twenty_parallel_patches_with_one_etag_exactly_one_wins(
    gateway: Any, client: Client
) -> None:
    me = register(client)
    todo = create(client, me)
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def patch(i: int) -> None:
        worker = Client(gateway)
        barrier.wait()
        response = worker.patch(
            f"/v1/todos/{todo['id']}",
            json={"title": f"writer {i}"},
            headers={**me.headers, "If-Match": '"1"'},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [412] * 19
    final = client.get(f"/v1/todos/{todo['id']}", headers=me.headers).get_json()
    assert final["version"] == 2


def test_ten_parallel_identical_creates_with_one_key_create_one_todo(
    gateway: Any, client: Client
) -> None:
    me = register(client)
    results: list[Any] = []
    barrier = threading.Barrier(10)

    def post() -> None:
        worker = Client(gateway)
        barrier.wait()
        results.append(
            worker.post(
                "/v1/todos",
                json={"title": "once"},
                headers={**me.headers, "Idempotency-Key": "same-key"},
            )
        )

    threads = [threading.Thread(target=post) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in results} <= {201, 409}
    created = {r.get_json()["id"] for r in results if r.status_code == 201}
    assert len(created) == 1
    listed = client.get("/v1/todos", headers=me.headers).get_json()["items"]
    assert [t["title"] for t in listed] == ["once"]
    replay = client.post(
        "/v1/todos", json={"title": "once"}, headers={**me.headers, "Idempotency-Key": "same-key"}
    )
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["id"] in created


def test_idempotency_key_rules(client: Client) -> None:
    me = register(client)
    headers = {**me.headers, "Idempotency-Key": "k-1"}
    first = client.post("/v1/todos", json={"title": "a"}, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = client.post("/v1/todos", json={"title": "a"}, headers=headers)
    assert (again.status_code, again.get_json()) == (201, first.get_json())
    assert again.headers["Location"] == first.headers["Location"]
    assert "Idempotency-Key" in error_fields(
        client.post("/v1/todos", json={"title": "b"}, headers=headers)
    )
    assert "Idempotency-Key" in error_fields(
        client.post(
            "/v1/todos", json={"title": "a"}, headers={**me.headers, "Idempotency-Key": "x" * 256}
        )
    )
    other = register(client)  # keys are scoped to the caller
    theirs = client.post(
        "/v1/todos", json={"title": "a"}, headers={**other.headers, "Idempotency-Key": "k-1"}
    )
    assert theirs.status_code == 201
    assert theirs.get_json()["id"] != first.get_json()["id"]
