"""Accounts and their passwords: registration, the login read, sessions started by a
password check, a signed-in user's password check and change.

Every function receives the request's session and runs one statement (data-modifying CTEs
where one request changes several tables); none commits. Throttles are common.db.throttles,
sessions and refresh tokens common.db.sessions, the profile common.db.users.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    LargeBinary,
    Select,
    Text,
    and_,
    bindparam,
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
from sqlalchemy.dialects.postgresql import CITEXT, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping

from common.db import throttles
from common.db.engine import Session
from common.db.models import AuthIdentity, AuthProvider, User, auth_provider_enum
from common.db.sessions import (
    CAN_SIGN_IN,
    lock_for_revocation,
    locked_for_sign_in,
    new_session_and_token,
    sessions,
)
from common.db.throttles import Throttle, email_subject

users = User
identities = AuthIdentity

# The password identity of a user (a user has at most one that is primary).
_PASSWORD = and_(
    identities.c.user_id == users.c.id,
    identities.c.provider == AuthProvider.password,
    identities.c.password_hash.is_not(None),
)


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
) -> RowMapping | None:
    """The new user (its row) with its password identity, a session and its refresh token, in
    one statement; None when the email is taken (the statement then inserts nothing)."""
    new_user = (
        pg_insert(users)
        .values(
            email=email,
            username=username,
            display_name=display_name,
            timezone=timezone,
            locale=locale,
        )
        .on_conflict_do_nothing(index_elements=[users.c.email])
        .returning(*users.c)
        .cte("new_user")
    )
    identity = insert(identities).from_select(
        ["user_id", "provider", "email", "password_hash", "is_primary"],
        select(
            new_user.c.id,
            cast(literal(AuthProvider.password.value), auth_provider_enum),
            new_user.c.email,
            literal(password_hash),
            true(),
        ),
    )
    token = new_session_and_token(user_id=new_user.c.id, refresh_hash=literal(refresh_hash))
    stmt = select(new_user).add_cte(identity.cte("new_identity"), token)
    return session.execute(stmt).mappings().one_or_none()


@dataclass(frozen=True)
class PasswordAccount:
    """An active user (its row) with a password identity."""

    user: Mapping[str, Any]
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
    Python per login): bound parameters `email` and `client_subject`. The email's throttle key
    is computed from the same parameter by the database (common.db.throttles.email_subject)."""
    t = throttles.throttles
    # CITEXT, not Text: typed as text, the parameter would be sent as VARCHAR and the match
    # below would compare case-sensitively (citext = varchar resolves to text = text).
    email = bindparam("email", type_=CITEXT())
    attempt = throttles.counted("email", throttles.upsert_failure("email", email_subject(email)))
    attempt_cte = attempt.cte("attempt")
    by_client = t.alias("by_client")
    client_match = (
        and_(
            by_client.c.kind == "client",
            by_client.c.subject == bindparam("client_subject", type_=LargeBinary),
            throttles.current_window(by_client.c.window_started_at),
        )
        if with_client
        else false()
    )
    return (
        select(
            attempt_cte.c.failures,
            attempt_cte.c.retry_after,
            by_client.c.failures.label("client_failures"),
            throttles.retry_after(by_client.c.window_started_at).label("client_retry_after"),
            *users.c,
            identities.c.id.label("identity_id"),
            identities.c.password_hash,
        )
        .select_from(attempt_cte)
        .outerjoin(users, and_(users.c.email == email, CAN_SIGN_IN))  # citext
        .outerjoin(identities, _PASSWORD)
        .outerjoin(by_client, client_match)
        .order_by(identities.c.is_primary.desc())
        .limit(1)
    )


def count_login_attempt(*, session: Session, email: str, client: str | None) -> LoginCheck:
    """Count one attempt for `email` and read its account and the client's failures."""
    params: dict[str, Any] = {"email": email}
    if client is not None:
        params["client_subject"] = throttles.client_subject(client)
    row = session.execute(_login_check(client is not None), params).mappings().one()
    account = None
    if row["password_hash"] is not None:
        user = {column.name: row[column.name] for column in users.c}
        account = PasswordAccount(user, row["identity_id"], row["password_hash"])
    return LoginCheck(
        email_attempts=Throttle(row["failures"], row["retry_after"]),
        client_failures=(
            Throttle(row["client_failures"], row["client_retry_after"])
            if row["client_failures"] is not None
            else None
        ),
        account=account,
    )


