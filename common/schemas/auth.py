"""Requests and responses of the `auth` function (docs/api.md §3).

- Emails are checked with `email-validator` (syntax only: no DNS lookup) and kept in its
  normalised form (domain lower-cased and IDNA-checked, Unicode NFC). The local part keeps its
  case; the database compares emails ignoring case (`citext`), so `Bob@X.com` and `bob@x.com`
  are one account.
- New passwords follow `common.auth.passwords.password_problems` (8-256 characters, not one of
  the 10 000 most common); a refusal is a `422` field error on that field. A password given to
  be checked (login, current password) is only required to be non-empty: any other rule would
  tell a guesser something.
- A mailed code (password reset, email verification) is exactly the 8 ASCII digits sent; any
  other shape is a `422` and counts no try.
- Refresh tokens are plain strings here: a malformed one is a `401` (like an unknown one),
  not a `422`, so an access token sent as a refresh token gets the answer the contract gives.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic.json_schema import JsonSchemaValue

from common.auth.codes import CODE_DIGITS
from common.schemas.base import JsonSchemaHook, Schema, Str
from common.schemas.users import DisplayName, Locale, Timezone, Username, UserOut


def _email(value: str) -> str:
    # ~50 ms to import: paid by the first request that carries an email, not every cold start.
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        # The library's message can echo the address; ours does not.
        raise ValueError("must be a valid email address") from None


def _email_schema(schema: JsonSchemaValue) -> None:
    schema["format"] = "email"


def _new_password(value: str) -> str:
    from common.auth.passwords import password_problems

    problems = password_problems(value)
    if problems:
        raise ValueError(problems[0])
    return value


def _new_password_schema(schema: JsonSchemaValue) -> None:
    from common.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

    schema.update(minLength=MIN_PASSWORD_LENGTH, maxLength=MAX_PASSWORD_LENGTH)
    schema["description"] = "Not one of the 10 000 most common passwords (else 422)."


Email = Annotated[Str, Field(max_length=320), AfterValidator(_email), JsonSchemaHook(_email_schema)]
NewPassword = Annotated[Str, AfterValidator(_new_password), JsonSchemaHook(_new_password_schema)]
GivenPassword = Annotated[Str, Field(min_length=1)]


class RegisterIn(Schema):
    email: Email
    password: NewPassword
    username: Username
    display_name: DisplayName | None = None
    timezone: Timezone | None = None
    locale: Locale | None = None


class LoginIn(Schema):
    email: Email
    password: GivenPassword


class RefreshIn(Schema):
    refresh_token: Str


class LogoutIn(Schema):
    refresh_token: Str


class PasswordChange(Schema):
    """`POST /v1/auth/password`: `current_password` is required when the account has a
    password (a `422` without it); an account without one (signed up with Google or Apple)
    sets its first with `new_password` alone."""

    current_password: GivenPassword | None = None
    new_password: NewPassword


# --- account recovery and email verification (api-v1 §12) ----------------------------------

Code = Annotated[
    str,
    Field(pattern=f"^[0-9]{{{CODE_DIGITS}}}$", description="The digits of the mailed code."),
]


class PasswordResetIn(Schema):
    email: Email


class PasswordResetConfirm(Schema):
    email: Email
    code: Code
    new_password: NewPassword


class EmailVerificationConfirm(Schema):
    code: Code


class TokenPair(Schema):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")


class TokensOut(Schema):
    """`refresh` and `password`: a new token pair."""

    tokens: TokenPair


class AuthOut(Schema):
    """`register` and `login`: the user and a new token pair."""

    user: UserOut
    tokens: TokenPair
