"""Create, update and soft-delete a shareable item, each in one statement.

The caller's access and the `If-Match` versions are conditions of the write itself, so a
check cannot interleave with another request's write. A write that matched no row is then
explained by a second statement (404 unseen, 403 not allowed, 412 stale). Tag links are
written by the same statement as the item; a resource adds what is its own (recurrence,
child lists, revoked shares) as more data-modifying CTEs of that statement, built on the
`Insert.row` / `Update.row` CTE that `inserted` / `updated` start with, then run by `create`
/ `apply`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    and_,
    delete,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert

from common import errors
from common.db.engine import Session
from common.db.models import Tag
from common.db.tables import if_match
from common.shareable import access
from common.shareable.access import OWNER, Shareable

tags = Tag


@dataclass(frozen=True)
class Insert:
    """A new item being written: `row` is its INSERT (a CTE returning its columns)."""

    spec: Shareable
    me: uuid.UUID
    row: CTE


@dataclass(frozen=True)
class Edit:
    """A change of one item as the caller asked it: the fields sent (`tag_ids` among them,
    when sent), the If-Match versions, and the access levels that may make it."""

    me: uuid.UUID
    item_id: uuid.UUID
    fields: dict[str, Any]
    versions: frozenset[int] | None
    allowed: Collection[str]

    @property
    def tag_ids(self) -> Sequence[uuid.UUID] | None:
        """The tag links that replace the item's (None: kept)."""
        return self.fields.get("tag_ids")


@dataclass(frozen=True)
class Update:
    """An edit of one item being written: `row` is its guarded UPDATE (a CTE)."""

    spec: Shareable
    edit: Edit
    row: CTE


def inserted(
    spec: Shareable,
    *,
    me: uuid.UUID,
    values: dict[str, Any],
    returning: Sequence[Any],
    condition: ColumnElement[bool] | None = None,
) -> Insert:
    """The INSERT of one item owned by the caller (nothing when `condition` does not hold)."""
    t = spec.table
    source = select(
        literal(uuid.uuid4(), t.c.id.type).label("id"),
        literal(me, t.c.user_id.type).label("user_id"),
        *(
            (v if isinstance(v, ColumnElement) else literal(v, t.c[k].type)).label(k)
            for k, v in values.items()
        ),
    )
    if condition is not None:
        source = source.where(condition)
    row = (
        insert(t)
        .from_select(["id", "user_id", *values], source)
        .returning(*returning)
        .cte(f"{spec.name}_inserted")
    )
    return Insert(spec, me, row)


def create(
    *, session: Session, item: Insert, tag_ids: Sequence[uuid.UUID], also: Sequence[CTE] = ()
) -> dict[str, Any] | None:
    """Run the INSERT with its tag links and the resource's own CTEs `also`, in one
    statement. The new item's returned columns, or None when its condition did not hold
    (nothing was written); foreign tags raise 422 (the pipeline rolls back)."""
    wanted = sorted(set(tag_ids))
    linked = _link_tags(item.spec, item.row, me=item.me, tag_ids=wanted)
    count = select(func.count()).select_from(linked).scalar_subquery()
    stmt = select(item.row, count.label("linked"))
    for cte in also:
        stmt = stmt.add_cte(cte)
    row = session.execute(stmt).mappings().first()
    if row is None:
        return None
    if row["linked"] != len(wanted):
        raise _tags_invalid()
    return {k: v for k, v in row.items() if k != "linked"}


def updated(
    spec: Shareable,
    edit: Edit,
    *,
    values: dict[str, Any],
    changed: Sequence[ColumnElement[bool]] = (),
) -> Update:
    """The guarded UPDATE of one item writing `values` (its own columns): access and
    If-Match in its WHERE. `changed`: conditions that hold when what the resource writes
    beside the row (recurrence, lists) differs from what is stored; with the tag links,
    they decide whether the version moves (api-v1 §2, "unchanged is unchanged")."""
    if edit.tag_ids is not None:
        changed = [*changed, _tags_differ(spec, edit.tag_ids)]
    row = access.guarded_update(
        spec,
        edit.me,
        edit.item_id,
        allowed=edit.allowed,
        versions=edit.versions,
        values=values,
        changed=changed,
    ).cte(f"{spec.name}_updated")
    return Update(spec, edit, row)


