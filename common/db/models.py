"""The data model: SQLAlchemy Core tables on one `MetaData` (`metadata`).

Core, not the ORM: nothing maps rows to objects (every statement is Core, results are
mappings), and declaring the tables as ORM models cost each function's cold start
~300 ms of importing `sqlalchemy.orm` and mapping classes (docs/benchmarks.md). A table keeps
the name of the model it was (`User` is the `users` table). Columns are NOT NULL unless
declared `nullable=True` (`column`), as the typed models had them.

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
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CITEXT, ENUM, JSONB, UUID

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NOT_DELETED = text("deleted_at IS NULL")


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


def column(name: str, *args: Any, nullable: bool = False, **kwargs: Any) -> Column[Any]:
    """A column, NOT NULL unless `nullable`."""
    return Column(name, *args, nullable=nullable, **kwargs)


def _pk() -> Column[Any]:
    return column("id", UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid())


def _created() -> Column[Any]:
    return column("created_at", DateTime(timezone=True), server_default=func.now())


def _updated() -> Column[Any]:
    return column(
        "updated_at", DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


def _version() -> Column[Any]:
    return column("version", Integer, server_default=text("1"))


def _owner() -> Column[Any]:
    # Plain index: the account deletion cascade finds every row, deleted ones included.
    return column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )


def _deleted() -> Column[Any]:
    return column("deleted_at", DateTime(timezone=True), nullable=True)


User = Table(
    "users",
    metadata,
    _pk(),
    column("user_type", user_type_enum, server_default=UserType.individual.value),
    column(
        "parent_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    ),
    column("username", Text),
    column("display_name", Text, nullable=True),
    column("email", CITEXT(), unique=True, nullable=True),
    # True once the email is proven the user's (a mailed code, or a provider that verified it)
    column("email_verified", Boolean, server_default=text("false")),
    column("is_active", Boolean, server_default=text("true")),
    column("is_system", Boolean, server_default=text("false")),
    column("timezone", Text, nullable=True),
    column("locale", Text, nullable=True),
    _deleted(),
    _version(),
    _created(),
    _updated(),
    Index("ix_users_parent_id", "parent_id", postgresql_where=text("parent_id IS NOT NULL")),
)


AuthIdentity = Table(
    "auth_identities",
    metadata,
    _pk(),
    _owner(),
    column("provider", auth_provider_enum, nullable=True),
    column("provider_user_id", Text, nullable=True),
    column("password_hash", Text, nullable=True),
    column("email", CITEXT(), nullable=True),
    column("is_primary", Boolean, server_default=text("false")),
    _created(),
    _updated(),
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


Tag = Table(
    "tags",
    metadata,
    _pk(),
    column("name", CITEXT()),
    _owner(),
    _deleted(),
    _version(),
    _created(),
    _updated(),
    CheckConstraint("char_length(name) BETWEEN 1 AND 50", name="name_length"),
    Index("uq_tags_user_id_name", "user_id", "name", unique=True, postgresql_where=NOT_DELETED),
)


def _list_indexes(table: str) -> tuple[Index, ...]:
    """The indexes behind a resource's list sorts: owner, sort key, id (scanned either way)."""
    return tuple(
        Index(f"ix_{table}_user_id_{key}_id", "user_id", key, "id", postgresql_where=NOT_DELETED)
        for key in ("created_at", "updated_at")
    )


