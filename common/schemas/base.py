"""Shapes every function shares: the schema base class, problems, health, list pages.

Each validator says what it checks in the OpenAPI documents itself, where it is defined: a
`JsonSchemaHook` beside it in the `Annotated` type (pydantic's `__get_pydantic_json_schema__`
hook) writes the keywords (a pattern, an enum, lengths) into the field's JSON Schema, and a
model with rules of its own (`Patch`, `Problem`) adjusts its schema in the same hook.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema


@dataclass(frozen=True, slots=True)
class JsonSchemaHook:
    """`Annotated` metadata: `update` writes into the field's generated JSON Schema what the
    validator beside it checks. It runs when a document is built, never at import (the
    time zone list takes ~30 ms to read)."""

    update: Callable[[JsonSchemaValue], None]

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        self.update(handler.resolve_ref_schema(json_schema))
        return json_schema


def char_class(chars: Iterable[str]) -> str:
    """The body of a JSON Schema (ECMA 262) character class that holds exactly `chars`."""
    return "".join(f"\\u{ord(c):04x}" for c in chars)


@functools.cache
def python_space() -> str:
    """What `str.strip()` and `str.isspace()` call whitespace, as a character class body."""
    return char_class(chr(c) for c in range(0x3001) if chr(c).isspace())


NO_NUL_PATTERN = "^[^\\u0000]*$"


def no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it as a field error instead of a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _no_nul_schema(schema: JsonSchemaValue) -> None:
    schema.setdefault("pattern", NO_NUL_PATTERN)  # a pattern of our own already excludes NUL


NUL_FREE = JsonSchemaHook(_no_nul_schema)

# Every client-supplied string goes through this type.
Str = Annotated[str, AfterValidator(no_nul), NUL_FREE]


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
    """Base of request and response shapes: unknown fields are refused (no mass assignment).
    A response carries every field, so its JSON Schema lists them all as required."""

    model_config = ConfigDict(
        extra="forbid", from_attributes=True, json_schema_serialization_defaults_required=True
    )


def without_null(prop: JsonSchemaValue) -> JsonSchemaValue:
    """A property's JSON Schema with its `null` alternative (and `default: null`) removed."""
    options = [o for o in prop.get("anyOf", []) if o != {"type": "null"}]
    if not options or len(options) == len(prop.get("anyOf", [])):
        return prop
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    if len(options) == 1:
        return {**options[0], **rest}
    return {**rest, "anyOf": options}


def adjust_properties(
    schema: core_schema.CoreSchema,
    handler: GetJsonSchemaHandler,
    *,
    never_null: Iterable[str],
    optional: Iterable[str] = (),
) -> JsonSchemaValue:
    """The model's JSON Schema, with `null` removed from `never_null` and `optional` fields
    no longer required."""
    json_schema = handler(schema)
    target = handler.resolve_ref_schema(json_schema)
    properties = target.get("properties", {})
    for name in never_null:
        if name in properties:
            properties[name] = without_null(properties[name])
    if "required" in target:
        target["required"] = [n for n in target["required"] if n not in set(optional)]
    return json_schema


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

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return adjust_properties(schema, handler, never_null=cls.NOT_NULL)


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

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # `errors` is left out, never null, when there is none (see common.http).
        return adjust_properties(schema, handler, never_null=["errors"], optional=["errors"])


class Health(Schema):
    status: Literal["ok", "unavailable"]
    function: str
    version: str
    database: Literal["ok", "unavailable"]
