"""The `users` function (docs/api.md §4) through HTTP: the signed-in user's profile and account."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug.test import Client

from common.db.models import Permission
from common.db.throttles import email_subject
from tests.api.helpers import assert_problem, error_fields
from tests.factories import Account, register
from tests.rows import (
    AuthIdentity,
    AuthSession,
    Contact,
    ContactAddress,
    ContactEmail,
    ContactNumber,
    ContactTag,
    IdempotencyKey,
    LoginThrottle,
    Memo,
    MemoTag,
    RefreshToken,
    SharedContact,
    SharedMemo,
    SharedTodo,
    Tag,
    Todo,
    TodoRecurrence,
    TodoTag,
    User,
)

pytestmark = pytest.mark.api

USER_FIELDS = {
    "id",
    "email",
    "email_verified",
    "username",
    "display_name",
    "timezone",
    "locale",
    "user_type",
    "created_at",
    "updated_at",
}


def patch(client: Client, account: Account, body: Any, **headers: str) -> Any:
    return client.patch("/v1/users/me", json=body, headers={**account.headers, **headers})


def delete(client: Client, account: Account, password: str, **headers: str) -> Any:
    return client.delete(
        "/v1/users/me", json={"password": password}, headers={**account.headers, **headers}
    )


# --- GET ---------------------------------------------------------------------------------


def test_get_me_returns_the_user_with_its_etag(client: Client, queries: Any) -> None:
    account = register(client, username="grace", display_name="Grace H.", timezone="Asia/Tokyo")
    response = client.get("/v1/users/me", headers=account.headers)
    assert response.status_code == 200
    assert queries() == 1
    assert response.headers["ETag"] == '"1"'
    user = response.get_json()
    assert set(user) == USER_FIELDS
    assert user["id"] == account.id
    assert user["email"] == account.email
    assert (user["username"], user["display_name"]) == ("grace", "Grace H.")
    assert (user["timezone"], user["locale"]) == ("Asia/Tokyo", None)
    assert user["user_type"] == "individual"
    for stamp in ("created_at", "updated_at"):
        assert user[stamp].endswith("Z")
        assert datetime.fromisoformat(user[stamp]).tzinfo is not None


def test_get_me_needs_a_token(client: Client) -> None:
    response = client.get("/v1/users/me")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


# --- PATCH ---------------------------------------------------------------------------------


def test_patch_changes_the_profile_and_bumps_the_version(client: Client, queries: Any) -> None:
    account = register(client, display_name="Before")
    before = client.get("/v1/users/me", headers=account.headers).get_json()
    response = patch(
        client,
        account,
        {"username": "after", "timezone": "America/New_York", "locale": "pt-br"},
    )
    assert response.status_code == 200
    assert queries() == 1
    assert response.headers["ETag"] == '"2"'
    user = response.get_json()
    assert (user["username"], user["display_name"]) == ("after", "Before")
    assert (user["timezone"], user["locale"]) == ("America/New_York", "pt-BR")
    assert user["created_at"] == before["created_at"]
    assert datetime.fromisoformat(user["updated_at"]) > datetime.fromisoformat(before["updated_at"])
    again = client.get("/v1/users/me", headers=account.headers)
    assert again.get_json() == user
    assert again.headers["ETag"] == '"2"'


def test_null_clears_the_optional_fields(client: Client) -> None:
    account = register(client, display_name="Someone", timezone="UTC")
    patch(client, account, {"locale": "fr"})
    user = patch(client, account, {"display_name": None, "timezone": None, "locale": None})
    assert user.status_code == 200
    body = user.get_json()
    assert (body["display_name"], body["timezone"], body["locale"]) == (None, None, None)
    assert body["username"] == "someone"


def test_an_empty_patch_changes_nothing(client: Client) -> None:
    account = register(client)
    response = patch(client, account, {})
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"username": None}, {"username"}),
        ({"username": ""}, {"username"}),
        ({"username": "x" * 51}, {"username"}),
        ({"display_name": "  "}, {"display_name"}),
        ({"timezone": "Berlin"}, {"timezone"}),
        ({"timezone": "Europe/Atlantis"}, {"timezone"}),
        ({"locale": "de_DE"}, {"locale"}),
        ({"locale": "deutsch"}, {"locale"}),
        ({"email": "new@example.com"}, {"email"}),
        ({"id": str(uuid.uuid4())}, {"id"}),
        ({"version": 9}, {"version"}),
        ({"user_type": "team"}, {"user_type"}),
        ({"is_system": True}, {"is_system"}),
        ({"created_at": "2020-01-01T00:00:00Z"}, {"created_at"}),
        ({"timezone": "Mars/Base", "locale": "??"}, {"timezone", "locale"}),
    ],
)
def test_invalid_patches_are_422_and_change_nothing(
    client: Client, body: dict[str, Any], fields: set[str]
) -> None:
    account = register(client)
    assert error_fields(patch(client, account, body)) == fields
    assert client.get("/v1/users/me", headers=account.headers).headers["ETag"] == '"1"'


def test_a_stale_if_match_is_412_and_changes_nothing(client: Client, queries: Any) -> None:
    account = register(client)
    assert patch(client, account, {"username": "one"}).headers["ETag"] == '"2"'
    stale = patch(client, account, {"username": "two"}, **{"If-Match": '"1"'})
    assert_problem(stale, 412)
    assert queries() == 2
    assert client.get("/v1/users/me", headers=account.headers).get_json()["username"] == "one"
    fresh = patch(client, account, {"username": "two"}, **{"If-Match": '"2"'})
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] == '"3"'


@pytest.mark.parametrize("value", ["*", '"7", "1"', '"1"'])
def test_if_match_accepts_the_current_version(client: Client, value: str) -> None:
    account = register(client)
    assert patch(client, account, {"username": "new"}, **{"If-Match": value}).status_code == 200


@pytest.mark.parametrize("value", ['W/"1"', "1", '"2"'])
def test_if_match_without_the_current_strong_tag_is_412(client: Client, value: str) -> None:
    account = register(client)
    assert_problem(patch(client, account, {"username": "new"}, **{"If-Match": value}), 412)
    assert_problem(patch(client, account, {}, **{"If-Match": value}), 412)


# --- DELETE ---------------------------------------------------------------------------------


def test_a_wrong_password_is_403_and_deletes_nothing(client: Client, queries: Any) -> None:
    account = register(client)
    assert_problem(delete(client, account, "not-the-password"), 403)
    assert queries() == 1  # the check counted and the credentials read, in one statement
    assert client.get("/v1/users/me", headers=account.headers).status_code == 200


def test_wrong_passwords_on_delete_are_throttled(client: Client) -> None:
    account = register(client)
    statuses = [delete(client, account, "not-the-password").status_code for _ in range(6)]
    assert statuses == [403] * 5 + [429]
    assert client.get("/v1/users/me", headers=account.headers).status_code == 200


def test_delete_needs_the_password_or_a_provider_token(client: Client) -> None:
    account = register(client)
    response = client.delete("/v1/users/me", json={}, headers=account.headers)
    # api-v1 §11: `{password}` or `{provider, id_token}`; neither is one error on the body
    assert error_fields(response) == {"body"}
    assert response.get_json()["errors"][0]["message"] == (
        "send either password, or provider and id_token"
    )
    response = client.delete("/v1/users/me", headers=account.headers)
    assert_problem(response, 415)


def test_a_stale_if_match_on_delete_is_412(client: Client) -> None:
    account = register(client)
    patch(client, account, {"username": "changed"})
    assert_problem(delete(client, account, account.password, **{"If-Match": '"1"'}), 412)
    assert client.get("/v1/users/me", headers=account.headers).status_code == 200
    response = delete(client, account, account.password, **{"If-Match": '"2"'})
    assert response.status_code == 204


def test_a_deleted_account_is_gone_for_every_credential(client: Client, queries: Any) -> None:
    account = register(client)
    second = client.post(
        "/v1/auth/login", json={"email": account.email, "password": account.password}
    ).get_json()["tokens"]
    response = delete(client, account, account.password)
    assert response.status_code == 204
    assert queries() == 2
    assert response.get_data() == b""
    # the still-unexpired access token identifies no one any more: 401, never 500
    for method in ("GET", "PATCH", "DELETE"):
        body = {} if method == "PATCH" else {"password": account.password}
        gone = client.open(
            "/v1/users/me",
            method=method,
            json=None if method == "GET" else body,
            headers=account.headers,
        )
        assert_problem(gone, 401)
    for token in (account.refresh_token, second["refresh_token"]):
        assert_problem(client.post("/v1/auth/refresh", json={"refresh_token": token}), 401)
    login = client.post(
        "/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    assert_problem(login, 401)
    password = client.post(
        "/v1/auth/password",
        json={"current_password": account.password, "new_password": "a-Fine-passw0rd"},
        headers=account.headers,
    )
    assert_problem(password, 401)
    assert client.post("/v1/auth/logout-all", headers=account.headers).status_code == 204
    # the email is free again
    assert register(client, email=account.email).id != account.id


def owned_rows(session: Session, user_id: uuid.UUID, other_id: uuid.UUID) -> dict[str, Any]:
    """One of everything a user can own, plus shares in both directions with `other_id`."""
    now = datetime.now(UTC)
    todo = Todo(title="mine", user_id=user_id)
    child = Todo(title="sub", user_id=user_id)
    tag = Tag(name="home", user_id=user_id)
    memo = Memo(content="note", user_id=user_id, secret=False)
    contact = Contact(name="Bob", user_id=user_id)
    theirs = Todo(title="theirs", user_id=other_id)
    their_memo = Memo(content="theirs", user_id=other_id, secret=False)
    their_contact = Contact(name="Eve", user_id=other_id)
    session.add_all([todo, tag, memo, contact, theirs, their_memo, their_contact])
    session.flush()
    child.parent_id = todo.id
    session.add_all(
        [
            child,
            TodoRecurrence(todo_id=todo.id, recurrence_type=0, interval=1, start_at=now),
            TodoTag(todo_id=todo.id, tag_id=tag.id),
            MemoTag(memo_id=memo.id, tag_id=tag.id),
            ContactTag(contact_id=contact.id, tag_id=tag.id),
            ContactNumber(contact_id=contact.id, number="+1 555 0100"),
            ContactEmail(contact_id=contact.id, email="bob@example.com"),
            ContactAddress(contact_id=contact.id, address="1 Main St"),
            # shares from the user to the other, and from the other to the user
            SharedTodo(todo_id=todo.id, shared_user_id=other_id, permissions=Permission.W),
            SharedTodo(todo_id=theirs.id, shared_user_id=user_id),
            SharedMemo(memo_id=their_memo.id, shared_user_id=user_id),
            SharedContact(contact_id=their_contact.id, shared_user_id=user_id),
            SharedMemo(memo_id=memo.id, shared_user_id=other_id),
            SharedContact(contact_id=contact.id, shared_user_id=other_id),
            IdempotencyKey(
                user_id=user_id,
                key="k1",
                fingerprint=b"f",
                status_code=201,
                response_body="{}",
                response_headers={},
            ),
            LoginThrottle(
                kind="email",
                subject=email_subject(session.get_one(User, user_id).email or ""),
                failures=2,
                window_started_at=now - timedelta(minutes=1),
            ),
        ]
    )
    session.flush()
    return {
        "todo": todo.id,
        "tag": tag.id,
        "contact": contact.id,
        "theirs": theirs.id,
        "their_memo": their_memo.id,
        "their_contact": their_contact.id,
    }


OWNED_BY_USER = {
    "users": User.id,
    "auth_identities": AuthIdentity.user_id,
    "auth_sessions": AuthSession.user_id,
    "todos": Todo.user_id,
    "tags": Tag.user_id,
    "memos": Memo.user_id,
    "contacts": Contact.user_id,
    "idempotency_keys": IdempotencyKey.user_id,
    "shared_todos": SharedTodo.shared_user_id,
    "shared_memos": SharedMemo.shared_user_id,
    "shared_contacts": SharedContact.shared_user_id,
}


def count_everything(session: Session, user_id: uuid.UUID, ids: dict[str, Any]) -> dict[str, int]:
    counts = {
        name: session.scalar(select(func.count()).where(column == user_id)) or 0
        for name, column in OWNED_BY_USER.items()
    }
    # rows reachable only through the user's rows
    children = {
        "refresh_tokens": select(func.count())
        .select_from(RefreshToken)
        .join(AuthSession)
        .where(AuthSession.user_id == user_id),
        "todo_recurrences": select(func.count()).where(TodoRecurrence.todo_id == ids["todo"]),
        "numbers": select(func.count()).where(ContactNumber.contact_id == ids["contact"]),
        "emails": select(func.count()).where(ContactEmail.contact_id == ids["contact"]),
        "addresses": select(func.count()).where(ContactAddress.contact_id == ids["contact"]),
        "todo_tags": select(func.count()).where(TodoTag.tag_id == ids["tag"]),
        "memo_tags": select(func.count()).where(MemoTag.tag_id == ids["tag"]),
        "contact_tags": select(func.count()).where(ContactTag.tag_id == ids["tag"]),
    }
    counts.update({name: session.scalar(query) or 0 for name, query in children.items()})
    return counts


def test_deleting_the_account_erases_everything_it_owns(client: Client, engine: Engine) -> None:
    account = register(client)
    other = register(client)
    user_id, other_id = uuid.UUID(account.id), uuid.UUID(other.id)
    with Session(engine) as session, session.begin():
        ids = owned_rows(session, user_id, other_id)
    with Session(engine) as session:
        before = count_everything(session, user_id, ids)
    assert all(count > 0 for count in before.values()), before

    assert delete(client, account, account.password).status_code == 204

    with Session(engine) as session:
        after = count_everything(session, user_id, ids)
        assert set(after.values()) == {0}, after
        # the other user's things stay; the shares to and from the deleted user do not
        assert session.get(Todo, ids["theirs"]) is not None
        assert session.get(Memo, ids["their_memo"]) is not None
        assert session.get(Contact, ids["their_contact"]) is not None
        for model in (SharedTodo, SharedMemo, SharedContact):
            assert (
                session.scalar(
                    select(func.count()).select_from(model).where(model.shared_user_id == other_id)
                )
                == 0
            )
        # a success resets the email's throttle row too
        key = session.scalar(select(email_subject(account.email)))
        assert session.get(LoginThrottle, ("email", key)) is None
    assert client.get("/v1/users/me", headers=other.headers).status_code == 200


# --- the contract's statement budget ------------------------------------------------------


def test_every_users_route_runs_at_most_three_statements(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="common.http")
    account = register(client)
    client.get("/v1/users/me", headers=account.headers)
    patch(client, account, {"display_name": "x"})
    patch(client, account, {})
    patch(client, account, {"display_name": "y"}, **{"If-Match": '"1"'})
    delete(client, account, "wrong-password")
    delete(client, account, account.password, **{"If-Match": '"1"'})
    delete(client, account, account.password)
    client.get("/v1/users/me", headers=account.headers)
    patch(client, account, {"display_name": "z"})
    seen = [
        (r.method, r.route, r.status, r.db_queries)
        for r in caplog.records
        if hasattr(r, "db_queries") and r.route == "/v1/users/me"
    ]
    assert {(method, status) for method, _, status, _ in seen} == {
        ("GET", 200),
        ("PATCH", 200),
        ("PATCH", 412),
        ("DELETE", 403),
        ("DELETE", 412),
        ("DELETE", 204),
        ("GET", 401),
        ("PATCH", 401),
    }
    assert all(count <= 3 for *_, count in seen), seen


def test_the_openapi_document_lists_the_users_routes(client: Client) -> None:
    paths = client.get("/v1/users/openapi.json").get_json()["paths"]
    operations = paths["/v1/users/me"]
    assert set(operations) == {"get", "patch", "delete"}
    assert set(operations["patch"]["responses"]) >= {"200", "401", "412", "422"}
    assert set(operations["delete"]["responses"]) >= {"204", "401", "403", "412", "429"}
    assert all(op["security"] == [{"bearer": []}] for op in operations.values())
