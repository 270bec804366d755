"""Identities of Sign in with Google and Apple (api-v1 §11): sign-in, accounts they create,
linking, unlinking, and a password for a password-less account.

An identity (`auth_identities`) is one way into an account: its password, or a Google or
Apple account (`provider`, `provider_user_id` = the token's `sub`). A user has at most one
per provider (unique `(user_id, provider)`), an identity belongs to one user (unique
`(provider, provider_user_id)`).

Races, and how each is closed:
- Two first sign-ins of one new identity at once: the account statement inserts the identity
  first (ON CONFLICT DO NOTHING waits for the other transaction), and the user only from the
  inserted identity; the loser inserts nothing and signs in to the winner's account.
- A sign-in creating an account while someone registers the same email: the user insert
  fails on `uq_users_email` and the sign-in answers 409, as it would a moment later.
- Removing ways in: two requests could each see two identities and remove one each. So the
  caller's user row is locked first (`lock_user`, FOR NO KEY UPDATE: foreign-key checks of
  new sessions still pass), and the removal counts the identities in its own statement,
  whose snapshot begins after the lock: the second request sees the first one's removal.
- Linking one identity to two accounts, or two of one provider to one account: the unique
  indexes decide, ON CONFLICT DO NOTHING reports it.

Every function runs one statement; none commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import (
    and_,
    cast,
    delete,
    exists,
    false,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from common.db import throttles
from common.db.engine import Session, sqlstate
from common.db.models import AuthIdentity, AuthProvider, User, auth_provider_enum
from common.db.sessions import CAN_SIGN_IN, lock_for_revocation, new_session_and_token, sessions
from common.db.throttles import Throttle

users = User
identities = AuthIdentity

_PROVIDER_SUBJECT = [identities.c.provider, identities.c.provider_user_id]
_HAS_SUBJECT = identities.c.provider_user_id.is_not(None)


def _of(provider: AuthProvider, subject: str) -> Any:
    return and_(identities.c.provider == provider, identities.c.provider_user_id == subject)


# --- sign-in ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInCheck:
    """What a provider sign-in needs to decide, read in one statement."""

    user: Mapping[str, Any] | None  # the identity's user; None: an unknown identity
    can_sign_in: bool  # that user is active
    email_taken: bool  # the verified email asked about belongs to an account
    client_failures: Throttle | None  # the client address's refused sign-ins in the window


def find_sign_in(
    *,
    session: Session,
    provider: AuthProvider,
    subject: str,
    verified_email: str | None,
    client: str | None,
) -> SignInCheck:
    """The user of (provider, subject), whether `verified_email` has an account, and the
    client address's throttle."""
    by_client = throttles.throttles.alias("by_client")
    client_match = (
        and_(
            by_client.c.kind == "client",
            by_client.c.subject == throttles.client_subject(client),
            throttles.current_window(by_client.c.window_started_at),
        )
        if client is not None
        else false()
    )
    owners = users.alias("owners")
    email_taken = (
        exists().where(owners.c.email == verified_email) if verified_email is not None else false()
    )
    base = select(literal(1).label("one")).subquery("base")
    stmt = (
        select(
            *users.c,
            CAN_SIGN_IN.label("can_sign_in"),
            email_taken.label("email_taken"),
            by_client.c.failures.label("client_failures"),
            throttles.retry_after(by_client.c.window_started_at).label("client_retry_after"),
        )
        .select_from(base)
        .outerjoin(identities, _of(provider, subject))
        .outerjoin(users, users.c.id == identities.c.user_id)
        .outerjoin(by_client, client_match)
    )
    row = session.execute(stmt).mappings().one()
    user = {c.name: row[c.name] for c in users.c} if row["id"] is not None else None
    failures = row["client_failures"]
    return SignInCheck(
        user=user,
        can_sign_in=bool(row["can_sign_in"]),
        email_taken=bool(row["email_taken"]),
        client_failures=Throttle(failures, row["client_retry_after"]) if failures else None,
    )


def start_identity_session(
    *,
    session: Session,
    provider: AuthProvider,
    subject: str,
    email: str | None,
    refresh_hash: bytes,
) -> RowMapping | None:
    """A new session (and its refresh token) for the active user holding (provider,
    subject); that user's row. The identity's email is brought up to date with the token's.
    None when no active user holds the identity (the statement then changes nothing)."""
    owner = (
        select(*users.c)
        .join(identities, identities.c.user_id == users.c.id)
        .where(_of(provider, subject), CAN_SIGN_IN)
        # the sign-in lock (common.db.sessions): a revocation of every session that locked
        # the user first has committed when this reads; one that comes later sees this session
        .with_for_update(read=True, of=[users, identities])
        .cte("owner")
    )
    token = new_session_and_token(user_id=owner.c.id, refresh_hash=literal(refresh_hash))
    stmt = select(owner).add_cte(token)
    if email is not None:
        renew = (
            update(identities)
            .where(_of(provider, subject), identities.c.email.is_distinct_from(email))
            .values(email=email, updated_at=func.now())
        )
        stmt = stmt.add_cte(renew.cte("renew"))
    return session.execute(stmt).mappings().one_or_none()


