"""Search and name indexes for memos and contacts: `q` (trigram) and `sort=name`

Revision ID: 0004_search
Revises: 0003_auth
Create Date: 2026-11-27 09:18:19.106681
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_search"
down_revision: str | None = "0003_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_contacts_name_trgm",
        "contacts",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_contacts_user_id_name_id",
        "contacts",
        ["user_id", "name", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_emails_email_trgm",
        "emails",
        ["email"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"email": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_memos_content_trgm",
        "memos",
        ["content"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"content": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_memos_note_trgm",
        "memos",
        ["note"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"note": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_numbers_number_trgm",
        "numbers",
        ["number"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"number": "gin_trgm_ops"},
    )


def downgrade() -> None:
    # Forward-only: undo a change with a new revision (expand/contract), never by going back.
    raise RuntimeError("migrations are forward-only; write a new revision instead")
