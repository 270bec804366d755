"""Sessions and refresh tokens.

A session (`auth_sessions`) is one sign-in; its refresh tokens form a chain where each use
rotates the token (`rotated_at` set, a new one inserted). Revoking a session deletes it and
its tokens with it. A token is found by its SHA-256 and locked (`FOR UPDATE`) before it is
rotated, so two refreshes of one token take turns: the second sees it rotated, which is
reuse, and the session dies. Reuse is not told apart from a client racing itself: a client
must not refresh one token twice at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from sqlalchemy import CTE, Delete, Interval, and_, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from common.db.models import AuthSession, RefreshToken, User
from common.db.tables import bounded_delete, table

REFRESH_TOKEN_TTL: Final = timedelta(days=30)

sessions = table(AuthSession)
tokens = table(RefreshToken)
users = table(User)
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


def revoke_all_sessions(*, session: Session, user_id: uuid.UUID) -> None:
    """End every session of the user."""
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
