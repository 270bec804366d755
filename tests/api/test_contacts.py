"""Contacts (docs/api.md §8): child lists written and read with the contact, search, budgets."""

from __future__ import annotations

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
    response = client.post("/v1/contacts", json={"name": "Ada", **fields}, headers=who.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def test_create_keeps_the_lists_in_order(client: Client, me: Account) -> None:
    body = {
        "name": "Ada Lovelace",
        "note": "math",
        "numbers": ["+44 20 7946 0958", "+44 20 0000 0001", "+1 555 0100"],
        "emails": ["ada@example.com", "ADA@Example.org"],
        "addresses": ["12 St James's Square, London"],
    }
    response = client.post("/v1/contacts", json=body, headers=me.headers)
    assert response.status_code == 201
    contact = response.get_json()
    assert contact["numbers"] == body["numbers"]
    assert contact["emails"] == ["ada@example.com", "ADA@example.org"]  # domains normalised
    assert contact["addresses"] == body["addresses"]
    assert response.headers["ETag"] == '"1"'
    assert client.get(f"/v1/contacts/{contact['id']}", headers=me.headers).get_json() == contact


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "numbers": ["1" * 51]}, "numbers.0"),
        ({"name": "ok", "numbers": [""]}, "numbers.0"),
        ({"name": "ok", "numbers": ["1"] * 21}, "numbers"),
        ({"name": "ok", "emails": ["not-an-email"]}, "emails.0"),
        ({"name": "ok", "emails": ["a@b.co", "@nope"]}, "emails.1"),
        ({"name": "ok", "addresses": ["x" * 256]}, "addresses.0"),
        ({"name": "ok", "numbers": "555"}, "numbers"),
        ({"name": "ok", "note": "x" * 2001}, "note"),
    ],
)
def test_invalid_contacts_are_422(client: Client, me: Account, body: Any, field: str) -> None:
    response = client.post("/v1/contacts", json=body, headers=me.headers)
    assert field in error_fields(response)
    assert client.get("/v1/contacts", headers=me.headers).get_json()["items"] == []


def test_a_patch_with_a_list_replaces_that_list_only(client: Client, me: Account) -> None:
    contact = create(
        client, me, numbers=["1", "2"], emails=["a@example.com"], addresses=["somewhere"]
    )
    url = f"/v1/contacts/{contact['id']}"
    after = client.patch(url, json={"numbers": ["3"]}, headers=me.headers).get_json()
    assert (after["numbers"], after["emails"], after["addresses"]) == (
        ["3"],
        ["a@example.com"],
        ["somewhere"],
    )
    cleared = client.patch(url, json={"emails": [], "name": "Bea"}, headers=me.headers).get_json()
    assert (cleared["name"], cleared["emails"], cleared["numbers"]) == ("Bea", [], ["3"])
    assert cleared["version"] == 3
    assert "numbers" in error_fields(client.patch(url, json={"numbers": None}, headers=me.headers))


def test_search_matches_name_numbers_and_emails(client: Client, me: Account) -> None:
    by_name = create(client, me, name="Grace Hopper")
    by_number = create(client, me, name="X", numbers=["+1 (555) 867-5309"])
    by_email = create(client, me, name="Y", emails=["hopper@navy.example"])
    create(client, me, name="Z", addresses=["Hopper Street 1"])  # addresses are not searched

    def found(q: str) -> set[str]:
        page = client.get(f"/v1/contacts?q={q}", headers=me.headers).get_json()
        return {c["id"] for c in page["items"]}

    assert found("hopper") == {by_name["id"], by_email["id"]}
    assert found("867-53") == {by_number["id"]}


def test_sort_by_name(client: Client, me: Account) -> None:
    names = ["mallory", "Alice", "bob", "Carol"]
    for name in names:
        create(client, me, name=name)
    page = client.get("/v1/contacts?sort=name", headers=me.headers).get_json()
    assert [c["name"] for c in page["items"]] == sorted(names)  # byte order of the collation
    reverse = client.get("/v1/contacts?sort=-name", headers=me.headers).get_json()
    assert [c["name"] for c in reverse["items"]] == sorted(names, reverse=True)


