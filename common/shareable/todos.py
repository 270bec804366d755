"""Todo SQL: what is the todos' own (recurrence, sub-todos); the rest is in `access` and
`writes`.

Every function runs one statement on success. Writes are single statements whose
data-modifying CTEs also write the tag links and the recurrence; checks that need the
database (every tag id is the caller's, the parent is the caller's own todo) ride in the
same statement, and a failed one raises, so the pipeline rolls the whole write back.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    FromClause,
    case,
    delete,
    exists,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping

from common import errors
from common.db.engine import Session
from common.db.models import TodoRecurrence, User
from common.paging import SortKey, both_ways, timestamp_sorts
from common.schemas.todos import RECURRENCE_TYPES, Recurrence, TodoCreate, TodoListQuery, TodoOut
from common.shareable import writes
from common.shareable.access import (
    TODOS,
    Shown,
    View,
    contains,
    get_visible,
    json_row,
    json_timestamp,
    param,
)

t = TODOS.table
recurrences = TodoRecurrence
users = User

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


def _search(pattern: Any) -> ColumnElement[bool]:
    return or_(contains(t.c.title, pattern), contains(t.c.description, pattern))


def _with_recurrence(source: FromClause) -> FromClause:
    return source.outerjoin(recurrences, recurrences.c.todo_id == t.c.id)


def _filters(query: TodoListQuery) -> list[ColumnElement[bool]]:
    """The todo list's own filters (the shared ones are applied by list_visible), their
    values as parameters named after their fields."""
    found: list[ColumnElement[bool]] = []
    if query.done is not None:
        found.append(t.c.done == param("done", t.c.done))
    if query.parent_id == "root":
        found.append(t.c.parent_id.is_(None))
    elif query.parent_id is not None:
        found.append(t.c.parent_id == param("parent_id", t.c.parent_id))
    if query.due_before is not None:
        found.append(t.c.deadline < param("due_before", t.c.deadline))
    if query.due_after is not None:
        found.append(t.c.deadline >= param("due_after", t.c.deadline))
    return found


_TIMESTAMPS = ("deadline", "remind_at", "completed_at")


def recurrence_json(r: Any) -> dict[str, Any]:
    """Recurrence's fields as SQL values of the recurrence columns `r` (stored or sent)."""
    kind = r["recurrence_type"]
    values = {name: r[name] for name in _RECURRENCE_COLUMNS}
    values["recurrence_type"] = case(
        *((kind == i, literal(name)) for i, name in enumerate(RECURRENCE_TYPES))
    )
    for name in ("start_at", "end_at"):
        values[name] = json_timestamp(values[name])
    names = dict(zip(_RECURRENCE_COLUMNS, Recurrence.model_fields, strict=True))
    return {names[k]: v for k, v in values.items()}


def _stored_recurrence(c: Any) -> Any:
    """The todo's stored recurrence as Recurrence's JSON (NULL when it has none)."""
    fields = recurrence_json(recurrences.c)
    row = select(*(v.label(k) for k, v in fields.items())).where(recurrences.c.todo_id == c.id)
    return json_row(row.correlate_except(recurrences))


def _sent_recurrence(rec: Recurrence | None) -> Any:
    """A recurrence being written, as `_stored_recurrence` will show it once stored."""
    if rec is None:
        return null()
    stored = {k: literal(v, recurrences.c[k].type) for k, v in rec.to_row().items()}
    return json_row(select(*(v.label(k) for k, v in recurrence_json(stored).items())))


def _fields(c: Any) -> dict[str, Any]:
    """TodoOut's own fields as PostgreSQL builds them (common.shareable.access.View)."""
    fields = {name: c[name] for name in ("title", "description", "priority", "pinned", "done")}
    fields.update({name: json_timestamp(c[name]) for name in _TIMESTAMPS})
    return {**fields, "parent_id": c.parent_id, "recurrence": _stored_recurrence(c)}


def to_out(row: RowMapping) -> dict[str, Any]:
    """A row of a representation query as TodoOut's fields."""
    data = {name: row[name] for name in (*_TODO_COLUMNS, "owner_id", "tag_ids", "access")}
    data["recurrence"] = Recurrence.from_row(dict(row))
    return data


SORTS: dict[str, SortKey] = {
    **timestamp_sorts(t),
    **both_ways(t.c.deadline, "datetime", nullable=True),
    "-priority": SortKey(t.c.priority, descending=True, kind="int"),
}
VIEW = View(
    spec=TODOS,
    out=TodoOut,
    fields=_fields,
    columns=(
        *(t.c[name] for name in _TODO_COLUMNS),
        *(recurrences.c[name] for name in _RECURRENCE_COLUMNS),
    ),
    sorts=SORTS,
    search=_search,
    to_out=to_out,
    join=_with_recurrence,
    filters=_filters,
    list_query=TodoListQuery,
)


def _recurrence_rows(todo: CTE, rec: Recurrence) -> tuple[list[str], Any]:
    row = rec.to_row()
    source = select(todo.c.id, *(literal(v, recurrences.c[k].type) for k, v in row.items()))
    return ["todo_id", *row], source


