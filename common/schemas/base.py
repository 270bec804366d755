"""Shapes every function shares: the schema base class, problems, health, list pages."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
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


# RFC 3339's date-time; the offset is checked by AwareDatetime (its absence is a 422).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)


def _rfc3339(value: object) -> object:
    # pydantic alone also reads "0.5" or "1700000000" as Unix times; RFC 3339 does not.
    # Parsed here, not passed on as text: strict JSON validation takes no text after a
    # `before` validator.
    if not isinstance(value, str):
        return value
    if not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 timestamp such as 2024-05-01T09:00:00Z")
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError:
        raise ValueError("must be a valid date and time") from None


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
        raise ValueError("is out of range once converted to UTC") from None


# RFC 3339 with an offset in requests (a naive timestamp is a 422), UTC ("Z") in responses.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_to_utc)]

Access = Literal["owner", "write", "read"]


class Schema(BaseModel):
    """Base of request and response shapes: unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


TagIds = Annotated[list[uuid.UUID], Field(max_length=100, description="the caller's own tags")]

# Sign in with Google and Apple (api-v1 §11): `auth` signs in and links with these, `users`
# erases a password-less account with them.
LinkedProvider = Literal["google", "apple"]
IdToken = Annotated[
    Str,
    Field(min_length=1, max_length=8192, description="The provider's ID token (a JWT)."),
]
Nonce = Annotated[
    Str,
    Field(
        min_length=1,
        max_length=255,
        description="The raw nonce whose SHA-256 hex digest the provider put in the token.",
    ),
]


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
