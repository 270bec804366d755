"""Accounts, sessions, refresh tokens and login throttles: the SQL of `auth` and `users`.

Every function receives the request's session and runs one statement (data-modifying CTEs
where one request changes several tables); none commits.

Sessions and refresh tokens
---------------------------
A session (`auth_sessions`) is one sign-in; its refresh tokens form a chain where each use
rotates the token (`rotated_at` set, a new one inserted). Revoking a session deletes it and
its tokens with it. A token is found by its SHA-256 and locked (`FOR UPDATE`) before it is
rotated, so two refreshes of one token take turns: the second sees it rotated, which is
reuse, and the session dies. Reuse is not told apart from a client racing itself: a client
must not refresh one token twice at once.

Login throttle
--------------
`login_throttles` counts password checks that did not succeed, in a fixed 15-minute window
that starts at the first failure, per email and per client address. Keys are SHA-256 digests
of `"email:" + email.lower()` or `"client:" + address`.

- Per email the count goes up *before* the password is checked (`count_password_attempt`, an
  atomic `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`) and the row is deleted when the
  check succeeds. Concurrent attempts on one email therefore take turns on that row and the
  limit is exact: at most `EMAIL_FAILURE_LIMIT` password checks per window, however many
  arrive at once. Unknown emails count the same way.
- Per client address the count goes up after a refusal (`record_client_failure`) and is only
  read before the check. That row is never held while a password is hashed, so the logins of
  one office do not queue behind each other; the price is that a burst of concurrent
  attempts can pass the limit by the number in flight.

Registration throttle
---------------------
A registration refused because the email is taken (409) tells its sender that the email has
an account. Such refusals count per client address (`kind = 'register'`, same windows) and
an address with `REGISTRATION_REFUSAL_LIMIT` of them gets 429 for any registration until its
window ends: read before the password is hashed (`registration_refusals`), so a throttled
address costs no argon2 work, and counted after the refusal (`record_registration_refusal`).

Finished rows (ended sessions, expired tokens, passed windows) are `expired_rows`, which every
dispatch purges (common.db.housekeeping).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    CTE,
    Delete,
    Integer,
    Interval,
    LargeBinary,
    Select,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from common.db.models import (
    AuthIdentity,
    AuthProvider,
    AuthSession,
    LoginThrottle,
    RefreshToken,
    User,
    auth_provider_enum,
)
from common.db.tables import bounded_delete, if_match

THROTTLE_WINDOW: Final = timedelta(minutes=15)
EMAIL_FAILURE_LIMIT: Final = 5  # failed password checks per email and window
CLIENT_FAILURE_LIMIT: Final = 100  # failed logins per client address and window
REGISTRATION_REFUSAL_LIMIT: Final = 5  # registrations refused (409) per address and window
REFRESH_TOKEN_TTL: Final = timedelta(days=30)

_WINDOW = literal(THROTTLE_WINDOW, Interval())
_REFRESH_TTL = literal(REFRESH_TOKEN_TTL, Interval())


# --- throttle keys ---------------------------------------------------------------------


def email_subject(email: str) -> bytes:
    """The throttle key of an email (case-insensitive, like the accounts themselves)."""
    return hashlib.sha256(b"email:" + email.lower().encode("utf-8", "surrogatepass")).digest()


def client_subject(address: str) -> bytes:
    """The throttle key of a client address (see common.auth.client_ip)."""
    return hashlib.sha256(b"client:" + address.encode("utf-8")).digest()


def registration_subject(address: str) -> bytes:
    """The registration throttle key of a client address."""
    return hashlib.sha256(b"register:" + address.encode("utf-8")).digest()


@dataclass(frozen=True)
class Throttle:
    """A throttle row's count in the current window and the seconds until the window ends."""

    failures: int
    retry_after: int


def _retry_after(started_at: InstrumentedAttribute[datetime]) -> ColumnElement[int]:
    seconds = func.extract("epoch", started_at + _WINDOW - func.now())
    return cast(func.ceil(seconds), Integer)


