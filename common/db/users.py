"""The signed-in user's profile and account: read, change, erase."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.engine import RowMapping

from common.db import throttles
from common.db.engine import Session
from common.db.models import User
from common.db.tables import if_match

users = User


def get_user(*, session: Session, user_id: uuid.UUID) -> RowMapping | None:
    return session.execute(select(users).where(users.c.id == user_id)).mappings().one_or_none()


def update_user(
    *,
    session: Session,
    user_id: uuid.UUID,
    changes: dict[str, Any],
    versions: frozenset[int] | None,
) -> RowMapping | None:
    """Apply `changes`; the version (and `updated_at`) move only when a value differs from
    the stored one, so with no changes, or the values it has, the user stays as it is.
    None when the user is gone or, with `versions` (If-Match), its version is not one of
    them."""
    matches = and_(users.c.id == user_id, *if_match(users.c.version, versions))
    if not changes:
        return session.execute(select(users).where(matches)).mappings().one_or_none()
    differs = or_(*(users.c[name].is_distinct_from(value) for name, value in changes.items()))
    stmt = (
        update(users)
        .where(matches)
        .values(
            **changes,
            version=case((differs, users.c.version + 1), else_=users.c.version),
            updated_at=case((differs, func.now()), else_=users.c.updated_at),
        )
        .returning(*users.c)
    )
    return session.execute(stmt).mappings().one_or_none()


def delete_user(*, session: Session, user_id: uuid.UUID, email: str | None) -> None:
    """Erase the user: every row it owns and every share to it go with it (cascades)."""
    stmt = delete(users).where(users.c.id == user_id)
    if email is not None:
        reset = throttles.reset_email(throttles.email_subject(email))
        stmt = stmt.add_cte(reset.cte("reset"))
    session.execute(stmt)
