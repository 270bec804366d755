"""Notifications: push devices, the share-event outbox, reminder receipts, the delivery queue.

- `devices`: FCM registration tokens, unique across users (re-registering moves the row).
- `share_events`: the outbox, written by the same statement that creates a share.
- `todo_reminders`: one row per (todo, remind_at value) whose reminder was fanned out: the key
  makes each reminder go out once per `remind_at` value.
- `push_deliveries`: one message per device, claimed with SKIP LOCKED, retried with backoff.
- `ix_todos_remind_at`: dispatch's range scan for due reminders.
See common/db/notifications.py for how dispatch uses them.

Revision ID: 0005_notifications
Revises: 0004_search
Create Date: 2026-11-27 09:22:53.214983
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_notifications"
down_revision: str | None = "0004_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Enum types, created explicitly (the columns below use create_type=False).
    postgresql.ENUM("ios", "android", "web", name="device_platform").create(op.get_bind())
    postgresql.ENUM("pending", "sent", "failed", name="delivery_state").create(op.get_bind())

    op.create_table(
        "devices",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column(
            "platform",
            postgresql.ENUM("ios", "android", "web", name="device_platform", create_type=False),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "char_length(token) BETWEEN 1 AND 4096", name=op.f("ck_devices_token_length")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_devices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("token", name=op.f("uq_devices_token")),
    )
    op.create_index(op.f("ix_devices_user_id"), "devices", ["user_id"], unique=False)
    op.create_table(
        "share_events",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("recipient_id", sa.UUID(), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=False),
        sa.Column("resource_type", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "resource_type IN ('todo', 'memo', 'contact')",
            name=op.f("ck_share_events_resource_type"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_share_events_actor_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["users.id"],
            name=op.f("fk_share_events_recipient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_events")),
    )
    op.create_index(op.f("ix_share_events_actor_id"), "share_events", ["actor_id"], unique=False)
    op.create_index(
        "ix_share_events_pending",
        "share_events",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_index(
        "ix_share_events_processed_at",
        "share_events",
        ["processed_at"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NOT NULL"),
    )
    op.create_index(
        op.f("ix_share_events_recipient_id"), "share_events", ["recipient_id"], unique=False
    )
    op.create_table(
        "push_deliveries",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("device_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "state",
            postgresql.ENUM("pending", "sent", "failed", name="delivery_state", create_type=False),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint("kind IN ('reminder', 'share')", name=op.f("ck_push_deliveries_kind")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_push_deliveries_attempts_non_negative")),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_push_deliveries_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_push_deliveries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
    )
    op.create_index(
        op.f("ix_push_deliveries_device_id"), "push_deliveries", ["device_id"], unique=False
    )
    op.create_index(
        "ix_push_deliveries_due",
        "push_deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_push_deliveries_updated_at", "push_deliveries", ["updated_at"], unique=False
    )
    op.create_index(
        op.f("ix_push_deliveries_user_id"), "push_deliveries", ["user_id"], unique=False
    )
    op.create_table(
        "todo_reminders",
        sa.Column("todo_id", sa.UUID(), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["todo_id"],
            ["todos.id"],
            name=op.f("fk_todo_reminders_todo_id_todos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("todo_id", "remind_at", name=op.f("pk_todo_reminders")),
    )
    op.create_index("ix_todo_reminders_remind_at", "todo_reminders", ["remind_at"], unique=False)
    op.create_index(
        "ix_todos_remind_at",
        "todos",
        ["remind_at"],
        unique=False,
        postgresql_where=sa.text("remind_at IS NOT NULL AND deleted_at IS NULL AND NOT done"),
    )


def downgrade() -> None:
    # Forward-only: undo a change with a new revision (expand/contract), never by going back.
    raise RuntimeError("migrations are forward-only; write a new revision instead")