def test_sharee_write_may_change_all_but_tags(client: Client, me: Account) -> None:
    friend = register(client)
    tag = client.post("/v1/tags", json={"name": "t"}, headers=me.headers).get_json()["id"]
    contact = create(client, me)
    assert (
        client.put(
            f"/v1/contacts/{contact['id']}/shares",
            json={"email": friend.email, "permission": "write"},
            headers=me.headers,
        ).status_code
        == 200
    )
    url = f"/v1/contacts/{contact['id']}"
    ok = client.patch(
        url,
        json={"name": "N", "pinned": True, "numbers": ["9"], "note": "n"},
        headers=friend.headers,
    )
    assert ok.status_code == 200
    assert_problem(client.patch(url, json={"tag_ids": [tag]}, headers=friend.headers), 403)
    assert_problem(client.put(f"{url}/tags/{tag}", headers=friend.headers), 403)
    assert_problem(
        client.put(
            f"{url}/shares", json={"email": me.email, "permission": "read"}, headers=friend.headers
        ),
        403,
    )


def test_contact_routes_stay_within_3_statements_on_200_rich_contacts(
    client: Client, me: Account, caplog: pytest.LogCaptureFixture
) -> None:
    friend = register(client)
    tags = [
        client.post("/v1/tags", json={"name": f"t{i}"}, headers=me.headers).get_json()["id"]
        for i in range(3)
    ]
    rich = {
        "numbers": ["+1 555 0100", "+1 555 0101", "+1 555 0102"],
        "emails": ["a@example.com", "b@example.com"],
        "addresses": ["1 Main St", "2 Side St", "3 Back St"],
        "tag_ids": tags,
    }
    contacts = [create(client, me, name=f"Person {i:03}", **rich) for i in range(200)]
    for contact in contacts[:25]:
        assert (
            client.put(
                f"/v1/contacts/{contact['id']}/shares",
                json={"email": friend.email, "permission": "read"},
                headers=me.headers,
            ).status_code
            == 200
        )
    log = QueryLog(caplog)
    url = f"/v1/contacts/{contacts[0]['id']}"
    checks = {
        "list 200": client.get("/v1/contacts?limit=200", headers=me.headers),
        "list by name": client.get("/v1/contacts?limit=200&sort=name", headers=me.headers),
        "list shared": client.get("/v1/contacts?limit=200&scope=shared", headers=friend.headers),
        "search": client.get("/v1/contacts?limit=200&q=555", headers=me.headers),
        "create": client.post(
            "/v1/contacts",
            json={"name": "n", **rich},
            headers={**me.headers, "Idempotency-Key": "c1"},
        ),
        "get": client.get(url, headers=friend.headers),
        "patch lists": client.patch(
            url,
            json={
                "numbers": ["1"],
                "emails": ["c@example.com"],
                "addresses": [],
                "tag_ids": tags[:1],
            },
            headers=me.headers,
        ),
        "untag": client.delete(f"{url}/tags/{tags[0]}", headers=me.headers),
        "shares": client.get(f"{url}/shares", headers=me.headers),
        "unshare": client.delete(f"{url}/shares/{friend.id}", headers=me.headers),
        "share": client.put(
            f"{url}/shares", json={"email": friend.email, "permission": "write"}, headers=me.headers
        ),
        "delete": client.delete(url, headers=me.headers),
    }
    listed = checks["list 200"].get_json()["items"]
    assert len(listed) == 200
    assert all(c["numbers"] == rich["numbers"] and c["tag_ids"] == sorted(tags) for c in listed)
    assert len(checks["search"].get_json()["items"]) == 200
    assert all(response.status_code < 400 for response in checks.values())
    counts = {name: log.of(response) for name, response in checks.items()}
    assert all(count <= 3 for count in counts.values()), counts
    assert counts["list 200"] == 1