def _upsert_failure(kind: str, subject: bytes | BindParameter[bytes]) -> PgInsert:
    """One more failure for (kind, subject): a new window when the last one has passed."""
    current = LoginThrottle.window_started_at > func.now() - _WINDOW
    return (
        pg_insert(LoginThrottle)
        .values(kind=kind, subject=subject, failures=1, window_started_at=func.now())
        .on_conflict_do_update(
            index_elements=[LoginThrottle.kind, LoginThrottle.subject],
            set_={
                "failures": case((current, LoginThrottle.failures + 1), else_=1),
                "window_started_at": case(
                    (current, LoginThrottle.window_started_at), else_=func.now()
                ),
            },
        )
    )


# --- accounts ----------------------------------------------------------------------------

# A user who may sign in or refresh: active and not deleted.
_CAN_SIGN_IN = and_(User.is_active.is_(True), User.deleted_at.is_(None))


def _new_session_and_token(
    *, user_id: ColumnElement[uuid.UUID], refresh_hash: ColumnElement[bytes]
) -> CTE:
    """A CTE inserting a session for `user_id` and its first refresh token (each a bound
    value or a column); it returns the new session's id."""
    new_session = (
        insert(AuthSession)
        .from_select(["user_id"], select(user_id))
        .returning(AuthSession.id)
        .cte("new_session")
    )
    token = (
        insert(RefreshToken)
        .from_select(
            ["token_hash", "session_id", "expires_at"],
            select(refresh_hash, new_session.c.id, func.now() + _REFRESH_TTL),
        )
        .returning(RefreshToken.session_id)
    )
    return token.cte("new_token")


def create_account(
    *,
    session: Session,
    email: str,
    username: str,
    display_name: str | None,
    timezone: str | None,
    locale: str | None,
    password_hash: str,
    refresh_hash: bytes,
) -> User | None:
    """The new user with its password identity, a session and its refresh token, in one
    statement; None when the email is taken (the statement then inserts nothing)."""
    new_user = (
        pg_insert(User)
        .values(
            email=email,
            username=username,
            display_name=display_name,
            timezone=timezone,
            locale=locale,
        )
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(*User.__table__.c)
        .cte("new_user")
    )
    identity = insert(AuthIdentity).from_select(
        ["user_id", "provider", "email", "password_hash", "is_primary"],
        select(
            new_user.c.id,
            cast(literal(AuthProvider.password.value), auth_provider_enum),
            new_user.c.email,
            literal(password_hash),
            true(),
        ),
    )
    token = _new_session_and_token(user_id=new_user.c.id, refresh_hash=literal(refresh_hash))
    stmt = select(new_user).add_cte(identity.cte("new_identity"), token)
    return session.scalars(select(User).from_statement(stmt)).one_or_none()


@dataclass(frozen=True)
class PasswordAccount:
    """An active user with a password identity."""

    user: User
    identity_id: uuid.UUID
    password_hash: str


@dataclass(frozen=True)
class LoginCheck:
    """What a login needs to decide, read in one statement."""

    email_attempts: Throttle  # this attempt included
    client_failures: Throttle | None  # None: no failures from this address in the window
    account: PasswordAccount | None  # None: no active user with a password has this email