@functools.cache
def _new_login_session(with_rehash: bool) -> Select[Any]:
    """The statement of `start_session`, built once per shape. Its bound parameters are named
    unlike any column: an UPDATE takes parameters named after columns as more SET values.

    The session is inserted only while the identity still holds the hash that was verified,
    read under a FOR SHARE lock of the user and the identity (common.db.sessions, "New
    sessions against revocations"): a password changed or reset meanwhile leaves nothing."""
    verified = bindparam("verified_hash", type_=Text)
    identity = bindparam("login_identity", type_=UUID(as_uuid=True))
    guard = (
        locked_for_sign_in(bindparam("new_session_user", type_=UUID(as_uuid=True)), identities)
        .add_columns(identities.c.id.label("identity_id"))
        .join(identities, identities.c.user_id == users.c.id)
        .where(identities.c.id == identity, identities.c.password_hash == verified)
        .cte("guard")
    )
    token = new_session_and_token(
        user_id=guard.c.user_id, refresh_hash=bindparam("new_token_hash", type_=LargeBinary)
    )
    reset = throttles.reset_email(email_subject(bindparam("throttle_email", type_=Text))).where(
        select(guard.c.user_id).exists()
    )
    stmt = select(func.count()).select_from(token).add_cte(reset.cte("reset"))
    if with_rehash:
        store = (
            update(identities)
            .where(identities.c.id.in_(select(guard.c.identity_id)))
            .values(password_hash=bindparam("rehash_value", type_=Text), updated_at=func.now())
        )
        stmt = stmt.add_cte(store.cte("rehash"))
    return stmt


def start_session(
    *,
    session: Session,
    account: PasswordAccount,
    refresh_hash: bytes,
    email: str,
    rehash: str | None = None,
) -> bool:
    """A new session with its first refresh token, after a successful password check of
    `account`; False (nothing written) when its password changed since it was read, or the
    user was switched off.

    The throttle row of `email` is deleted (a success resets the count). `rehash`: a new hash
    of the password made with the current parameters, to store instead.
    """
    params: dict[str, Any] = {
        "new_session_user": account.user["id"],
        "login_identity": account.identity_id,
        "verified_hash": account.password_hash,
        "new_token_hash": refresh_hash,
        "throttle_email": email,
    }
    if rehash is not None:
        params["rehash_value"] = rehash
    return bool(session.execute(_new_login_session(rehash is not None), params).scalar_one())


# --- password checks of a signed-in user -----------------------------------------------------


@dataclass(frozen=True)
class PasswordCheck:
    """A signed-in user's email, password identity and version (for If-Match), with this
    password check counted for the email (None when the user has no email)."""

    email: str | None
    version: int
    identity_id: uuid.UUID | None
    password_hash: str | None
    attempts: Throttle | None


def count_password_check(*, session: Session, user_id: uuid.UUID) -> PasswordCheck | None:
    """Count one password check for the user's email (before checking, like a login) and read
    their credentials, in one statement; None when the user no longer exists."""
    me = (
        select(users.c.email, users.c.version, identities.c.id, identities.c.password_hash)
        .select_from(users)
        .outerjoin(identities, _PASSWORD)
        .where(users.c.id == user_id)
        .order_by(identities.c.is_primary.desc())
        .limit(1)
        .cte("me")
    )
    attempt = throttles.counted(
        "email",
        throttles.upsert_failure(
            "email", email_subject(me.c.email), only_if=me.c.email.is_not(None)
        ),
    ).cte("attempt")
    stmt = select(me, attempt.c.failures, attempt.c.retry_after).select_from(
        me.outerjoin(attempt, true())
    )
    row = session.execute(stmt).one_or_none()
    if row is None:
        return None
    return PasswordCheck(
        email=row.email,
        version=row.version,
        identity_id=row.id,
        password_hash=row.password_hash,
        attempts=Throttle(row.failures, row.retry_after) if row.failures is not None else None,
    )


def lock_password(
    *, session: Session, user_id: uuid.UUID, identity_id: uuid.UUID, verified_hash: str
) -> bool:
    """Take the revocation lock before changing the password: the user's and the identity's
    rows, FOR NO KEY UPDATE; False when the identity no longer holds the hash that was
    verified (another change won the race)."""
    stmt = (
        lock_for_revocation(user_id)
        .join(identities, identities.c.user_id == users.c.id)
        .where(identities.c.id == identity_id, identities.c.password_hash == verified_hash)
        .with_for_update(key_share=True, of=[users, identities])
    )
    return session.execute(stmt).first() is not None


def change_password(
    *,
    session: Session,
    user_id: uuid.UUID,
    identity_id: uuid.UUID,
    email: str | None,
    password_hash: str,
    refresh_hash: bytes,
) -> None:
    """Store the new hash, end every session of the user and start the only new one. Run after
    `lock_password`: this statement's snapshot then holds every session committed before."""
    store = (
        update(identities)
        .where(identities.c.id == identity_id)
        .values(password_hash=password_hash, updated_at=func.now())
    )
    # One snapshot: the DELETE cannot see the session this statement inserts.
    end_all = delete(sessions).where(sessions.c.user_id == user_id)
    token = new_session_and_token(user_id=literal(user_id), refresh_hash=literal(refresh_hash))
    stmt = (
        select(func.count()).select_from(token).add_cte(store.cte("store"), end_all.cte("end_all"))
    )
    if email is not None:
        stmt = stmt.add_cte(throttles.reset_email(email_subject(email)).cte("reset"))
    session.execute(stmt)
