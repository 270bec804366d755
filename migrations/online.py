"""Schema changes that keep production serving: use these in every new revision.

Production migrates while the previous release still serves (expand/contract,
docs/deployment.md). A plain `op.create_index` on a table that already has rows holds a
SHARE lock for the whole build, and a plain `ADD CONSTRAINT` (CHECK, FOREIGN KEY) holds
ACCESS EXCLUSIVE while it scans every row: on real data, writes stop for the length of a
table scan. These helpers do the same with only short locks:

    from migrations.online import add_check_constraint, add_foreign_key, create_index

    def upgrade() -> None:
        create_index("ix_todos_due_at", "todos", ["due_at"], postgresql_where=...)
        add_check_constraint("ck_todos_title_length", "todos", "char_length(title) <= 500")
        add_foreign_key("fk_x_user_id_users", "x", "users", ["user_id"], ["id"],
                        ondelete="CASCADE")

- `create_index`: CREATE INDEX CONCURRENTLY, outside the revision's transaction (PostgreSQL
  refuses it inside one; `outside_transaction()` is the autocommit block that works with
  pg8000, which alembic's own `autocommit_block()` alone does not). A build that failed
  half-way leaves an INVALID index behind, so the same name is dropped (concurrently)
  first: re-running the revision repairs it.
- Every name is taken as given (`op.f`): the metadata's naming convention would otherwise
  prefix it again (`ck_<table>_` + a name that already has it).
- `add_check_constraint` / `add_foreign_key`: ADD CONSTRAINT ... NOT VALID (a brief lock,
  no scan: new rows are checked from then on), committed, then VALIDATE CONSTRAINT in its
  own transaction (scans under SHARE UPDATE EXCLUSIVE: reads and writes go on). If old rows
  violate it, VALIDATE fails and the revision stops with the constraint still NOT VALID:
  fix the rows in a data revision, then validate.
- `replace_check_constraint`: a CHECK changed in place (what 0006 did by dropping and
  re-adding): the new one is added NOT VALID under a temporary name, validated, the old
  one dropped and the new one renamed, each step short.

Tables a revision creates itself are empty: plain `op.create_table`/`op.create_index`
and constraints inside `op.create_table` are fine there. tests/migration/test_online_rules.py
refuses, in every revision after 0006, a plain `op.create_index` or a constraint added
without NOT VALID + VALIDATE on a table that existed before that revision.

Each statement runs with the connection's lock_timeout (the deploy workflow sets
DB_LOCK_TIMEOUT_MS=10000): a revision that cannot get its short lock fails rather than
queueing every request behind it; run it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from alembic import op
from sqlalchemy import text
from sqlalchemy.sql.elements import TextClause


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextlib.contextmanager
def outside_transaction() -> Iterator[None]:
    """Run what follows in autocommit: each statement its own transaction, locks released
    at once (CONCURRENTLY requires it).

    alembic's `op.get_context().autocommit_block()` alone does not work with pg8000 (the
    driver of this project): it first asks the connection for its isolation level, pg8000
    runs that query inside a transaction it begins by itself, and switching to autocommit
    does not end it, so CONCURRENTLY then fails with "cannot run inside a transaction
    block". This ends that transaction first.
    """
    with op.get_context().autocommit_block():
        dbapi_connection = op.get_bind().connection.dbapi_connection
        if getattr(dbapi_connection, "_in_transaction", False):  # pg8000 (pinned exactly)
            dbapi_connection.commit()
        yield


def create_index(name: str, table: str, columns: Sequence[str | TextClause], **kwargs: Any) -> None:
    """CREATE INDEX CONCURRENTLY (any op.create_index keyword: unique, postgresql_where, ...)."""
    kwargs.pop("postgresql_concurrently", None)
    with outside_transaction():
        op.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {_quote(name)}"))
        op.create_index(op.f(name), table, list(columns), postgresql_concurrently=True, **kwargs)


def validate_constraint(name: str, table: str) -> None:
    """VALIDATE CONSTRAINT in a transaction of its own (after a NOT VALID add)."""
    with outside_transaction():
        op.execute(text(f"ALTER TABLE {_quote(table)} VALIDATE CONSTRAINT {_quote(name)}"))


def add_check_constraint(name: str, table: str, condition: str) -> None:
    """ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE."""
    with outside_transaction():
        op.create_check_constraint(op.f(name), table, condition, postgresql_not_valid=True)
    validate_constraint(name, table)


def add_foreign_key(
    name: str,
    source_table: str,
    referent_table: str,
    local_cols: list[str],
    remote_cols: list[str],
    **kwargs: Any,
) -> None:
    """ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE (ondelete=... etc. pass on)."""
    with outside_transaction():
        op.create_foreign_key(
            op.f(name),
            source_table,
            referent_table,
            local_cols,
            remote_cols,
            postgresql_not_valid=True,
            **kwargs,
        )
    validate_constraint(name, source_table)


def replace_check_constraint(name: str, table: str, condition: str) -> None:
    """Change CHECK `name` to `condition` without a long lock (the name stays)."""
    interim = f"{name}_new"[:63]
    add_check_constraint(interim, table, condition)
    with outside_transaction():
        op.drop_constraint(op.f(name), table, type_="check")
        op.execute(
            text(
                f"ALTER TABLE {_quote(table)} RENAME CONSTRAINT {_quote(interim)} TO {_quote(name)}"
            )
        )
