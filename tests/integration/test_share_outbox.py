"""The share-event outbox: written by the share's own statement, so the two commit together."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from common import errors
from common.db.engine import sqlstate
from common.db.models import Memo, SharedTodo, ShareEvent, User
from common.shareable import links as shares
from common.shareable.access import CONTACTS, MEMOS, TODOS, Shareable

pytestmark = pytest.mark.integration

events = ShareEvent


def new_user(session: Session) -> tuple[uuid.UUID, str]:
    user_id = uuid.uuid4()
    email = f"{user_id.hex}@example.com"
    session.execute(insert(User).values(id=user_id, username="someone", email=email))
    return user_id, email


def new_item(session: Session, spec: Shareable, owner: uuid.UUID) -> uuid.UUID:
    item_id = uuid.uuid4()
    fields: dict[str, Any] = {
        TODOS.name: {"title": "t"},
        MEMOS.name: {"content": "m", "secret": False},
        CONTACTS.name: {"name": "c"},
    }[spec.name]
    session.execute(insert(spec.table).values(id=item_id, user_id=owner, **fields))
    return item_id


def put(session: Session, spec: Shareable, me: uuid.UUID, item: uuid.UUID, email: str) -> Any:
    return shares.put_share(
        session=session,
        spec=spec,
        me=me,
        item_id=item,
        email=email,
        permission="read",
        expires_at=None,
    )


def events_for(session: Session, item: uuid.UUID) -> list[Any]:
    stmt = select(events).where(events.c.resource_id == item).order_by(events.c.created_at)
    return list(session.execute(stmt))


def shares_of(session: Session, spec: Shareable, item: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(spec.share_table).where(spec.share_item == item)
    return int(session.execute(stmt).scalar_one())


@pytest.mark.parametrize("spec", [TODOS, MEMOS, CONTACTS], ids=lambda s: s.name)
def test_a_new_share_writes_its_event(session: Session, spec: Shareable) -> None:
    owner, _ = new_user(session)
    friend, email = new_user(session)
    item = new_item(session, spec, owner)
    put(session, spec, owner, item, email)
    [event] = events_for(session, item)
    assert (event.recipient_id, event.actor_id, event.resource_type) == (friend, owner, spec.name)
    assert event.processed_at is None


def test_a_rolled_back_share_leaves_no_event(session: Session) -> None:
    owner, _ = new_user(session)
    _, email = new_user(session)
    todo = new_item(session, TODOS, owner)
    savepoint = session.begin_nested()
    put(session, TODOS, owner, todo, email)
    assert (shares_of(session, TODOS, todo), len(events_for(session, todo))) == (1, 1)
    savepoint.rollback()
    assert (shares_of(session, TODOS, todo), len(events_for(session, todo))) == (0, 0)


def test_an_event_that_cannot_be_written_fails_the_share(session: Session) -> None:
    owner, _ = new_user(session)
    _, email = new_user(session)
    todo = new_item(session, TODOS, owner)
    # A resource type the outbox refuses (its check constraint): the share statement fails.
    unknown = dataclasses.replace(TODOS, name="gadget")
    with pytest.raises(DatabaseError) as caught, session.begin_nested():
        put(session, unknown, owner, todo, email)
    assert sqlstate(caught.value) == "23514"
    assert (shares_of(session, TODOS, todo), len(events_for(session, todo))) == (0, 0)


def test_refused_shares_write_no_event(session: Session) -> None:
    owner, owner_email = new_user(session)
    stranger, email = new_user(session)
    todo = new_item(session, TODOS, owner)
    with pytest.raises(errors.ValidationFailed):
        put(session, TODOS, owner, todo, owner_email)  # with yourself
    with pytest.raises(errors.NotFound):
        put(session, TODOS, owner, todo, "nobody@example.com")
    with pytest.raises(errors.NotFound):
        put(session, TODOS, stranger, todo, email)  # not the owner
    secret = new_item(session, MEMOS, owner)
    session.execute(update(Memo).where(Memo.c.id == secret).values(secret=True))
    with pytest.raises(errors.Conflict):
        put(session, MEMOS, owner, secret, email)
    assert events_for(session, todo) == []
    assert events_for(session, secret) == []


def test_only_a_share_that_starts_granting_access_writes_an_event(session: Session) -> None:
    owner, _ = new_user(session)
    friend, email = new_user(session)
    todo = new_item(session, TODOS, owner)
    put(session, TODOS, owner, todo, email)
    shares.put_share(
        session=session,
        spec=TODOS,
        me=owner,
        item_id=todo,
        email=email,
        permission="write",
        expires_at=None,
        recursive=False,
    )
    assert len(events_for(session, todo)) == 1  # an update of a live share: no event
    shared = SharedTodo
    session.execute(
        update(shared)
        .where(shared.c.todo_id == todo, shared.c.shared_user_id == friend)
        .values(expiration=func.now() - func.make_interval(0, 0, 0, 0, 0, 1))
    )
    put(session, TODOS, owner, todo, email)  # renewed after it had expired
    assert len(events_for(session, todo)) == 2
    shares.delete_share(session=session, spec=TODOS, me=owner, item_id=todo, user_id=friend)
    put(session, TODOS, owner, todo, email)  # shared again after a revoke
    assert len(events_for(session, todo)) == 3


def test_deleting_a_user_removes_the_events_they_are_part_of(session: Session) -> None:
    owner, _ = new_user(session)
    friend, email = new_user(session)
    todo = new_item(session, TODOS, owner)
    put(session, TODOS, owner, todo, email)
    users = User
    session.execute(users.delete().where(users.c.id == friend))
    assert events_for(session, todo) == []
