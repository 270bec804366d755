"""Shares of todos, memos and contacts (docs/api.md §6-8)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import EmailStr

from common.schemas.base import Schema, Timestamp

Permission = Literal["read", "write"]


class ShareUser(Schema):
    id: uuid.UUID
    username: str
    display_name: str | None


class ShareIn(Schema):
    """`recursive` applies to todos only (a todo share reaches its sub-todos)."""

    email: EmailStr
    permission: Permission
    expires_at: Timestamp | None = None


class TodoShareIn(ShareIn):
    recursive: bool = True


class ShareOut(Schema):
    user: ShareUser
    permission: Permission
    expires_at: Timestamp | None


class TodoShareOut(ShareOut):
    recursive: bool


class SharePage(Schema):
    items: list[ShareOut]


class TodoSharePage(Schema):
    items: list[TodoShareOut]
