"""Contact SQL: what is the contacts' own (numbers, emails and addresses, written and read
with the contact); the rest is in `access` and `writes`. Every function runs one statement on
success, whatever the number of child rows: lists are aggregated in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Table,
    Text,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, insert
from sqlalchemy.dialects.postgresql import array as pg_array
from sqlalchemy.engine import RowMapping

from common.db.engine import Session
from common.db.models import ContactAddress, ContactEmail, ContactNumber
from common.paging import SortKey, both_ways, timestamp_sorts
from common.schemas.contacts import CHILD_LISTS, ContactCreate, ContactOut
from common.shareable import writes
from common.shareable.access import CONTACTS, Shown, View, contains

t = CONTACTS.table
# list name -> (child table, its value column)
CHILDREN: dict[str, tuple[Table, str]] = {
    "numbers": (ContactNumber, "number"),
    "emails": (ContactEmail, "email"),
    "addresses": (ContactAddress, "address"),
}

_COLUMNS = ("id", "name", "note", "pinned", "version", "created_at", "updated_at")


def _child_list(name: str, contact_id: Any) -> Any:
    """A scalar subquery: one of the contact's lists, in the order it was written."""
    child, column = CHILDREN[name]
    values = func.array_agg(aggregate_order_by(child.c[column], child.c.position))
    return (
        select(func.coalesce(values, pg_array([], type_=Text)))
        .where(child.c.contact_id == contact_id)
        .correlate_except(child)  # the contact's row is the enclosing statement's
        .scalar_subquery()
    )


def to_out(row: RowMapping) -> dict[str, Any]:
    return {name: row[name] for name in (*_COLUMNS, *CHILD_LISTS, "owner_id", "tag_ids", "access")}


def _fields(c: Any) -> dict[str, Any]:
    """ContactOut's own fields as PostgreSQL builds them (common.shareable.access.View)."""
    own = {name: c[name] for name in ("name", "note", "pinned")}
    return {**own, **{name: _child_list(name, c.id) for name in CHILD_LISTS}}


def _matches(pattern: Any) -> ColumnElement[bool]:
    """`q`: the name, or any of the contact's numbers or emails."""
    numbers, number = CHILDREN["numbers"]
    emails, email = CHILDREN["emails"]
    return or_(
        contains(t.c.name, pattern),
        exists().where(numbers.c.contact_id == t.c.id, contains(numbers.c[number], pattern)),
        exists().where(emails.c.contact_id == t.c.id, contains(emails.c[email], pattern)),
    )


SORTS: dict[str, SortKey] = {**timestamp_sorts(t), **both_ways(t.c.name, "str")}
VIEW = View(
    spec=CONTACTS,
    out=ContactOut,
    fields=_fields,
    columns=(
        *(t.c[name] for name in _COLUMNS),
        *(_child_list(name, t.c.id).label(name) for name in CHILD_LISTS),
    ),
    sorts=SORTS,
    search=_matches,
    to_out=to_out,
)


def _write_children(
    contact: CTE, lists: Mapping[str, Sequence[str]], *, replace: bool
) -> list[CTE]:
    """CTEs inserting each given list (in order) for the contact; with `replace`, the old
    rows of those lists are deleted by the same statement (they are other rows)."""
    ctes: list[CTE] = []
    for name, values in lists.items():
        child, column = CHILDREN[name]
        if replace:
            ctes.append(
                delete(child).where(child.c.contact_id == contact.c.id).cte(f"{name}_removed")
            )
        if values:
            items = (
                func.unnest(literal(list(values), ARRAY(Text)))
                .table_valued("value", with_ordinality="ordinality")
                .render_derived()
            )
            rows = select(contact.c.id, items.c.value, items.c.ordinality - 1).select_from(
                contact.join(items, true())
            )
            ctes.append(
                insert(child)
                .from_select(["contact_id", column, "position"], rows)
                .cte(f"{name}_written")
            )
    return ctes


def create_contact(*, session: Session, me: uuid.UUID, data: ContactCreate) -> dict[str, Any]:
    lists = {name: [str(v) for v in getattr(data, name)] for name in CHILD_LISTS}
    item = writes.inserted(
        CONTACTS,
        me=me,
        values=data.model_dump(exclude={"tag_ids", *CHILD_LISTS}),
        returning=[*(t.c[name] for name in _COLUMNS), t.c.user_id.label("owner_id")],
    )
    also = _write_children(item.row, lists, replace=False)
    row = writes.create(session=session, item=item, tag_ids=data.tag_ids, also=also)
    assert row is not None  # no condition: the insert always happens
    return {**row, **lists}


def update_contact(*, session: Session, edit: writes.Edit) -> Shown | None:
    """Apply a PATCH in one statement; each list sent replaces that whole list. The
    contact's representation after it (None: read it again, see writes.apply)."""
    changes = edit.fields
    lists = {name: [str(v) for v in changes[name]] for name in CHILD_LISTS if name in changes}
    values = {k: v for k, v in changes.items() if k not in ("tag_ids", *CHILD_LISTS)}
    changed = [
        cast(_child_list(name, t.c.id), ARRAY(Text)).is_distinct_from(literal(sent, ARRAY(Text)))
        for name, sent in lists.items()
    ]
    item = writes.updated(CONTACTS, edit, values=values, changed=changed)
    also = _write_children(item.row, lists, replace=True)
    given = {name: literal(sent, ARRAY(Text)) for name, sent in lists.items()}
    return writes.apply(session=session, item=item, view=VIEW, given=given, also=also)