def create_todo(*, session: Session, me: uuid.UUID, data: TodoCreate) -> dict[str, Any]:
    """Insert the todo, its recurrence and its tag links in one statement; the parent check
    rides along (nothing is inserted under a parent that is not the caller's own)."""
    values: dict[str, Any] = data.model_dump(exclude={"tag_ids", "recurrence"})
    values["completed_at"] = func.now() if data.done else null()
    parent_ok = None
    if data.parent_id is not None:
        parent_ok = exists().where(
            t.c.id == data.parent_id, t.c.user_id == me, t.c.deleted_at.is_(None)
        )
    item = writes.inserted(
        TODOS,
        me=me,
        values=values,
        returning=[*(t.c[name] for name in _TODO_COLUMNS), t.c.user_id.label("owner_id")],
        condition=parent_ok,
    )
    also = []
    if data.recurrence is not None:
        columns, source = _recurrence_rows(item.row, data.recurrence)
        also.append(insert(recurrences).from_select(columns, source).cte("repeats"))
    row = writes.create(session=session, item=item, tag_ids=data.tag_ids, also=also)
    if row is None:
        raise errors.ValidationFailed(
            [errors.FieldError("parent_id", "must be one of your own todos")]
        )
    return {**row, "recurrence": data.recurrence}


def _parent_problem(
    session: Session, *, me: uuid.UUID, parent_id: uuid.UUID, todo_id: uuid.UUID
) -> errors.FieldError | None:
    """The parent must be the caller's own live todo, and not the todo or its subtree."""
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
    own = select(func.count()).where(
        chain.c.id == parent_id, chain.c.user_id == me, chain.c.deleted_at.is_(None)
    )
    cycle = select(func.count()).where(chain.c.id == todo_id)
    row = session.execute(
        select(own.scalar_subquery().label("own"), cycle.scalar_subquery().label("cycle"))
    ).one()
    if not row.own:
        return errors.FieldError("parent_id", "must be one of your own todos")
    if row.cycle:
        return errors.FieldError("parent_id", "would make the todo its own ancestor")
    return None


def _recurrence_change(item: CTE, rec: Recurrence | None) -> CTE:
    """CTE: the todo's recurrence replaced by `rec`, or removed (None)."""
    if rec is None:
        return delete(recurrences).where(recurrences.c.todo_id == item.c.id).cte("repeats_removed")
    columns, source = _recurrence_rows(item, rec)
    new = insert(recurrences).from_select(columns, source)
    replaced = {k: new.excluded[k] for k in columns if k != "todo_id"}
    upsert = new.on_conflict_do_update(
        index_elements=[recurrences.c.todo_id], set_={**replaced, "updated_at": func.now()}
    )
    return upsert.cte("repeats")


def _recurrence_differs(rec: Recurrence | None) -> ColumnElement[bool]:
    """The todo's stored recurrence is not `rec` (None: it has one)."""
    stored = exists().where(recurrences.c.todo_id == t.c.id)
    if rec is None:
        return stored
    same = [recurrences.c[k].is_not_distinct_from(v) for k, v in rec.to_row().items()]
    return ~stored.where(*same)


def update_todo(*, session: Session, edit: writes.Edit) -> Shown | None:
    """Apply a PATCH in one statement (tag links and recurrence included), or explain why not;
    the todo's representation after it (None: read it again, see writes.apply).

    A new parent is checked first (ownership, cycles): one more statement, only then."""
    changes = edit.fields
    if changes.get("parent_id") is not None:
        problem = _parent_problem(
            session, me=edit.me, parent_id=changes["parent_id"], todo_id=edit.item_id
        )
        if problem is not None:
            raise errors.ValidationFailed([problem])
    values = {k: v for k, v in changes.items() if k not in ("tag_ids", "recurrence")}
    if "done" in values:
        values["completed_at"] = (
            func.coalesce(t.c.completed_at, func.now()) if values["done"] else None
        )
    changed = [_recurrence_differs(changes["recurrence"])] if "recurrence" in changes else []
    item = writes.updated(TODOS, edit, values=values, changed=changed)
    also, given = [], {}
    if "recurrence" in changes:
        also.append(_recurrence_change(item.row, changes["recurrence"]))
        given["recurrence"] = _sent_recurrence(changes["recurrence"])
    return writes.apply(session=session, item=item, view=VIEW, given=given, also=also)


_OWNER_TIMEZONE = (
    select(users.c.timezone)
    .where(users.c.id == t.c.user_id)
    .scalar_subquery()
    .label("owner_timezone"),
)


def get_todo_for_completion(
    *, session: Session, me: uuid.UUID, item_id: uuid.UUID
) -> RowMapping | None:
    """The todo's representation plus its owner's time zone (recurrence runs in it), its row
    locked until the transaction ends: concurrent completes run one after the other, each
    from the deadline the previous one wrote (none fails on a version it could not know)."""
    return get_visible(
        session=session, view=VIEW, me=me, item_id=item_id, extra=_OWNER_TIMEZONE, lock=True
    )
