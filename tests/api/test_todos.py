"""Todos (docs/api.md §6): every endpoint and its error statuses, through the entry point."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from werkzeug.test import Client

from tests.api.helpers import assert_problem, error_fields
from tests.factories import Account, register

pytestmark = pytest.mark.api


@pytest.fixture
def me(client: Client) -> Account:
    return register(client)


def create(client: Client, who: Account, **fields: Any) -> dict[str, Any]:
    body = {"title": "a todo", **fields}
    response = client.post("/v1/todos", json=body, headers=who.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def create_daily(
    client: Client, who: Account, start: datetime, *, remind_before: timedelta
) -> dict[str, Any]:
    """A todo due at `start` and every day after at that time, with a reminder before it."""
    return create(
        client,
        who,
        deadline=start.isoformat(),
        remind_at=(start - remind_before).isoformat(),
        recurrence={"type": "daily", "interval": 1, "start_at": start.isoformat()},
    )


def tag(client: Client, who: Account, name: str = "t") -> str:
    response = client.post("/v1/tags", json={"name": name}, headers=who.headers)
    assert response.status_code == 201
    return str(response.get_json()["id"])


def get(client: Client, who: Account, todo_id: str) -> Any:
    return client.get(f"/v1/todos/{todo_id}", headers=who.headers)


# --- create and read ------------------------------------------------------------------


def test_create_with_defaults(client: Client, me: Account) -> None:
    response = client.post("/v1/todos", json={"title": "Buy milk"}, headers=me.headers)
    assert response.status_code == 201
    todo = response.get_json()
    assert response.headers["Location"] == f"/v1/todos/{todo['id']}"
    assert response.headers["ETag"] == '"1"'
    assert {k: todo[k] for k in ("title", "description", "priority", "pinned", "done")} == {
        "title": "Buy milk",
        "description": None,
        "priority": 0,
        "pinned": False,
        "done": False,
    }
    assert (todo["tag_ids"], todo["recurrence"], todo["parent_id"]) == ([], None, None)
    assert (todo["owner_id"], todo["access"], todo["version"]) == (me.id, "owner", 1)
    assert todo["created_at"].endswith("Z")
    assert get(client, me, todo["id"]).get_json() == todo


def test_create_with_every_field(client: Client, me: Account) -> None:
    parent = create(client, me)
    tags = sorted([tag(client, me, "a"), tag(client, me, "b")])
    body = {
        "title": "Report",
        "description": "quarterly",
        "priority": 4,
        "pinned": True,
        "deadline": "2030-01-15T17:00:00+01:00",
        "remind_at": "2030-01-15T16:00:00+01:00",
        "parent_id": parent["id"],
        "tag_ids": tags,
        "recurrence": {
            "type": "monthly",
            "interval": 1,
            "days_of_month": [15],
            "start_at": "2030-01-15T17:00:00+01:00",
        },
    }
    todo = client.post("/v1/todos", json=body, headers=me.headers).get_json()
    assert todo["deadline"] == "2030-01-15T16:00:00Z"  # responses are UTC
    assert todo["remind_at"] == "2030-01-15T15:00:00Z"
    assert todo["parent_id"] == parent["id"]
    assert todo["tag_ids"] == tags
    assert todo["recurrence"]["days_of_month"] == [15]
    assert todo["recurrence"]["start_at"] == "2030-01-15T16:00:00Z"
    assert get(client, me, todo["id"]).get_json() == todo


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "description": "x" * 10_001}, "description"),
        ({"title": "ok", "priority": 5}, "priority"),
        ({"title": "ok", "priority": -1}, "priority"),
        ({"title": "ok", "priority": "high"}, "priority"),
        ({"title": "ok", "deadline": "2030-01-01T10:00:00"}, "deadline"),
        ({"title": "ok", "deadline": "tomorrow"}, "deadline"),
        ({"title": "ok", "id": str(uuid.uuid4())}, "id"),
        ({"title": "ok", "owner_id": str(uuid.uuid4())}, "owner_id"),
        ({"title": "ok", "user_id": str(uuid.uuid4())}, "user_id"),
        ({"title": "ok", "version": 9}, "version"),
        ({"title": "ok", "created_at": "2030-01-01T10:00:00Z"}, "created_at"),
        ({"title": "ok", "access": "owner"}, "access"),
        ({"title": "ok", "tag_ids": ["not-a-uuid"]}, "tag_ids.0"),
        ({"title": "ok", "parent_id": "nope"}, "parent_id"),
        (
            {
                "title": "ok",
                "recurrence": {"type": "hourly", "interval": 1, "start_at": "2030-01-01T10:00:00Z"},
            },
            "recurrence.type",
        ),
        (
            {
                "title": "ok",
                "recurrence": {"type": "daily", "interval": 0, "start_at": "2030-01-01T10:00:00Z"},
            },
            "recurrence.interval",
        ),
        (
            {
                "title": "ok",
                "recurrence": {
                    "type": "weekly",
                    "interval": 1,
                    "days_of_week": [7],
                    "start_at": "2030-01-01T10:00:00Z",
                },
            },
            "recurrence.days_of_week.0",
        ),
        ({"title": "ok", "recurrence": {"type": "daily", "interval": 1}}, "recurrence.start_at"),
    ],
)
def test_invalid_fields_are_422(client: Client, me: Account, body: Any, field: str) -> None:
    response = client.post("/v1/todos", json=body, headers=me.headers)
    assert field in error_fields(response)


@pytest.mark.parametrize(
    ("recurrence", "field"),
    [
        ({"days_of_week": [1], "days_of_month": [1]}, "recurrence.days_of_month"),
        ({"end_at": "2029-01-01T10:00:00Z"}, "recurrence.end_at"),
    ],
)
def test_recurrence_rules_are_checked(
    client: Client, me: Account, recurrence: dict[str, Any], field: str
) -> None:
    rule = {"type": "monthly", "interval": 1, "start_at": "2030-01-01T10:00:00Z", **recurrence}
    response = client.post("/v1/todos", json={"title": "r", "recurrence": rule}, headers=me.headers)
    assert field in error_fields(response)


def test_foreign_or_unknown_tags_and_parents_are_422_and_create_nothing(
    client: Client, me: Account
) -> None:
    other = register(client)
    foreign_tag = tag(client, other)
    foreign_parent = create(client, other)
    for body, field in (
        ({"tag_ids": [foreign_tag]}, "tag_ids"),
        ({"tag_ids": [str(uuid.uuid4())]}, "tag_ids"),
        ({"parent_id": foreign_parent["id"]}, "parent_id"),
        ({"parent_id": str(uuid.uuid4())}, "parent_id"),
    ):
        response = client.post("/v1/todos", json={"title": "x", **body}, headers=me.headers)
        assert field in error_fields(response)
    assert client.get("/v1/todos", headers=me.headers).get_json()["items"] == []


@pytest.mark.parametrize(
    "path", ["/v1/todos/123", "/v1/todos/not-a-uuid", f"/v1/todos/{uuid.uuid4()}"]
)
def test_unknown_or_malformed_ids_are_404(client: Client, me: Account, path: str) -> None:
    assert_problem(client.get(path, headers=me.headers), 404)


# --- update -----------------------------------------------------------------------------


def test_patch_changes_only_what_is_sent_and_null_clears(client: Client, me: Account) -> None:
    todo = create(client, me, description="d", deadline="2030-01-01T10:00:00Z", priority=2)
    response = client.patch(
        f"/v1/todos/{todo['id']}",
        json={"description": None, "deadline": None, "title": "renamed"},
        headers=me.headers,
    )
    assert response.status_code == 200
    after = response.get_json()
    assert (after["title"], after["description"], after["deadline"]) == ("renamed", None, None)
    assert after["priority"] == 2
    assert after["version"] == 2
    assert response.headers["ETag"] == '"2"'


@pytest.mark.parametrize("field", ["title", "priority", "pinned", "done", "tag_ids"])
def test_patch_null_on_a_required_field_is_422(client: Client, me: Account, field: str) -> None:
    todo = create(client, me)
    response = client.patch(f"/v1/todos/{todo['id']}", json={field: None}, headers=me.headers)
    assert field in error_fields(response)


def test_patch_replaces_tags_and_recurrence(client: Client, me: Account) -> None:
    a, b, c = tag(client, me, "a"), tag(client, me, "b"), tag(client, me, "c")
    todo = create(client, me, tag_ids=[a, b])
    rule = {
        "type": "weekly",
        "interval": 2,
        "days_of_week": [1, 3],
        "start_at": "2030-01-07T08:00:00Z",
    }
    after = client.patch(
        f"/v1/todos/{todo['id']}", json={"tag_ids": [b, c], "recurrence": rule}, headers=me.headers
    ).get_json()
    assert after["tag_ids"] == sorted([b, c])
    assert after["recurrence"]["days_of_week"] == [1, 3]
    cleared = client.patch(
        f"/v1/todos/{todo['id']}", json={"tag_ids": [], "recurrence": None}, headers=me.headers
    ).get_json()
    assert (cleared["tag_ids"], cleared["recurrence"]) == ([], None)


def test_patch_with_a_foreign_tag_changes_nothing(client: Client, me: Account) -> None:
    todo = create(client, me, title="before")
    foreign = tag(client, register(client))
    response = client.patch(
        f"/v1/todos/{todo['id']}",
        json={"title": "after", "tag_ids": [foreign]},
        headers=me.headers,
    )
    assert "tag_ids" in error_fields(response)
    assert get(client, me, todo["id"]).get_json() == todo


def test_reparenting_checks_ownership_and_cycles(client: Client, me: Account) -> None:
    a = create(client, me, title="a")
    b = create(client, me, title="b", parent_id=a["id"])
    c = create(client, me, title="c", parent_id=b["id"])
    for parent in (a["id"], c["id"]):  # itself, its own descendant
        response = client.patch(
            f"/v1/todos/{a['id']}", json={"parent_id": parent}, headers=me.headers
        )
        assert "parent_id" in error_fields(response)
    moved = client.patch(f"/v1/todos/{c['id']}", json={"parent_id": a["id"]}, headers=me.headers)
    assert moved.get_json()["parent_id"] == a["id"]
    foreign = create(client, register(client))
    response = client.patch(
        f"/v1/todos/{c['id']}", json={"parent_id": foreign["id"]}, headers=me.headers
    )
    assert "parent_id" in error_fields(response)


def test_if_match_guards_every_write(client: Client, me: Account) -> None:
    todo = create(client, me)
    url = f"/v1/todos/{todo['id']}"
    stale = {**me.headers, "If-Match": '"5"'}
    assert_problem(client.patch(url, json={"title": "x"}, headers=stale), 412)
    assert_problem(client.post(f"{url}/complete", headers=stale), 412)
    assert_problem(client.post(f"{url}/reopen", headers=stale), 412)
    assert_problem(client.delete(url, headers=stale), 412)
    assert_problem(
        client.patch(url, json={"title": "x"}, headers={**me.headers, "If-Match": 'W/"1"'}), 412
    )
    assert get(client, me, todo["id"]).get_json() == todo  # nothing changed
    ok = client.patch(url, json={"title": "x"}, headers={**me.headers, "If-Match": '"4", "1"'})
    assert ok.status_code == 200
    anything = client.patch(url, json={"title": "y"}, headers={**me.headers, "If-Match": "*"})
    assert anything.get_json()["version"] == 3


# --- complete, reopen, delete ---------------------------------------------------------


def test_complete_and_reopen_a_plain_todo(client: Client, me: Account) -> None:
    todo = create(client, me)
    done = client.post(f"/v1/todos/{todo['id']}/complete", headers=me.headers).get_json()
    assert done["done"] is True
    completed = datetime.fromisoformat(done["completed_at"])
    assert abs(completed - datetime.now(UTC)) < timedelta(minutes=1)
    reopened = client.post(f"/v1/todos/{todo['id']}/reopen", headers=me.headers).get_json()
    assert (reopened["done"], reopened["completed_at"]) == (False, None)
    assert reopened["version"] == 3


def complete_a_daily_todo(
    client: Client, me: Account, start: datetime, remind_before: timedelta
) -> dict[str, Any]:
    """Create a todo due daily from `start`, reminding `remind_before` ahead; complete it."""
    todo = create_daily(client, me, start, remind_before=remind_before)
    completed: dict[str, Any] = client.post(
        f"/v1/todos/{todo['id']}/complete", headers=me.headers
    ).get_json()
    return completed


def test_completing_a_recurring_todo_moves_it_in_the_owners_time_zone(client: Client) -> None:
    me = register(client, timezone="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 1, 5, 9, 0, tzinfo=berlin)  # 09:00 in Berlin, winter time
    todo = create_daily(client, me, start, remind_before=timedelta(minutes=30))
    moved = client.post(f"/v1/todos/{todo['id']}/complete", headers=me.headers).get_json()
    deadline = datetime.fromisoformat(moved["deadline"])
    local = deadline.astimezone(berlin)
    now = datetime.now(UTC)
    assert (local.hour, local.minute) == (9, 0)  # 09:00 local, whatever the season
    assert now < deadline <= now + timedelta(days=1)
    assert datetime.fromisoformat(moved["remind_at"]) == deadline - timedelta(minutes=30)
    assert moved["done"] is False


def test_completing_a_recurring_todo_early_moves_it_past_its_deadline(
    client: Client, me: Account
) -> None:
    """The next occurrence after the later of now and the deadline: finishing ahead of time
    schedules the following one (it used to land on the deadline itself: no change)."""
    start = (datetime.now(UTC) + timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
    moved = complete_a_daily_todo(client, me, start, timedelta(minutes=15))
    assert datetime.fromisoformat(moved["deadline"]) == start + timedelta(days=1)  # owner in UTC
    assert datetime.fromisoformat(moved["remind_at"]) == start + timedelta(days=1, minutes=-15)
    assert moved["done"] is False


def test_a_recurring_todo_past_its_series_end_is_done(client: Client, me: Account) -> None:
    todo = create(
        client,
        me,
        recurrence={
            "type": "daily",
            "interval": 1,
            "start_at": "2020-01-01T09:00:00Z",
            "end_at": "2020-01-10T09:00:00Z",
        },
    )
    done = client.post(f"/v1/todos/{todo['id']}/complete", headers=me.headers).get_json()
    assert done["done"] is True
    assert done["completed_at"] is not None


def test_delete_removes_the_whole_subtree(client: Client, me: Account) -> None:
    root = create(client, me)
    child = create(client, me, parent_id=root["id"])
    grandchild = create(client, me, parent_id=child["id"])
    keep = create(client, me)
    assert client.delete(f"/v1/todos/{root['id']}", headers=me.headers).status_code == 204
    for gone in (root, child, grandchild):
        assert_problem(get(client, me, gone["id"]), 404)
    listed = [t["id"] for t in client.get("/v1/todos", headers=me.headers).get_json()["items"]]
    assert listed == [keep["id"]]
    assert_problem(client.delete(f"/v1/todos/{root['id']}", headers=me.headers), 404)


# --- tags and shares ------------------------------------------------------------------


def test_tag_links_are_idempotent_and_owner_only(client: Client, me: Account) -> None:
    todo = create(client, me)
    t = tag(client, me)
    url = f"/v1/todos/{todo['id']}/tags/{t}"
    assert client.put(url, headers=me.headers).status_code == 204
    assert client.put(url, headers=me.headers).status_code == 204
    after = get(client, me, todo["id"])
    assert after.get_json()["tag_ids"] == [t]
    assert after.headers["ETag"] == '"2"'  # the second PUT changed nothing
    assert client.delete(url, headers=me.headers).status_code == 204
    assert client.delete(url, headers=me.headers).status_code == 204
    assert get(client, me, todo["id"]).get_json()["tag_ids"] == []
    assert_problem(
        client.put(f"/v1/todos/{todo['id']}/tags/{uuid.uuid4()}", headers=me.headers), 404
    )
    foreign = tag(client, register(client))
    assert_problem(client.put(f"/v1/todos/{todo['id']}/tags/{foreign}", headers=me.headers), 404)


def test_sharing_by_email(client: Client, me: Account) -> None:
    friend = register(client, display_name="Friend")
    todo = create(client, me)
    url = f"/v1/todos/{todo['id']}/shares"
    expires = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    response = client.put(
        url,
        json={
            "email": friend.email.upper(),
            "permission": "read",
            "expires_at": expires.isoformat(),
        },
        headers=me.headers,
    )
    assert response.status_code == 200
    share = response.get_json()
    assert share["user"] == {"id": friend.id, "username": "someone", "display_name": "Friend"}
    assert (share["permission"], share["recursive"]) == ("read", True)
    assert datetime.fromisoformat(share["expires_at"]) == expires
    updated = client.put(
        url,
        json={"email": friend.email, "permission": "write", "recursive": False},
        headers=me.headers,
    ).get_json()
    assert (updated["permission"], updated["recursive"], updated["expires_at"]) == (
        "write",
        False,
        None,
    )
    listed = client.get(url, headers=me.headers).get_json()["items"]
    assert listed == [updated]
    assert get(client, friend, todo["id"]).get_json()["access"] == "write"
    assert client.delete(f"{url}/{friend.id}", headers=me.headers).status_code == 204
    assert_problem(get(client, friend, todo["id"]), 404)
    assert client.get(url, headers=me.headers).get_json()["items"] == []


def test_share_errors(client: Client, me: Account) -> None:
    todo = create(client, me)
    url = f"/v1/todos/{todo['id']}/shares"
    assert_problem(
        client.put(
            url,
            json={"email": "nobody-" + uuid.uuid4().hex + "@example.com", "permission": "read"},
            headers=me.headers,
        ),
        404,
    )
    assert "email" in error_fields(
        client.put(url, json={"email": me.email, "permission": "read"}, headers=me.headers)
    )
    assert "email" in error_fields(
        client.put(url, json={"email": "not an email", "permission": "read"}, headers=me.headers)
    )
    assert "permission" in error_fields(
        client.put(url, json={"email": me.email, "permission": "admin"}, headers=me.headers)
    )
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    friend = register(client)
    assert "expires_at" in error_fields(
        client.put(
            url,
            json={"email": friend.email, "permission": "read", "expires_at": past},
            headers=me.headers,
        )
    )


def test_completing_early_schedules_the_next_occurrence(client: Client, me: Account) -> None:
    """Finishing today's occurrence before it is due moves the todo to the one after it, and
    an overdue one skips the occurrences it missed (api-v1 §6). The deadlines are an hour
    after now, and three days and 23 hours before it: the request runs well inside both."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    upcoming = now + timedelta(hours=1)
    overdue = upcoming - timedelta(days=3)
    for deadline, expected in ((upcoming, upcoming + timedelta(days=1)), (overdue, upcoming)):
        todo = create_daily(client, me, deadline, remind_before=timedelta(minutes=15))
        moved = client.post(f"/v1/todos/{todo['id']}/complete", headers=me.headers).get_json()
        assert datetime.fromisoformat(moved["deadline"]) == expected
        assert datetime.fromisoformat(moved["remind_at"]) == expected - timedelta(minutes=15)
        assert moved["done"] is False