class Taken(Enum):
    """Why `create_provider_account` created nothing."""

    IDENTITY = "the identity was created meanwhile (by a concurrent first sign-in)"
    EMAIL = "the email belongs to an account (registered meanwhile)"


def create_provider_account(
    *,
    session: Session,
    provider: AuthProvider,
    subject: str,
    identity_email: str | None,
    verified_email: str | None,
    username: str,
    display_name: str | None,
    refresh_hash: bytes,
) -> RowMapping | Taken:
    """A new user holding (provider, subject), signed in: its row.

    The account's email is `verified_email` (marked verified) or none; the identity keeps
    `identity_email` (what the provider said, verified or not) for the identity list.
    The identity is inserted first: a concurrent first sign-in of the same identity makes
    this insert wait, then insert nothing (`Taken.IDENTITY`; the statement then creates
    nothing). The user row comes from the inserted identity, so the foreign key (checked
    at the end of the statement) finds it."""
    user_id = uuid.uuid4()
    new_identity = (
        pg_insert(identities)
        .values(
            user_id=user_id,
            provider=provider,
            provider_user_id=subject,
            email=identity_email,
            is_primary=True,
        )
        .on_conflict_do_nothing(index_elements=_PROVIDER_SUBJECT, index_where=_HAS_SUBJECT)
        .returning(identities.c.user_id)
        .cte("new_identity")
    )
    new_user = (
        pg_insert(users)
        .from_select(
            ["id", "email", "email_verified", "username", "display_name"],
            select(
                new_identity.c.user_id,
                literal(verified_email, users.c.email.type),
                literal(verified_email is not None),
                literal(username),
                literal(display_name, users.c.display_name.type),
            ),
        )
        .returning(*users.c)
        .cte("new_user")
    )
    token = new_session_and_token(user_id=new_user.c.id, refresh_hash=literal(refresh_hash))
    try:
        row = session.execute(select(new_user).add_cte(token)).mappings().one_or_none()
    except IntegrityError as exc:
        if sqlstate(exc) == "23505" and _constraint(exc) == "uq_users_email":
            return Taken.EMAIL
        raise
    return row if row is not None else Taken.IDENTITY


def _constraint(exc: IntegrityError) -> str | None:
    """The constraint a pg8000 integrity error names, if any."""
    args = getattr(exc.orig, "args", ())
    name = args[0].get("n") if args and isinstance(args[0], dict) else None
    return name if isinstance(name, str) else None


# --- the signed-in user's identities ------------------------------------------------------


def list_identities(*, session: Session, user_id: uuid.UUID) -> list[dict[str, Any]] | None:
    """The user's identities (provider, email, created_at), oldest first; None when the user
    no longer exists."""
    stmt = (
        select(users.c.id, identities.c.provider, identities.c.email, identities.c.created_at)
        .select_from(users)
        .outerjoin(identities, identities.c.user_id == users.c.id)
        .where(users.c.id == user_id)
        .order_by(identities.c.created_at, identities.c.provider)
    )
    rows = session.execute(stmt).mappings().all()
    if not rows:
        return None
    fields = ("provider", "email", "created_at")
    return [{f: row[f] for f in fields} for row in rows if row["provider"] is not None]


@dataclass(frozen=True)
class LinkResult:
    """What `link_identity` found: the identity linked now or before, or why it cannot be."""

    identity: Mapping[str, Any] | None  # provider, email, created_at
    created: bool  # linked by this call (else already linked to this user before)
    owner_elsewhere: bool  # the identity belongs to another user
    provider_taken: bool  # the user has another identity of this provider
    user_exists: bool


