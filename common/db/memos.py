"""Memo SQL: what is the memos' own (secret memos are never shared); the rest is in
`shareables`. Every function runs one statement on success."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import CTE, delete, or_
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from common.db import shareables
from common.db.access import MEMOS
from common.db.models import MemoTag
from common.db.shareables import View
from common.db.tables import table
from common.paging import SortKey, timestamp_sorts
from common.schemas.memos import MemoCreate, MemoListQuery

t = MEMOS.table
memo_tags = table(MemoTag)

SORTS: dict[str, SortKey] = timestamp_sorts(t)
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


def _columns() -> list[Any]:
    return [t.c[name] for name in _COLUMNS]


def _search(text: str) -> Any:
    return or_(shareables.contains(t.c.content, text), shareables.contains(t.c.note, text))


VIEW = View(MEMOS, _columns, _search)


def to_out(row: RowMapping, *, in_list: bool = False) -> dict[str, Any]:
    """MemoOut's fields; lists hide the content of obfuscated memos (the single GET shows it)."""
    data = {name: row[name] for name in (*_COLUMNS, "owner_id", "tag_ids", "access")}
    if in_list and data["obfuscated"]:
        data["content"] = None
    return data


def get_memo(session: Session, *, me: uuid.UUID, item_id: uuid.UUID) -> RowMapping | None:
    return shareables.get_visible(session, VIEW, me=me, item_id=item_id)


def list_memos(
    session: Session, *, me: uuid.UUID, query: MemoListQuery, after: tuple[Any, uuid.UUID] | None
) -> list[RowMapping]:
    return shareables.list_visible(
        session, VIEW, me=me, query=query, sort=SORTS[query.sort], after=after
    )


def create_memo(session: Session, *, me: uuid.UUID, data: MemoCreate) -> dict[str, Any]:
    row = shareables.create_item(
        session,
        MEMOS,
        me=me,
        values=data.model_dump(exclude={"tag_ids"}),
        returning=[*(t.c[name] for name in _COLUMNS), t.c.user_id.label("owner_id")],
        tag_ids=data.tag_ids,
    )
    assert row is not None  # no condition: the insert always happens
    return dict(row)


def update_memo(
    session: Session,
    *,
    me: uuid.UUID,
    item_id: uuid.UUID,
    changes: dict[str, Any],
    versions: frozenset[int] | None,
    allowed: tuple[str, ...],
) -> None:
    """Apply a PATCH in one statement; making a memo secret revokes its shares in it too."""

    def revoke_if_secret(updated: CTE) -> list[CTE]:
        if not changes.get("secret"):
            return []
        s = MEMOS.share_table
        return [delete(s).where(MEMOS.share_item == updated.c.id).cte("shares_revoked")]

    shareables.apply_update(
        session,
        MEMOS,
        me=me,
        item_id=item_id,
        values={k: v for k, v in changes.items() if k != "tag_ids"},
        allowed=allowed,
        versions=versions,
        tag_ids=changes.get("tag_ids"),
        extra=revoke_if_secret,
    )
