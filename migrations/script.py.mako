"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    # On a table that already exists (it has rows in production): indexes and constraints
    # through migrations.online (create_index, add_check_constraint, add_foreign_key,
    # replace_check_constraint); see migrations/README.md. tests/migration enforces it.
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    # Forward-only: undo a change with a new revision (expand/contract), never by going back.
    raise RuntimeError("migrations are forward-only; write a new revision instead")
