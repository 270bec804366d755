"""Todo SQL: every function runs one statement (two when it must explain a refusal).

Representations are read in one SELECT that carries the caller's access, the tag ids and
the recurrence. Writes are single statements whose data-modifying CTEs also write the tag
links and the recurrence; validations that need the database (the parent is the caller's
own todo and forms no cycle, every tag id is the caller's) are computed by the same
statement, and a failed one raises, so the pipeline rolls the whole write back.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    delete,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from common import errors
from common.db import access
from common.db.access import OWNER, TODOS
from common.db.models import Tag, TodoRecurrence, TodoTag, User
from common.db.tables import table
from common.paging import SortKey
from common.schemas.todos import Recurrence, TodoCreate, TodoListQuery

t = TODOS.table
recurrences = table(TodoRecurrence)
tags = table(Tag)
todo_tags = table(TodoTag)
users = table(User)

SORTS: dict[str, SortKey] = {
    "created_at": SortKey(t.c.created_at, descending=False, kind="datetime"),
    "-created_at": SortKey(t.c.created_at, descending=True, kind="datetime"),
    "updated_at": SortKey(t.c.updated_at, descending=False, kind="datetime"),
    "-updated_at": SortKey(t.c.updated_at, descending=True, kind="datetime"),
    "deadline": SortKey(t.c.deadline, descending=False, kind="datetime", nullable=True),
    "-deadline": SortKey(t.c.deadline, descending=True, kind="datetime", nullable=True),
    "-priority": SortKey(t.c.priority, descending=True, kind="int"),
}

_TODO_COLUMNS = (
    "id",
    "title",
    "description",
    "priority",
    "pinned",
    "done",
    "deadline",
    "remind_at",
    "completed_at",
    "parent_id",
    "version",
    "created_at",
    "updated_at",
)
_RECURRENCE_COLUMNS = (
    "recurrence_type",
    "interval",
    "days_of_week",
    "days_of_month",
    "weeks_of_month",
    "months_of_year",
    "start_at",
    "end_at",
)


def _representation_columns() -> list[Any]:
    return [
        *(t.c[name] for name in _TODO_COLUMNS),
        t.c.user_id.label("owner_id"),
        access.tag_ids(TODOS, t.c.id).label("tag_ids"),
        *(recurrences.c[name] for name in _RECURRENCE_COLUMNS),
    ]


def to_out(row: RowMapping) -> dict[str, Any]:
    """A row of a representation query as TodoOut's fields."""
    data = {name: row[name] for name in (*_TODO_COLUMNS, "owner_id", "tag_ids", "access")}
    data["recurrence"] = Recurrence.from_row(dict(row))
    return data


def get_todo(session: Session, *, me: uuid.UUID, todo_id: uuid.UUID) -> RowMapping | None:
    """The todo as the caller may see it, or None (absent, deleted, or not theirs to see)."""
    acc = access.received(TODOS, me)
    stmt = (
        select(*_representation_columns(), access.access_level(t, acc, me).label("access"))
        .select_from(
            t.outerjoin(acc, acc.c.id == t.c.id).outerjoin(
                recurrences, recurrences.c.todo_id == t.c.id
            )
        )
        .where(
            t.c.id == todo_id,
            t.c.deleted_at.is_(None),
            or_(t.c.user_id == me, acc.c.id.is_not(None)),
        )
    )
    return session.execute(stmt).mappings().first()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filters(query: TodoListQuery) -> list[Any]:
    found: list[Any] = [t.c.deleted_at.is_(None)]
    if query.done is not None:
        found.append(t.c.done.is_(query.done))
    if query.pinned is not None:
        found.append(t.c.pinned.is_(query.pinned))
    if query.tag is not None:
        found.append(exists().where(todo_tags.c.todo_id == t.c.id, todo_tags.c.tag_id == query.tag))
    if query.parent_id == "root":
        found.append(t.c.parent_id.is_(None))
    elif query.parent_id is not None:
        found.append(t.c.parent_id == query.parent_id)
    if query.due_before is not None:
        found.append(t.c.deadline < query.due_before)
    if query.due_after is not None:
        found.append(t.c.deadline >= query.due_after)
    if query.q is not None:
        pattern = f"%{_escape_like(query.q)}%"
        found.append(
            or_(t.c.title.ilike(pattern, escape="\\"), t.c.description.ilike(pattern, escape="\\"))
        )
    return found


