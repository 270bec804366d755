"""The data model: SQLAlchemy 2.0 typed tables.

Derived from the project's seed schema, with the changes it planned:
link and share tables have composite primary keys, every editable resource has an integer
`version` (the ETag), todos have `completed_at` and `remind_at`, and the indexes follow the
list queries of the API contract. Only migrations create or change the schema.

Decisions beyond the seed, each for a reason:
- `todo_recurrences` is keyed by `todo_id` (it was a surrogate id plus a unique `todo_id`).
- `tags.name` is `citext` (length checked by a constraint), so "unique per user ignoring
  case" is a plain partial unique index instead of an expression index.
- contact child rows (`numbers`, `emails`, `addresses`) carry a `position` so a contact's
  lists come back in the order the client sent them.
- checks on `todos.priority` (0-4) and the recurrence value ranges keep bad data out even
  from outside the API.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CITEXT, ENUM, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NOT_DELETED = text("deleted_at IS NULL")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UserType(enum.StrEnum):
    organization = "organization"
    team = "team"
    individual = "individual"


class AuthProvider(enum.StrEnum):
    password = "password"  # noqa: S105 (a provider name)
    google = "google"
    apple = "apple"


class Permission(enum.StrEnum):
    """Stored as the seed's 'R'/'W'; the API says read/write."""

    R = "R"
    W = "W"


# Enum types are created explicitly by the migration, never implicitly by a table.
user_type_enum = ENUM(UserType, name="user_type", create_type=False)
auth_provider_enum = ENUM(AuthProvider, name="auth_provider", create_type=False)
permission_enum = ENUM(Permission, name="permission", create_type=False)


def _pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


def _updated() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now())


def _version() -> Mapped[int]:
    return mapped_column(Integer, server_default=text("1"))


def _owner() -> Mapped[uuid.UUID]:
    # Plain index: the account deletion cascade finds every row, deleted ones included.
    return mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True)


def _deleted() -> Mapped[datetime | None]:
    return mapped_column(DateTime(timezone=True))


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_parent_id", "parent_id", postgresql_where=text("parent_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = _pk()
    user_type: Mapped[UserType] = mapped_column(
        user_type_enum, server_default=UserType.individual.value
    )
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    username: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(CITEXT(), unique=True)
    # True once the email is proven the user's (a mailed code, or a provider that verified it)
    email_verified: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    is_system: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    timezone: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None] = _deleted()
    version: Mapped[int] = _version()
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    identities: Mapped[list[AuthIdentity]] = relationship(
        back_populates="user", passive_deletes=True
    )


class AuthIdentity(Base):
    __tablename__ = "auth_identities"
    __table_args__ = (
        CheckConstraint(
            "(email IS NOT NULL AND password_hash IS NOT NULL)"
            " OR (provider IS NOT NULL AND provider_user_id IS NOT NULL)",
            name="credentials",
        ),
        Index(
            "uq_auth_identities_provider_provider_user_id",
            "provider",
            "provider_user_id",
            unique=True,
            postgresql_where=text("provider_user_id IS NOT NULL"),
        ),
        # One way in per provider and user: at most one password, one Google, one Apple
        # identity (DELETE /v1/auth/identities/{provider} names it by its provider).
        Index("uq_auth_identities_user_id_provider", "user_id", "provider", unique=True),
    )

    id: Mapped[uuid.UUID] = _pk()
    user_id: Mapped[uuid.UUID] = _owner()
    provider: Mapped[AuthProvider | None] = mapped_column(auth_provider_enum)
    provider_user_id: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(CITEXT())
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    user: Mapped[User] = relationship(back_populates="identities")


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (
        CheckConstraint("char_length(name) BETWEEN 1 AND 50", name="name_length"),
        Index("uq_tags_user_id_name", "user_id", "name", unique=True, postgresql_where=NOT_DELETED),
    )

    id: Mapped[uuid.UUID] = _pk()
    name: Mapped[str] = mapped_column(CITEXT())
    user_id: Mapped[uuid.UUID] = _owner()
    deleted_at: Mapped[datetime | None] = _deleted()
    version: Mapped[int] = _version()
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


