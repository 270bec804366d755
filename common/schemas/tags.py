"""Tags (docs/api.md §5)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from common.paging import ListQuery
from common.schemas.base import NUL_FREE, Schema, Timestamp, no_nul
from common.schemas.changes import ChangePage, Upsert

TagName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(no_nul),
    NUL_FREE,
]


class TagCreate(Schema):
    name: TagName


class TagUpdate(Schema):
    name: TagName


class TagOut(Schema):
    id: uuid.UUID
    name: str
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class TagPage(Schema):
    items: list[TagOut]
    next_cursor: str | None = Field(description="null on the last page")


class TagListQuery(ListQuery):
    sort: Literal["name", "-name", "created_at", "-created_at"] = "name"


class TagUpsert(Upsert[TagOut]):
    """A tag as `GET /v1/tags/{id}` shows it to you now."""


class TagChanges(ChangePage[TagUpsert]):
    """A page of your tags change feed (`GET /v1/tags/changes`)."""
