"""The seed schema's rules, enforced by PostgreSQL itself (not by our code)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from common.db.engine import sqlstate
from common.db.models import AuthProvider, Permission
from tests.rows import (
    AuthIdentity,
    Contact,
    ContactEmail,
    Memo,
    SharedTodo,
    Tag,
    Todo,
    TodoRecurrence,
    TodoTag,
    User,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def add(session: Session, *rows: Any) -> None:
    """Insert in the order given (the models declare no relationships to order them by)."""
    for row in rows:
        session.add(row)
        session.flush()


def insert_in_savepoint(session: Session, row: Any) -> None:
    with session.begin_nested():
        session.add(row)
        session.flush()


def refused(session: Session, make: Callable[[], Any]) -> None:
    """The row is refused by a constraint (SQLSTATE class 23); the transaction stays usable."""
    with pytest.raises(DatabaseError) as caught:
        insert_in_savepoint(session, make())
    assert (sqlstate(caught.value) or "").startswith("23"), caught.value


def user(email: str | None = None) -> User:
    return User(
        id=uuid.uuid4(), username="someone", email=email or f"{uuid.uuid4().hex}@example.com"
    )


def count(session: Session, model: Any, **where: Any) -> int:
    stmt = select(func.count()).select_from(model).filter_by(**where)
    return int(session.scalar(stmt) or 0)


def test_email_is_unique_ignoring_case(session: Session) -> None:
    add(session, user("Bob@Example.com"))
    refused(session, lambda: user("bob@example.COM"))
    found = session.scalar(select(User).where(User.email == "BOB@EXAMPLE.COM"))
    assert found is not None


def test_a_user_defaults_to_an_active_individual_at_version_1(session: Session) -> None:
    u = user()
    add(session, u)
    session.refresh(u)
    assert (u.user_type.value, u.is_active, u.is_system, u.version) == (
        "individual",
        True,
        False,
        1,
    )


def test_auth_identity_needs_a_password_or_a_provider_id(session: Session) -> None:
    u = user()
    add(session, u)
    refused(session, lambda: AuthIdentity(user_id=u.id, provider=AuthProvider.password))
    refused(session, lambda: AuthIdentity(user_id=u.id, email="a@b.co"))  # no hash
    add(
        session,
        AuthIdentity(
            user_id=u.id, provider=AuthProvider.password, email="a@b.co", password_hash="h"
        ),
        AuthIdentity(user_id=u.id, provider=AuthProvider.google, provider_user_id="g-1"),
    )
    assert count(session, AuthIdentity, user_id=u.id) == 2


def test_provider_user_id_is_unique_per_provider(session: Session) -> None:
    a, b = user(), user()
    add(
        session, a, b, AuthIdentity(user_id=a.id, provider=AuthProvider.apple, provider_user_id="x")
    )
    refused(
        session,
        lambda: AuthIdentity(user_id=b.id, provider=AuthProvider.apple, provider_user_id="x"),
    )
    add(session, AuthIdentity(user_id=b.id, provider=AuthProvider.google, provider_user_id="x"))


def test_a_user_has_at_most_one_identity_per_provider(session: Session) -> None:
    u = user()
    add(session, u, AuthIdentity(user_id=u.id, provider=AuthProvider.google, provider_user_id="1"))
    refused(
        session,
        lambda: AuthIdentity(user_id=u.id, provider=AuthProvider.google, provider_user_id="2"),
    )
    add(session, AuthIdentity(user_id=u.id, provider=AuthProvider.apple, provider_user_id="1"))
    password = {"provider": AuthProvider.password, "email": "a@b.co", "password_hash": "h"}
    add(session, AuthIdentity(user_id=u.id, **password))
    refused(session, lambda: AuthIdentity(user_id=u.id, **password))


def todo(owner: User, **kw: Any) -> Todo:
    return Todo(id=uuid.uuid4(), title="t", user_id=owner.id, **kw)


def recurrence(t: Todo, **kw: Any) -> TodoRecurrence:
    return TodoRecurrence(todo_id=t.id, start_at=NOW, **kw)


@pytest.mark.parametrize(
    "fields",
    [
        {"recurrence_type": 1, "interval": 1, "days_of_week": [1], "days_of_month": [1]},
        {"recurrence_type": 1},  # type without interval
        {"interval": 2},  # interval without type
        {"days_of_week": [1]},  # a list without type and interval
        {"recurrence_type": 4, "interval": 1},
        {"recurrence_type": 0, "interval": 0},
        {"recurrence_type": 1, "interval": 1, "days_of_week": [7]},
        {"recurrence_type": 2, "interval": 1, "days_of_month": [0]},
        {"recurrence_type": 2, "interval": 1, "weeks_of_month": [6]},
        {"recurrence_type": 3, "interval": 1, "months_of_year": [13]},
        {"recurrence_type": 0, "interval": 1, "end_at": NOW - timedelta(days=1)},
    ],
)
def test_recurrence_check_constraints_refuse(session: Session, fields: dict[str, Any]) -> None:
    u = user()
    t = todo(u)
    add(session, u, t)
    refused(session, lambda: recurrence(t, **fields))


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"recurrence_type": 0, "interval": 3},
        {"recurrence_type": 1, "interval": 1, "days_of_week": [0, 6]},
        {"recurrence_type": 2, "interval": 1, "days_of_month": [-1, 31]},
        {"recurrence_type": 2, "interval": 1, "weeks_of_month": [-1]},
        {"recurrence_type": 3, "interval": 2, "months_of_year": [1, 12]},
    ],
)
def test_recurrence_check_constraints_accept(session: Session, fields: dict[str, Any]) -> None:
    u = user()
    t = todo(u)
    add(session, u, t, recurrence(t, **fields))
    assert count(session, TodoRecurrence, todo_id=t.id) == 1


def test_priority_is_0_to_4(session: Session) -> None:
    u = user()
    add(session, u, todo(u, priority=4))
    refused(session, lambda: todo(u, priority=5))


def test_tag_names_are_unique_per_user_ignoring_case(session: Session) -> None:
    a, b = user(), user()
    add(session, a, b, Tag(name="Work", user_id=a.id))
    refused(session, lambda: Tag(name="WORK", user_id=a.id))
    add(session, Tag(name="work", user_id=b.id))  # another user's tag may share the name
    deleted = Tag(name="Home", user_id=a.id, deleted_at=NOW)
    add(session, deleted, Tag(name="home", user_id=a.id))  # a deleted tag frees its name


def test_tag_links_and_shares_are_unique(session: Session) -> None:
    owner, friend = user(), user()
    t = todo(owner)
    tag = Tag(id=uuid.uuid4(), name="x", user_id=owner.id)
    add(session, owner, friend, t, tag, TodoTag(todo_id=t.id, tag_id=tag.id))
    add(session, SharedTodo(todo_id=t.id, shared_user_id=friend.id))
    refused(session, lambda: TodoTag(todo_id=t.id, tag_id=tag.id))
    refused(session, lambda: SharedTodo(todo_id=t.id, shared_user_id=friend.id))
    share = session.get(SharedTodo, (t.id, friend.id))
    assert share is not None
    assert (share.permissions, share.recursive, share.expiration) == (Permission.R, True, None)


def test_deleting_a_user_removes_what_it_owns_and_its_shares(session: Session) -> None:
    owner, friend = user(), user()
    t = todo(owner)
    c = Contact(id=uuid.uuid4(), name="c", user_id=owner.id)
    other = todo(friend)
    add(session, owner, friend, t, c, other)
    add(
        session,
        Memo(content="m", user_id=owner.id),
        Tag(name="x", user_id=owner.id),
        ContactEmail(contact_id=c.id, email="c@example.com"),
        SharedTodo(todo_id=other.id, shared_user_id=owner.id),
    )
    session.execute(delete(User).where(User.id == owner.id))
    for model in (Todo, Memo, Tag, Contact):
        assert count(session, model, user_id=owner.id) == 0
    assert count(session, ContactEmail, contact_id=c.id) == 0
    assert count(session, SharedTodo, shared_user_id=owner.id) == 0
    assert count(session, Todo, user_id=friend.id) == 1


def test_deleting_a_todo_removes_links_recurrence_shares_and_orphans_children(
    session: Session,
) -> None:
    owner, friend = user(), user()
    parent = todo(owner)
    add(session, owner, friend, parent)
    child = todo(owner, parent_id=parent.id)
    tag = Tag(name="x", user_id=owner.id)
    add(session, child, tag)
    add(
        session,
        TodoTag(todo_id=parent.id, tag_id=tag.id),
        recurrence(parent, recurrence_type=0, interval=1),
        SharedTodo(todo_id=parent.id, shared_user_id=friend.id),
    )
    session.execute(delete(Todo).where(Todo.id == parent.id))
    session.expire_all()
    assert count(session, TodoTag, todo_id=parent.id) == 0
    assert count(session, TodoRecurrence, todo_id=parent.id) == 0
    assert count(session, SharedTodo, todo_id=parent.id) == 0
    assert count(session, Tag, id=tag.id) == 1  # the tag itself stays
    reloaded = session.get(Todo, child.id)
    assert reloaded is not None
    assert reloaded.parent_id is None