def list_todos(
    session: Session,
    *,
    me: uuid.UUID,
    query: TodoListQuery,
    after: tuple[Any, uuid.UUID] | None,
) -> list[RowMapping]:
    """One page (limit + 1 rows, to tell whether more follow) in one statement.

    Owned and shared rows are two branches, each walking its own index in sort order and
    stopping after limit + 1 rows; the union is sorted and cut once more. Representation
    columns are computed only for the rows of the page."""
    sort = SORTS[query.sort]
    conditions = _filters(query)
    if after is not None:
        conditions.append(sort.after(t.c.id, *after))
    order = sort.order_by(t.c.id)
    n = query.limit + 1
    branches: list[Select[Any]] = []
    if query.scope in ("all", "owned"):
        branches.append(
            select(t.c.id, literal(OWNER).label("access"))
            .where(t.c.user_id == me, *conditions)
            .order_by(*order)
            .limit(n)
        )
    if query.scope in ("all", "shared"):
        acc = access.received(TODOS, me)
        branches.append(
            select(t.c.id, access.access_level(t, acc, me).label("access"))
            .select_from(t.join(acc, acc.c.id == t.c.id))
            .where(t.c.user_id != me, *conditions)
            .order_by(*order)
            .limit(n)
        )
    page = (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("page")
    stmt = (
        select(*_representation_columns(), page.c.access)
        .select_from(
            page.join(t, t.c.id == page.c.id).outerjoin(
                recurrences, recurrences.c.todo_id == t.c.id
            )
        )
        .order_by(*order)
        .limit(n)
    )
    return list(session.execute(stmt).mappings())


def _own_live_tags(me: uuid.UUID, tag_ids: list[uuid.UUID]) -> Select[Any]:
    return select(tags.c.id).where(
        tags.c.id.in_(tag_ids), tags.c.user_id == me, tags.c.deleted_at.is_(None)
    )


def _parent_problem(
    session: Session, *, me: uuid.UUID, parent_id: uuid.UUID, todo_id: uuid.UUID | None
) -> errors.FieldError | None:
    """The parent must be the caller's own live todo, and not the todo or one of its subtree."""
    chain = (
        select(t.c.id, t.c.parent_id, t.c.user_id, t.c.deleted_at)
        .where(t.c.id == parent_id)
        .cte("chain", recursive=True)
    )
    up = t.alias("up")
    chain = chain.union(
        select(up.c.id, up.c.parent_id, up.c.user_id, up.c.deleted_at).where(
            up.c.id == chain.c.parent_id
        )
    )
    row = session.execute(
        select(
            select(func.count())
            .where(chain.c.id == parent_id, chain.c.user_id == me, chain.c.deleted_at.is_(None))
            .scalar_subquery()
            .label("own"),
            select(func.count())
            .where(chain.c.id == (todo_id or uuid.UUID(int=0)))
            .scalar_subquery()
            .label("cycle"),
        )
    ).one()
    if not row.own:
        return errors.FieldError("parent_id", "must be one of your own todos")
    if row.cycle:
        return errors.FieldError("parent_id", "would make the todo its own ancestor")
    return None


def create_todo(session: Session, *, me: uuid.UUID, data: TodoCreate) -> dict[str, Any]:
    """Insert the todo, its recurrence and its tag links in one statement.

    The parent check and the tag check ride along: the insert happens only under a valid
    parent, and the statement counts the tags it could link."""
    todo_id = uuid.uuid4()
    tag_ids = sorted(set(data.tag_ids))
    values = data.model_dump(exclude={"tag_ids", "recurrence"})
    source = select(
        literal(todo_id, t.c.id.type).label("id"),
        literal(me, t.c.user_id.type).label("user_id"),
        *(literal(v, t.c[k].type).label(k) for k, v in values.items()),
        (func.now() if data.done else null()).label("completed_at"),
    )
    if data.parent_id is not None:
        source = source.where(
            exists().where(t.c.id == data.parent_id, t.c.user_id == me, t.c.deleted_at.is_(None))
        )
    columns = ["id", "user_id", *values, "completed_at"]
    ins = (
        insert(t)
        .from_select(columns, source)
        .returning(*(t.c[name] for name in _TODO_COLUMNS), t.c.user_id.label("owner_id"))
        .cte("ins")
    )
    stmt = select(ins, literal(0).label("tags_linked"))
    if tag_ids:
        linked = (
            insert(todo_tags)
            .from_select(
                ["todo_id", "tag_id"],
                select(ins.c.id, tags.c.id)
                .select_from(ins.join(tags, true()))
                .where(tags.c.id.in_(tag_ids), tags.c.user_id == me, tags.c.deleted_at.is_(None)),
            )
            .returning(todo_tags.c.tag_id)
            .cte("linked")
        )
        stmt = select(
            ins, select(func.count()).select_from(linked).scalar_subquery().label("tags_linked")
        )
    if data.recurrence is not None:
        rec = data.recurrence.to_row()
        stmt = stmt.add_cte(
            insert(recurrences)
            .from_select(
                ["todo_id", *rec],
                select(ins.c.id, *(literal(v, recurrences.c[k].type) for k, v in rec.items())),
            )
            .cte("rec")
        )
    row = session.execute(stmt).mappings().first()
    if row is None:
        raise errors.ValidationFailed(
            [errors.FieldError("parent_id", "must be one of your own todos")]
        )
    if row["tags_linked"] != len(tag_ids):
        raise errors.ValidationFailed([errors.FieldError("tag_ids", "must be your own tags")])
    return {k: v for k, v in row.items() if k != "tags_linked"}


def update_todo(
    session: Session,
    *,
    me: uuid.UUID,
    todo_id: uuid.UUID,
    changes: dict[str, Any],
    versions: frozenset[int] | None,
    allowed: tuple[str, ...],
) -> None:
    """Apply a PATCH in one statement (tag links and recurrence included), or explain why not."""
    if changes.get("parent_id") is not None:
        problem = _parent_problem(session, me=me, parent_id=changes["parent_id"], todo_id=todo_id)
        if problem is not None:
            raise errors.ValidationFailed([problem])
    values = {k: v for k, v in changes.items() if k not in ("tag_ids", "recurrence")}
    if "done" in values:
        values["completed_at"] = (
            func.coalesce(t.c.completed_at, func.now()) if values["done"] else None
        )
    upd = access.guarded_update(
        TODOS, me, todo_id, allowed=allowed, versions=versions, values=values
    ).cte("upd")
    stmt = select(upd.c.id, literal(0).label("valid_tags"))
    if "tag_ids" in changes:
        tag_ids = sorted(set(changes["tag_ids"]))
        stmt = select(
            upd.c.id,
            select(func.count())
            .select_from(_own_live_tags(me, tag_ids).subquery())
            .scalar_subquery()
            .label("valid_tags"),
        )
        stmt = stmt.add_cte(
            delete(todo_tags)
            .where(todo_tags.c.todo_id == upd.c.id, todo_tags.c.tag_id.not_in(tag_ids))
            .cte("unlinked")
        )
        if tag_ids:
            stmt = stmt.add_cte(
                insert(todo_tags)
                .from_select(
                    ["todo_id", "tag_id"],
                    select(upd.c.id, tags.c.id)
                    .select_from(upd.join(tags, true()))
                    .where(
                        tags.c.id.in_(tag_ids), tags.c.user_id == me, tags.c.deleted_at.is_(None)
                    ),
                )
                .on_conflict_do_nothing()
                .cte("linked")
            )
    if "recurrence" in changes:
        rec: Recurrence | None = changes["recurrence"]
        if rec is None:
            stmt = stmt.add_cte(
                delete(recurrences).where(recurrences.c.todo_id == upd.c.id).cte("unrepeated")
            )
        else:
            row = rec.to_row()
            new = insert(recurrences).from_select(
                ["todo_id", *row],
                select(upd.c.id, *(literal(v, recurrences.c[k].type) for k, v in row.items())),
            )
            stmt = stmt.add_cte(
                new.on_conflict_do_update(
                    index_elements=[recurrences.c.todo_id],
                    set_={**{k: new.excluded[k] for k in row}, "updated_at": func.now()},
                ).cte("repeated")
            )
    result = session.execute(stmt).mappings().first()
    if result is None:
        raise access.explain_refusal(
            session, TODOS, me, todo_id, allowed=allowed, versions=versions
        )
    if "tag_ids" in changes and result["valid_tags"] != len(set(changes["tag_ids"])):
        raise errors.ValidationFailed([errors.FieldError("tag_ids", "must be your own tags")])


def delete_todo(
    session: Session, *, me: uuid.UUID, todo_id: uuid.UUID, versions: frozenset[int] | None
) -> None:
    """Soft-delete the todo and its whole subtree in one statement (owner only)."""
    root = select(t.c.id).where(t.c.id == todo_id, t.c.user_id == me, t.c.deleted_at.is_(None))
    if versions is not None:
        root = root.where(t.c.version.in_(sorted(versions)))
    subtree = root.cte("subtree", recursive=True)
    child = t.alias("child")
    subtree = subtree.union(
        select(child.c.id).where(child.c.parent_id == subtree.c.id, child.c.deleted_at.is_(None))
    )
    stmt = (
        update(t)
        .where(t.c.id.in_(select(subtree.c.id)))
        .values(deleted_at=func.now(), version=t.c.version + 1, updated_at=func.now())
        .returning(t.c.id)
    )
    if session.execute(stmt).first() is None:
        raise access.explain_refusal(
            session, TODOS, me, todo_id, allowed=(OWNER,), versions=versions
        )


def owner_timezone(row: RowMapping) -> str:
    return row.get("owner_timezone") or "UTC"


def get_todo_for_completion(
    session: Session, *, me: uuid.UUID, todo_id: uuid.UUID
) -> RowMapping | None:
    """The todo's representation plus its owner's time zone (recurrence runs in it)."""
    acc = access.received(TODOS, me)
    stmt = (
        select(
            *_representation_columns(),
            access.access_level(t, acc, me).label("access"),
            users.c.timezone.label("owner_timezone"),
        )
        .select_from(
            t.join(users, users.c.id == t.c.user_id)
            .outerjoin(acc, acc.c.id == t.c.id)
            .outerjoin(recurrences, recurrences.c.todo_id == t.c.id)
        )
        .where(
            t.c.id == todo_id,
            t.c.deleted_at.is_(None),
            or_(t.c.user_id == me, acc.c.id.is_not(None)),
        )
    )
    return session.execute(stmt).mappings().first()


def next_schedule(row: RowMapping, *, now: datetime) -> dict[str, Any]:
    """What `complete` writes: the next occurrence, or done when the series has ended."""
    from common.recurrence import next_occurrence

    rec = Recurrence.from_row(dict(row))
    if rec is None:
        return {"done": True, "completed_at": now}
    upcoming = next_occurrence(rec.to_rule(), after=now, tz=owner_timezone(row))
    if upcoming is None:
        return {"done": True, "completed_at": now}
    deadline, remind_at = row["deadline"], row["remind_at"]
    if remind_at is not None:
        remind_at = upcoming - (deadline - remind_at) if deadline is not None else upcoming
    return {"deadline": upcoming, "remind_at": remind_at, "done": False, "completed_at": None}