@functools.cache
def _login_check(with_client: bool) -> Select[Any]:
    """The statement of `count_login_attempt`, built once per shape (building it took ~1 ms of
    Python per login): bound parameters `email`, `email_subject` and `client_subject`."""
    attempt = (
        _upsert_failure("email", bindparam("email_subject", type_=LargeBinary))
        .returning(
            LoginThrottle.failures.label("failures"),
            _retry_after(LoginThrottle.window_started_at).label("retry_after"),
        )
        .cte("attempt")
    )
    by_client = aliased(LoginThrottle, name="by_client")
    client_match = (
        and_(
            by_client.kind == "client",
            by_client.subject == bindparam("client_subject", type_=LargeBinary),
            by_client.window_started_at > func.now() - _WINDOW,
        )
        if with_client
        else false()
    )
    return (
        select(
            attempt.c.failures,
            attempt.c.retry_after,
            by_client.failures.label("client_failures"),
            _retry_after(by_client.window_started_at).label("client_retry_after"),
            User,
            AuthIdentity.id.label("identity_id"),
            AuthIdentity.password_hash,
        )
        .select_from(attempt)
        .outerjoin(User, and_(User.email == bindparam("email"), _CAN_SIGN_IN))  # citext
        .outerjoin(
            AuthIdentity,
            and_(
                AuthIdentity.user_id == User.id,
                AuthIdentity.provider == AuthProvider.password,
                AuthIdentity.password_hash.is_not(None),
            ),
        )
        .outerjoin(by_client, client_match)
        .order_by(AuthIdentity.is_primary.desc())
        .limit(1)
    )


def count_login_attempt(*, session: Session, email: str, client: str | None) -> LoginCheck:
    """Count one attempt for `email` and read its account and the client's failures."""
    params = {"email": email, "email_subject": email_subject(email)}
    if client is not None:
        params["client_subject"] = client_subject(client)
    stmt = _login_check(client is not None)
    row = session.execute(stmt, params).one()
    return LoginCheck(
        email_attempts=Throttle(row.failures, row.retry_after),
        client_failures=(
            Throttle(row.client_failures, row.client_retry_after)
            if row.client_failures is not None
            else None
        ),
        account=(
            PasswordAccount(row.User, row.identity_id, row.password_hash)
            if row.password_hash is not None
            else None
        ),
    )


def record_client_failure(*, session: Session, client: str) -> None:
    """One more refused login from the client address `client`."""
    session.execute(_upsert_failure("client", client_subject(client)))


def registration_refusals(*, session: Session, client: str) -> Throttle | None:
    """The address's refused registrations in the current window; None when it has none."""
    t = LoginThrottle
    stmt = select(t.failures, _retry_after(t.window_started_at)).where(
        t.kind == "register",
        t.subject == registration_subject(client),
        t.window_started_at > func.now() - _WINDOW,
    )
    row = session.execute(stmt).one_or_none()
    return Throttle(row[0], row[1]) if row is not None else None


def record_registration_refusal(*, session: Session, client: str) -> None:
    """One more registration refused (email taken) for the client address `client`."""
    session.execute(_upsert_failure("register", registration_subject(client)))


@functools.cache
def _new_login_session(with_rehash: bool) -> Select[Any]:
    """The statement of `start_session`, built once per shape. Its bound parameters are named
    unlike any column: an UPDATE takes parameters named after columns as more SET values."""
    token = _new_session_and_token(
        user_id=bindparam("new_session_user", type_=UUID(as_uuid=True)),
        refresh_hash=bindparam("new_token_hash", type_=LargeBinary),
    )
    reset = _reset_email_throttle(bindparam("throttle_subject", type_=LargeBinary))
    stmt = select(func.count()).select_from(token).add_cte(reset.cte("reset"))
    if with_rehash:
        store = (
            update(AuthIdentity)
            .where(AuthIdentity.id == bindparam("rehash_identity", type_=UUID(as_uuid=True)))
            .values(password_hash=bindparam("rehash_value", type_=Text), updated_at=func.now())
        )
        stmt = stmt.add_cte(store.cte("rehash"))
    return stmt


def start_session(
    *,
    session: Session,
    user_id: uuid.UUID,
    refresh_hash: bytes,
    email: str,
    rehash: tuple[uuid.UUID, str] | None = None,
) -> None:
    """A new session with its first refresh token, after a successful password check.

    The throttle row of `email` is deleted (a success resets the count). `rehash`: (identity
    id, new hash) to store a hash made with the current parameters.
    """
    params: dict[str, Any] = {
        "new_session_user": user_id,
        "new_token_hash": refresh_hash,
        "throttle_subject": email_subject(email),
    }
    if rehash is not None:
        params["rehash_identity"], params["rehash_value"] = rehash
    session.execute(_new_login_session(rehash is not None), params)


