"""Account recovery and email verification (api-v1 §12): codes, their checks, their effects.

Codes (`auth_codes`, common/auth/codes.py for how they are made and stored) are one per user
and purpose: a new request replaces the live one. Every function runs one statement.

- `request_reset`: counts the request for the email (known or not, `reset` throttle:
  `RESET_MAIL_LIMIT` per email and hour), and, for an active account within the limit, stores
  the code and queues its mail (common.db.outbox). The address is the one of record, never
  the spelling that was typed. Known and unknown emails run this same statement; only the
  rows it inserts differ.
- `check_reset_code`: finds the live reset code of the email's active account and locks it
  with the user's row (FOR NO KEY UPDATE: the revocation lock of common.db.sessions, taken
  in a statement before the one that deletes the sessions); a right code is used up, a wrong
  one counts a try (the `MAX_TRIES`-th ends it). A client address with too many refusals
  (the login throttle's `client` count) is refused before anything is counted.
- `finish_reset`: after the new password is hashed: stores it (or adds a password identity
  to an account that had none), ends every session, starts the new one, marks the email
  verified (the code proved the mailbox), and clears the email's login throttle unless a
  login of it holds that row (common.db.throttles: never wait for it while holding a user).
- `request_verification` / `confirm_verification`: the same for the signed-in user's email,
  `VERIFY_MAIL_LIMIT` mails per email and hour; the code is bound to the address it was
  sent to.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    CTE,
    Delete,
    Interval,
    LargeBinary,
    Text,
    and_,
    case,
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
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping

from common.auth.codes import CODE_TTL, MAX_TRIES, Purpose
from common.db import outbox, throttles
from common.db.engine import Session
from common.db.models import AuthCode, AuthIdentity, AuthProvider, User, auth_provider_enum
from common.db.sessions import CAN_SIGN_IN, new_session_and_token, sessions
from common.db.tables import bounded_delete
from common.db.throttles import Throttle, email_subject

codes = AuthCode
users = User
identities = AuthIdentity

RESET_MAIL_LIMIT: Final = 3  # reset requests (and so mails) per email and hour
VERIFY_MAIL_LIMIT: Final = 3  # verification mails per email and hour


@dataclass(frozen=True)
class MailRequest:
    """A request for a mailed code, counted: the count in its window and the seconds left,
    and the queued mail (None when none was: unknown email, over the limit...)."""

    attempts: Throttle
    mail_id: uuid.UUID | None


def _store_code(source: CTE, *, purpose: Purpose, code_hash: bytes) -> CTE:
    """A CTE storing the code for each user of `source` (id, email), replacing a live one."""
    new = pg_insert(codes).from_select(
        ["user_id", "purpose", "code_hash", "email", "tries", "expires_at"],
        select(
            source.c.id,
            literal(purpose, Text),
            literal(code_hash, LargeBinary),
            source.c.email,
            literal(0),
            func.now() + literal(CODE_TTL, Interval()),
        ),
    )
    upsert = new.on_conflict_do_update(
        index_elements=[codes.c.user_id, codes.c.purpose],
        set_={
            "code_hash": new.excluded.code_hash,
            "email": new.excluded.email,
            "tries": 0,
            "expires_at": new.excluded.expires_at,
            "created_at": func.now(),
        },
    )
    return upsert.cte(f"code_{purpose}")


def request_reset(
    *, session: Session, email: str, code_hash: bytes, mail_id: uuid.UUID, sealed_code: bytes
) -> MailRequest:
    """Count a reset request for `email`; for an active account within the limit, store the
    code and queue its mail (one statement)."""
    attempt = throttles.counted(
        "reset", throttles.upsert_failure("reset", email_subject(email))
    ).cte("attempt")
    target = (
        select(users.c.id, users.c.email)
        .select_from(users.join(attempt, attempt.c.failures <= RESET_MAIL_LIMIT))
        .where(users.c.email == email, CAN_SIGN_IN)  # citext
        .cte("target")
    )
    code = _store_code(target, purpose="password_reset", code_hash=code_hash)
    mail = outbox.queue_mail(
        mail_id=mail_id, kind="password_reset", source=target, sealed_code=sealed_code
    )
    stmt = select(
        attempt.c.failures, attempt.c.retry_after, select(mail.c.id).scalar_subquery()
    ).add_cte(code)
    failures, wait, queued = session.execute(stmt).one()
    return MailRequest(Throttle(failures, wait), queued)


@dataclass(frozen=True)
class ResetCheck:
    """A presented reset code, checked. `user_id` is None when the email has no active account
    with a live code (the same answer as a wrong code); `blocked` when the client address is
    over its refusal limit (nothing was checked)."""

    user_id: uuid.UUID | None
    matched: bool
    blocked: Throttle | None


def _code_of(purpose: Purpose) -> Any:
    """A user's live code of `purpose`: not expired, tries left, sent to their address."""
    return and_(
        codes.c.user_id == users.c.id,
        codes.c.purpose == purpose,
        codes.c.expires_at > func.now(),
        codes.c.tries < MAX_TRIES,
        codes.c.email == users.c.email,
    )


