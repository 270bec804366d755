"""The signed-in user's profile (docs/api.md §4) and the field types registration shares with it.

- `timezone`: an IANA time zone name exactly as the tz database spells it (`Europe/Berlin`,
  `UTC`), checked against `zoneinfo.available_timezones()` (the `tzdata` package ships the
  database, so the list is the same on every machine).
- `locale`: a BCP 47 language tag of the common shape `language[-script][-region][-variant...]`
  (`en`, `en-US`, `zh-Hant-TW`, `es-419`, `de-CH-1996`): language 2-3 letters, script 4
  letters, region 2 letters or 3 digits, variants 5-8 alphanumerics or a digit and 3. It is
  stored in the canonical case of RFC 5646 §2.1.1 (`en-us` -> `en-US`). Extensions (`-u-...`),
  private use (`x-...`), grandfathered tags and POSIX forms (`en_US`) are refused.
- `username` 1-50 characters and `display_name` 1-100, neither only whitespace; the API
  never trims or otherwise alters them.

Each rule is also written into the OpenAPI documents beside its validator (`JsonSchemaHook`):
the time zones as one `Timezone` component (an enum, with `x-enum-varnames` that stay
distinct once a generator turns them into identifiers: `GMT+0`, `GMT-0` and `GMT0` are three
names), the locale as a pattern, "not blank" as a pattern.
"""

from __future__ import annotations

import functools
import re
import uuid
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from common.schemas.base import (
    IdToken,
    JsonSchemaHook,
    LinkedProvider,
    Nonce,
    Patch,
    Schema,
    Str,
    Timestamp,
    adjust_properties,
    python_space,
)

_LOCALE = re.compile(
    r"(?P<language>[A-Za-z]{2,3})"
    r"(?:-(?P<script>[A-Za-z]{4}))?"
    r"(?:-(?P<region>[A-Za-z]{2}|[0-9]{3}))?"
    r"(?P<variants>(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*)"
)


@functools.cache
def iana_timezones() -> frozenset[str]:
    """Every IANA time zone name this process knows (read once; ~30 ms)."""
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def _timezone(value: str) -> str:
    if value not in iana_timezones():
        raise ValueError("must be an IANA time zone name, such as Europe/Berlin")
    return value


def _identifier(name: str) -> str:
    """`Etc/GMT+1` -> `ETC_GMT_PLUS_1`: an enum member name a client generator can use."""
    name = re.sub(r"\+(?=[0-9])", "_PLUS_", re.sub(r"-(?=[0-9])", "_MINUS_", name))
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()


def _timezone_schema(schema: JsonSchemaValue) -> None:
    names = sorted(iana_timezones())
    schema["enum"] = names
    schema["x-enum-varnames"] = [_identifier(name) for name in names]
    schema["description"] = "An IANA time zone name, such as Europe/Berlin."


def _locale(value: str) -> str:
    match = _LOCALE.fullmatch(value)
    if match is None:
        raise ValueError("must be a BCP 47 language tag, such as en-US")
    canonical = match["language"].lower()
    if match["script"]:
        canonical += "-" + match["script"].title()
    if match["region"]:
        canonical += "-" + match["region"].upper()
    return canonical + match["variants"].lower()


def _locale_schema(schema: JsonSchemaValue) -> None:
    schema["pattern"] = "^" + re.sub(r"\(\?P<\w+>", "(", _LOCALE.pattern) + "$"
    schema["description"] = "A BCP 47 language tag, such as en-US."


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _not_blank_schema(schema: JsonSchemaValue) -> None:
    # At least one character that is neither whitespace nor NUL, and no NUL anywhere.
    schema["pattern"] = f"^[^\\u0000]*[^{python_space()}\\u0000][^\\u0000]*$"


# One named component in the documents (a type alias), not a 600-value enum per field.
type Timezone = Annotated[
    str, Field(max_length=64), AfterValidator(_timezone), JsonSchemaHook(_timezone_schema)
]
Locale = Annotated[
    str, Field(max_length=64), AfterValidator(_locale), JsonSchemaHook(_locale_schema)
]
NOT_BLANK = JsonSchemaHook(_not_blank_schema)
Username = Annotated[Str, Field(min_length=1, max_length=50), AfterValidator(_not_blank), NOT_BLANK]
DisplayName = Annotated[
    Str, Field(min_length=1, max_length=100), AfterValidator(_not_blank), NOT_BLANK
]


class UserOut(Schema):
    """A user as the API shows it (its `version` travels as the ETag)."""

    id: uuid.UUID
    email: str | None
    email_verified: bool = Field(description="the email is proven to be the user's")
    username: str
    display_name: str | None
    timezone: str | None
    locale: str | None
    user_type: Literal["organization", "team", "individual"]
    created_at: Timestamp
    updated_at: Timestamp


class UserUpdate(Patch):
    """`PATCH /v1/users/me`: any subset; `null` clears `display_name`, `timezone`, `locale`
    and is refused for `username`."""

    NOT_NULL = frozenset({"username"})

    username: Username | None = None
    display_name: DisplayName | None = None
    timezone: Timezone | None = None
    locale: Locale | None = None


# An erasure is confirmed one way: the password, or a provider's ID token (JSON Schema's
# words for what `AccountDelete._one_way` checks).
def _present(*names: str) -> dict[str, Any]:
    """A schema that holds when every one of `names` is present (named in `properties` too,
    so that linters see each required name defined)."""
    return {"required": list(names), "properties": {name: {} for name in names}}


_ONE_WAY: dict[str, Any] = {
    "oneOf": [
        {
            **_present("password"),
            "not": {"anyOf": [_present(f) for f in ("provider", "id_token", "nonce")]},
        },
        {**_present("provider", "id_token"), "not": _present("password")},
    ]
}


class AccountDelete(Schema):
    """`DELETE /v1/users/me`, confirmed by the account's `password`, or by a fresh ID token
    (`provider`, `id_token`; for Apple also the `nonce` when the token carries one) of a
    Google or Apple account linked to it: the way an account without a password confirms."""

    model_config = ConfigDict(json_schema_extra=_ONE_WAY)

    password: Annotated[Str, Field(min_length=1)] | None = None
    provider: LinkedProvider | None = None
    id_token: IdToken | None = None
    nonce: Nonce | None = None

    @field_validator("password", "provider", "id_token", "nonce", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null (leave the field out)")
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Every field may be left out, none may be null (the validator above refuses it).
        return adjust_properties(schema, handler, never_null=cls.model_fields)

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        by_token = any(v is not None for v in (self.provider, self.id_token, self.nonce))
        if (self.password is not None) == by_token:
            raise ValueError("send either password, or provider and id_token")
        if by_token and (self.provider is None or self.id_token is None):
            raise ValueError("provider and id_token go together")
        return self
