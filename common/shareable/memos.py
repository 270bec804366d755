"""Memo SQL: what is the memos' own (secret memos are never shared; lists hide obfuscated
content); the rest is in `access` and `writes`. Every function runs one statement on success.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, case, delete, null, or_, select
from sqlalchemy.engine import RowMapping

from common.db.engine import Session
from common.paging import SortKey, timestamp_sorts
from common.schemas.memos import MemoCreate, MemoOut
from common.shareable import writes
from common.shareable.access import MEMOS, Shown, View, contains

t = MEMOS.table

_COLUMNS = (
    "id",
    "content",
    "note",
    "pinned",
    "obfuscated",
    "secret",
    "version",
    "created_at",
    "updated_at",
)


def _search(pattern: Any) -> ColumnElement[bool]:
    return or_(contains(t.c.content, pattern), contains(t.c.note, pattern))


def to_out(row: RowMapping) -> dict[str, Any]:
    """MemoOut's fields, as the single GET shows them."""
    return {name: row[name] for name in (*_COLUMNS, "owner_id", "tag_ids", "access")}


def _fields(c: Any) -> dict[str, Any]:
    """MemoOut's own fields as PostgreSQL builds them (common.shareable.access.View)."""
    return {name: c[name] for name in ("content", "note", "pinned", "obfuscated", "secret")}


def _list_fields(c: Any) -> dict[str, Any]:
    """What a list shows instead: an obfuscated memo's content is hidden (null)."""
    return {"content": case((c.obfuscated, null()), else_=c.content)}


SORTS: dict[str, SortKey] = timestamp_sorts(t)
VIEW = View(
    spec=MEMOS,
    out=MemoOut,
    fields=_fields,
    list_fields=_list_fields,
    columns=tuple(t.c[name] for name in _COLUMNS),
    sorts=SORTS,
    search=_search,
    to_out=to_out,
)


def create_memo(*, session: Session, me: uuid.UUID, data: MemoCreate) -> dict[str, Any]:
    item = writes.inserted(
        MEMOS,
        me=me,
        values=data.model_dump(exclude={"tag_ids"}),
        returning=[*(t.c[name] for name in _COLUMNS), t.c.user_id.label("owner_id")],
    )
    row = writes.create(session=session, item=item, tag_ids=data.tag_ids)
    assert row is not None  # no condition: the insert always happens
    return row


def update_memo(*, session: Session, edit: writes.Edit) -> Shown | None:
    """Apply a PATCH in one statement; making a memo secret revokes its shares in it too.
    The memo's representation after it (None: read it again, see writes.apply).

    Making it secret first locks the memo (one more statement, only then): a share being
    granted holds the memo FOR SHARE until it commits (common.shareable.links.put_share), so
    the revoking statement starts after it, and its snapshot sees that share. Without the
    lock, a share committed while the UPDATE waited was invisible to its DELETE and stayed."""
    values = {k: v for k, v in edit.fields.items() if k != "tag_ids"}
    revoke = bool(values.get("secret"))
    if revoke:  # only the owner may change `secret`: only the owner's memo is locked
        own = select(t.c.id).where(t.c.id == edit.item_id, t.c.user_id == edit.me)
        session.execute(own.with_for_update(key_share=True))
    item = writes.updated(MEMOS, edit, values=values)
    also = []
    if revoke:
        s = MEMOS.share_table
        also.append(delete(s).where(MEMOS.share_item == item.row.c.id).cte("shares_revoked"))
    return writes.apply(session=session, item=item, view=VIEW, also=also)
