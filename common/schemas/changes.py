"""Change feeds (api-v1 §10): the query, and a page of a round for each collection."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from common.schemas.base import Schema, Str

DEFAULT_LIMIT = 200
MAX_LIMIT = 500


class ChangesQuery(Schema):
    since: Str | None = Field(
        default=None,
        max_length=2048,
        description="The `sync_token` of your last round; without it, a full snapshot",
    )
    cursor: Str | None = Field(
        default=None, max_length=2048, description="The `next_cursor` of the page before"
    )
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class Remove(Schema):
    """The item was deleted, or you no longer see it (or never had it): drop it."""

    op: Literal["remove"]
    id: uuid.UUID


class Upsert[Item: BaseModel](Schema):
    """The item as `GET /v1/<collection>/{id}` shows it to you now: store it."""

    op: Literal["upsert"]
    id: uuid.UUID
    item: Item


class ChangePage[Entry: BaseModel](Schema):
    """One page of a round: apply its `changes` in order."""

    changes: list[Entry | Remove]  # told apart by `op`
    next_cursor: str | None = Field(description="fetch it (with the same `since`) for more")
    sync_token: str | None = Field(
        description="on the round's last page: your `since` for the next round"
    )
