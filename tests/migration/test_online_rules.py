"""New revisions keep production serving: no long locks on tables that already exist.

Revisions 0001-0006 are history (applied where it matters; their effects are never
edited). Every revision after BASELINE is read (its source, with `ast`) and refused if,
on a table that existed before it, it builds an index without CONCURRENTLY in an
autocommit block, or adds a constraint without NOT VALID + VALIDATE. migrations/online.py
has the helpers that do it right, tested here on a real database, and the locking facts
they rely on are shown with two connections.
"""

from __future__ import annotations

import ast
import re
import secrets
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError

from common.db.models import metadata
from devtools import database as db

pytestmark = pytest.mark.migration

BASELINE = "0006_registration_throttle"


@dataclass(frozen=True)
class Revision:
    revision: str
    path: Path


def chain() -> list[Revision]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(db.alembic_config())
    return [Revision(r.revision, Path(r.path)) for r in reversed(list(script.walk_revisions()))]


def _literal(node: ast.AST | None) -> str | None:
    """'x', or op.f('x') -> 'x'."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and node.args and _call_name(node) == "op.f":
        return _literal(node.args[0])
    return None


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _arg(call: ast.Call, position: int, keyword: str) -> ast.AST | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _keyword_true(call: ast.Call, keyword: str) -> bool:
    return any(
        k.arg == keyword and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def created_tables(source: str) -> set[str]:
    tree = ast.parse(source)
    return {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _call_name(node) == "op.create_table"
        for name in [_literal(_arg(node, 0, "table_name"))]
        if name
    }


def _autocommit_calls(tree: ast.AST) -> set[int]:
    """ids of the calls made inside `with outside_transaction():` (migrations.online) or
    alembic's `with op.get_context().autocommit_block():`."""

    def opens_autocommit(expr: ast.expr) -> bool:
        if not isinstance(expr, ast.Call):
            return False
        func = expr.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in ("autocommit_block", "outside_transaction")

    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(opens_autocommit(i.context_expr) for i in node.items):
            inside |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return inside


def violations(source: str, existing: set[str]) -> list[str]:
    """What in this revision would lock a table that already has rows (empty: none)."""
    tree = ast.parse(source)
    new = created_tables(source)
    old = existing - new
    autocommit = _autocommit_calls(tree)
    strings = " ".join(
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )
    found: list[str] = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = _call_name(call)
        line = f"line {call.lineno}"
        if name == "op.create_index":
            table = _literal(_arg(call, 1, "table_name"))
            if table in old and not (
                _keyword_true(call, "postgresql_concurrently") and id(call) in autocommit
            ):
                found.append(
                    f"{line}: index on existing table {table} without CONCURRENTLY in an "
                    "autocommit block (use migrations.online.create_index)"
                )
        elif name in ("op.create_check_constraint", "op.create_foreign_key"):
            constraint = _literal(_arg(call, 0, "constraint_name"))
            table = _literal(_arg(call, 1, "table_name" if "check" in name else "source_table"))
            if table not in old:
                continue
            validated = constraint is not None and re.search(
                rf"VALIDATE\s+CONSTRAINT\s+\"?{re.escape(constraint)}\"?", strings
            )
            if not (_keyword_true(call, "postgresql_not_valid") and validated):
                found.append(
                    f"{line}: constraint {constraint} on existing table {table} without NOT VALID "
                    "+ VALIDATE (use migrations.online.add_check_constraint / add_foreign_key)"
                )
        elif name in (
            "op.create_unique_constraint",
            "op.create_primary_key",
            "op.create_exclude_constraint",
        ):
            table = _literal(_arg(call, 1, "table_name"))
            if table in old:
                found.append(
                    f"{line}: {name.split('.')[1]} on existing table {table} scans under an "
                    "exclusive lock (build a unique index with migrations.online.create_index, "
                    "then ADD CONSTRAINT ... USING INDEX)"
                )
        elif name == "op.execute":
            sql = _literal(_arg(call, 0, "sqltext")) or ""
            for table in old:
                on_table = re.search(rf"(ALTER\s+TABLE|ON)\s+\"?{re.escape(table)}\"?\b", sql, re.I)
                if not on_table:
                    continue
                if re.search(r"ADD\s+CONSTRAINT", sql, re.I) and not re.search(
                    r"NOT\s+VALID|USING\s+INDEX", sql, re.I
                ):
                    found.append(
                        f"{line}: ADD CONSTRAINT on existing table {table} without NOT VALID"
                    )
                if re.search(r"CREATE\s+(UNIQUE\s+)?INDEX", sql, re.I) and not (
                    re.search(r"CONCURRENTLY", sql, re.I) and id(call) in autocommit
                ):
                    found.append(
                        f"{line}: CREATE INDEX on existing table {table} without CONCURRENTLY"
                    )
    return found