def _reset_email_throttle(subject: bytes | BindParameter[bytes]) -> Delete:
    """Delete an email's throttle row (`subject`: its `email_subject`, or a parameter)."""
    return delete(LoginThrottle).where(
        LoginThrottle.kind == "email", LoginThrottle.subject == subject
    )


# --- password checks of a signed-in user -----------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """A signed-in user's email, password identity and version (for If-Match)."""

    email: str | None
    version: int
    identity_id: uuid.UUID | None
    password_hash: str | None


def get_credentials(*, session: Session, user_id: uuid.UUID) -> Credentials | None:
    """The user's credentials; None when the user no longer exists."""
    stmt = (
        select(User.email, User.version, AuthIdentity.id, AuthIdentity.password_hash)
        .outerjoin(
            AuthIdentity,
            and_(
                AuthIdentity.user_id == User.id,
                AuthIdentity.provider == AuthProvider.password,
                AuthIdentity.password_hash.is_not(None),
            ),
        )
        .where(User.id == user_id)
        .order_by(AuthIdentity.is_primary.desc())
        .limit(1)
    )
    row = session.execute(stmt).one_or_none()
    if row is None:
        return None
    return Credentials(
        email=row.email, version=row.version, identity_id=row.id, password_hash=row.password_hash
    )


def count_password_attempt(*, session: Session, email: str) -> Throttle:
    """Count one password check for `email` (before checking); its count in the window."""
    stmt = _upsert_failure("email", email_subject(email)).returning(
        LoginThrottle.failures, _retry_after(LoginThrottle.window_started_at)
    )
    failures, retry_after = session.execute(stmt).one()
    return Throttle(failures, retry_after)


def change_password(
    *,
    session: Session,
    user_id: uuid.UUID,
    identity_id: uuid.UUID,
    email: str | None,
    password_hash: str,
    refresh_hash: bytes,
) -> None:
    """Store the new hash, end every session of the user and start the only new one."""
    store = (
        update(AuthIdentity)
        .where(AuthIdentity.id == identity_id)
        .values(password_hash=password_hash, updated_at=func.now())
    )
    # One snapshot: the DELETE cannot see the session this statement inserts.
    end_all = delete(AuthSession).where(AuthSession.user_id == user_id)
    token = _new_session_and_token(user_id=literal(user_id), refresh_hash=literal(refresh_hash))
    stmt = (
        select(func.count()).select_from(token).add_cte(store.cte("store"), end_all.cte("end_all"))
    )
    if email is not None:
        stmt = stmt.add_cte(_reset_email_throttle(email_subject(email)).cte("reset"))
    session.execute(stmt)


# --- refresh tokens -------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshState:
    session_id: uuid.UUID
    user_id: uuid.UUID
    rotated: bool
    expired: bool


def lock_refresh_token(*, session: Session, token_hash: bytes) -> RefreshState | None:
    """The token's state, its row and its session's row locked until the transaction ends;
    None when no live session holds such a token, or its user is no longer active (a user
    switched off with `is_active = false` keeps no way to new access tokens, like at login)."""
    stmt = (
        select(
            RefreshToken.session_id,
            AuthSession.user_id,
            RefreshToken.rotated_at.is_not(None).label("rotated"),
            (RefreshToken.expires_at <= func.now()).label("expired"),
        )
        .join(AuthSession, AuthSession.id == RefreshToken.session_id)
        .join(User, and_(User.id == AuthSession.user_id, _CAN_SIGN_IN))
        .where(RefreshToken.token_hash == token_hash)
        # Both rows: a concurrent revocation (DELETE of the session) then waits for this
        # transaction instead of deadlocking with its insert of the next token.
        .with_for_update(of=[RefreshToken, AuthSession])
    )
    row = session.execute(stmt).one_or_none()
    if row is None:
        return None
    return RefreshState(
        session_id=row.session_id, user_id=row.user_id, rotated=row.rotated, expired=row.expired
    )


