"""The JSON PostgreSQL builds for todos, memos and contacts (common.shareable.access.View)
against an independent oracle: the same items read as plain columns (`get_visible`, the
rows the change feeds read), turned into the Out schema by pydantic and dumped.

The routes send the SQL-built JSON as it is, never parsed or validated on the way, so this
is where it is held to the schemas: for varied items (nulls, unicode and control
characters, timestamps with and without microseconds and given with offsets, every
recurrence kind, sub-todos, deleted tags) seen by their owner and by sharees of each
permission, the body of every GET, list, PATCH, complete and reopen must equal the oracle's
dump, and validate against the Out schema.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from werkzeug.test import Client

from common.schemas.contacts import ContactOut
from common.schemas.memos import MemoOut
from common.schemas.todos import TodoOut
from common.shareable import contacts, memos, todos
from common.shareable.access import View, get_visible
from tests.api.helpers import WAIT_S, QueryLog, wait_for
from tests.factories import Account, register

pytestmark = pytest.mark.api

ODD = 'Zürich ☃ 控制 "quoted" \\ back\nslash\ttab \x01\x1f end 👍🏽'

TODOS: list[dict[str, Any]] = [
    {"title": "plain"},
    {
        "title": ODD,
        "description": ODD,
        "priority": 4,
        "pinned": True,
        "done": True,
        "deadline": "2031-02-03T04:05:06.789Z",
        "remind_at": "2031-02-03T09:35:06+05:30",
    },
    {"title": "old", "deadline": "0001-01-01T00:00:00.000001Z", "description": ""},
    {
        "title": "daily",
        "recurrence": {"type": "daily", "interval": 2, "start_at": "2030-01-01T08:00:00Z"},
    },
    {
        "title": "weekly",
        "deadline": "2030-01-07T08:00:00Z",
        "recurrence": {
            "type": "weekly",
            "interval": 1,
            "days_of_week": [1, 3, 5],
            "start_at": "2030-01-06T08:00:00.5-01:00",
            "end_at": "2031-01-01T00:00:00Z",
        },
    },
    {
        "title": "monthly",
        "recurrence": {
            "type": "monthly",
            "interval": 3,
            "days_of_month": [-1, 15],
            "start_at": "2030-01-31T00:00:00Z",
        },
    },
    {
        "title": "monthly by week",
        "recurrence": {
            "type": "monthly",
            "interval": 1,
            "weeks_of_month": [-1, 2],
            "start_at": "2030-01-01T00:00:00Z",
        },
    },
    {
        "title": "yearly",
        "recurrence": {
            "type": "yearly",
            "interval": 1,
            "months_of_year": [12, 1],
            "start_at": "2030-01-01T00:00:00Z",
            "end_at": "2040-01-01T00:00:00.000001Z",
        },
    },
]
MEMOS: list[dict[str, Any]] = [
    {"content": "plain"},
    {"content": ODD, "note": ODD, "pinned": True, "secret": False},
    {"content": "hidden in lists", "obfuscated": True, "secret": False, "note": ""},
]
CONTACTS: list[dict[str, Any]] = [
    {"name": "plain"},
    {
        "name": ODD,
        "note": ODD,
        "pinned": True,
        "numbers": ["+41 44 000 00 00", ODD, "1"],
        "emails": ["b@example.com", "a@example.com"],
        "addresses": [ODD],
    },
]
RESOURCES = {
    "todos": (todos.VIEW, TodoOut),
    "memos": (memos.VIEW, MemoOut),
    "contacts": (contacts.VIEW, ContactOut),
}


@pytest.fixture
def world(client: Client) -> dict[str, Any]:
    """An owner's varied items, shared with a write and a read sharee."""
    owner, writer, reader = (register(client) for _ in range(3))
    tags = [post(client, owner, "/v1/tags", {"name": f"tag {i} {ODD[:9]}"})["id"] for i in range(3)]
    tag_ids = [tags[2], tags[0], tags[1]]
    made: dict[str, list[str]] = {"todos": [], "memos": [], "contacts": []}
    for i, body in enumerate(TODOS):
        made["todos"].append(
            post(client, owner, "/v1/todos", {**body, "tag_ids": tag_ids[: i % 4]})["id"]
        )
    root = made["todos"][0]
    child = post(client, owner, "/v1/todos", {"title": "sub", "parent_id": root, "tag_ids": tags})
    made["todos"].append(child["id"])
    for i, body in enumerate(MEMOS):
        made["memos"].append(
            post(client, owner, "/v1/memos", {**body, "tag_ids": tag_ids[:i]})["id"]
        )
    for i, body in enumerate(CONTACTS):
        made["contacts"].append(
            post(client, owner, "/v1/contacts", {**body, "tag_ids": tag_ids[i:]})["id"]
        )
    deleted = client.delete(f"/v1/tags/{tags[1]}", headers=owner.headers)
    assert deleted.status_code == 204
    for resource, ids in made.items():
        shareable = ids if resource != "memos" else ids[1:]  # the first memo is secret
        for n, item in enumerate(shareable):
            for who, permission in ((writer, "write"), (reader, "read")):
                if resource == "todos" and item == child["id"] and who is reader:
                    continue  # the reader sees the sub-todo through its parent's share
                body = {"email": who.email, "permission": permission}
                if n % 2 and permission == "read":
                    body["expires_at"] = "2099-01-01T00:00:00Z"
                shared = client.put(
                    f"/v1/{resource}/{item}/shares", json=body, headers=owner.headers
                )
                assert shared.status_code == 200, shared.get_data(as_text=True)
    return {"owner": owner, "writer": writer, "reader": reader, "made": made}