def tables_before(revisions: list[Revision], index: int) -> set[str]:
    tables: set[str] = set()
    for revision in revisions[:index]:
        tables |= created_tables(revision.path.read_text())
    return tables


# --- the rule over the real history ---------------------------------------------------


def test_revisions_after_0006_keep_writes_going() -> None:
    revisions = chain()
    names = [r.revision for r in revisions]
    assert BASELINE in names
    problems = {
        r.revision: found
        for i, r in enumerate(revisions)
        if i > names.index(BASELINE)
        for found in [violations(r.path.read_text(), tables_before(revisions, i))]
        if found
    }
    assert problems == {}


def test_the_tables_the_rule_knows_are_the_models_tables() -> None:
    # The rule learns which tables exist from op.create_table in the revisions: that must
    # be every table the schema has, or it would miss an existing one.
    revisions = chain()
    assert tables_before(revisions, len(revisions)) == set(metadata.tables)


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        ("0002_idempotency", "index on existing table todos without CONCURRENTLY"),
        ("0004_search", "index on existing table contacts without CONCURRENTLY"),
        ("0005_notifications", "index on existing table todos without CONCURRENTLY"),
        ("0006_registration_throttle", "constraint ck_login_throttles_kind on existing table"),
    ],
)
def test_the_rule_would_have_refused_the_old_locking_changes(revision: str, expected: str) -> None:
    revisions = chain()
    index = [r.revision for r in revisions].index(revision)
    found = violations(revisions[index].path.read_text(), tables_before(revisions, index))
    assert any(expected in f for f in found), found


def test_new_tables_and_the_helpers_pass_plain_calls_do_not() -> None:
    existing = {"todos", "users"}
    good = textwrap.dedent(
        """
        from alembic import op
        from migrations.online import add_check_constraint, create_index
        def upgrade():
            op.create_table("sign_ins", sa.Column("id", sa.UUID()))
            op.create_index("ix_sign_ins_id", "sign_ins", ["id"])  # new table: empty
            create_index("ix_todos_due", "todos", ["due_at"])
            add_check_constraint("ck_todos_title", "todos", "char_length(title) <= 500")
            with outside_transaction():
                op.create_index("ix_users_x", "users", ["x"], postgresql_concurrently=True)
            op.create_check_constraint("ck_users_y", "users", "y > 0", postgresql_not_valid=True)
            op.execute('ALTER TABLE users VALIDATE CONSTRAINT "ck_users_y"')
        """
    )
    assert violations(good, existing) == []
    bad = textwrap.dedent(
        """
        from alembic import op
        def upgrade():
            op.create_index("ix_todos_due", "todos", ["due_at"])
            op.create_index("ix_users_x", "users", ["x"], postgresql_concurrently=True)
            op.create_check_constraint("ck_users_y", "users", "y > 0", postgresql_not_valid=True)
            op.create_foreign_key("fk_todos_u", "todos", "users", ["u"], ["id"])
            op.create_unique_constraint("uq_users_email", "users", ["email"])
            op.execute("ALTER TABLE todos ADD CONSTRAINT ck_z CHECK (z > 0)")
            op.execute("CREATE INDEX ix_todos_w ON todos (w)")
        """
    )
    found = violations(bad, existing)
    assert len(found) == 7, found
    assert [f.split(":")[0] for f in found] == [f"line {n}" for n in range(4, 11)]


# --- the helpers, on a real database ----------------------------------------------------


@pytest.fixture
def scratch(admin_url: str) -> Iterator[str]:
    name = f"sealy_online_{secrets.token_hex(4)}"
    db.create_database(admin_url, name)
    url = db.with_database(admin_url, name)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE things (id int PRIMARY KEY, n int NOT NULL, owner int)"))
        conn.execute(text("CREATE TABLE owners (id int PRIMARY KEY)"))
        conn.execute(text("INSERT INTO owners SELECT g FROM generate_series(1, 10) g"))
        conn.execute(
            text("INSERT INTO things SELECT g, g, 1 + g % 10 FROM generate_series(1, 500) g")
        )
    engine.dispose()
    try:
        yield url
    finally:
        db.drop_database(admin_url, name)


