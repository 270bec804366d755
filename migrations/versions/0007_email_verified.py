"""`users.email_verified`: whether the account's email is proven to be the user's.

False for password registrations until a mailed code confirms the address; true for an email
a sign-in provider (Google, Apple) verified. A column with a constant default is added without
rewriting the table (PostgreSQL 11+), so this serves while the old revision runs.

Revision ID: 0007_email_verified
Revises: 0006_registration_throttle
Create Date: 2026-12-01 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_email_verified"
down_revision: str | None = "0006_registration_throttle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("email_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    # Forward-only: undo a change with a new revision (expand/contract), never by going back.
    raise RuntimeError("migrations are forward-only; write a new revision instead")
