"""Reads and writes every shareable resource (todos, memos, contacts) shares.

A `View` is how one resource is represented: its columns (tag ids, child lists and the like
as scalar subqueries) and any extra outer joins. With it, fetching one item, listing a page
and soft-deleting are written once here; each resource module only adds what is its own
(the todo recurrence, contact child lists, the secret memo rule).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    FromClause,
    Select,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from common import errors
from common.db import access
from common.db.access import OWNER, Shareable
from common.db.models import Tag
from common.db.tables import if_match, table
from common.paging import ShareableListQuery, SortKey

tags = table(Tag)


@dataclass(frozen=True)
class View:
    spec: Shareable
    columns: Callable[[], list[Any]]  # the resource's own columns (owner, tags added here)
    search: Callable[[str], Any]  # the condition of `q`
    join: Callable[[FromClause], FromClause] = lambda source: source

    def representation(self) -> list[Any]:
        """Every column of the resource's Out schema but `access`."""
        t = self.spec.table
        return [
            *self.columns(),
            t.c.user_id.label("owner_id"),
            access.tag_ids(self.spec, t.c.id).label("tag_ids"),
        ]


# The bound parameters of statements built once per shape and reused (building one of these
# statements took ~3 ms of Python per request, more than running it: docs/benchmarks.md).
ME = bindparam("me", type_=UUID(as_uuid=True))
ITEM_ID = bindparam("item_id", type_=UUID(as_uuid=True))


@functools.cache
def _visible_one(view: View, extra: tuple[Any, ...]) -> Select[Any]:
    """The statement of `get_visible` for this view and extra columns, with ME and ITEM_ID."""
    t = view.spec.table
    acc = access.received(view.spec, ME, ITEM_ID)
    return (
        select(*view.representation(), *extra, access.access_level(t, acc, ME).label("access"))
        .select_from(view.join(t.outerjoin(acc, acc.c.id == t.c.id)))
        .where(
            t.c.id == ITEM_ID,
            t.c.deleted_at.is_(None),
            or_(t.c.user_id == ME, acc.c.id.is_not(None)),
        )
    )


def get_visible(
    session: Session,
    view: View,
    *,
    me: uuid.UUID,
    item_id: uuid.UUID,
    extra: tuple[Any, ...] = (),
) -> RowMapping | None:
    """One item as the caller may see it (with `access`), or None. `extra`: more columns, the
    same objects on every call (the statement is built once per view and `extra`)."""
    stmt = _visible_one(view, extra)
    return session.execute(stmt, {"me": me, "item_id": item_id}).mappings().first()


