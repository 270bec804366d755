"""Requests and responses of Sign in with Google and Apple (api-v1 §11).

- `id_token` is the provider's ID token as the client got it (a JWT, at most 8192
  characters); `nonce` is the raw nonce (1-255 characters) whose SHA-256 hex digest the client
  gave the provider: the token's `nonce` claim must be that digest. Apple requires one; with
  Google it is optional (linking), and checked when sent.
- `username` / `display_name` follow the profile's rules (common.schemas.users).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from common.schemas.auth import TokenPair
from common.schemas.base import IdToken, LinkedProvider, Nonce, Schema, Timestamp
from common.schemas.users import DisplayName, Username, UserOut

IdentityProvider = Literal["password", "google", "apple"]


class GoogleSignIn(Schema):
    id_token: IdToken


class AppleSignIn(Schema):
    id_token: IdToken
    nonce: Nonce
    username: Username | None = None
    display_name: DisplayName | None = None


class ProviderAuthOut(Schema):
    """`google` and `apple`: the user, a new token pair, and whether the account is new."""

    user: UserOut
    tokens: TokenPair
    created: bool = Field(description="true (201) when this sign-in created the account")


class IdentityLink(Schema):
    """`POST /v1/auth/identities`: link a Google or Apple account while signed in."""

    provider: LinkedProvider
    id_token: IdToken
    nonce: Nonce | None = None


class IdentityOut(Schema):
    """One way into the account."""

    provider: IdentityProvider
    email: str | None = Field(description="the email the provider gave (the password's: yours)")
    created_at: Timestamp


class IdentityList(Schema):
    items: list[IdentityOut]
