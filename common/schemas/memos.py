"""Memos (docs/api.md §7)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from common.paging import ShareableListQuery
from common.schemas.base import Access, Patch, Schema, Str, TagIds, Timestamp
from common.schemas.changes import ChangePage, Upsert

Content = Annotated[Str, Field(min_length=1, max_length=20_000)]
Note = Annotated[Str, Field(max_length=2_000)]

# Fields a `write` sharee may change; everything else is the owner's.
SHAREE_WRITABLE = frozenset({"content", "note"})


class MemoCreate(Schema):
    content: Content
    note: Note | None = None
    pinned: bool = False
    obfuscated: bool = False
    secret: bool = Field(default=True, description="a secret memo cannot be shared")
    tag_ids: TagIds = Field(default_factory=list)


class MemoUpdate(Patch):
    """Any subset; `null` clears `note` and is refused for the other fields. Setting
    `secret` to true revokes every share of the memo."""

    NOT_NULL = frozenset({"content", "pinned", "obfuscated", "secret", "tag_ids"})

    content: Content | None = None
    note: Note | None = None
    pinned: bool | None = None
    obfuscated: bool | None = None
    secret: bool | None = None
    tag_ids: TagIds | None = None


class MemoOut(Schema):
    id: uuid.UUID
    content: str | None = Field(description="null in lists when the memo is obfuscated")
    note: str | None
    pinned: bool
    obfuscated: bool
    secret: bool
    tag_ids: list[uuid.UUID]
    owner_id: uuid.UUID
    access: Access
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class MemoPage(Schema):
    items: list[MemoOut]
    next_cursor: str | None = Field(description="null on the last page")


class MemoListQuery(ShareableListQuery):
    sort: Literal["created_at", "-created_at", "updated_at", "-updated_at"] = "-created_at"


class MemoUpsert(Upsert[MemoOut]):
    """A memo as `GET /v1/memos/{id}` shows it to you now."""


class MemoChanges(ChangePage[MemoUpsert]):
    """A page of your memos change feed (`GET /v1/memos/changes`)."""