def run_operations(url: str, body: str) -> None:
    """Run revision-like code (`op` and the helpers) in a migration context on `url`."""
    import migrations.online as online

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn)
            with Operations.context(context), context.begin_transaction():
                exec(body, {"op": Operations(context), **vars(online)})
    finally:
        engine.dispose()


def catalog(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_create_index_builds_a_valid_index_and_can_run_again(scratch: str) -> None:
    body = 'create_index("ix_things_n", "things", ["n"], unique=True)'
    run_operations(scratch, body)
    run_operations(scratch, body)  # a revision re-run after a failure repairs, not fails
    assert catalog(
        scratch,
        "SELECT indisvalid, indisunique FROM pg_index WHERE indexrelid = 'ix_things_n'::regclass",
    ) == [(True, True)]


def test_constraints_are_added_not_valid_then_validated(scratch: str) -> None:
    run_operations(
        scratch,
        'add_check_constraint("ck_things_n_positive", "things", "n > 0")\n'
        'add_foreign_key("fk_things_owner", "things", "owners", ["owner"], ["id"], '
        'ondelete="CASCADE")\n'
        'replace_check_constraint("ck_things_n_positive", "things", "n > 0 AND n < 1000")',
    )
    rows = catalog(
        scratch,
        "SELECT conname, convalidated, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'things'::regclass AND contype IN ('c', 'f') ORDER BY conname",
    )
    assert [(name, valid) for name, valid, _ in rows] == [
        ("ck_things_n_positive", True),
        ("fk_things_owner", True),
    ]
    assert "n < 1000" in rows[0][2]
    assert "ON DELETE CASCADE" in rows[1][2]


def test_a_constraint_old_rows_break_stays_not_valid(scratch: str) -> None:
    with pytest.raises(DBAPIError, match="violated"):
        run_operations(scratch, 'add_check_constraint("ck_things_small", "things", "n < 100")')
    # New rows are checked already; the old ones wait for a data fix and a VALIDATE.
    assert catalog(
        scratch, "SELECT convalidated FROM pg_constraint WHERE conname = 'ck_things_small'"
    ) == [(False,)]


# --- why: who waits for whom, shown with two connections -------------------------------


def _insert_within(conn: Connection, value: int) -> str:
    """Insert with a 2 s lock_timeout: 'ok', or 'blocked' if a lock stood in the way."""
    try:
        with conn.begin():
            conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            conn.execute(text("INSERT INTO things VALUES (:v, :v, 1)"), {"v": value})
        return "ok"
    except DBAPIError as exc:
        if "lock timeout" in str(exc):
            return "blocked"
        raise


def test_validate_lets_writes_through_a_plain_add_does_not(scratch: str) -> None:
    engine = create_engine(scratch)
    try:
        with engine.connect() as migrator, engine.connect() as app:
            with migrator.begin():
                migrator.execute(
                    text("ALTER TABLE things ADD CONSTRAINT ck_a CHECK (n > 0) NOT VALID")
                )
            tx = migrator.begin()
            migrator.execute(text("ALTER TABLE things VALIDATE CONSTRAINT ck_a"))
            during_validate = _insert_within(app, 10_001)  # the scan's lock is still held
            tx.commit()

            tx = migrator.begin()
            migrator.execute(text("ALTER TABLE things ADD CONSTRAINT ck_b CHECK (n > -1)"))
            during_plain_add = _insert_within(app, 10_002)
            tx.rollback()
    finally:
        engine.dispose()
    assert during_validate == "ok"
    assert during_plain_add == "blocked"


def test_alembic_autocommit_block_alone_fails_under_pg8000(scratch: str) -> None:
    # Why migrations.online.outside_transaction exists: alembic reads the isolation level
    # before switching to autocommit, pg8000 runs that read in a transaction it opens and
    # the switch does not end. If this starts passing, the workaround can go.
    body = (
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_things_owner", "things", ["owner"], postgresql_concurrently=True)'
    )
    with pytest.raises(DBAPIError) as raised:
        run_operations(scratch, body)
    chain, error = [], raised.value
    while error is not None:
        chain.append(str(error))
        error = error.__context__
    assert any("CONCURRENTLY cannot run inside a transaction block" in e for e in chain), chain
