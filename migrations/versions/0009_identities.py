"""Identities: at most one per provider and user (`uq_auth_identities_user_id_provider`).

Sign in with Google and Apple (api-v1 §11) links identities to accounts; a user has at most
one password, one Google and one Apple identity, and `DELETE /v1/auth/identities/{provider}`
names one by its provider. The unique index also makes two concurrent "set a password"
requests of a password-less account store one password, not two.

`auth_identities` already has rows, so the index is built CONCURRENTLY, outside the
revision's transaction: reads and writes go on during the build. A build that failed half-way
leaves an INVALID index of that name, dropped (concurrently) first, so running the revision
again repairs it. Until now only registration made identities, one password identity per user,
so no existing rows collide.

Revision ID: 0009_identities
Revises: 0008_recovery
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

from migrations.online import create_index

revision: str = "0009_identities"
down_revision: str | None = "0008_recovery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_index(
        "uq_auth_identities_user_id_provider",
        "auth_identities",
        ["user_id", "provider"],
        unique=True,
    )


def downgrade() -> None:
    # Forward-only: undo a change with a new revision (expand/contract), never by going back.
    raise RuntimeError("migrations are forward-only; write a new revision instead")
