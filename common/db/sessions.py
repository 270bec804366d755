"""Sessions and refresh tokens.

A session (`auth_sessions`) is one sign-in; its refresh tokens form a chain where each use
rotates the token (`rotated_at` set, a new one inserted). Revoking a session deletes it and
its tokens with it. A token is found by its SHA-256 and locked (`FOR UPDATE`) before it is
rotated, so two refreshes of one token take turns: the second sees it rotated, which is
reuse, and the session dies. Reuse is not told apart from a client racing itself: a client
must not refresh one token twice at once.

New sessions against revocations
--------------------------------
"Revoke every session" (logout-all, a password change, a confirmed password reset) must not
miss a session that a racing sign-in commits meanwhile. Under READ COMMITTED a statement reads
the snapshot taken when it started: a DELETE of all sessions that started before a racing
login committed does not see that login's session, even when it waited for a lock. So both
sides meet on the user's row:
- a sign-in inserts its session from `locked_for_sign_in`: the user's row locked FOR SHARE
  (and, for a password login, the identity row whose hash it verified, with that hash in the
  same WHERE, common.db.accounts), so a credential changed meanwhile makes it insert nothing;
- a revocation locks the user's row (`lock_for_revocation`, FOR NO KEY UPDATE) in a statement
  before the one that deletes the sessions. A sign-in that took its lock first has committed
  by then, and the DELETE's newer snapshot sees its session; a later one waits until the
  revocation commits and then finds the credential changed (a password change or reset) or
  starts a session that is truly after the revocation (logout-all).
Every new session of an existing user goes through `locked_for_sign_in`; registration creates
its user in the same statement, so nothing can revoke it meanwhile.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import (
    CTE,
    Delete,
    Interval,
    Select,
    Table,
    and_,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from common.db.engine import Session
from common.db.models import AuthSession, RefreshToken, User
from common.db.tables import bounded_delete

REFRESH_TOKEN_TTL: Final = timedelta(days=30)

sessions = AuthSession
tokens = RefreshToken
users = User
_REFRESH_TTL = literal(REFRESH_TOKEN_TTL, Interval())

# A user who may sign in or refresh: active and not deleted.
CAN_SIGN_IN = and_(users.c.is_active.is_(True), users.c.deleted_at.is_(None))


def new_session_and_token(
    *, user_id: ColumnElement[uuid.UUID], refresh_hash: ColumnElement[bytes]
) -> CTE:
    """A CTE inserting a session for `user_id` and its first refresh token (each a bound
    value or a column); it returns the new session's id."""
    new_session = (
        insert(sessions)
        .from_select(["user_id"], select(user_id))
        .returning(sessions.c.id)
        .cte("new_session")
    )
    token = (
        insert(tokens)
        .from_select(
            ["token_hash", "session_id", "expires_at"],
            select(refresh_hash, new_session.c.id, func.now() + _REFRESH_TTL),
        )
        .returning(tokens.c.session_id)
    )
    return token.cte("new_token")


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
            tokens.c.session_id,
            sessions.c.user_id,
            tokens.c.rotated_at.is_not(None).label("rotated"),
            (tokens.c.expires_at <= func.now()).label("expired"),
        )
        .join(sessions, sessions.c.id == tokens.c.session_id)
        .join(users, and_(users.c.id == sessions.c.user_id, CAN_SIGN_IN))
        .where(tokens.c.token_hash == token_hash)
        # Both rows: a concurrent revocation (DELETE of the session) then waits for this
        # transaction instead of deadlocking with its insert of the next token.
        .with_for_update(of=[tokens, sessions])
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
        update(tokens)
        .where(tokens.c.token_hash == old_hash)
        .values(rotated_at=func.now())
        .cte("rotated")
    )
    session.execute(
        insert(tokens)
        .from_select(
            ["token_hash", "session_id", "expires_at"],
            select(literal(new_hash), literal(session_id), func.now() + _REFRESH_TTL),
        )
        .add_cte(rotated)
    )


def revoke_session(*, session: Session, session_id: uuid.UUID) -> None:
    """End one session: every refresh token of it stops working."""
    session.execute(delete(sessions).where(sessions.c.id == session_id))


def revoke_session_of_token(*, session: Session, token_hash: bytes) -> None:
    """End the session holding this refresh token (current or already rotated), if any."""
    holder = select(tokens.c.session_id).where(tokens.c.token_hash == token_hash)
    session.execute(delete(sessions).where(sessions.c.id.in_(holder.scalar_subquery())))


def locked_for_sign_in(user_id: ColumnElement[uuid.UUID], *others: Table) -> Select[Any]:
    """The id of an active user, its row (and the rows of `others`, tables the caller joins
    and filters) locked FOR SHARE: the source a new session is inserted from."""
    return (
        select(users.c.id.label("user_id"))
        .where(users.c.id == user_id, CAN_SIGN_IN)
        .with_for_update(read=True, of=[users, *others])
    )


def lock_for_revocation(user_id: uuid.UUID) -> Select[Any]:
    """The user's row locked FOR NO KEY UPDATE: run before the statement that revokes."""
    return select(users.c.id).where(users.c.id == user_id).with_for_update(key_share=True)


def revoke_all_sessions(*, session: Session, user_id: uuid.UUID) -> None:
    """End every session of the user: the revocation lock, then the delete (two statements)."""
    session.execute(lock_for_revocation(user_id))
    session.execute(delete(sessions).where(sessions.c.user_id == user_id))


def expired_rows(limit: int) -> list[Delete]:
    """Bounded deletes of what no request can use any more (for common.db.housekeeping).

    - sessions whose current refresh token has expired: nothing can continue them, and their
      tokens go with them (cascade);
    - rotated tokens past their expiry: presented again they are refused as expired, row or
      not, so they no longer serve reuse detection.
    """
    t, expired = tokens, tokens.c.expires_at <= func.now()
    return [
        bounded_delete(
            sessions,
            [sessions.c.id],
            and_(expired, t.c.rotated_at.is_(None)),
            limit,
            via=[t.c.session_id],
        ),
        bounded_delete(t, [t.c.token_hash], and_(expired, t.c.rotated_at.is_not(None)), limit),
    ]
