"""Tags (docs/api.md §5) through the `tags` function's entry point."""

from __future__ import annotations

import uuid

import pytest
from werkzeug.test import Client

from tests.api.helpers import QueryLog, assert_problem, error_fields
from tests.factories import Account, register

pytestmark = pytest.mark.api


@pytest.fixture
def me(client: Client) -> Account:
    return register(client)


def create(client: Client, who: Account, name: str) -> dict[str, object]:
    response = client.post("/v1/tags", json={"name": name}, headers=who.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def test_create_returns_the_tag_with_location_and_etag(client: Client, me: Account) -> None:
    response = client.post("/v1/tags", json={"name": "  Work "}, headers=me.headers)
    assert response.status_code == 201
    tag = response.get_json()
    assert tag["name"] == "Work"
    assert tag["version"] == 1
    assert response.headers["Location"] == f"/v1/tags/{tag['id']}"
    assert response.headers["ETag"] == '"1"'
    assert client.get(response.headers["Location"], headers=me.headers).get_json() == tag


def test_names_are_unique_per_user_ignoring_case(client: Client, me: Account) -> None:
    create(client, me, "Errands")
    assert_problem(client.post("/v1/tags", json={"name": "ERRANDS"}, headers=me.headers), 409)
    other = register(client)
    create(client, other, "errands")  # another user may use the name


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"name": 5}, "name"),
        ({}, "name"),
        ({"name": "ok", "user_id": str(uuid.uuid4())}, "user_id"),
        ({"name": "ok", "id": str(uuid.uuid4())}, "id"),
    ],
)
def test_invalid_bodies_are_422(client: Client, me: Account, body: object, field: str) -> None:
    response = client.post("/v1/tags", json=body, headers=me.headers)
    assert field in error_fields(response)


def test_list_is_sorted_by_name_and_pages(client: Client, me: Account) -> None:
    names = ["delta", "Alpha", "charlie", "bravo", "echo"]
    for name in names:
        create(client, me, name)
    seen: list[str] = []
    url = "/v1/tags?limit=2"
    while True:
        page = client.get(url, headers=me.headers).get_json()
        seen += [t["name"] for t in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"/v1/tags?limit=2&cursor={page['next_cursor']}"
    assert seen == sorted(names, key=str.lower)


def test_rename_honours_if_match(client: Client, me: Account) -> None:
    tag = create(client, me, "old")
    stale = client.patch(
        f"/v1/tags/{tag['id']}", json={"name": "new"}, headers={**me.headers, "If-Match": '"7"'}
    )
    assert_problem(stale, 412)
    assert client.get(f"/v1/tags/{tag['id']}", headers=me.headers).get_json()["name"] == "old"
    fresh = client.patch(
        f"/v1/tags/{tag['id']}", json={"name": "new"}, headers={**me.headers, "If-Match": '"1"'}
    )
    assert fresh.status_code == 200
    assert fresh.get_json()["name"] == "new"
    assert fresh.headers["ETag"] == '"2"'


def test_rename_to_a_taken_name_is_409(client: Client, me: Account) -> None:
    create(client, me, "home")
    tag = create(client, me, "work")
    response = client.patch(f"/v1/tags/{tag['id']}", json={"name": "HOME"}, headers=me.headers)
    assert_problem(response, 409)


def test_other_users_tags_are_404(client: Client, me: Account) -> None:
    tag = create(client, me, "mine")
    stranger = register(client)
    for method in ("GET", "PATCH", "DELETE"):
        response = client.open(
            f"/v1/tags/{tag['id']}", method=method, json={"name": "x"}, headers=stranger.headers
        )
        assert_problem(response, 404)
    assert client.get("/v1/tags", headers=stranger.headers).get_json()["items"] == []


def test_deleting_a_tag_detaches_it_and_frees_its_name(client: Client, me: Account) -> None:
    tag = create(client, me, "temp")
    todo = client.post(
        "/v1/todos", json={"title": "t", "tag_ids": [tag["id"]]}, headers=me.headers
    ).get_json()
    assert todo["tag_ids"] == [tag["id"]]
    assert client.delete(f"/v1/tags/{tag['id']}", headers=me.headers).status_code == 204
    assert_problem(client.get(f"/v1/tags/{tag['id']}", headers=me.headers), 404)
    after = client.get(f"/v1/todos/{todo['id']}", headers=me.headers)
    assert after.get_json()["tag_ids"] == []
    assert after.headers["ETag"] == '"2"'  # a change of the todo: its version moved
    create(client, me, "temp")


def test_deleting_a_tag_moves_the_version_of_every_item_it_leaves(
    client: Client, me: Account
) -> None:
    tag, other = create(client, me, "gone"), create(client, me, "stays")
    items = {
        path: client.post(path, json={**body, "tag_ids": [tag["id"]]}, headers=me.headers)
        for path, body in (
            ("/v1/todos", {"title": "t"}),
            ("/v1/memos", {"content": "m"}),
            ("/v1/contacts", {"name": "c"}),
        )
    }
    untouched = client.post(
        "/v1/todos", json={"title": "u", "tag_ids": [other["id"]]}, headers=me.headers
    ).get_json()
    assert client.delete(f"/v1/tags/{tag['id']}", headers=me.headers).status_code == 204
    for path, created in items.items():
        now = client.get(f"{path}/{created.get_json()['id']}", headers=me.headers).get_json()
        assert (now["tag_ids"], now["version"]) == ([], 2), path
    kept = client.get(f"/v1/todos/{untouched['id']}", headers=me.headers).get_json()
    assert (kept["tag_ids"], kept["version"]) == ([other["id"]], 1)


def test_unauthenticated_is_401(client: Client) -> None:
    response = client.get("/v1/tags")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_every_tag_route_runs_at_most_3_statements(
    client: Client, me: Account, caplog: pytest.LogCaptureFixture
) -> None:
    log = QueryLog(caplog)
    for i in range(30):
        create(client, me, f"tag {i}")
        assert log.last() <= 3
    tag = create(client, me, "counted")
    responses = [
        client.get("/v1/tags?limit=200", headers=me.headers),
        client.get(f"/v1/tags/{tag['id']}", headers=me.headers),
        client.patch(f"/v1/tags/{tag['id']}", json={"name": "c2"}, headers=me.headers),
        client.patch(
            f"/v1/tags/{tag['id']}", json={"name": "c3"}, headers={**me.headers, "If-Match": '"1"'}
        ),
        client.delete(f"/v1/tags/{tag['id']}", headers=me.headers),
        client.post(
            "/v1/tags", json={"name": "idem"}, headers={**me.headers, "Idempotency-Key": "k"}
        ),
    ]
    for response in responses:
        assert log.of(response) <= 3, response.request.path