def _spend_or_count(target: CTE, purpose: Purpose) -> tuple[CTE, CTE]:
    """CTEs using up the code of `target`'s user (`matches`) or counting a wrong try."""
    of = and_(codes.c.purpose == purpose, codes.c.user_id.in_(select(target.c.user_id)))
    spent = delete(codes).where(of, select(target.c.matches).scalar_subquery())
    missed = (
        update(codes)
        .where(of, ~select(target.c.matches).scalar_subquery())
        .values(tries=codes.c.tries + 1)
    )
    return spent.cte(f"spent_{purpose}"), missed.cte(f"missed_{purpose}")


def check_reset_code(
    *, session: Session, email: str, code_hash: bytes, client: str | None
) -> ResetCheck:
    """Check a reset code for `email` (see the module docstring; one statement)."""
    t = throttles.throttles
    blocked = (
        select(t.c.failures, throttles.retry_after(t.c.window_started_at).label("wait"))
        .where(
            t.c.kind == "client",
            t.c.subject == throttles.client_subject(client),
            throttles.current_window(t.c.window_started_at),
            t.c.failures >= throttles.CLIENT_FAILURE_LIMIT,
        )
        .cte("blocked")
        if client is not None
        else select(literal(0).label("failures"), literal(0).label("wait"))
        .where(false())
        .cte("blocked")
    )
    target = (
        select(users.c.id.label("user_id"), (codes.c.code_hash == code_hash).label("matches"))
        .select_from(users.join(codes, _code_of("password_reset")))
        .where(users.c.email == email, CAN_SIGN_IN, ~select(blocked).exists())  # citext
        .with_for_update(key_share=True, of=[users, codes])
        .cte("target")
    )
    spent, missed = _spend_or_count(target, "password_reset")
    stmt = (
        select(
            select(target.c.user_id).scalar_subquery().label("user_id"),
            select(target.c.matches).scalar_subquery().label("matches"),
            select(blocked.c.failures).scalar_subquery().label("blocked"),
            select(blocked.c.wait).scalar_subquery().label("wait"),
        )
        .add_cte(spent)
        .add_cte(missed)
    )
    row = session.execute(stmt).one()
    return ResetCheck(
        user_id=row.user_id,
        matched=bool(row.matches),
        blocked=Throttle(row.blocked, row.wait) if row.blocked is not None else None,
    )


def _mark_verified() -> dict[str, Any]:
    """The SET of a user whose email was just proven: version and time move only if it
    was not verified yet (an unchanged user keeps its ETag)."""
    already = users.c.email_verified
    return {
        "email_verified": true(),
        "version": case((already, users.c.version), else_=users.c.version + 1),
        "updated_at": case((already, users.c.updated_at), else_=func.now()),
    }


def finish_reset(
    *,
    session: Session,
    user_id: uuid.UUID,
    email: str,
    password_hash: str,
    refresh_hash: bytes,
) -> RowMapping:
    """Set the new password, end every session, start the new one, mark the email verified:
    the user's row (one statement, after `check_reset_code` locked that row)."""
    uid = literal(user_id, UUID(as_uuid=True))
    stored = (
        update(identities)
        .where(
            identities.c.user_id == uid,
            identities.c.provider == AuthProvider.password,
            identities.c.password_hash.is_not(None),
        )
        .values(password_hash=password_hash, updated_at=func.now())
        .returning(identities.c.id)
        .cte("stored")
    )
    added = insert(identities).from_select(
        ["user_id", "provider", "email", "password_hash", "is_primary"],
        select(
            users.c.id,
            literal(AuthProvider.password.value, auth_provider_enum),
            users.c.email,
            literal(password_hash, Text),
            false(),
        ).where(users.c.id == uid, ~select(stored.c.id).exists()),
    )
    # One snapshot, taken after check_reset_code's lock: every session committed before.
    end_all = delete(sessions).where(sessions.c.user_id == uid)
    token = new_session_and_token(user_id=uid, refresh_hash=literal(refresh_hash, LargeBinary))
    verified = (
        update(users).where(users.c.id == uid).values(**_mark_verified()).returning(*users.c)
    ).cte("verified")
    reset = throttles.reset_email_unless_busy(email_subject(email))
    stmt = select(verified).add_cte(
        added.cte("added"), end_all.cte("end_all"), token, reset.cte("reset")
    )
    return session.execute(stmt).mappings().one()


