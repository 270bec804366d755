"""Migrations on a freshly created database (created and dropped here, never reused)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from common.db.models import metadata
from devtools import database as db

pytestmark = pytest.mark.migration


@pytest.fixture
def fresh_url(admin_url: str) -> Iterator[str]:
    name = f"sealy_migration_{secrets.token_hex(4)}"
    db.create_database(admin_url, name)
    try:
        yield db.with_database(admin_url, name)
    finally:
        db.drop_database(admin_url, name)


def test_upgrade_builds_the_whole_schema_and_matches_the_models(fresh_url: str) -> None:
    db.migrate(fresh_url)
    engine = create_engine(fresh_url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            extensions = set(conn.execute(text("SELECT extname FROM pg_extension")).scalars())
            enums = set(
                conn.execute(text("SELECT typname FROM pg_type WHERE typtype = 'e'")).scalars()
            )
    finally:
        engine.dispose()
    assert tables == set(metadata.tables) | {"alembic_version"}
    assert diff == []  # `alembic check`: no drift between models and migrations
    assert version == ScriptDirectory.from_config(db.alembic_config()).get_current_head()
    assert {"citext", "pg_trgm"} <= extensions
    assert {"user_type", "auth_provider", "permission"} <= enums


def test_upgrade_twice_is_a_no_op(fresh_url: str) -> None:
    db.migrate(fresh_url)
    db.migrate(fresh_url)


def test_downgrade_is_refused_and_changes_nothing(fresh_url: str) -> None:
    db.migrate(fresh_url)
    with pytest.raises(RuntimeError, match="forward-only"):
        command.downgrade(db.alembic_config(fresh_url), "-1")
    engine = create_engine(fresh_url)
    try:
        with engine.connect() as conn:
            assert "todos" in inspect(conn).get_table_names()
    finally:
        engine.dispose()


# --- read-only checks on the suite's migrated database ------------------------------


@pytest.fixture(scope="module")
def inspector(database_url: str) -> Iterator[object]:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        yield inspect(conn)
    engine.dispose()


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("todo_tags", ["todo_id", "tag_id"]),
        ("memo_tags", ["memo_id", "tag_id"]),
        ("contact_tags", ["contact_id", "tag_id"]),
        ("shared_todos", ["todo_id", "shared_user_id"]),
        ("shared_memos", ["memo_id", "shared_user_id"]),
        ("shared_contacts", ["contact_id", "shared_user_id"]),
        ("todo_recurrences", ["todo_id"]),
    ],
)
def test_link_and_share_tables_have_composite_keys(
    inspector: object, table: str, columns: list[str]
) -> None:
    pk = inspector.get_pk_constraint(table)  # type: ignore[attr-defined]
    assert pk["constrained_columns"] == columns


@pytest.mark.parametrize("table", ["todos", "memos", "contacts"])
def test_list_queries_have_partial_owner_indexes(inspector: object, table: str) -> None:
    indexes = {i["name"]: i for i in inspector.get_indexes(table)}  # type: ignore[attr-defined]
    index = indexes[f"ix_{table}_user_id_created_at_id"]
    assert index["column_names"][0] == "user_id"
    assert "deleted_at IS NULL" in index["dialect_options"]["postgresql_where"]


@pytest.mark.parametrize("table", ["shared_todos", "shared_memos", "shared_contacts"])
def test_shares_are_indexed_by_recipient(inspector: object, table: str) -> None:
    indexes = inspector.get_indexes(table)  # type: ignore[attr-defined]
    assert any(i["column_names"] == ["shared_user_id"] for i in indexes)


@pytest.mark.parametrize("table", ["users", "todos", "memos", "contacts", "tags"])
def test_editable_resources_have_a_version(inspector: object, table: str) -> None:
    columns = {c["name"]: c for c in inspector.get_columns(table)}  # type: ignore[attr-defined]
    assert columns["version"]["nullable"] is False