def apply(
    *,
    session: Session,
    item: Update,
    view: access.View,
    given: dict[str, Any] | None = None,
    also: Sequence[CTE] = (),
) -> access.Shown | None:
    """Run the guarded UPDATE, the tag links replaced when the edit has `tag_ids` and the
    resource's own CTEs `also`, in one statement, which also returns the item's
    representation: `view`'s JSON of the updated row, with `given` the fields the statement
    writes beside it (a statement does not see its own writes of other tables; the tag ids
    are added here).

    That representation is the item after this write only when nobody else wrote it since
    the statement's snapshot (whose tags, recurrence and lists it shows): the version moved
    from the snapshot's by this write alone (by one, at this transaction's `now()`), or not
    at all. Otherwise (a concurrent writer was waited for) None: read it again.

    Refusals are explained by a second statement (404/403/412); foreign tags raise 422 and
    the pipeline rolls the whole write back."""
    spec, edit, tag_ids, u = item.spec, item.edit, item.edit.tag_ids, item.row.c
    wanted = sorted(set(tag_ids)) if tag_ids is not None else []
    valid = select(func.count()).select_from(_own_live_tags(edit.me, wanted).subquery())
    shows = dict(given or {})
    if tag_ids is not None:
        shows["tag_ids"] = literal(wanted, ARRAY(UUID(as_uuid=True)))
    fresh = or_(
        u.version == u.seen_version,
        and_(u.version == u.seen_version + 1, u.updated_at == func.now()),
    )
    stmt = select(
        u.id,
        u.version,
        valid.scalar_subquery().label("valid_tags"),
        view.shown(u, u.access, given=shows).label("json"),
        fresh.label("fresh"),
    )
    ctes = list(also)
    if tag_ids is not None:
        link = spec.tag_table
        unlinked = delete(link).where(spec.tag_item == u.id, link.c.tag_id.not_in(wanted))
        ctes.append(unlinked.cte(f"{spec.name}_tags_unlinked"))
        if wanted:
            ctes.append(_link_tags(spec, item.row, me=edit.me, tag_ids=wanted))
    for cte in ctes:
        stmt = stmt.add_cte(cte)
    row = session.execute(stmt).first()
    if row is None:
        raise access.explain_refusal(
            session, spec, edit.me, edit.item_id, allowed=edit.allowed, versions=edit.versions
        )
    if tag_ids is not None and row.valid_tags != len(wanted):
        raise _tags_invalid()
    return access.Shown(row.json, row.version) if row.fresh else None


def soft_delete(
    *,
    session: Session,
    spec: Shareable,
    me: uuid.UUID,
    item_id: uuid.UUID,
    versions: frozenset[int] | None,
) -> None:
    """Soft-delete the caller's item (and, for todos, its whole subtree) in one statement.

    The root's conditions (the caller's, not deleted, If-Match) are on the updated row
    itself: a DELETE that waited for another writer's lock checks them again on the row
    that writer left, so of two writes holding one ETag exactly one wins. (Written as
    `id IN (SELECT ... WHERE version ...)`, the version was checked in the statement's
    snapshot only, and every waiting DELETE applied.) Sub-todos are found in the snapshot;
    when the root did not qualify after all, nothing stays deleted: the refusal rolls the
    statement's writes back."""
    t = spec.table
    root = and_(t.c.id == item_id, *if_match(t.c.version, versions))
    doomed: ColumnElement[bool] = root
    if spec.recursive:
        subtree = (
            select(t.c.id)
            .where(t.c.id == item_id, t.c.user_id == me, t.c.deleted_at.is_(None))
            .cte("subtree", recursive=True)
        )
        child = t.alias("child")
        subtree = subtree.union(
            select(child.c.id).where(
                child.c.parent_id == subtree.c.id, child.c.deleted_at.is_(None)
            )
        )
        below = select(subtree.c.id).where(subtree.c.id != item_id)
        doomed = or_(root, t.c.id.in_(below))
    stmt = (
        update(t)
        .where(doomed, t.c.user_id == me, t.c.deleted_at.is_(None))
        .values(deleted_at=func.now(), version=t.c.version + 1, updated_at=func.now())
        .returning(t.c.id)
    )
    if item_id not in session.execute(stmt).scalars().all():
        raise access.explain_refusal(
            session, spec, me, item_id, allowed=(OWNER,), versions=versions
        )


# --- tag links written with the item ---------------------------------------------------------


def _own_live(me: uuid.UUID, tag_ids: Sequence[uuid.UUID]) -> list[ColumnElement[bool]]:
    """The caller's undeleted tags among `tag_ids`."""
    return [tags.c.id.in_(list(tag_ids)), tags.c.user_id == me, tags.c.deleted_at.is_(None)]


def _own_live_tags(me: uuid.UUID, tag_ids: Sequence[uuid.UUID]) -> Select[Any]:
    return select(tags.c.id).where(*_own_live(me, tag_ids))


def _link_tags(spec: Shareable, item: CTE, *, me: uuid.UUID, tag_ids: Sequence[uuid.UUID]) -> CTE:
    """CTE: link the caller's live tags among `tag_ids` to the item in `item` (an `id`)."""
    link = spec.tag_table
    pairs = (
        select(item.c.id, tags.c.id)
        .select_from(item.join(tags, true()))
        .where(*_own_live(me, tag_ids))
    )
    return (
        insert(link)
        .from_select([spec.tag_fk, "tag_id"], pairs)
        .on_conflict_do_nothing()
        .returning(link.c.tag_id)
        .cte(f"{spec.name}_tags_linked")
    )


def _tags_differ(spec: Shareable, tag_ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """The item's tags (as a set) are not `tag_ids`."""
    uuids = ARRAY(UUID(as_uuid=True))
    current = type_coerce(access.tag_ids(spec, spec.table.c.id), uuids)
    wanted = literal(sorted(set(tag_ids)), uuids)
    return not_(and_(current.contains(wanted), current.contained_by(wanted)))


def _tags_invalid() -> errors.ValidationFailed:
    return errors.ValidationFailed([errors.FieldError("tag_ids", "must be your own tags")])
