"""Who is calling: the bearer token of a request, verified, as a user id."""

from __future__ import annotations

import uuid

import flask

from common.errors import Unauthorized


def authenticate(request: flask.Request) -> uuid.UUID:
    """The caller's user id, or `Unauthorized` (401 with the RFC 6750 challenge)."""
    from common.auth.tokens import InvalidToken, verify_access_token

    header = request.headers.get("Authorization")
    if header is None:
        raise Unauthorized("An Authorization: Bearer token is required.", error=None)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <access token>'.")
    try:
        return verify_access_token(token.strip())
    except InvalidToken:
        raise Unauthorized("The access token is invalid or expired.") from None
