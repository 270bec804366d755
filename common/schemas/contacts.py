"""Contacts (docs/api.md §8)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import EmailStr, Field

from common.paging import ShareableListQuery
from common.schemas.base import Access, Patch, Schema, Str, TagIds, Timestamp
from common.schemas.changes import ChangePage, Upsert

Name = Annotated[Str, Field(min_length=1, max_length=100)]
Note = Annotated[Str, Field(max_length=2_000)]
Numbers = Annotated[list[Annotated[Str, Field(min_length=1, max_length=50)]], Field(max_length=20)]
Emails = Annotated[list[Annotated[EmailStr, Field(max_length=254)]], Field(max_length=20)]
Addresses = Annotated[
    list[Annotated[Str, Field(min_length=1, max_length=255)]], Field(max_length=20)
]

# A `write` sharee may change everything but tags.
SHAREE_WRITABLE = frozenset({"name", "note", "pinned", "numbers", "emails", "addresses"})
CHILD_LISTS = ("numbers", "emails", "addresses")


class ContactCreate(Schema):
    name: Name
    note: Note | None = None
    pinned: bool = False
    numbers: Numbers = Field(default_factory=list)
    emails: Emails = Field(default_factory=list)
    addresses: Addresses = Field(default_factory=list)
    tag_ids: TagIds = Field(default_factory=list)


class ContactUpdate(Patch):
    """Any subset; a list that is sent replaces the whole list; `null` clears `note` and is
    refused for the other fields."""

    NOT_NULL = frozenset({"name", "pinned", "numbers", "emails", "addresses", "tag_ids"})

    name: Name | None = None
    note: Note | None = None
    pinned: bool | None = None
    numbers: Numbers | None = None
    emails: Emails | None = None
    addresses: Addresses | None = None
    tag_ids: TagIds | None = None


class ContactOut(Schema):
    id: uuid.UUID
    name: str
    note: str | None
    pinned: bool
    numbers: list[str]
    emails: list[str]
    addresses: list[str]
    tag_ids: list[uuid.UUID]
    owner_id: uuid.UUID
    access: Access
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class ContactPage(Schema):
    items: list[ContactOut]
    next_cursor: str | None = Field(description="null on the last page")


class ContactListQuery(ShareableListQuery):
    sort: Literal["created_at", "-created_at", "updated_at", "-updated_at", "name", "-name"] = (
        "-created_at"
    )


class ContactUpsert(Upsert[ContactOut]):
    """A contact as `GET /v1/contacts/{id}` shows it to you now."""


class ContactChanges(ChangePage[ContactUpsert]):
    """A page of your contacts change feed (`GET /v1/contacts/changes`)."""
