"""Tag SQL: the caller's own tags; names unique per user ignoring case (citext)."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import Select, Text, bindparam, case, cast, delete, func, select, update
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.engine import RowMapping

from common import errors
from common.db import feeds
from common.db.engine import Session
from common.db.models import Contact, ContactTag, Memo, MemoTag, Tag, Todo, TodoTag
from common.db.tables import if_match
from common.paging import SortKey, both_ways

tags = Tag
# each link table, its column naming the item, and the items' table
_LINKS = (
    (TodoTag, "todo_id", Todo),
    (MemoTag, "memo_id", Memo),
    (ContactTag, "contact_id", Contact),
)
_COLUMNS = (tags.c.id, tags.c.name, tags.c.version, tags.c.created_at, tags.c.updated_at)

SORTS: dict[str, SortKey] = {
    **both_ways(tags.c.name, "str"),
    **both_ways(tags.c.created_at, "datetime"),
}


def _mine(me: uuid.UUID, tag_id: uuid.UUID) -> list[Any]:
    return [tags.c.id == tag_id, tags.c.user_id == me, tags.c.deleted_at.is_(None)]


def create_tag(*, session: Session, me: uuid.UUID, name: str) -> RowMapping:
    stmt = (
        insert(tags)
        .values(name=name, user_id=me)
        .on_conflict_do_nothing(
            index_elements=[tags.c.user_id, tags.c.name], index_where=tags.c.deleted_at.is_(None)
        )
        .returning(*_COLUMNS)
    )
    row = session.execute(stmt).mappings().first()
    if row is None:
        raise errors.Conflict("You already have a tag with this name.")
    return row


def get_tag(*, session: Session, me: uuid.UUID, tag_id: uuid.UUID) -> RowMapping:
    row = session.execute(select(*_COLUMNS).where(*_mine(me, tag_id))).mappings().first()
    if row is None:
        raise errors.NotFound("No such tag.")
    return row


def list_tags(
    *,
    session: Session,
    me: uuid.UUID,
    sort: SortKey,
    limit: int,
    after: tuple[Any, uuid.UUID] | None,
) -> list[RowMapping]:
    stmt = select(*_COLUMNS).where(tags.c.user_id == me, tags.c.deleted_at.is_(None))
    if after is not None:
        stmt = stmt.where(sort.after(tags.c.id, *after))
    stmt = stmt.order_by(*sort.order_by(tags.c.id)).limit(limit + 1)
    return list(session.execute(stmt).mappings())


def rename_tag(
    *,
    session: Session,
    me: uuid.UUID,
    tag_id: uuid.UUID,
    name: str,
    versions: frozenset[int] | None,
) -> RowMapping:
    # Renaming to the name it has changes nothing (same version); a case change does change
    # it (compared as text: as citext the two names are equal).
    differs = cast(tags.c.name, Text).is_distinct_from(name)
    stmt = (
        update(tags)
        .where(*_mine(me, tag_id), *if_match(tags.c.version, versions))
        .values(
            name=name,
            version=case((differs, tags.c.version + 1), else_=tags.c.version),
            updated_at=case((differs, func.now()), else_=tags.c.updated_at),
        )
        .returning(*_COLUMNS)
    )
    # A duplicate name fails the statement with a unique violation: the pipeline answers 409.
    row = session.execute(stmt).mappings().first()
    if row is None:
        raise _refusal(session, me=me, tag_id=tag_id, versions=versions)
    return row


def delete_tag(
    *, session: Session, me: uuid.UUID, tag_id: uuid.UUID, versions: frozenset[int] | None
) -> None:
    """Soft-delete the tag and detach it from every todo, memo and contact, in one statement.

    Each item it leaves is changed (its `tag_ids`): its version moves, as for any change (its
    ETag, and its change feeds, see the tag gone)."""
    gone = (
        update(tags)
        .where(*_mine(me, tag_id), *if_match(tags.c.version, versions))
        .values(deleted_at=func.now(), version=tags.c.version + 1, updated_at=func.now())
        .returning(tags.c.id)
        .cte("gone")
    )
    stmt = select(gone.c.id)
    for link, item, items in _LINKS:
        unlinked = (
            delete(link)
            .where(link.c.tag_id.in_(select(gone.c.id)))
            .returning(link.c[item])
            .cte(f"unlinked_{link.name}")
        )
        bumped = (
            update(items)
            .where(items.c.id.in_(select(unlinked.c[item])), items.c.deleted_at.is_(None))
            .values(version=items.c.version + 1, updated_at=func.now())
        )
        stmt = stmt.add_cte(unlinked).add_cte(bumped.cte(f"changed_{items.name}"))
    if session.execute(stmt).first() is None:
        raise _refusal(session, me=me, tag_id=tag_id, versions=versions)


def _refusal(
    session: Session, *, me: uuid.UUID, tag_id: uuid.UUID, versions: frozenset[int] | None
) -> errors.ApiError:
    version = session.execute(select(tags.c.version).where(*_mine(me, tag_id))).scalar()
    if version is None:
        return errors.NotFound("No such tag.")
    if versions is not None and version not in versions:
        return errors.PreconditionFailed()
    return errors.Conflict("The tag changed while you wrote it; try again.")


def list_tag_changes(
    *,
    session: Session,
    me: uuid.UUID,
    since: feeds.Horizon,
    round_: feeds.Horizon,
    after: tuple[int, int, uuid.UUID] | None,
    limit: int,
) -> list[RowMapping]:
    """limit + 1 tags of the caller's change feed since `since` (common.sync), each as the
    caller's GET shows it, or nulls when it was deleted. Tags are never shared: their feed
    is the logged changes alone (no share lapses)."""
    stmt = _changed_page(after is not None)
    values = feeds.page_parameters(me=me, since=since, round_=round_, after=after, limit=limit)
    return list(session.execute(stmt, values).mappings())


_ME = bindparam("me", type_=UUID(as_uuid=True))


@functools.cache
def _changed_page(after: bool) -> Select[Any]:
    candidates = feeds.logged(_ME, "tag", after=after).cte("candidates")
    visible = (
        select(*_COLUMNS)
        .where(
            tags.c.id.in_(select(candidates.c.item_id)),
            tags.c.user_id == _ME,
            tags.c.deleted_at.is_(None),
        )
        .subquery("visible")
    )
    return feeds.page_of(candidates, visible)
