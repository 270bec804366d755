"""The `auth` function (/v1/auth): register, login, refresh, logout, password change, and
account recovery and email verification (api-v1 §12, the block of routes at the end).

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
- Recovery and verification (api-v1 §12):
  - `202` has no body. `password-reset` answers the same `202` (status, headers, no body) for
    an unknown email, a switched-off account and a known one, and does the same work: one
    statement, the code made and sealed either way; the mail goes after the response, from a
    background thread. Every request counts for the email, known or not: the 4th within the
    hour (a fixed window from the first) is `429`, so the limit tells nothing either.
  - A wrong, expired, used or exhausted code, or an email without an account: `401` on
    `password-reset/confirm` (like a wrong password at login, and counted with the client
    address's refused logins: 100 in 15 minutes make every further try `429`), `403` on
    `email-verification/confirm` (like a wrong current password: the access token is fine).
    A wrong try counts against the code: the 5th ends it. A new code replaces the live one.
  - A confirmed reset proves the mailbox: the email becomes verified; an account without a
    password (a provider sign-in) gets one. The login throttle of the email is cleared.
  - `email-verification` on an account that is already verified, or has no email, is `409`;
    3 verification mails per email and hour. `email-verification/confirm` on a verified
    account answers `200` with the user whatever the code, so a retried confirmation whose
    answer was lost still succeeds.
"""

from __future__ import annotations

import logging
import uuid

import flask
import functions_framework

from common import errors, mail
from common.auth import codes
from common.auth.checks import check_login_throttle, check_registration_throttle, confirm_password
from common.auth.client_ip import client_address
from common.auth.passwords import hash_password, needs_rehash, verify_password
from common.auth.tokens import (
    hash_refresh_token,
    is_well_formed_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from common.db import accounts, recovery, sessions, throttles
from common.http import Api, Ctx, Reply, etag
from common.schemas.auth import (
    AuthOut,
    EmailVerificationConfirm,
    LoginIn,
    LogoutIn,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetIn,
    RefreshIn,
    RegisterIn,
    TokenPair,
    TokensOut,
)
from common.schemas.users import UserOut

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


# --- account recovery and email verification (api-v1 §12) ----------------------------------
# Codes: common.auth.codes; their SQL: common.db.recovery; the mails: common.mail.

mail.require_settings()


def _new_code(purpose: codes.Purpose) -> tuple[bytes, uuid.UUID, bytes]:
    """A fresh code as stored (its hash), the id of the mail to carry it and its sealed copy:
    the code itself exists nowhere else."""
    code, mail_id = codes.new_code(), uuid.uuid4()
    return codes.code_hash(purpose, code), mail_id, codes.seal(code, mail_id=mail_id)


def _send_after_commit(ctx: Ctx, mail_id: uuid.UUID | None) -> None:
    if mail_id is not None:
        ctx.after_commit(lambda: mail.send_soon(mail_id))


def _bad_code(status: int) -> errors.ApiError:
    """A code that is wrong, expired, used or exhausted (or an email without an account):
    401 where the code is the credential, 403 where an access token is."""
    if status == 401:
        return errors.Unauthorized("The email or code is wrong, expired or used.", error=None)
    return errors.Forbidden("The code is wrong, expired or used; ask for a new one.")


@api.route("POST", "/password-reset", public=True, body=PasswordResetIn, status=202, errors=(429,))
def request_password_reset(ctx: Ctx, body: PasswordResetIn) -> Reply:
    """Mail a password reset code to the email's account, if there is one (202 either way)."""
    code_hash, mail_id, sealed = _new_code("password_reset")
    request = recovery.request_reset(
        session=ctx.session,
        email=body.email,
        code_hash=code_hash,
        mail_id=mail_id,
        sealed_code=sealed,
    )
    if request.attempts.failures > recovery.RESET_MAIL_LIMIT:
        raise errors.TooManyRequests(
            request.attempts.retry_after, "Too many reset requests for this email; try later."
        ).keeping_writes()
    _send_after_commit(ctx, request.mail_id)
    return Reply(status=202, headers=NO_STORE)


@api.route(
    "POST",
    "/password-reset/confirm",
    public=True,
    body=PasswordResetConfirm,
    response=AuthOut,
    errors=(401, 429),
)
def confirm_password_reset(ctx: Ctx, body: PasswordResetConfirm) -> Reply:
    """Set a new password with a mailed code: every earlier session ends."""
    client = client_address(ctx.request)
    check = recovery.check_reset_code(
        session=ctx.session,
        email=body.email,
        code_hash=codes.code_hash("password_reset", body.code),
        client=client,
    )
    if check.blocked is not None:
        raise errors.TooManyRequests(
            check.blocked.retry_after, "Too many failed attempts from this address; try later."
        )
    if check.user_id is None or not check.matched:
        if client is not None:
            throttles.record_client_failure(session=ctx.session, client=client)
        raise _bad_code(401).keeping_writes()
    refresh_token = new_refresh_token()
    user = recovery.finish_reset(
        session=ctx.session,
        user_id=check.user_id,
        email=body.email,
        password_hash=hash_password(body.new_password),
        refresh_hash=hash_refresh_token(refresh_token),
    )
    out = {"user": dict(user), "tokens": _pair(check.user_id, refresh_token)}
    return Reply(out, headers=NO_STORE)


@api.route("POST", "/email-verification", status=202, errors=(409, 429))
def request_email_verification(ctx: Ctx) -> Reply:
    """Mail a code to the signed-in user's email address, to verify it."""
    code_hash, mail_id, sealed = _new_code("email_verification")
    state = recovery.request_verification(
        session=ctx.session,
        user_id=ctx.user_id,
        code_hash=code_hash,
        mail_id=mail_id,
        sealed_code=sealed,
    )
    if state is None:
        raise errors.Unauthorized("The account of this access token no longer exists.")
    if not state.has_email:
        raise errors.Conflict("The account has no email address.")
    if state.verified:
        raise errors.Conflict("The email address is already verified.")
    assert state.attempts is not None  # counted: an unverified email
    if state.attempts.failures > recovery.VERIFY_MAIL_LIMIT:
        raise errors.TooManyRequests(
            state.attempts.retry_after, "Too many verification mails for this email; try later."
        ).keeping_writes()
    _send_after_commit(ctx, state.mail_id)
    return Reply(status=202)


@api.route(
    "POST",
    "/email-verification/confirm",
    body=EmailVerificationConfirm,
    response=UserOut,
    errors=(403,),
)
def confirm_email_verification(ctx: Ctx, body: EmailVerificationConfirm) -> Reply:
    """Verify the signed-in user's email address with the mailed code."""
    result = recovery.confirm_verification(
        session=ctx.session,
        user_id=ctx.user_id,
        code_hash=codes.code_hash("email_verification", body.code),
    )
    if result is None:
        raise errors.Unauthorized("The account of this access token no longer exists.")
    user, _ = result
    if not user["email_verified"]:
        raise _bad_code(403).keeping_writes()
    return Reply(user, headers=etag(user["version"]))


@functions_framework.http
def auth(request: flask.Request) -> flask.Response:
    return api.handle(request)