Todo = Table(
    "todos",
    metadata,
    _pk(),
    column("title", String(200)),
    column("priority", Integer, server_default=text("0")),
    column("pinned", Boolean, server_default=text("false")),
    column("done", Boolean, server_default=text("false")),
    column("description", Text, nullable=True),
    column("deadline", DateTime(timezone=True), nullable=True),
    column("remind_at", DateTime(timezone=True), nullable=True),
    column("completed_at", DateTime(timezone=True), nullable=True),
    _owner(),
    column(
        "parent_id", UUID(as_uuid=True), ForeignKey("todos.id", ondelete="SET NULL"), nullable=True
    ),
    _deleted(),
    _version(),
    _created(),
    _updated(),
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


_RECURRENCE_LISTS = ("days_of_week", "days_of_month", "weeks_of_month", "months_of_year")


TodoRecurrence = Table(
    "todo_recurrences",
    metadata,
    column(
        "todo_id", UUID(as_uuid=True), ForeignKey("todos.id", ondelete="CASCADE"), primary_key=True
    ),
    # 0 daily, 1 weekly, 2 monthly, 3 yearly (the seed's encoding)
    column("recurrence_type", SmallInteger, nullable=True),
    column("interval", Integer, nullable=True),
    column("days_of_week", ARRAY(Integer), nullable=True),
    column("days_of_month", ARRAY(Integer), nullable=True),
    column("weeks_of_month", ARRAY(Integer), nullable=True),
    column("months_of_year", ARRAY(Integer), nullable=True),
    column("start_at", DateTime(timezone=True)),
    column("end_at", DateTime(timezone=True), nullable=True),
    _created(),
    _updated(),
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


Memo = Table(
    "memos",
    metadata,
    _pk(),
    column("content", Text),
    column("note", Text, nullable=True),
    column("pinned", Boolean, server_default=text("false")),
    column("obfuscated", Boolean, server_default=text("false")),
    column("secret", Boolean, server_default=text("true")),
    _owner(),
    _deleted(),
    _version(),
    _created(),
    _updated(),
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


Contact = Table(
    "contacts",
    metadata,
    _pk(),
    column("name", String(100)),
    column("note", Text, nullable=True),
    column("pinned", Boolean, server_default=text("false")),
    _owner(),
    _deleted(),
    _version(),
    _created(),
    _updated(),
    *_list_indexes("contacts"),
    Index("ix_contacts_user_id_name_id", "user_id", "name", "id", postgresql_where=NOT_DELETED),
    Index(
        "ix_contacts_name_trgm",
        "name",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    ),
)


def _contact_id() -> Column[Any]:
    return column(
        "contact_id", UUID(as_uuid=True), ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )


ContactNumber = Table(
    "numbers",
    metadata,
    _pk(),
    _contact_id(),
    column("number", String(50)),
    column("position", SmallInteger, server_default=text("0")),
    _created(),
    _updated(),
    Index(
        "ix_numbers_number_trgm",
        "number",
        postgresql_using="gin",
        postgresql_ops={"number": "gin_trgm_ops"},
    ),
)


ContactEmail = Table(
    "emails",
    metadata,
    _pk(),
    _contact_id(),
    column("email", String(254)),
    column("position", SmallInteger, server_default=text("0")),
    _created(),
    _updated(),
    Index(
        "ix_emails_email_trgm",
        "email",
        postgresql_using="gin",
        postgresql_ops={"email": "gin_trgm_ops"},
    ),
)


ContactAddress = Table(
    "addresses",
    metadata,
    _pk(),
    _contact_id(),
    column("address", String(255)),
    column("position", SmallInteger, server_default=text("0")),
    _created(),
    _updated(),
)


def _link_column(name: str, table: str) -> Column[Any]:
    return column(
        name, UUID(as_uuid=True), ForeignKey(f"{table}.id", ondelete="CASCADE"), primary_key=True
    )


TodoTag = Table(
    "todo_tags",
    metadata,
    _link_column("todo_id", "todos"),
    _link_column("tag_id", "tags"),
    _created(),
    Index("ix_todo_tags_tag_id", "tag_id"),
)


MemoTag = Table(
    "memo_tags",
    metadata,
    _link_column("memo_id", "memos"),
    _link_column("tag_id", "tags"),
    _created(),
    Index("ix_memo_tags_tag_id", "tag_id"),
)


ContactTag = Table(
    "contact_tags",
    metadata,
    _link_column("contact_id", "contacts"),
    _link_column("tag_id", "tags"),
    _created(),
    Index("ix_contact_tags_tag_id", "tag_id"),
)


def _expiring(table: str) -> Index:
    """A recipient's shares by expiry: a change feed finds the shares that lapsed since its
    last round (common.shareable.feeds)."""
    return Index(
        f"ix_{table}_shared_user_id_expiration",
        "shared_user_id",
        "expiration",
        postgresql_where=text("expiration IS NOT NULL"),
    )


def _permission() -> Column[Any]:
    return column("permissions", permission_enum, server_default=Permission.R.value)


def _expiration() -> Column[Any]:
    return column("expiration", DateTime(timezone=True), nullable=True)


SharedTodo = Table(
    "shared_todos",
    metadata,
    _link_column("todo_id", "todos"),
    _link_column("shared_user_id", "users"),
    _permission(),
    _expiration(),
    column("recursive", Boolean, server_default=text("true")),
    _created(),
    _updated(),
    Index("ix_shared_todos_shared_user_id", "shared_user_id"),
    _expiring("shared_todos"),
)


SharedMemo = Table(
    "shared_memos",
    metadata,
    _link_column("memo_id", "memos"),
    _link_column("shared_user_id", "users"),
    _permission(),
    _expiration(),
    _created(),
    _updated(),
    Index("ix_shared_memos_shared_user_id", "shared_user_id"),
    _expiring("shared_memos"),
)


SharedContact = Table(
    "shared_contacts",
    metadata,
    _link_column("contact_id", "contacts"),
    _link_column("shared_user_id", "users"),
    _permission(),
    _expiration(),
    _created(),
    _updated(),
    Index("ix_shared_contacts_shared_user_id", "shared_user_id"),
    _expiring("shared_contacts"),
)


# A creating POST's `Idempotency-Key`, its request fingerprint and the response it got.
#
# Rows older than 24 hours no longer replay (the lookup ignores them, a new request with the
# same key replaces them); `ix_idempotency_keys_created_at` serves their purge
# (common.db.idempotency.expired_rows).
IdempotencyKey = Table(
    "idempotency_keys",
    metadata,
    _link_column("user_id", "users"),
    column("key", Text, primary_key=True),
    column("fingerprint", LargeBinary),
    column("status_code", SmallInteger),
    column("response_body", Text),
    column("response_headers", JSONB),
    _created(),
    Index("ix_idempotency_keys_created_at", "created_at"),
)


# A change feed's bookkeeping: what `user_id` sees of `item_id` (a tag, todo, memo or
# contact) may have changed in transaction `xid`, the latest one that wrote it.
#
# Written only by triggers (migration 0010_change_feeds) in the writing transaction: one row
# per user and item, its `xid` (pg_current_xact_id) and `changed_at` moved by each change.
# A feed round reads the rows of the caller and collection with `xid` at or above its
# token's horizon (common.db.feeds). Rows past the sync retention are purged
# (common.db.feeds.expired_rows); so are those of an erased user (cascade).
FeedEntry = Table(
    "feed_entries",
    metadata,
    column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    column("collection", Text, primary_key=True),
    column("item_id", UUID(as_uuid=True), primary_key=True),
    column("xid", BigInteger),  # an xid8, whose values fit a bigint
    column("changed_at", DateTime(timezone=True), server_default=func.now()),
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


# --- auth ---


# One sign-in (register, login or password change): a family of refresh tokens.
#
# Revoking a session deletes this row; its refresh tokens go with it (cascade), so a
# revoked family leaves nothing that could still be presented successfully.
AuthSession = Table(
    "auth_sessions",
    metadata,
    _pk(),
    _owner(),
    _created(),
)


# A refresh token, stored only as the SHA-256 of its value.
#
# `rotated_at` is set when the token is exchanged for the next one; the row stays (until the
# session ends) so that presenting it again is recognised as reuse.
RefreshToken = Table(
    "refresh_tokens",
    metadata,
    column("token_hash", LargeBinary, primary_key=True),
    column(
        "session_id",
        UUID(as_uuid=True),
        ForeignKey("auth_sessions.id", ondelete="CASCADE"),
        index=True,
    ),
    column("expires_at", DateTime(timezone=True)),
    column("rotated_at", DateTime(timezone=True), nullable=True),
    _created(),
    CheckConstraint("octet_length(token_hash) = 32", name="token_hash_sha256"),
    # serves the purge of expired tokens (common.db.sessions.expired_rows)
    Index("ix_refresh_tokens_expires_at", "expires_at"),
)


# Failed password checks in the current fixed window, per email or per client address
# (`email`, `client`), refused registrations per client address (`register`), and mails
# with a code per email (`reset`, `verify`).
#
# `subject` is the SHA-256 of the normalised email or address (see common.db.throttles), so
# the table never holds an email typed at the login form. A row whose window has passed
# counts as empty; the next failure restarts it.
LoginThrottle = Table(
    "login_throttles",
    metadata,
    column("kind", Text, primary_key=True),
    column("subject", LargeBinary, primary_key=True),
    column("failures", Integer),
    column("window_started_at", DateTime(timezone=True)),
    CheckConstraint("kind IN ('email', 'client', 'register', 'reset', 'verify')", name="kind"),
    CheckConstraint("failures >= 0", name="failures_non_negative"),
    # serves the purge of finished windows (common.db.throttles.expired_rows)
    Index("ix_login_throttles_window_started_at", "window_started_at"),
)


# A mailed one-time code: a password reset or an email verification. One live code per
# user and purpose (a new request replaces it); stored only as an HMAC of its digits
# (common/auth/codes.py), with the address it was sent to and its wrong tries.
AuthCode = Table(
    "auth_codes",
    metadata,
    _link_column("user_id", "users"),
    column("purpose", Text, primary_key=True),
    column("code_hash", LargeBinary),
    column("email", CITEXT()),
    column("tries", Integer, server_default=text("0")),
    column("expires_at", DateTime(timezone=True)),
    _created(),
    CheckConstraint("purpose IN ('password_reset', 'email_verification')", name="purpose"),
    CheckConstraint("octet_length(code_hash) = 32", name="code_hash_hmac_sha256"),
    CheckConstraint("tries >= 0", name="tries_non_negative"),
    # serves the purge of expired codes (common.db.recovery.expired_rows)
    Index("ix_auth_codes_expires_at", "expires_at"),
)


# A mail to send, written by the statement that made its code (common/db/outbox.py says
# how it is claimed, sent once and retried). The code travels sealed (AES-GCM) and is wiped
# once the mail is finished.
OutboxMail = Table(
    "mail_outbox",
    metadata,
    _pk(),
    _owner(),
    column("kind", Text),
    column("recipient", Text),
    column("sealed_code", LargeBinary, nullable=True),
    column("state", Text, server_default=text("'pending'")),
    column("attempts", Integer, server_default=text("0")),
    column("next_attempt_at", DateTime(timezone=True), server_default=func.now()),
    column("expires_at", DateTime(timezone=True)),
    column("last_error", Text, nullable=True),
    column("sent_at", DateTime(timezone=True), nullable=True),
    _created(),
    _updated(),
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


# A push target: an FCM registration token, unique across users (it moves on re-register).
Device = Table(
    "devices",
    metadata,
    _pk(),
    _owner(),
    column("token", Text, unique=True),
    column("platform", device_platform_enum),
    _created(),
    column("last_seen_at", DateTime(timezone=True), server_default=func.now()),
    CheckConstraint("char_length(token) BETWEEN 1 AND 4096", name="token_length"),
)


# The outbox: "X shared a todo/memo/contact with you", written by the share's own statement.
#
# `processed_at` is set when dispatch has turned the event into deliveries; processed rows
# are purged after a retention period.
ShareEvent = Table(
    "share_events",
    metadata,
    _pk(),
    column(
        "recipient_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    ),
    column("actor_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True),
    column("resource_type", Text),
    column("resource_id", UUID(as_uuid=True)),
    _created(),
    column("processed_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("resource_type IN ('todo', 'memo', 'contact')", name="resource_type"),
    Index("ix_share_events_pending", "created_at", postgresql_where=text("processed_at IS NULL")),
    Index(
        "ix_share_events_processed_at",
        "processed_at",
        postgresql_where=text("processed_at IS NOT NULL"),
    ),
)


# A receipt: the reminder of this todo for this `remind_at` value has been fanned out.
#
# The primary key is the "once per remind_at value" guarantee: moving `remind_at` (or a
# recurring todo's completion moving it) makes a new key, so the reminder is armed again.
TodoReminder = Table(
    "todo_reminders",
    metadata,
    _link_column("todo_id", "todos"),
    column("remind_at", DateTime(timezone=True), primary_key=True),
    _created(),
    Index("ix_todo_reminders_remind_at", "remind_at"),
)


# One push message to one device: the unit that is claimed, sent, retried and recorded.
PushDelivery = Table(
    "push_deliveries",
    metadata,
    _pk(),
    _owner(),  # the recipient
    column(
        "device_id", UUID(as_uuid=True), ForeignKey("devices.id", ondelete="CASCADE"), index=True
    ),
    column("kind", Text),
    column("title", Text),
    column("body", Text),
    column("data", JSONB),
    column("state", delivery_state_enum, server_default=DeliveryState.pending.value),
    column("attempts", Integer, server_default=text("0")),
    column("next_attempt_at", DateTime(timezone=True), server_default=func.now()),
    column("last_error", Text, nullable=True),
    column("sent_at", DateTime(timezone=True), nullable=True),
    _created(),
    _updated(),
    CheckConstraint("kind IN ('reminder', 'share')", name="kind"),
    CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    # the claim: pending rows in due order
    Index("ix_push_deliveries_due", "next_attempt_at", postgresql_where=text("state = 'pending'")),
    # the purge of rows untouched for a while (finished, or left behind)
    Index("ix_push_deliveries_updated_at", "updated_at"),
)


# Serves dispatch's search for due reminders (a range scan over remind_at of live, open todos).
Index(
    "ix_todos_remind_at",
    Todo.c.remind_at,
    postgresql_where=text("remind_at IS NOT NULL AND deleted_at IS NULL AND NOT done"),
)