def link_identity(
    *,
    session: Session,
    user_id: uuid.UUID,
    provider: AuthProvider,
    subject: str,
    email: str | None,
    email_verified: bool,
) -> LinkResult:
    """Link (provider, subject) to the user, unless it is linked already or the user has an
    identity of that provider (the unique indexes decide). When the provider verified the
    account's own email, the account's email becomes verified (its version goes up)."""
    new = (
        pg_insert(identities)
        .from_select(
            ["user_id", "provider", "provider_user_id", "email", "is_primary"],
            select(
                users.c.id,
                cast(literal(provider.value), auth_provider_enum),
                literal(subject),
                literal(email, identities.c.email.type),
                false(),
            ).where(users.c.id == user_id),
        )
        .on_conflict_do_nothing()
        .returning(identities.c.provider, identities.c.email, identities.c.created_at)
        .cte("new")
    )
    holder = identities.alias("holder")  # who holds the identity (the statement's snapshot)
    same_provider = identities.alias("same_provider")  # the user's identity of this provider
    me = users.alias("me")
    base = select(literal(1).label("one")).subquery("base")
    stmt = (
        select(
            me.c.id.is_not(None).label("user_exists"),
            new.c.created_at.label("new_created_at"),
            new.c.email.label("new_email"),
            holder.c.user_id.label("holder"),
            holder.c.email.label("holder_email"),
            holder.c.created_at.label("holder_created_at"),
            same_provider.c.provider_user_id.label("same_provider_subject"),
        )
        .select_from(base)
        .outerjoin(me, me.c.id == user_id)
        .outerjoin(new, true())
        .outerjoin(
            holder, and_(holder.c.provider == provider, holder.c.provider_user_id == subject)
        )
        .outerjoin(
            same_provider,
            and_(same_provider.c.user_id == user_id, same_provider.c.provider == provider),
        )
    )
    if email is not None and email_verified:
        verify = (
            update(users)
            .where(
                users.c.id == user_id,
                users.c.email == email,  # citext: the same address in any case
                users.c.email_verified.is_(False),
                exists(select(new.c.provider)),
            )
            .values(email_verified=True, version=users.c.version + 1, updated_at=func.now())
        )
        stmt = stmt.add_cte(verify.cte("verify"))
    row = session.execute(stmt).mappings().one()
    created = row["new_created_at"] is not None
    mine = row["holder"] == user_id
    identity = None
    if created or mine:
        prefix = "new" if created else "holder"
        identity = {
            "provider": provider,
            "email": row[f"{prefix}_email"],
            "created_at": row[f"{prefix}_created_at"],
        }
    return LinkResult(
        identity=identity,
        created=created,
        owner_elsewhere=row["holder"] is not None and not mine and not created,
        provider_taken=row["same_provider_subject"] not in (None, subject),
        user_exists=bool(row["user_exists"]),
    )


def lock_user(*, session: Session, user_id: uuid.UUID) -> bool:
    """Lock the user's row until the transaction ends (FOR NO KEY UPDATE: removals of its
    identities take turns); False when the user no longer exists."""
    stmt = select(users.c.id).where(users.c.id == user_id).with_for_update(key_share=True)
    return session.execute(stmt).first() is not None


@dataclass(frozen=True)
class Removal:
    found: bool  # the user had an identity of this provider
    removed: bool  # it was removed (it was not the last)


def remove_identity(*, session: Session, user_id: uuid.UUID, provider: AuthProvider) -> Removal:
    """Remove the user's identity of `provider` unless it is their last. Run after
    `lock_user` in the same transaction: this statement's snapshot then sees every removal
    committed before the lock was granted."""
    target = (
        select(identities.c.id)
        .where(identities.c.user_id == user_id, identities.c.provider == provider)
        .cte("target")
    )
    counted = identities.alias("counted")  # an alias: never correlated with the DELETE's rows
    ways_in = (
        select(func.count()).select_from(counted).where(counted.c.user_id == user_id)
    ).scalar_subquery()
    removed = (
        delete(identities)
        .where(identities.c.id.in_(select(target.c.id)), ways_in > 1)
        .returning(identities.c.id)
        .cte("removed")
    )
    stmt = select(
        exists(select(target.c.id)).label("found"),
        exists(select(removed.c.id)).label("removed"),
    )
    row = session.execute(stmt).one()
    return Removal(found=row.found, removed=row.removed)


def identity_owner(*, session: Session, provider: AuthProvider, subject: str) -> uuid.UUID | None:
    """The user holding (provider, subject), if any."""
    stmt = select(identities.c.user_id).where(_of(provider, subject))
    return session.execute(stmt).scalar_one_or_none()


# --- a password for a password-less account ---------------------------------------------


def add_password(
    *,
    session: Session,
    user_id: uuid.UUID,
    email: str,
    password_hash: str,
    refresh_hash: bytes,
) -> bool:
    """Give a password-less user a password: the identity, every other session ended, one
    new session. False when the user has a password already (set meanwhile: the unique
    `(user_id, provider)` makes the insert wait for it, then insert nothing); the
    statement then changes nothing. The revocation lock (common.db.sessions) comes first, in
    its own statement, so the DELETE below sees every session a racing sign-in committed."""
    session.execute(lock_for_revocation(user_id))
    added = (
        pg_insert(identities)
        .values(
            user_id=user_id,
            provider=AuthProvider.password,
            email=email,
            password_hash=password_hash,
            is_primary=False,
        )
        .on_conflict_do_nothing()
        .returning(identities.c.user_id)
        .cte("added")
    )
    # One snapshot: the DELETE cannot see the session this statement inserts.
    end_all = delete(sessions).where(sessions.c.user_id == user_id, exists(select(added.c.user_id)))
    token = new_session_and_token(user_id=added.c.user_id, refresh_hash=literal(refresh_hash))
    stmt = select(func.count()).select_from(added).add_cte(end_all.cte("end_all"), token)
    return bool(session.execute(stmt).scalar_one())
