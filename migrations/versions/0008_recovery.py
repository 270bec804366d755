"""Account recovery and email verification: mailed codes, the mail outbox, mail throttles.

- `auth_codes`: one live code per user and purpose (password reset, email verification),
  stored only as an HMAC (common/auth/codes.py), with its wrong tries and expiry.
- `mail_outbox`: the mails that carry them, written in the statement that makes the code and
  sent once (common/db/outbox.py).
- `login_throttles.kind` gains `reset` and `verify` (mails per email and hour).

Both tables are new, so they and their indexes are created plainly: nothing reads or writes
them yet. `login_throttles` exists and is in use: its CHECK is replaced by one added NOT VALID
(a brief lock, no scan) and then validated in a transaction of its own (a scan that lets reads
and writes go on). Old code never writes the new kinds, so it keeps working meanwhile.

Revision ID: 0008_recovery
Revises: 0007_email_verified
Create Date: 2026-12-01 21:40:05.841680
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.online import replace_check_constraint

revision: str = "0008_recovery"
down_revision: str | None = "0007_email_verified"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_codes",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("email", postgresql.CITEXT(), nullable=False),
        sa.Column("tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "purpose IN ('password_reset', 'email_verification')",
            name=op.f("ck_auth_codes_purpose"),
        ),
        sa.CheckConstraint(
            "octet_length(code_hash) = 32", name=op.f("ck_auth_codes_code_hash_hmac_sha256")
        ),
        sa.CheckConstraint("tries >= 0", name=op.f("ck_auth_codes_tries_non_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "purpose", name=op.f("pk_auth_codes")),
    )
    op.create_index("ix_auth_codes_expires_at", "auth_codes", ["expires_at"], unique=False)
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("sealed_code", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
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
        sa.CheckConstraint(
            "kind IN ('password_reset', 'email_verification')", name=op.f("ck_mail_outbox_kind")
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'handed_over', 'sent', 'failed')",
            name=op.f("ck_mail_outbox_state"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_mail_outbox_attempts_non_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mail_outbox_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    op.create_index(
        "ix_mail_outbox_due",
        "mail_outbox",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state IN ('pending', 'handed_over')"),
    )
    op.create_index("ix_mail_outbox_updated_at", "mail_outbox", ["updated_at"], unique=False)
    op.create_index(op.f("ix_mail_outbox_user_id"), "mail_outbox", ["user_id"], unique=False)
    # The throttle kinds widen: added NOT VALID, validated, then put in the old one's place,
    # each step short (migrations/online.py).
    replace_check_constraint(
        "ck_login_throttles_kind",
        "login_throttles",
        "kind IN ('email', 'client', 'register', 'reset', 'verify')",
    )


def downgrade() -> None:
    # Forward-only: undo a change with a new revision (expand/contract), never by going back.
    raise RuntimeError("migrations are forward-only; write a new revision instead")
