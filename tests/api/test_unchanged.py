"""Unchanged is unchanged (api-v1 §2): a PATCH that changes no stored value answers 200 with
the same version and ETag, on every resource that has a version, from its owner and from a
write sharee alike; a PATCH that does change something still moves the version."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from tests.factories import Account, register

pytestmark = pytest.mark.api

RECURRENCE = {
    "type": "weekly",
    "interval": 2,
    "days_of_week": [1, 4],
    "start_at": "2030-01-07T09:00:00Z",
    "end_at": "2031-01-07T09:00:00Z",
}


def created(client: Client, who: Account, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers=who.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def tag(client: Client, who: Account, name: str) -> str:
    return str(created(client, who, "/v1/tags", {"name": name})["id"])


def assert_unchanged(client: Client, who: Account, url: str, body: dict[str, Any]) -> None:
    before = client.get(url, headers=who.headers)
    response = client.patch(url, json=body, headers=who.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] == before.headers["ETag"], body
    assert response.get_json() == before.get_json()
    assert client.get(url, headers=who.headers).get_json() == before.get_json()


def assert_changed(client: Client, who: Account, url: str, body: dict[str, Any]) -> None:
    version = int(client.get(url, headers=who.headers).headers["ETag"].strip('"'))
    response = client.patch(url, json=body, headers=who.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] == f'"{version + 1}"', body


def share(client: Client, owner: Account, url: str, friend: Account) -> None:
    response = client.put(
        f"{url}/shares", json={"email": friend.email, "permission": "write"}, headers=owner.headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def test_todos(client: Client) -> None:
    me, friend = register(client), register(client)
    a, b = tag(client, me, "a"), tag(client, me, "b")
    parent = created(client, me, "/v1/todos", {"title": "parent"})
    body = {
        "title": "Water the plants",
        "description": "both",
        "priority": 3,
        "pinned": True,
        "deadline": "2030-01-07T09:00:00Z",
        "remind_at": "2030-01-07T08:30:00Z",
        "parent_id": parent["id"],
        "tag_ids": [b, a],
        "recurrence": RECURRENCE,
    }
    todo = created(client, me, "/v1/todos", body)
    url = f"/v1/todos/{todo['id']}"
    share(client, me, url, friend)
    assert_unchanged(client, me, url, {})
    assert_unchanged(client, me, url, body)  # every value as stored
    assert_unchanged(client, me, url, {"tag_ids": [a, b, a]})  # a set: order and repeats
    assert_unchanged(client, me, url, {"deadline": "2030-01-07T10:00:00+01:00"})  # one instant
    assert_unchanged(client, me, url, {"recurrence": RECURRENCE, "done": False})
    assert_unchanged(client, friend, url, {})
    assert_unchanged(client, friend, url, {"title": "Water the plants", "priority": 3})
    assert_changed(client, friend, url, {"priority": 4})
    assert_changed(client, me, url, {"tag_ids": [a]})
    assert_changed(client, me, url, {"recurrence": {**RECURRENCE, "interval": 3}})
    assert_changed(client, me, url, {"recurrence": None})
    assert_unchanged(client, me, url, {"recurrence": None})
    assert_changed(client, me, url, {"done": True})
    assert_unchanged(client, me, url, {"done": True})  # completed_at is kept, not renewed


def test_memos(client: Client) -> None:
    me, friend = register(client), register(client)
    a = tag(client, me, "a")
    body = {"content": "c", "note": "n", "pinned": True, "obfuscated": True, "secret": False}
    memo = created(client, me, "/v1/memos", {**body, "tag_ids": [a]})
    url = f"/v1/memos/{memo['id']}"
    share(client, me, url, friend)
    assert_unchanged(client, me, url, {})
    assert_unchanged(client, me, url, {**body, "tag_ids": [a]})
    assert_unchanged(client, friend, url, {})
    assert_unchanged(client, friend, url, {"content": "c", "note": "n"})
    assert_changed(client, friend, url, {"note": None})
    assert_changed(client, me, url, {"tag_ids": []})
    assert_unchanged(client, me, url, {"tag_ids": []})


def test_contacts(client: Client) -> None:
    me, friend = register(client), register(client)
    body = {
        "name": "Ada",
        "note": "math",
        "numbers": ["+44 1", "+44 2"],
        "emails": ["ada@example.com"],
        "addresses": [],
    }
    contact = created(client, me, "/v1/contacts", body)
    url = f"/v1/contacts/{contact['id']}"
    share(client, me, url, friend)
    assert_unchanged(client, me, url, {})
    assert_unchanged(client, me, url, body)
    assert_unchanged(client, friend, url, {"numbers": ["+44 1", "+44 2"], "addresses": []})
    assert_changed(client, friend, url, {"numbers": ["+44 2", "+44 1"]})  # order is stored
    assert_changed(client, me, url, {"addresses": ["1 Road"]})
    assert_unchanged(client, me, url, {"addresses": ["1 Road"], "name": "Ada"})


def test_tags(client: Client) -> None:
    me = register(client)
    url = f"/v1/tags/{tag(client, me, 'Work')}"
    assert_unchanged(client, me, url, {"name": "Work"})
    assert_changed(client, me, url, {"name": "work"})  # a case change is a change
    assert_changed(client, me, url, {"name": "Home"})


def test_users(client: Client) -> None:
    me = register(client, display_name="Ada", timezone="Europe/London")
    url = "/v1/users/me"
    assert_changed(client, me, url, {"locale": "en-GB"})
    assert_unchanged(client, me, url, {})
    assert_unchanged(
        client,
        me,
        url,
        {"username": "someone", "display_name": "Ada", "timezone": "Europe/London"},
    )
    assert_unchanged(client, me, url, {"locale": "en-gb"})  # the same tag, once normalised
    assert_changed(client, me, url, {"display_name": None})
