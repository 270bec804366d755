"""Registration throttle: `login_throttles` also counts refused registrations per address.

`kind = 'register'` rows count the registrations refused (email taken, 409) per client
address in the same 15-minute windows as the login throttle (common/db/throttles.py). Only the
CHECK constraint on `kind` changes; rewriting a CHECK takes a brief lock and a scan of this
small table.

Revision ID: 0006_registration_throttle
Revises: 0005_notifications
Create Date: 2026-11-27 12:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_registration_throttle"
down_revision: str | None = "0005_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_login_throttles_kind"), "login_throttles", type_="check")
    op.create_check_constraint(
        op.f("ck_login_throttles_kind"),
        "login_throttles",
        "kind IN ('email', 'client', 'register')",
    )


def downgrade() -> None:
    # Forward-only: undo a change with a new revision (expand/contract), never by going back.
    raise RuntimeError("migrations are forward-only; write a new revision instead")
