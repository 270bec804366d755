"""The `users` function (/v1/users): the signed-in user's profile and account.

Decisions where the contract is silent:
- An access token whose user no longer exists (the account was deleted) is `401`, like any
  other token that no longer identifies anyone.
- `PATCH` and `DELETE` honour `If-Match` (`412` on a stale version). An empty `PATCH` changes
  nothing and keeps the version.
- A wrong password on `DELETE` is `403` and counts as a failed sign-in for the account's email
  (the 6th within 15 minutes is `429`), so a stolen access token cannot test passwords freely.
- `DELETE` with `{provider, id_token}` (api-v1 §11; the way an account without a password
  confirms, and open to any account with that provider linked) takes a fresh ID token: issued
  at most 10 minutes ago (Google's live an hour). An invalid one is `401`, like at sign-in;
  a valid one of a Google or Apple account not linked to this account is `403`, like a wrong
  password. Apple's `nonce` is checked when sent (the contract's body has none).
"""

from __future__ import annotations

import flask
import functions_framework

from common import errors
from common.auth import providers
from common.auth.checks import confirm_password
from common.db import accounts, identities
from common.db import users as db
from common.db.models import AuthProvider
from common.http import Api, Ctx, Reply, etag
from common.schemas.users import AccountDelete, UserOut, UserUpdate

api = Api("users")

FRESH_ID_TOKEN_S = 10 * 60  # an erasure confirmed by a provider takes a token this fresh


def _gone() -> errors.Unauthorized:
    return errors.Unauthorized("The account of this access token no longer exists.")


@api.route("GET", "/me", response=UserOut)
def get_me(ctx: Ctx) -> Reply:
    """The signed-in user."""
    user = db.get_user(session=ctx.session, user_id=ctx.user_id)
    if user is None:
        raise _gone()
    return Reply(user, headers=etag(user["version"]))


@api.route("PATCH", "/me", body=UserUpdate, response=UserOut, errors=(412,), headers=("If-Match",))
def update_me(ctx: Ctx, body: UserUpdate) -> Reply:
    """Change the profile: username, display name, time zone, locale."""
    user = db.update_user(
        session=ctx.session,
        user_id=ctx.user_id,
        changes=body.model_dump(exclude_unset=True),
        versions=ctx.if_match(),
    )
    if user is None:
        if db.get_user(session=ctx.session, user_id=ctx.user_id) is None:
            raise _gone()
        raise errors.PreconditionFailed()
    return Reply(user, headers=etag(user["version"]))


@api.route(
    "DELETE",
    "/me",
    body=AccountDelete,
    status=204,
    errors=(403, 412, 429),
    headers=("If-Match",),
)
def delete_me(ctx: Ctx, body: AccountDelete) -> None:
    """Erase the account and everything it owns (its password, or a provider, confirms)."""
    identity = None
    if body.provider is not None and body.id_token is not None:  # before any statement
        identity = providers.verify_id_token(
            body.provider,
            body.id_token,
            nonce=body.nonce,
            require_nonce=False,
            max_age_s=FRESH_ID_TOKEN_S,
        )
    check = accounts.count_password_check(session=ctx.session, user_id=ctx.user_id)
    if check is None:
        raise _gone()
    versions = ctx.if_match()
    if versions is not None and check.version not in versions:
        raise errors.PreconditionFailed()  # rolls back: the check was not made, nor counted
    if identity is None:
        assert body.password is not None  # AccountDelete: one way or the other
        confirm_password(check, body.password)
    else:
        owner = identities.identity_owner(
            session=ctx.session, provider=AuthProvider(identity.provider), subject=identity.subject
        )
        if owner != ctx.user_id:
            name = providers.NAMES[identity.provider]
            raise errors.Forbidden(f"This {name} account is not linked to yours.")
    db.delete_user(session=ctx.session, user_id=ctx.user_id, email=check.email)


@functions_framework.http
def users(request: flask.Request) -> flask.Response:
    return api.handle(request)