def list_visible(
    session: Session,
    view: View,
    *,
    me: uuid.UUID,
    query: ShareableListQuery,
    sort: SortKey,
    after: tuple[Any, uuid.UUID] | None,
    conditions: Sequence[Any] = (),
) -> list[RowMapping]:
    """One page (limit + 1 rows, to tell whether more follow) in one statement, with the
    filters every shareable list has (pinned, tag, q) and the resource's own `conditions`.

    Owned and shared rows are two branches, each walking its own index in sort order and
    stopping after limit + 1 rows; the union is sorted and cut once more. Representation
    columns are computed only for the rows of the page."""
    spec = view.spec
    t = spec.table
    scope, limit = query.scope, query.limit
    where = [t.c.deleted_at.is_(None), *_list_filters(view, query), *conditions]
    if after is not None:
        where.append(sort.after(t.c.id, *after))
    order = sort.order_by(t.c.id)
    n = limit + 1
    branches: list[Select[Any]] = []
    if scope in ("all", "owned"):
        branches.append(
            select(t.c.id, literal(OWNER).label("access"))
            .where(t.c.user_id == me, *where)
            .order_by(*order)
            .limit(n)
        )
    if scope in ("all", "shared"):
        acc = access.received(spec, me)
        branches.append(
            select(t.c.id, access.access_level(t, acc, me).label("access"))
            .select_from(t.join(acc, acc.c.id == t.c.id))
            .where(t.c.user_id != me, *where)
            .order_by(*order)
            .limit(n)
        )
    page = (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("page")
    stmt = (
        select(*view.representation(), page.c.access)
        .select_from(view.join(page.join(t, t.c.id == page.c.id)))
        .order_by(*order)
        .limit(n)
    )
    return list(session.execute(stmt).mappings())


def soft_delete(
    session: Session,
    spec: Shareable,
    *,
    me: uuid.UUID,
    item_id: uuid.UUID,
    versions: frozenset[int] | None,
) -> None:
    """Soft-delete the caller's item (and, for todos, its whole subtree) in one statement."""
    t = spec.table
    root = select(t.c.id).where(
        t.c.id == item_id,
        t.c.user_id == me,
        t.c.deleted_at.is_(None),
        *if_match(t.c.version, versions),
    )
    doomed: Any = root
    if spec.recursive:
        subtree = root.cte("subtree", recursive=True)
        child = t.alias("child")
        doomed = select(
            subtree.union(
                select(child.c.id).where(
                    child.c.parent_id == subtree.c.id, child.c.deleted_at.is_(None)
                )
            ).c.id
        )
    stmt = (
        update(t)
        .where(t.c.id.in_(doomed))
        .values(deleted_at=func.now(), version=t.c.version + 1, updated_at=func.now())
        .returning(t.c.id)
    )
    if session.execute(stmt).first() is None:
        raise access.explain_refusal(
            session, spec, me, item_id, allowed=(OWNER,), versions=versions
        )


def contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match (trigram indexes serve it); % and _ are literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


def _list_filters(view: View, query: ShareableListQuery) -> list[Any]:
    """The conditions of the filters every shareable list has: pinned, tag, q."""
    spec = view.spec
    t = spec.table
    found: list[Any] = []
    if query.pinned is not None:
        found.append(t.c.pinned.is_(query.pinned))
    if query.tag is not None:
        link = spec.tag_table
        found.append(exists().where(spec.tag_item == t.c.id, link.c.tag_id == query.tag))
    if query.q is not None:
        found.append(view.search(query.q))
    return found


# --- pieces of write statements -----------------------------------------------------------


def _own_live(me: uuid.UUID, tag_ids: Sequence[uuid.UUID]) -> list[ColumnElement[bool]]:
    """The caller's undeleted tags among `tag_ids`."""
    return [tags.c.id.in_(list(tag_ids)), tags.c.user_id == me, tags.c.deleted_at.is_(None)]


def own_live_tags(me: uuid.UUID, tag_ids: Sequence[uuid.UUID]) -> Select[Any]:
    return select(tags.c.id).where(*_own_live(me, tag_ids))


def link_tags(spec: Shareable, item: CTE, *, me: uuid.UUID, tag_ids: Sequence[uuid.UUID]) -> CTE:
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


def unlink_other_tags(spec: Shareable, item: CTE, *, keep: Sequence[uuid.UUID]) -> CTE:
    """CTE: remove the item's tag links not in `keep` (disjoint from what link_tags adds)."""
    link = spec.tag_table
    return (
        delete(link)
        .where(spec.tag_item == item.c.id, link.c.tag_id.not_in(list(keep)))
        .cte(f"{spec.name}_tags_unlinked")
    )


def count_of(cte: CTE) -> Any:
    return select(func.count()).select_from(cte).scalar_subquery()


def tags_invalid() -> errors.ValidationFailed:
    return errors.ValidationFailed([errors.FieldError("tag_ids", "must be your own tags")])


def apply_update(
    session: Session,
    spec: Shareable,
    *,
    me: uuid.UUID,
    item_id: uuid.UUID,
    values: dict[str, Any],
    allowed: tuple[str, ...],
    versions: frozenset[int] | None,
    tag_ids: Sequence[uuid.UUID] | None,
    extra: Callable[[CTE], list[CTE]] = lambda updated: [],
) -> None:
    """A PATCH in one statement: the guarded UPDATE, tag links replaced when `tag_ids` is
    given, and whatever `extra` adds for the updated row (child lists, recurrence, ...).

    Refusals are explained by a second statement (404/403/412); foreign tags raise 422 and
    the pipeline rolls the whole write back."""
    upd = access.guarded_update(
        spec, me, item_id, allowed=allowed, versions=versions, values=values
    ).cte(f"{spec.name}_updated")
    wanted = sorted(set(tag_ids)) if tag_ids is not None else []
    valid = select(func.count()).select_from(own_live_tags(me, wanted).subquery())
    stmt = select(upd.c.id, valid.scalar_subquery().label("valid_tags"))
    ctes = list(extra(upd))
    if tag_ids is not None:
        ctes.append(unlink_other_tags(spec, upd, keep=wanted))
        if wanted:
            ctes.append(link_tags(spec, upd, me=me, tag_ids=wanted))
    for cte in ctes:
        stmt = stmt.add_cte(cte)
    row = session.execute(stmt).first()
    if row is None:
        raise access.explain_refusal(session, spec, me, item_id, allowed=allowed, versions=versions)
    if tag_ids is not None and row.valid_tags != len(wanted):
        raise tags_invalid()


def create_item(
    session: Session,
    spec: Shareable,
    *,
    me: uuid.UUID,
    values: dict[str, Any],
    returning: Sequence[Any],
    tag_ids: Sequence[uuid.UUID],
    condition: Any = None,
    extra: Callable[[CTE], list[CTE]] = lambda inserted: [],
) -> dict[str, Any] | None:
    """INSERT one item owned by the caller, its tag links and whatever `extra` adds (child
    rows, recurrence) in one statement. None when `condition` (e.g. a valid parent) did not
    hold, so nothing was written; foreign tags raise 422 (the pipeline rolls back)."""
    t = spec.table
    wanted = sorted(set(tag_ids))
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
    inserted = (
        insert(t)
        .from_select(["id", "user_id", *values], source)
        .returning(*returning)
        .cte(f"{spec.name}_inserted")
    )
    linked = link_tags(spec, inserted, me=me, tag_ids=wanted)
    stmt = select(inserted, count_of(linked).label("tags_linked"))
    for cte in extra(inserted):
        stmt = stmt.add_cte(cte)
    row = session.execute(stmt).mappings().first()
    if row is None:
        return None
    if row["tags_linked"] != len(wanted):
        raise tags_invalid()
    return {k: v for k, v in row.items() if k != "tags_linked"}