def post(client: Client, who: Account, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers=who.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def oracle(engine: Engine, view: View, out: type[BaseModel], who: Account, item: str) -> Any:
    """The item as pydantic makes it from its columns, read separately from the route (None:
    `who` does not see it)."""
    with Session(engine) as session:
        row = get_visible(session=session, view=view, me=uuid.UUID(who.id), item_id=uuid.UUID(item))
    return None if row is None else out.model_validate(view.to_out(row)).model_dump(mode="json")


def held_to(out: type[BaseModel], text: str, expected: Any) -> None:
    """`text` is `expected` as JSON, and valid as the Out schema (nothing more, nothing less)."""
    assert json.loads(text) == expected
    assert out.model_validate_json(text).model_dump(mode="json") == expected


@pytest.mark.parametrize("resource", list(RESOURCES))
def test_gets_and_lists_are_what_pydantic_makes_of_the_rows(
    client: Client, engine: Engine, world: dict[str, Any], resource: str
) -> None:
    view, out = RESOURCES[resource]
    seen_access = set()
    for role in ("owner", "writer", "reader"):
        who = world[role]
        expected = {item: oracle(engine, view, out, who, item) for item in world["made"][resource]}
        for item in [item for item, want in expected.items() if want is None]:
            assert role != "owner"  # a secret memo
            assert client.get(f"/v1/{resource}/{item}", headers=who.headers).status_code == 404
            del expected[item]
        for item, want in expected.items():
            response = client.get(f"/v1/{resource}/{item}", headers=who.headers)
            assert response.status_code == 200
            assert response.mimetype == "application/json"
            assert response.headers["ETag"] == f'"{want["version"]}"'
            held_to(out, response.get_data(as_text=True), want)
            seen_access.add(want["access"])
        listed = client.get(f"/v1/{resource}?limit=200&sort=created_at", headers=who.headers)
        assert listed.status_code == 200
        page = listed.get_json()
        assert page["next_cursor"] is None
        assert [i["id"] for i in page["items"]] == list(expected)
        for shown in page["items"]:
            want = dict(expected[shown["id"]])
            if resource == "memos" and want["obfuscated"]:
                want["content"] = None  # lists hide an obfuscated memo's content
            held_to(out, json.dumps(shown), want)
    assert seen_access == {"owner", "write", "read"}


@pytest.mark.parametrize(
    "sort", ["created_at", "-updated_at", "deadline", "-deadline", "-priority"]
)
def test_pages_of_one_walk_the_whole_list(client: Client, world: dict[str, Any], sort: str) -> None:
    """Every cursor (its position written by PostgreSQL, SortKey.encoded) leads on: for
    deadlines with and without microseconds, in year 1, and null."""
    owner = world["owner"]
    whole = client.get(f"/v1/todos?limit=200&sort={sort}", headers=owner.headers).get_json()
    walked: list[str] = []
    path = f"/v1/todos?limit=1&sort={sort}"
    while path:
        response = client.get(path, headers=owner.headers)
        body = json.loads(response.get_data(as_text=True))
        assert list(body) == ["items", "next_cursor"]
        walked += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        path = f"/v1/todos?limit=1&sort={sort}&cursor={cursor}" if cursor else ""
    assert walked == [item["id"] for item in whole["items"]]
    assert sorted(walked) == sorted(world["made"]["todos"])


# --- writes answer with what their own statement returned ------------------------------------


def answered(
    client: Client, engine: Engine, log: QueryLog, response: Any, resource: str, who: Account
) -> tuple[dict[str, Any], int]:
    """A write's 200 body, held to the oracle read after it; with its statement count."""
    assert response.status_code == 200, response.get_data(as_text=True)
    view, out = RESOURCES[resource]
    body = response.get_json()
    want = oracle(engine, view, out, who, body["id"])
    held_to(out, response.get_data(as_text=True), want)
    assert response.headers["ETag"] == f'"{want["version"]}"'
    assert client.get(f"/v1/{resource}/{body['id']}", headers=who.headers).get_json() == want
    return want, log.of(response)


def test_patch_complete_and_reopen_read_nothing_back(
    client: Client, engine: Engine, world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    log = QueryLog(caplog)
    owner, writer = world["owner"], world["writer"]
    todo, plain, daily, weekly = (world["made"]["todos"][i] for i in (1, 2, 3, 4))
    tag = post(client, owner, "/v1/tags", {"name": "new"})["id"]
    rule = {
        "type": "monthly",
        "interval": 2,
        "weeks_of_month": [1],
        "start_at": "2032-05-01T10:00:00.25+02:00",
    }

    def patch(who: Account, resource: str, item: str, body: dict[str, Any]) -> Any:
        return client.patch(f"/v1/{resource}/{item}", json=body, headers=who.headers)

    def post_to(who: Account, path: str) -> Any:
        return client.post(path, headers=who.headers)

    shown, count = answered(
        client, engine, log, patch(writer, "todos", todo, {"title": ODD[::-1]}), "todos", writer
    )
    assert (shown["title"], shown["access"], count) == (ODD[::-1], "write", 1)
    every = {"tag_ids": [tag], "recurrence": rule, "deadline": "2032-05-03T00:00:00Z"}
    shown, count = answered(client, engine, log, patch(owner, "todos", todo, every), "todos", owner)
    assert (shown["tag_ids"], shown["recurrence"]["type"], count) == ([tag], "monthly", 1)
    again, count = answered(client, engine, log, patch(owner, "todos", todo, every), "todos", owner)
    assert (again["version"], count) == (shown["version"], 1)  # unchanged is unchanged
    shown, count = answered(
        client, engine, log, patch(owner, "todos", weekly, {"recurrence": None}), "todos", owner
    )
    assert (shown["recurrence"], count) == (None, 1)
    shown, count = answered(
        client, engine, log, post_to(writer, f"/v1/todos/{daily}/complete"), "todos", writer
    )
    assert (shown["done"], count) == (False, 2)  # moved on: the locked read, the update
    shown, count = answered(
        client, engine, log, post_to(writer, f"/v1/todos/{plain}/complete"), "todos", writer
    )
    assert (shown["done"], shown["completed_at"] is not None, count) == (True, True, 2)
    shown, count = answered(
        client, engine, log, post_to(writer, f"/v1/todos/{plain}/reopen"), "todos", writer
    )
    assert (shown["done"], shown["completed_at"], count) == (False, None, 1)
    memo, contact = world["made"]["memos"][2], world["made"]["contacts"][1]
    shown, count = answered(
        client,
        engine,
        log,
        patch(writer, "memos", memo, {"content": "c", "note": None}),
        "memos",
        writer,
    )
    assert (shown["content"], shown["note"], count) == ("c", None, 1)
    lists = {"numbers": [ODD], "emails": ["z@example.com"], "addresses": [], "tag_ids": []}
    shown, count = answered(
        client, engine, log, patch(owner, "contacts", contact, lists), "contacts", owner
    )
    assert (shown["numbers"], shown["addresses"], shown["tag_ids"], count) == ([ODD], [], [], 1)


def test_a_patch_that_waited_for_another_writer_shows_that_writer_s_change_too(
    gateway: Any, client: Client, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The PATCH's statement sees the tags as they were when it started; when it had to
    wait for a writer who changed them (and the version), its answer is read again."""
    log = QueryLog(caplog)
    owner = register(client)
    todo = post(client, owner, "/v1/todos", {"title": "t"})["id"]
    tag = post(client, owner, "/v1/tags", {"name": "theirs"})["id"]
    answer: list[Any] = []
    with engine.connect() as holder:
        holder.execute(
            text("INSERT INTO todo_tags (todo_id, tag_id) VALUES (:todo, :tag)"),
            {"todo": todo, "tag": tag},
        )
        holder.execute(
            text("UPDATE todos SET version = version + 1, updated_at = now() WHERE id = :todo"),
            {"todo": todo},
        )
        worker = threading.Thread(
            target=lambda: answer.append(
                Client(gateway).patch(
                    f"/v1/todos/{todo}", json={"title": "mine"}, headers=owner.headers
                )
            )
        )
        worker.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        with engine.connect() as probe:
            assert wait_for(lambda: probe.execute(text(waiting)).scalar_one() > 0)
        holder.commit()
    worker.join(WAIT_S)
    shown, count = answered(client, engine, log, answer[0], "todos", owner)
    assert (shown["title"], shown["tag_ids"], shown["version"]) == ("mine", [tag], 3)
    assert count == 2  # the update, then the read of what it did not see
