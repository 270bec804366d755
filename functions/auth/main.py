"""The `auth` function (/v1/auth): register, login, refresh, logout, password change; Sign in
with Google and Apple with the account's identities (api-v1 §11); account recovery and email
verification (api-v1 §12). The routes come in that order, one block each.

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

Sign in with Google and Apple (api-v1 §11; tokens checked by common.auth.providers, SQL in
common.db.identities):
- A refused provider sign-in (a bad token: 401; a switched-off account: 401; a throttled
  address: 429) counts against the client address like a refused login, and an address with
  100 in its window gets 429 for any sign-in. A 409 (the email has an account) does not count:
  only the email's owner holds such a token.
- A bad ID token is 401 with `WWW-Authenticate: Bearer` (no `error`: no access token is at
  fault, also on the routes that take one); the detail says what was wrong with it. Keys that
  cannot be fetched are 503 with `Retry-After`.
- An email the provider has not verified is never the account's: no 409, no sign-in to the
  account holding it, and a new account gets no email (`null`); the identity keeps it for
  `GET /identities`. Otherwise the provider's unverified word would let anyone claim, and
  block, anybody's address.
- A new account's username: the body's, else the token's `name`, else the email's local part
  (each trimmed to 50 characters), else the provider's name. `display_name` only from the
  body (Apple's tokens carry no name). A returning user's token brings the identity's email
  up to date; the account's own email is the user's to change.
- `POST /identities`: `201`, or `200` with the identity when it is linked to the caller
  already; `409` when it belongs to another account or the caller has another identity of
  that provider. `nonce` is checked whenever sent (its SHA-256 hex digest must be the token's
  claim) and Apple's tokens need one. A provider that verified the account's own email marks
  it verified (the user's version goes up).
- `DELETE /identities/{provider}`: `password` may go too while another way in remains; `204`
  also when nothing of that provider was linked (as tag links and shares), `404` for a name
  that is not a provider. Unlinking ends no session (`logout-all` does).
- `POST /password` without `current_password` sets the first password of an account without
  one; with a password already, `current_password` is required (`422`). An account without an
  email cannot have a password (`409`: login is by email); two at once: one wins, the other
  is `409`.

Account recovery and email verification (api-v1 §12; codes in common.auth.codes, SQL in
common.db.recovery, mails in common.mail):
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
from typing import NoReturn

import flask
import functions_framework

from common import errors, mail
from common.auth import codes, providers
from common.auth.checks import check_login_throttle, check_registration_throttle, confirm_password
from common.auth.client_ip import client_address
from common.auth.passwords import hash_password, needs_rehash, verify_password
from common.auth.tokens import (
    hash_refresh_token,
    is_well_formed_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from common.db import accounts, identities, recovery, sessions, throttles
from common.db.models import AuthProvider
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
from common.schemas.identities import (
    AppleSignIn,
    GoogleSignIn,
    IdentityLink,
    IdentityList,
    IdentityOut,
    ProviderAuthOut,
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


@api.route("POST", "/password", body=PasswordChange, response=TokensOut, errors=(403, 409, 429))
def change_password(ctx: Ctx, body: PasswordChange) -> Reply:
    """Change the password: every other session ends, the returned pair is the only one."""
    check = accounts.count_password_check(session=ctx.session, user_id=ctx.user_id)
    if check is None:
        raise errors.Unauthorized("The account no longer exists.")
    if body.current_password is None:
        return _first_password(ctx, check, body.new_password)
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


# --- Sign in with Google and Apple; the account's identities (api-v1 §11) -------------------

ACCOUNT_GONE = "The account of this access token no longer exists."


def _refuse_sign_in(ctx: Ctx, client: str | None, refusal: errors.ApiError) -> NoReturn:
    """Count a refused provider sign-in against the client address (as login does), then
    answer `refusal` with that count kept."""
    if client is not None:
        throttles.record_client_failure(session=ctx.session, client=client)
    raise refusal.keeping_writes()


def _username(identity: providers.ProviderIdentity, given: str | None) -> str:
    """The body's username, else the token's name, else the email's local part (trimmed to
    the profile's 50 characters), else the provider's name."""
    local_part = identity.email.rpartition("@")[0] if identity.email else None
    for candidate in (given, identity.name, local_part):
        trimmed = (candidate or "").strip()[:50].strip()
        if trimmed:
            return trimmed
    return providers.NAMES[identity.provider]


def _provider_sign_in(
    ctx: Ctx,
    provider: providers.Provider,
    id_token: str,
    *,
    nonce: str | None = None,
    username: str | None = None,
    display_name: str | None = None,
) -> Reply:
    """The identity's account (200), a new account (201), or 409 when the identity is
    unknown and its verified email belongs to an account (accounts are never merged)."""
    client = client_address(ctx.request)
    try:
        identity = providers.verify_id_token(provider, id_token, nonce=nonce)
    except errors.Unauthorized as refused:
        _refuse_sign_in(ctx, client, refused)
    kind = AuthProvider(provider)
    verified_email = identity.email if identity.email_verified else None
    check = identities.find_sign_in(
        session=ctx.session,
        provider=kind,
        subject=identity.subject,
        verified_email=verified_email,
        client=client,
    )
    throttled = check.client_failures
    if throttled is not None and throttled.failures >= throttles.CLIENT_FAILURE_LIMIT:
        too_many = errors.TooManyRequests(
            throttled.retry_after, "Too many failed sign-ins; try again later."
        )
        _refuse_sign_in(ctx, client, too_many)
    if check.user is not None and not check.can_sign_in:
        _refuse_sign_in(ctx, client, _cannot_sign_in())
    refresh_token = new_refresh_token()
    if check.user is None:
        if check.email_taken:
            raise _email_has_an_account(provider)
        created = identities.create_provider_account(
            session=ctx.session,
            provider=kind,
            subject=identity.subject,
            identity_email=identity.email,
            verified_email=verified_email,
            username=_username(identity, username),
            display_name=display_name,
            refresh_hash=hash_refresh_token(refresh_token),
        )
        if created is identities.Taken.EMAIL:
            raise _email_has_an_account(provider)
        if created is not identities.Taken.IDENTITY:
            new = dict(created)
            out = {"user": new, "tokens": _pair(new["id"], refresh_token), "created": True}
            return Reply(out, status=201, headers={**NO_STORE, "Location": "/v1/users/me"})
    # a known identity, or one that a concurrent first sign-in has just created
    user = identities.start_identity_session(
        session=ctx.session,
        provider=kind,
        subject=identity.subject,
        email=identity.email,
        refresh_hash=hash_refresh_token(refresh_token),
    )
    if user is None:  # switched off or erased since it was read
        _refuse_sign_in(ctx, client, _cannot_sign_in())
    out = {"user": dict(user), "tokens": _pair(user["id"], refresh_token), "created": False}
    return Reply(out, headers=NO_STORE)


def _cannot_sign_in() -> errors.Unauthorized:
    # as at login: a switched-off account (is_active false) cannot sign in
    return errors.Unauthorized("This account cannot sign in.", error=None)


def _email_has_an_account(provider: providers.Provider) -> errors.Conflict:
    name = providers.NAMES[provider]
    return errors.Conflict(
        f"An account with this {name} account's email exists. Sign in to it and link "
        f"{name} (POST /v1/auth/identities): accounts are never merged automatically."
    )


@api.route(
    "POST",
    "/google",
    public=True,
    body=GoogleSignIn,
    response=ProviderAuthOut,
    also=(201,),
    errors=(401, 409, 429),
)
def sign_in_with_google(ctx: Ctx, body: GoogleSignIn) -> Reply:
    """Sign in (or sign up) with a Google ID token."""
    return _provider_sign_in(ctx, "google", body.id_token)


@api.route(
    "POST",
    "/apple",
    public=True,
    body=AppleSignIn,
    response=ProviderAuthOut,
    also=(201,),
    errors=(401, 409, 429),
)
def sign_in_with_apple(ctx: Ctx, body: AppleSignIn) -> Reply:
    """Sign in (or sign up) with an Apple ID token and the nonce its request used."""
    return _provider_sign_in(
        ctx,
        "apple",
        body.id_token,
        nonce=body.nonce,
        username=body.username,
        display_name=body.display_name,
    )


@api.route("GET", "/identities", response=IdentityList)
def list_identities(ctx: Ctx) -> Reply:
    """The ways into the signed-in account: its password, Google, Apple."""
    items = identities.list_identities(session=ctx.session, user_id=ctx.user_id)
    if items is None:
        raise errors.Unauthorized(ACCOUNT_GONE)
    return Reply({"items": items})


@api.route(
    "POST",
    "/identities",
    body=IdentityLink,
    response=IdentityOut,
    status=201,
    also=(200,),
    errors=(409,),
)
def link_identity(ctx: Ctx, body: IdentityLink) -> Reply:
    """Link a Google or Apple account to the signed-in account (200 when already linked)."""
    identity = providers.verify_id_token(body.provider, body.id_token, nonce=body.nonce)
    name = providers.NAMES[body.provider]
    result = identities.link_identity(
        session=ctx.session,
        user_id=ctx.user_id,
        provider=AuthProvider(body.provider),
        subject=identity.subject,
        email=identity.email,
        email_verified=identity.email_verified,
    )
    if result.identity is not None:
        if not result.created:
            return Reply(result.identity)
        location = {"Location": f"/v1/auth/identities/{body.provider}"}
        return Reply(result.identity, status=201, headers=location)
    if not result.user_exists:
        raise errors.Unauthorized(ACCOUNT_GONE)
    if result.owner_elsewhere:
        raise errors.Conflict(f"This {name} account is linked to another account.")
    if result.provider_taken:
        raise errors.Conflict(f"Another {name} account is linked to yours; remove it first.")
    raise errors.Conflict(f"This {name} account was linked by another request meanwhile.")


@api.route(
    "DELETE", "/identities/<any(password, google, apple):provider>", status=204, errors=(409,)
)
def unlink_identity(ctx: Ctx, provider: str) -> None:
    """Remove a way to sign in (204 also when it was not linked); never the last one."""
    if not identities.lock_user(session=ctx.session, user_id=ctx.user_id):
        raise errors.Unauthorized(ACCOUNT_GONE)
    removal = identities.remove_identity(
        session=ctx.session, user_id=ctx.user_id, provider=AuthProvider(provider)
    )
    if removal.found and not removal.removed:
        raise errors.Conflict(
            "This is the last way to sign in to the account: link another one first."
        )


def _first_password(ctx: Ctx, check: accounts.PasswordCheck, new_password: str) -> Reply:
    """`POST /v1/auth/password` without `current_password`: the first password of an account
    that has none (signed up with Google or Apple). Every session ends but the new one."""
    if check.identity_id is not None:
        missing = errors.FieldError("current_password", "is required: the account has a password")
        raise errors.ValidationFailed([missing])
    if check.email is None:
        raise errors.Conflict("The account has no email, which a password signs in with.")
    refresh_token = new_refresh_token()
    added = identities.add_password(
        session=ctx.session,
        user_id=ctx.user_id,
        email=check.email,
        password_hash=hash_password(new_password),
        refresh_hash=hash_refresh_token(refresh_token),
    )
    if not added:
        raise errors.Conflict("A password was set meanwhile: change it with current_password.")
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