def _list_indexes(table: str) -> tuple[Index, ...]:
    """The indexes behind a resource's list sorts: owner, sort key, id (scanned either way)."""
    return tuple(
        Index(f"ix_{table}_user_id_{key}_id", "user_id", key, "id", postgresql_where=NOT_DELETED)
        for key in ("created_at", "updated_at")
    )


class Todo(Base):
    __tablename__ = "todos"
    __table_args__ = (
        CheckConstraint("priority BETWEEN 0 AND 4", name="priority_range"),
        *_list_indexes("todos"),
        Index(
            "ix_todos_user_id_deadline_id",
            "user_id",
            "deadline",
            "id",
            postgresql_where=NOT_DELETED,
        ),
        Index(
            "ix_todos_user_id_priority_id",
            "user_id",
            "priority",
            "id",
            postgresql_where=NOT_DELETED,
        ),
        Index("ix_todos_parent_id", "parent_id", postgresql_where=text("parent_id IS NOT NULL")),
        # `q` searches title and description with ILIKE '%...%': trigram indexes serve it.
        Index(
            "ix_todos_title_trgm",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ),
        Index(
            "ix_todos_description_trgm",
            "description",
            postgresql_using="gin",
            postgresql_ops={"description": "gin_trgm_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = _pk()
    title: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    pinned: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    done: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    description: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    remind_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[uuid.UUID] = _owner()
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("todos.id", ondelete="SET NULL")
    )
    deleted_at: Mapped[datetime | None] = _deleted()
    version: Mapped[int] = _version()
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    recurrence: Mapped[TodoRecurrence | None] = relationship(passive_deletes=True)


_RECURRENCE_LISTS = ("days_of_week", "days_of_month", "weeks_of_month", "months_of_year")


class TodoRecurrence(Base):
    __tablename__ = "todo_recurrences"
    __table_args__ = (
        CheckConstraint(
            "(recurrence_type IS NULL AND interval IS NULL AND "
            + " AND ".join(f"{c} IS NULL" for c in _RECURRENCE_LISTS)
            + ") OR (recurrence_type IS NOT NULL AND interval IS NOT NULL AND ("
            + " + ".join(f"({c} IS NOT NULL)::int" for c in _RECURRENCE_LISTS)
            + ") <= 1)",
            name="rule_shape",
        ),
        CheckConstraint("recurrence_type BETWEEN 0 AND 3", name="type_range"),
        CheckConstraint("interval >= 1", name="interval_positive"),
        CheckConstraint("days_of_week <@ ARRAY[0,1,2,3,4,5,6]", name="days_of_week_range"),
        CheckConstraint(
            "days_of_month <@ ARRAY[-1,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,"
            "21,22,23,24,25,26,27,28,29,30,31]",
            name="days_of_month_range",
        ),
        CheckConstraint("weeks_of_month <@ ARRAY[-1,1,2,3,4,5]", name="weeks_of_month_range"),
        CheckConstraint(
            "months_of_year <@ ARRAY[1,2,3,4,5,6,7,8,9,10,11,12]", name="months_of_year_range"
        ),
        CheckConstraint("end_at IS NULL OR end_at > start_at", name="end_after_start"),
    )

    todo_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("todos.id", ondelete="CASCADE"), primary_key=True
    )
    # 0 daily, 1 weekly, 2 monthly, 3 yearly (the seed's encoding)
    recurrence_type: Mapped[int | None] = mapped_column(SmallInteger)
    interval: Mapped[int | None] = mapped_column(Integer)
    days_of_week: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    days_of_month: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    weeks_of_month: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    months_of_year: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Memo(Base):
    __tablename__ = "memos"
    __table_args__ = (
        *_list_indexes("memos"),
        Index(
            "ix_memos_content_trgm",
            "content",
            postgresql_using="gin",
            postgresql_ops={"content": "gin_trgm_ops"},
        ),
        Index(
            "ix_memos_note_trgm",
            "note",
            postgresql_using="gin",
            postgresql_ops={"note": "gin_trgm_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = _pk()
    content: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    obfuscated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    secret: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    user_id: Mapped[uuid.UUID] = _owner()
    deleted_at: Mapped[datetime | None] = _deleted()
    version: Mapped[int] = _version()
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        *_list_indexes("contacts"),
        Index("ix_contacts_user_id_name_id", "user_id", "name", "id", postgresql_where=NOT_DELETED),
        Index(
            "ix_contacts_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = _pk()
    name: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    user_id: Mapped[uuid.UUID] = _owner()
    deleted_at: Mapped[datetime | None] = _deleted()
    version: Mapped[int] = _version()
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


def _contact_id() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )


class ContactNumber(Base):
    __tablename__ = "numbers"
    __table_args__ = (
        Index(
            "ix_numbers_number_trgm",
            "number",
            postgresql_using="gin",
            postgresql_ops={"number": "gin_trgm_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = _pk()
    contact_id: Mapped[uuid.UUID] = _contact_id()
    number: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class ContactEmail(Base):
    __tablename__ = "emails"
    __table_args__ = (
        Index(
            "ix_emails_email_trgm",
            "email",
            postgresql_using="gin",
            postgresql_ops={"email": "gin_trgm_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = _pk()
    contact_id: Mapped[uuid.UUID] = _contact_id()
    email: Mapped[str] = mapped_column(String(254))
    position: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class ContactAddress(Base):
    __tablename__ = "addresses"

    id: Mapped[uuid.UUID] = _pk()
    contact_id: Mapped[uuid.UUID] = _contact_id()
    address: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


def _link_column(table: str) -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{table}.id", ondelete="CASCADE"), primary_key=True
    )


class TodoTag(Base):
    __tablename__ = "todo_tags"
    __table_args__ = (Index("ix_todo_tags_tag_id", "tag_id"),)

    todo_id: Mapped[uuid.UUID] = _link_column("todos")
    tag_id: Mapped[uuid.UUID] = _link_column("tags")
    created_at: Mapped[datetime] = _created()


class MemoTag(Base):
    __tablename__ = "memo_tags"
    __table_args__ = (Index("ix_memo_tags_tag_id", "tag_id"),)

    memo_id: Mapped[uuid.UUID] = _link_column("memos")
    tag_id: Mapped[uuid.UUID] = _link_column("tags")
    created_at: Mapped[datetime] = _created()


class ContactTag(Base):
    __tablename__ = "contact_tags"
    __table_args__ = (Index("ix_contact_tags_tag_id", "tag_id"),)

    contact_id: Mapped[uuid.UUID] = _link_column("contacts")
    tag_id: Mapped[uuid.UUID] = _link_column("tags")
    created_at: Mapped[datetime] = _created()


def _expiring(table: str) -> Index:
    """A recipient's shares by expiry: a change feed finds the shares that lapsed since its
    last round (common.shareable.feeds)."""
    return Index(
        f"ix_{table}_shared_user_id_expiration",
        "shared_user_id",
        "expiration",
        postgresql_where=text("expiration IS NOT NULL"),
    )


def _permission() -> Mapped[Permission]:
    return mapped_column(permission_enum, server_default=Permission.R.value)


def _expiration() -> Mapped[datetime | None]:
    return mapped_column(DateTime(timezone=True))


class SharedTodo(Base):
    __tablename__ = "shared_todos"
    __table_args__ = (
        Index("ix_shared_todos_shared_user_id", "shared_user_id"),
        _expiring("shared_todos"),
    )

    todo_id: Mapped[uuid.UUID] = _link_column("todos")
    shared_user_id: Mapped[uuid.UUID] = _link_column("users")
    permissions: Mapped[Permission] = _permission()
    expiration: Mapped[datetime | None] = _expiration()
    recursive: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class SharedMemo(Base):
    __tablename__ = "shared_memos"
    __table_args__ = (
        Index("ix_shared_memos_shared_user_id", "shared_user_id"),
        _expiring("shared_memos"),
    )

    memo_id: Mapped[uuid.UUID] = _link_column("memos")
    shared_user_id: Mapped[uuid.UUID] = _link_column("users")
    permissions: Mapped[Permission] = _permission()
    expiration: Mapped[datetime | None] = _expiration()
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class SharedContact(Base):
    __tablename__ = "shared_contacts"
    __table_args__ = (
        Index("ix_shared_contacts_shared_user_id", "shared_user_id"),
        _expiring("shared_contacts"),
    )

    contact_id: Mapped[uuid.UUID] = _link_column("contacts")
    shared_user_id: Mapped[uuid.UUID] = _link_column("users")
    permissions: Mapped[Permission] = _permission()
    expiration: Mapped[datetime | None] = _expiration()
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class IdempotencyKey(Base):
    """A creating POST's `Idempotency-Key`, its request fingerprint and the response it got.

    Rows older than 24 hours no longer replay (the lookup ignores them, a new request with the
    same key replaces them); `ix_idempotency_keys_created_at` serves their purge
    (common.db.idempotency.expired_rows).
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    user_id: Mapped[uuid.UUID] = _link_column("users")
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response_body: Mapped[str] = mapped_column(Text)
    response_headers: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created()


class FeedEntry(Base):
    """A change feed's bookkeeping: what `user_id` sees of `item_id` (a tag, todo, memo or
    contact) may have changed in transaction `xid`, the latest one that wrote it.

    Written only by triggers (migration 0010_change_feeds) in the writing transaction: one row
    per user and item, its `xid` (pg_current_xact_id) and `changed_at` moved by each change.
    A feed round reads the rows of the caller and collection with `xid` at or above its
    token's horizon (common.db.feeds). Rows past the sync retention are purged
    (common.db.feeds.expired_rows); so are those of an erased user (cascade).
    """

    __tablename__ = "feed_entries"
    __table_args__ = (
        CheckConstraint("collection IN ('tag', 'todo', 'memo', 'contact')", name="collection"),
        # a round: the caller's changes of one collection in (xid, item_id) order
        Index(
            "ix_feed_entries_user_id_collection_xid_item_id",
            "user_id",
            "collection",
            "xid",
            "item_id",
        ),
        Index("ix_feed_entries_changed_at", "changed_at"),  # the purge
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    collection: Mapped[str] = mapped_column(Text, primary_key=True)
    item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    xid: Mapped[int] = mapped_column(BigInteger)  # an xid8, whose values fit a bigint
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- auth ---


class AuthSession(Base):
    """One sign-in (register, login or password change): a family of refresh tokens.

    Revoking a session deletes this row; its refresh tokens go with it (cascade), so a
    revoked family leaves nothing that could still be presented successfully.
    """

    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = _pk()
    user_id: Mapped[uuid.UUID] = _owner()
    created_at: Mapped[datetime] = _created()


class RefreshToken(Base):
    """A refresh token, stored only as the SHA-256 of its value.

    `rotated_at` is set when the token is exchanged for the next one; the row stays (until the
    session ends) so that presenting it again is recognised as reuse.
    """

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        CheckConstraint("octet_length(token_hash) = 32", name="token_hash_sha256"),
        # serves the purge of expired tokens (common.db.sessions.expired_rows)
        Index("ix_refresh_tokens_expires_at", "expires_at"),
    )

    token_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class LoginThrottle(Base):
    """Failed password checks in the current fixed window, per email or per client address
    (`email`, `client`), refused registrations per client address (`register`), and mails
    with a code per email (`reset`, `verify`).

    `subject` is the SHA-256 of the normalised email or address (see common.db.throttles), so
    the table never holds an email typed at the login form. A row whose window has passed
    counts as empty; the next failure restarts it.
    """

    __tablename__ = "login_throttles"
    __table_args__ = (
        CheckConstraint("kind IN ('email', 'client', 'register', 'reset', 'verify')", name="kind"),
        CheckConstraint("failures >= 0", name="failures_non_negative"),
        # serves the purge of finished windows (common.db.throttles.expired_rows)
        Index("ix_login_throttles_window_started_at", "window_started_at"),
    )

    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    subject: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuthCode(Base):
    """A mailed one-time code: a password reset or an email verification. One live code per
    user and purpose (a new request replaces it); stored only as an HMAC of its digits
    (common/auth/codes.py), with the address it was sent to and its wrong tries."""

    __tablename__ = "auth_codes"
    __table_args__ = (
        CheckConstraint("purpose IN ('password_reset', 'email_verification')", name="purpose"),
        CheckConstraint("octet_length(code_hash) = 32", name="code_hash_hmac_sha256"),
        CheckConstraint("tries >= 0", name="tries_non_negative"),
        # serves the purge of expired codes (common.db.recovery.expired_rows)
        Index("ix_auth_codes_expires_at", "expires_at"),
    )

    user_id: Mapped[uuid.UUID] = _link_column("users")
    purpose: Mapped[str] = mapped_column(Text, primary_key=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary)
    email: Mapped[str] = mapped_column(CITEXT())
    tries: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class OutboxMail(Base):
    """A mail to send, written by the statement that made its code (common/db/outbox.py says
    how it is claimed, sent once and retried). The code travels sealed (AES-GCM) and is wiped
    once the mail is finished."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        CheckConstraint("kind IN ('password_reset', 'email_verification')", name="kind"),
        CheckConstraint("state IN ('pending', 'handed_over', 'sent', 'failed')", name="state"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        # the senders' search: unfinished mails in due order
        Index(
            "ix_mail_outbox_due",
            "next_attempt_at",
            postgresql_where=text("state IN ('pending', 'handed_over')"),
        ),
        # the purge of finished mails
        Index("ix_mail_outbox_updated_at", "updated_at"),
    )

    id: Mapped[uuid.UUID] = _pk()
    user_id: Mapped[uuid.UUID] = _owner()
    kind: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    sealed_code: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


# --- notifications ---
# Push devices, the share-event outbox, reminder receipts and the per-device delivery queue.
# How dispatch uses them (claiming, once per remind_at, retries) is described in
# common/db/notifications.py.


class DevicePlatform(enum.StrEnum):
    ios = "ios"
    android = "android"
    web = "web"


class DeliveryState(enum.StrEnum):
    pending = "pending"  # waiting for its first send, a retry, or in flight under a lease
    sent = "sent"
    failed = "failed"  # gave up after the last attempt


device_platform_enum = ENUM(DevicePlatform, name="device_platform", create_type=False)
delivery_state_enum = ENUM(DeliveryState, name="delivery_state", create_type=False)


class Device(Base):
    """A push target: an FCM registration token, unique across users (it moves on re-register)."""

    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint("char_length(token) BETWEEN 1 AND 4096", name="token_length"),
    )

    id: Mapped[uuid.UUID] = _pk()
    user_id: Mapped[uuid.UUID] = _owner()
    token: Mapped[str] = mapped_column(Text, unique=True)
    platform: Mapped[DevicePlatform] = mapped_column(device_platform_enum)
    created_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ShareEvent(Base):
    """The outbox: "X shared a todo/memo/contact with you", written by the share's own statement.

    `processed_at` is set when dispatch has turned the event into deliveries; processed rows
    are purged after a retention period.
    """

    __tablename__ = "share_events"
    __table_args__ = (
        CheckConstraint("resource_type IN ('todo', 'memo', 'contact')", name="resource_type"),
        Index(
            "ix_share_events_pending", "created_at", postgresql_where=text("processed_at IS NULL")
        ),
        Index(
            "ix_share_events_processed_at",
            "processed_at",
            postgresql_where=text("processed_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _pk()
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    resource_type: Mapped[str] = mapped_column(Text)
    resource_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _created()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TodoReminder(Base):
    """A receipt: the reminder of this todo for this `remind_at` value has been fanned out.

    The primary key is the "once per remind_at value" guarantee: moving `remind_at` (or a
    recurring todo's completion moving it) makes a new key, so the reminder is armed again.
    """

    __tablename__ = "todo_reminders"
    __table_args__ = (Index("ix_todo_reminders_remind_at", "remind_at"),)

    todo_id: Mapped[uuid.UUID] = _link_column("todos")
    remind_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    created_at: Mapped[datetime] = _created()


class PushDelivery(Base):
    """One push message to one device: the unit that is claimed, sent, retried and recorded."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        CheckConstraint("kind IN ('reminder', 'share')", name="kind"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        # the claim: pending rows in due order
        Index(
            "ix_push_deliveries_due", "next_attempt_at", postgresql_where=text("state = 'pending'")
        ),
        # the purge of rows untouched for a while (finished, or left behind)
        Index("ix_push_deliveries_updated_at", "updated_at"),
    )

    id: Mapped[uuid.UUID] = _pk()
    user_id: Mapped[uuid.UUID] = _owner()  # the recipient
    device_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, str]] = mapped_column(JSONB)
    state: Mapped[DeliveryState] = mapped_column(
        delivery_state_enum, server_default=DeliveryState.pending.value
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


# Serves dispatch's search for due reminders (a range scan over remind_at of live, open todos).
Index(
    "ix_todos_remind_at",
    Todo.remind_at,
    postgresql_where=text("remind_at IS NOT NULL AND deleted_at IS NULL AND NOT done"),
)
