"""Initial schema: the seed schema with composite keys on link/share tables, versions, list indexes.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-27 08:58:12.907402
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Extensions: citext for case-insensitive emails and tag names, pg_trgm for `q` search,
    # pgcrypto is not needed (gen_random_uuid is core since PostgreSQL 13).
    op.execute("CREATE EXTENSION IF NOT EXISTS citext")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Enum types, created explicitly (the columns below use create_type=False).
    postgresql.ENUM("organization", "team", "individual", name="user_type").create(op.get_bind())
    postgresql.ENUM("password", "google", "apple", name="auth_provider").create(op.get_bind())
    postgresql.ENUM("R", "W", name="permission").create(op.get_bind())

    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "user_type",
            postgresql.ENUM(
                "organization", "team", "individual", name="user_type", create_type=False
            ),
            server_default="individual",
            nullable=False,
        ),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("email", postgresql.CITEXT(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("is_system", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=True),
        sa.Column("locale", sa.Text(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["users.id"], name=op.f("fk_users_parent_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(
        "ix_users_parent_id",
        "users",
        ["parent_id"],
        unique=False,
        postgresql_where=sa.text("parent_id IS NOT NULL"),
    )
    op.create_table(
        "auth_identities",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "provider",
            postgresql.ENUM("password", "google", "apple", name="auth_provider", create_type=False),
            nullable=True,
        ),
        sa.Column("provider_user_id", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("email", postgresql.CITEXT(), nullable=True),
        sa.Column("is_primary", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(email IS NOT NULL AND password_hash IS NOT NULL) OR (provider IS NOT NULL AND provider_user_id IS NOT NULL)",
            name=op.f("ck_auth_identities_credentials"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_auth_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_identities")),
    )
    op.create_index(
        op.f("ix_auth_identities_user_id"), "auth_identities", ["user_id"], unique=False
    )
    op.create_index(
        "uq_auth_identities_provider_provider_user_id",
        "auth_identities",
        ["provider", "provider_user_id"],
        unique=True,
        postgresql_where=sa.text("provider_user_id IS NOT NULL"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("pinned", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_contacts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index(op.f("ix_contacts_user_id"), "contacts", ["user_id"], unique=False)
    op.create_index(
        "ix_contacts_user_id_created_at_id",
        "contacts",
        ["user_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_contacts_user_id_updated_at_id",
        "contacts",
        ["user_id", "updated_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "memos",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("pinned", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("obfuscated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("secret", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memos_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memos")),
    )
    op.create_index(op.f("ix_memos_user_id"), "memos", ["user_id"], unique=False)
    op.create_index(
        "ix_memos_user_id_created_at_id",
        "memos",
        ["user_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_memos_user_id_updated_at_id",
        "memos",
        ["user_id", "updated_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", postgresql.CITEXT(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 50", name=op.f("ck_tags_name_length")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tags_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
    )
    op.create_index(op.f("ix_tags_user_id"), "tags", ["user_id"], unique=False)
    op.create_index(
        "uq_tags_user_id_name",
        "tags",
        ["user_id", "name"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "todos",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("pinned", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("done", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("priority BETWEEN 0 AND 4", name=op.f("ck_todos_priority_range")),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["todos.id"], name=op.f("fk_todos_parent_id_todos"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_todos_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_todos")),
    )
    op.create_index(
        "ix_todos_parent_id",
        "todos",
        ["parent_id"],
        unique=False,
        postgresql_where=sa.text("parent_id IS NOT NULL"),
    )
    op.create_index(op.f("ix_todos_user_id"), "todos", ["user_id"], unique=False)
    op.create_index(
        "ix_todos_user_id_created_at_id",
        "todos",
        ["user_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_todos_user_id_deadline_id",
        "todos",
        ["user_id", "deadline", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_todos_user_id_priority_id",
        "todos",
        ["user_id", "priority", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_todos_user_id_updated_at_id",
        "todos",
        ["user_id", "updated_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "addresses",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("contact_id", sa.UUID(), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("position", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_addresses_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
    )
    op.create_index(op.f("ix_addresses_contact_id"), "addresses", ["contact_id"], unique=False)
    op.create_table(
        "contact_tags",
        sa.Column("contact_id", sa.UUID(), nullable=False),
        sa.Column("tag_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_tags_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_contact_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contact_id", "tag_id", name=op.f("pk_contact_tags")),
    )
    op.create_index("ix_contact_tags_tag_id", "contact_tags", ["tag_id"], unique=False)
    op.create_table(
        "emails",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("contact_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("position", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_emails_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emails")),
    )
    op.create_index(op.f("ix_emails_contact_id"), "emails", ["contact_id"], unique=False)
    op.create_table(
        "memo_tags",
        sa.Column("memo_id", sa.UUID(), nullable=False),
        sa.Column("tag_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["memo_id"], ["memos.id"], name=op.f("fk_memo_tags_memo_id_memos"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_memo_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("memo_id", "tag_id", name=op.f("pk_memo_tags")),
    )
    op.create_index("ix_memo_tags_tag_id", "memo_tags", ["tag_id"], unique=False)
    op.create_table(
        "numbers",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("contact_id", sa.UUID(), nullable=False),
        sa.Column("number", sa.String(length=50), nullable=False),
        sa.Column("position", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_numbers_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_numbers")),
    )
    op.create_index(op.f("ix_numbers_contact_id"), "numbers", ["contact_id"], unique=False)
    op.create_table(
        "shared_contacts",
        sa.Column("contact_id", sa.UUID(), nullable=False),
        sa.Column("shared_user_id", sa.UUID(), nullable=False),
        sa.Column(
            "permissions",
            postgresql.ENUM("R", "W", name="permission", create_type=False),
            server_default="R",
            nullable=False,
        ),
        sa.Column("expiration", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_shared_contacts_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shared_user_id"],
            ["users.id"],
            name=op.f("fk_shared_contacts_shared_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "shared_user_id", name=op.f("pk_shared_contacts")),
    )
    op.create_index(
        "ix_shared_contacts_shared_user_id", "shared_contacts", ["shared_user_id"], unique=False
    )
    op.create_table(
        "shared_memos",
        sa.Column("memo_id", sa.UUID(), nullable=False),
        sa.Column("shared_user_id", sa.UUID(), nullable=False),
        sa.Column(
            "permissions",
            postgresql.ENUM("R", "W", name="permission", create_type=False),
            server_default="R",
            nullable=False,
        ),
        sa.Column("expiration", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["memo_id"],
            ["memos.id"],
            name=op.f("fk_shared_memos_memo_id_memos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shared_user_id"],
            ["users.id"],
            name=op.f("fk_shared_memos_shared_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("memo_id", "shared_user_id", name=op.f("pk_shared_memos")),
    )
    op.create_index(
        "ix_shared_memos_shared_user_id", "shared_memos", ["shared_user_id"], unique=False
    )
    op.create_table(
        "shared_todos",
        sa.Column("todo_id", sa.UUID(), nullable=False),
        sa.Column("shared_user_id", sa.UUID(), nullable=False),
        sa.Column(
            "permissions",
            postgresql.ENUM("R", "W", name="permission", create_type=False),
            server_default="R",
            nullable=False,
        ),
        sa.Column("expiration", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recursive", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shared_user_id"],
            ["users.id"],
            name=op.f("fk_shared_todos_shared_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["todo_id"],
            ["todos.id"],
            name=op.f("fk_shared_todos_todo_id_todos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("todo_id", "shared_user_id", name=op.f("pk_shared_todos")),
    )
    op.create_index(
        "ix_shared_todos_shared_user_id", "shared_todos", ["shared_user_id"], unique=False
    )
    op.create_table(
        "todo_recurrences",
        sa.Column("todo_id", sa.UUID(), nullable=False),
        sa.Column("recurrence_type", sa.SmallInteger(), nullable=True),
        sa.Column("interval", sa.Integer(), nullable=True),
        sa.Column("days_of_week", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("days_of_month", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("weeks_of_month", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("months_of_year", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(recurrence_type IS NULL AND interval IS NULL AND days_of_week IS NULL AND days_of_month IS NULL AND weeks_of_month IS NULL AND months_of_year IS NULL) OR (recurrence_type IS NOT NULL AND interval IS NOT NULL AND ((days_of_week IS NOT NULL)::int + (days_of_month IS NOT NULL)::int + (weeks_of_month IS NOT NULL)::int + (months_of_year IS NOT NULL)::int) <= 1)",
            name=op.f("ck_todo_recurrences_rule_shape"),
        ),
        sa.CheckConstraint(
            "days_of_month <@ ARRAY[-1,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31]",
            name=op.f("ck_todo_recurrences_days_of_month_range"),
        ),
        sa.CheckConstraint(
            "days_of_week <@ ARRAY[0,1,2,3,4,5,6]",
            name=op.f("ck_todo_recurrences_days_of_week_range"),
        ),
        sa.CheckConstraint(
            "end_at IS NULL OR end_at > start_at", name=op.f("ck_todo_recurrences_end_after_start")
        ),
        sa.CheckConstraint("interval >= 1", name=op.f("ck_todo_recurrences_interval_positive")),
        sa.CheckConstraint(
            "months_of_year <@ ARRAY[1,2,3,4,5,6,7,8,9,10,11,12]",
            name=op.f("ck_todo_recurrences_months_of_year_range"),
        ),
        sa.CheckConstraint(
            "recurrence_type BETWEEN 0 AND 3", name=op.f("ck_todo_recurrences_type_range")
        ),
        sa.CheckConstraint(
            "weeks_of_month <@ ARRAY[-1,1,2,3,4,5]",
            name=op.f("ck_todo_recurrences_weeks_of_month_range"),
        ),
        sa.ForeignKeyConstraint(
            ["todo_id"],
            ["todos.id"],
            name=op.f("fk_todo_recurrences_todo_id_todos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("todo_id", name=op.f("pk_todo_recurrences")),
    )
    op.create_table(
        "todo_tags",
        sa.Column("todo_id", sa.UUID(), nullable=False),
        sa.Column("tag_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_todo_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["todo_id"], ["todos.id"], name=op.f("fk_todo_tags_todo_id_todos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("todo_id", "tag_id", name=op.f("pk_todo_tags")),
    )
    op.create_index("ix_todo_tags_tag_id", "todo_tags", ["tag_id"], unique=False)


def downgrade() -> None:
    # Forward-only: undo a change with a new revision (expand/contract), never by going back.
    raise RuntimeError("migrations are forward-only; write a new revision instead")
