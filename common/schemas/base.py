"""Shapes every function shares: the schema base class, problems, health, list pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
)


def no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it as a field error instead of a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Every client-supplied string goes through this type.
Str = Annotated[str, AfterValidator(no_nul)]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# RFC 3339 with an offset in requests (a naive timestamp is a 422), UTC ("Z") in responses.
Timestamp = Annotated[AwareDatetime, AfterValidator(_to_utc)]

Access = Literal["owner", "write", "read"]


class Schema(BaseModel):
    """Base of request and response shapes: unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


TagIds = Annotated[list[uuid.UUID], Field(max_length=100, description="the caller's own tags")]


class Patch(Schema):
    """Base of PATCH bodies: any subset of fields; `null` clears an optional field and is
    refused for the fields named in `NOT_NULL`."""

    NOT_NULL: ClassVar[frozenset[str]] = frozenset()

    def null_fields(self) -> list[str]:
        """Fields sent as `null` that may not be. (Checked after validation, by the pipeline:
        a pydantic `before` validator would turn strict JSON validation into Python-mode
        validation, where a timestamp string is no longer accepted.)"""
        return sorted(f for f in self.model_fields_set & self.NOT_NULL if getattr(self, f) is None)


class FieldErrorOut(Schema):
    field: str
    message: str


class Problem(Schema):
    """RFC 9457 problem details, as every error response carries them."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    request_id: str
    errors: list[FieldErrorOut] | None = Field(
        default=None, description="Every invalid field (422 only)."
    )


class Health(Schema):
    status: Literal["ok", "unavailable"]
    function: str
    version: str
    database: Literal["ok", "unavailable"]