def rotate_refresh_token(
    *, session: Session, session_id: uuid.UUID, old_hash: bytes, new_hash: bytes
) -> None:
    """Mark `old_hash` rotated and add its successor to the same session."""
    rotated = (
        update(RefreshToken)
        .where(RefreshToken.token_hash == old_hash)
        .values(rotated_at=func.now())
        .cte("rotated")
    )
    session.execute(
        insert(RefreshToken)
        .from_select(
            ["token_hash", "session_id", "expires_at"],
            select(literal(new_hash), literal(session_id), func.now() + _REFRESH_TTL),
        )
        .add_cte(rotated)
    )


def revoke_session(*, session: Session, session_id: uuid.UUID) -> None:
    """End one session: every refresh token of it stops working."""
    session.execute(delete(AuthSession).where(AuthSession.id == session_id))


def revoke_session_of_token(*, session: Session, token_hash: bytes) -> None:
    """End the session holding this refresh token (current or already rotated), if any."""
    holder = select(RefreshToken.session_id).where(RefreshToken.token_hash == token_hash)
    session.execute(delete(AuthSession).where(AuthSession.id.in_(holder.scalar_subquery())))


def revoke_all_sessions(*, session: Session, user_id: uuid.UUID) -> None:
    """End every session of the user."""
    session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))


# --- users -----------------------------------------------------------------------------------


def get_user(*, session: Session, user_id: uuid.UUID) -> User | None:
    return session.scalars(select(User).where(User.id == user_id)).one_or_none()


def update_user(
    *,
    session: Session,
    user_id: uuid.UUID,
    changes: dict[str, Any],
    versions: frozenset[int] | None,
) -> User | None:
    """Apply `changes` and bump the version; with no changes, the user as it is (same
    version). None when the user is gone or, with `versions` (If-Match), its version is not
    one of them."""
    matches = and_(User.id == user_id, *if_match(User.version, versions))
    if not changes:
        return session.scalars(select(User).where(matches)).one_or_none()
    stmt = (
        update(User)
        .where(matches)
        .values(**changes, version=User.version + 1, updated_at=func.now())
        .returning(User)
    )
    return session.scalars(
        select(User).from_statement(stmt), execution_options={"populate_existing": True}
    ).one_or_none()


def delete_user(*, session: Session, user_id: uuid.UUID, email: str | None) -> None:
    """Erase the user: every row it owns and every share to it go with it (cascades)."""
    stmt = delete(User).where(User.id == user_id)
    if email is not None:
        stmt = stmt.add_cte(_reset_email_throttle(email_subject(email)).cte("reset"))
    session.execute(stmt)


# --- housekeeping ------------------------------------------------------------------------


def expired_rows(limit: int) -> list[Delete]:
    """Bounded deletes of what no request can use any more (for common.db.housekeeping).

    - sessions whose current refresh token has expired: nothing can continue them, and their
      tokens go with them (cascade);
    - rotated tokens past their expiry: presented again they are refused as expired, row or
      not, so they no longer serve reuse detection;
    - throttle rows whose window has passed (they count as empty).
    """
    t, expired = RefreshToken, RefreshToken.expires_at <= func.now()
    return [
        bounded_delete(
            AuthSession,
            [AuthSession.id],
            and_(expired, t.rotated_at.is_(None)),
            limit,
            via=[t.session_id],
        ),
        bounded_delete(t, [t.token_hash], and_(expired, t.rotated_at.is_not(None)), limit),
        bounded_delete(
            LoginThrottle,
            [LoginThrottle.kind, LoginThrottle.subject],
            LoginThrottle.window_started_at <= func.now() - _WINDOW,
            limit,
        ),
    ]