@dataclass(frozen=True)
class VerificationRequest:
    """The signed-in user's state for a verification mail, and what was done."""

    has_email: bool
    verified: bool
    attempts: Throttle | None  # None: nothing counted (no email, or already verified)
    mail_id: uuid.UUID | None


def request_verification(
    *,
    session: Session,
    user_id: uuid.UUID,
    code_hash: bytes,
    mail_id: uuid.UUID,
    sealed_code: bytes,
) -> VerificationRequest | None:
    """For a user with an unverified email: count the request, and within the limit store the
    code and queue its mail (one statement). None when the user no longer exists."""
    me = (
        select(users.c.id, users.c.email, users.c.email_verified)
        .where(users.c.id == user_id)
        .cte("me")
    )
    wanted = and_(me.c.email.is_not(None), ~me.c.email_verified)
    attempt = throttles.counted(
        "verify", throttles.upsert_failure("verify", email_subject(me.c.email), only_if=wanted)
    ).cte("attempt")
    target = (
        select(me.c.id, me.c.email)
        .select_from(me.join(attempt, attempt.c.failures <= VERIFY_MAIL_LIMIT))
        .cte("target")
    )
    code = _store_code(target, purpose="email_verification", code_hash=code_hash)
    mail = outbox.queue_mail(
        mail_id=mail_id, kind="email_verification", source=target, sealed_code=sealed_code
    )
    stmt = (
        select(
            me.c.email.is_not(None).label("has_email"),
            me.c.email_verified,
            attempt.c.failures,
            attempt.c.retry_after,
            select(mail.c.id).scalar_subquery().label("mail_id"),
        )
        .select_from(me.outerjoin(attempt, true()))
        .add_cte(code)
    )
    row = session.execute(stmt).one_or_none()
    if row is None:
        return None
    return VerificationRequest(
        has_email=row.has_email,
        verified=row.email_verified,
        attempts=Throttle(row.failures, row.retry_after) if row.failures is not None else None,
        mail_id=row.mail_id,
    )


def confirm_verification(
    *, session: Session, user_id: uuid.UUID, code_hash: bytes
) -> tuple[RowMapping, bool] | None:
    """Check the signed-in user's verification code: a right one marks the email verified and
    is used up, a wrong one counts a try. Returns the user's row (after the change) and
    whether the code matched; None when the user no longer exists. A user already verified
    is returned as is, nothing counted (one statement)."""
    target = (
        select(users.c.id.label("user_id"), (codes.c.code_hash == code_hash).label("matches"))
        .select_from(users.join(codes, _code_of("email_verification")))
        .where(users.c.id == user_id, ~users.c.email_verified)
        .with_for_update(of=codes)
        .cte("target")
    )
    spent, missed = _spend_or_count(target, "email_verification")
    matched = select(target.c.matches).where(target.c.matches)
    verified = (
        update(users)
        .where(users.c.id.in_(select(target.c.user_id).where(target.c.matches)))
        .values(**_mark_verified())
        .returning(*users.c)
        .cte("verified")
    )
    current = select(*users.c).where(users.c.id == user_id, ~select(verified.c.id).exists())
    rows = select(verified).union_all(current).cte("result")
    stmt = select(rows, matched.exists().label("matched")).add_cte(spent).add_cte(missed)
    row = session.execute(stmt).mappings().one_or_none()
    if row is None:
        return None
    return row, bool(row["matched"])


def expired_rows(limit: int) -> list[Delete]:
    """A bounded delete of expired codes (for common.db.housekeeping)."""
    return [
        bounded_delete(
            codes, [codes.c.user_id, codes.c.purpose], codes.c.expires_at <= func.now(), limit
        )
    ]
