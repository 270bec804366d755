"""The `auth` function (/v1/auth): register, login, refresh, logout, password change.

Decisions where the contract is silent:
- Token responses carry `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
  `refresh` and `password` answer `{"tokens": {...}}`, the same envelope as `register`/`login`.
- A registration refused because the email is taken (`409`) counts against the client
  address (common.db.throttles): after 5 in 15 minutes, every registration from it is `429`
  until the window ends, before any password is hashed. This bounds how fast one address can
  find out which emails have accounts; the `409` itself stays, as the contract says.
- A failed login is `401` with `WWW-Authenticate: Bearer` (no `error`: no token was involved),
  the same problem for an unknown email and a wrong password. Every login attempt on an email
  counts until one succeeds (common.db.throttles): the 6th within 15 minutes is `429`, and so is
  any attempt from an address with 100 refused logins in its window.
- `logout` answers `204` for any token: unknown, malformed, already revoked (as RFC 7009 §2.2
  does). It ends the session that token belongs to, also when it is an already rotated one.
- A refresh token presented again after its rotation ends its session (`401`), also when two
  refreshes of one token race: the client must not refresh one token twice at once.
- Access tokens stay valid until they expire (15 minutes) after logout or a password change:
  they are verified without the database. Revocation ends refresh.
- `Idempotency-Key` is not honoured here: replaying a response would mean storing the tokens.
"""

from __future__ import annotations

import logging
import uuid

import flask
import functions_framework

from common import errors
from common.auth.checks import check_login_throttle, check_registration_throttle, confirm_password
from common.auth.client_ip import client_address
from common.auth.passwords import hash_password, needs_rehash, verify_password
from common.auth.tokens import (
    hash_refresh_token,
    is_well_formed_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from common.db import accounts, sessions, throttles
from common.http import Api, Ctx, Reply
from common.schemas.auth import (
    AuthOut,
    LoginIn,
    LogoutIn,
    PasswordChange,
    RefreshIn,
    RegisterIn,
    TokenPair,
    TokensOut,
)

log = logging.getLogger(__name__)
api = Api("auth")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _pair(user_id: uuid.UUID, refresh_token: str) -> TokenPair:
    access_token, expires_in = issue_access_token(user_id=user_id)
    return TokenPair(access_token=access_token, refresh_token=refresh_token, expires_in=expires_in)


def _sign_in(check: accounts.LoginCheck, password: str) -> accounts.PasswordAccount:
    """The account when the attempt may proceed and the password is right, else the refusal
    (429, or the same 401 for an unknown email, checked against a dummy hash: the same work,
    and a wrong password)."""
    check_login_throttle(check)
    account = check.account
    stored_hash = account.password_hash if account is not None else None
    if verify_password(stored_hash=stored_hash, password=password) and account is not None:
        return account
    raise errors.Unauthorized("The email or password is wrong.", error=None)


def _bad_refresh_token() -> errors.Unauthorized:
    return errors.Unauthorized("The refresh token is invalid, expired or revoked.")


@api.route(
    "POST",
    "/register",
    public=True,
    body=RegisterIn,
    response=AuthOut,
    status=201,
    errors=(409, 429),
)
def register(ctx: Ctx, body: RegisterIn) -> Reply:
    """Create an account and sign it in."""
    client = client_address(ctx.request)
    if client is not None:
        check_registration_throttle(session=ctx.session, client=client)
    refresh_token = new_refresh_token()
    user = accounts.create_account(
        session=ctx.session,
        email=body.email,
        username=body.username,
        display_name=body.display_name,
        timezone=body.timezone,
        locale=body.locale,
        password_hash=hash_password(body.password),
        refresh_hash=hash_refresh_token(refresh_token),
    )
    if user is None:
        if client is not None:
            throttles.record_registration_refusal(session=ctx.session, client=client)
        raise errors.Conflict("An account with this email already exists.").keeping_writes()
    out = {"user": dict(user), "tokens": _pair(user["id"], refresh_token)}
    return Reply(out, status=201, headers={**NO_STORE, "Location": "/v1/users/me"})


@api.route("POST", "/login", public=True, body=LoginIn, response=AuthOut, errors=(401, 429))
def login(ctx: Ctx, body: LoginIn) -> Reply:
    """Sign in with email and password."""
    client = client_address(ctx.request)
    check = accounts.count_login_attempt(session=ctx.session, email=body.email, client=client)
    try:
        account = _sign_in(check, body.password)
    except errors.ApiError as refused:
        if client is not None:
            throttles.record_client_failure(session=ctx.session, client=client)
        raise refused.keeping_writes() from None
    new_hash = hash_password(body.password) if needs_rehash(account.password_hash) else None
    refresh_token = new_refresh_token()
    started = accounts.start_session(
        session=ctx.session,
        account=account,
        refresh_hash=hash_refresh_token(refresh_token),
        email=body.email,
        rehash=new_hash,
    )
    if not started:  # the password changed (or the user was switched off) since it was read
        raise errors.Unauthorized("The email or password is wrong.", error=None).keeping_writes()
    out = {"user": account.user, "tokens": _pair(account.user["id"], refresh_token)}
    return Reply(out, headers=NO_STORE)


@api.route("POST", "/refresh", public=True, body=RefreshIn, response=TokensOut, errors=(401,))
def refresh(ctx: Ctx, body: RefreshIn) -> Reply:
    """Exchange a refresh token for a new pair (the old token stops working)."""
    if not is_well_formed_refresh_token(body.refresh_token):
        raise _bad_refresh_token()
    old_hash = hash_refresh_token(body.refresh_token)
    state = sessions.lock_refresh_token(session=ctx.session, token_hash=old_hash)
    if state is None or state.expired:
        raise _bad_refresh_token()
    if state.rotated:
        sessions.revoke_session(session=ctx.session, session_id=state.session_id)
        log.warning("refresh token reused: its session is revoked")
        raise _bad_refresh_token().keeping_writes()
    refresh_token = new_refresh_token()
    sessions.rotate_refresh_token(
        session=ctx.session,
        session_id=state.session_id,
        old_hash=old_hash,
        new_hash=hash_refresh_token(refresh_token),
    )
    return Reply(TokensOut(tokens=_pair(state.user_id, refresh_token)), headers=NO_STORE)


@api.route("POST", "/logout", public=True, body=LogoutIn, status=204)
def logout(ctx: Ctx, body: LogoutIn) -> None:
    """End the session of this refresh token (always 204)."""
    if is_well_formed_refresh_token(body.refresh_token):
        token_hash = hash_refresh_token(body.refresh_token)
        sessions.revoke_session_of_token(session=ctx.session, token_hash=token_hash)


@api.route("POST", "/logout-all", status=204)
def logout_all(ctx: Ctx) -> None:
    """End every session of the signed-in user."""
    sessions.revoke_all_sessions(session=ctx.session, user_id=ctx.user_id)


@api.route("POST", "/password", body=PasswordChange, response=TokensOut, errors=(403, 429))
def change_password(ctx: Ctx, body: PasswordChange) -> Reply:
    """Change the password: every other session ends, the returned pair is the only one."""
    check = accounts.count_password_check(session=ctx.session, user_id=ctx.user_id)
    if check is None:
        raise errors.Unauthorized("The account no longer exists.")
    confirm_password(check, body.current_password)
    assert check.identity_id is not None  # a password matched
    assert check.password_hash is not None
    new_hash = hash_password(body.new_password)
    if not accounts.lock_password(
        session=ctx.session,
        user_id=ctx.user_id,
        identity_id=check.identity_id,
        verified_hash=check.password_hash,
    ):  # a concurrent change won: the password given is no longer the current one
        raise errors.Forbidden("The password is wrong.")
    refresh_token = new_refresh_token()
    accounts.change_password(
        session=ctx.session,
        user_id=ctx.user_id,
        identity_id=check.identity_id,
        email=check.email,
        password_hash=new_hash,
        refresh_hash=hash_refresh_token(refresh_token),
    )
    return Reply(TokensOut(tokens=_pair(ctx.user_id, refresh_token)), headers=NO_STORE)


@functions_framework.http
def auth(request: flask.Request) -> flask.Response:
    return api.handle(request)
