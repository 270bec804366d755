"""Change feeds (api-v1 §10): `feed_entries`, the triggers that write it, share expiry indexes.

`feed_entries` holds one row per (user, collection, item): what that user sees of that item
may have changed in transaction `xid` (the latest that wrote it). The rows are written by
triggers, in the writing transaction, for the item's whole audience: its owner and every user
with a live share that reaches it (todos: a share on the todo, or a recursive share on one of
its ancestors). common.db.feeds reads them.

Why triggers, not the application's statements:
- every write path records its changes, the ones no request names too: cascades (an erased
  owner's items, a revoked share's sub-todos), `ON DELETE SET NULL`, a tag's deletion
  detaching it, the secret flip's revocations, and whatever writes come later;
- the audience must be read after the write's locks are held. A statement's data-modifying
  CTEs see the snapshot the statement started with, so a share granted concurrently, and
  committed while the write waited, would be missed: the write would record nothing for the
  new sharee, whose feed would keep the item as it was before the write. A trigger function
  (plpgsql, VOLATILE) takes a fresh snapshot for each statement it runs, under READ
  COMMITTED, after it has taken its lock.
The lock: per owner, a transaction-scoped advisory lock that every feed-recording write of
the owner's items takes: shared by writes of items (two writers of different items do not
wait for each other), exclusive by whatever changes who sees them (a share granted, changed
or revoked, a todo moved to another parent, the owner erased). So a change of visibility and
a write of an item it reaches never compute their audiences concurrently: the later one waits
for the earlier to commit and then reads what it wrote. Items of one tree all belong to their
owner (a parent must be the caller's own todo), so one lock covers the tree.

Entries over-approximate the audience (a sharee whose path is blocked by a deleted todo, the
descendants of a moved todo); the feed decides visibility when it reads, and answers
`remove` for an item the caller does not see, which the contract allows.

Indexes on the existing share tables are built CONCURRENTLY (migrations/online.py: no write
lock on the tables while they build); the new table is created plainly.

Revision ID: 0010_change_feeds
Revises: 0009_identities
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.online import create_index

revision: str = "0010_change_feeds"
down_revision: str | None = "0009_identities"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARE_TABLES = ("shared_todos", "shared_memos", "shared_contacts")

# (collection, item table, share table, the share table's item column)
SHAREABLE = (
    ("todo", "todos", "shared_todos", "todo_id"),
    ("memo", "memos", "shared_memos", "memo_id"),
    ("contact", "contacts", "shared_contacts", "contact_id"),
)

FUNCTIONS = r"""
-- The owners' feed locks, in a fixed order (no deadlock between two multi-owner writers).
CREATE FUNCTION feed_lock(owners uuid[], exclusive boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  owner uuid;
BEGIN
  FOR owner IN SELECT DISTINCT o FROM unnest(owners) AS o WHERE o IS NOT NULL ORDER BY o LOOP
    IF exclusive THEN
      PERFORM pg_advisory_xact_lock(hashtextextended('feed:' || owner::text, 0));
    ELSE
      PERFORM pg_advisory_xact_lock_shared(hashtextextended('feed:' || owner::text, 0));
    END IF;
  END LOOP;
END $$;

-- Record (people[i], items[i]) as changed by this transaction; users that no longer exist
-- (erased in this transaction) are skipped.
CREATE FUNCTION feed_note(kind text, people uuid[], items uuid[]) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO feed_entries AS e (user_id, collection, item_id, xid, changed_at)
  SELECT DISTINCT p.user_id, kind, p.item_id, pg_current_xact_id()::text::bigint, now()
  FROM unnest(people, items) AS p (user_id, item_id)
  JOIN users u ON u.id = p.user_id
  ON CONFLICT (user_id, collection, item_id)
  DO UPDATE SET xid = excluded.xid, changed_at = excluded.changed_at
$$;

-- Record what shares reach as changed for their sharees: people[i]'s share of items[i], and
-- when deep[i] (a recursive todo share) every todo below it.
CREATE FUNCTION feed_note_reach(kind text, people uuid[], items uuid[], deep boolean[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  reaching uuid[];
  reached uuid[];
BEGIN
  SELECT array_agg(r.person), array_agg(r.item) INTO reaching, reached
  FROM (
    WITH RECURSIVE reach (person, item, descend) AS (
      SELECT * FROM unnest(people, items, deep)
      UNION
      SELECT reach.person, t.id, true
      FROM reach JOIN todos t ON t.parent_id = reach.item
      WHERE reach.descend
    )
    SELECT person, item FROM reach
  ) r;
  PERFORM feed_note(kind, reaching, reached);
END $$;

-- Todos written (inserted, or updated to other values): the owner and every live sharee
-- that reaches them; a todo moved to another parent also changes what the sharees of its
-- old and new ancestors see of its whole subtree.
CREATE FUNCTION feed_todos() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  ids uuid[];
  owners uuid[];
  moves boolean[];
  old_parents uuid[];
  people uuid[];
  items uuid[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n.id), array_agg(n.user_id), array_agg(false), array_agg(NULL::uuid)
    INTO ids, owners, moves, old_parents
    FROM new_rows n;
  ELSE
    SELECT array_agg(n.id), array_agg(n.user_id),
           array_agg(o.parent_id IS DISTINCT FROM n.parent_id), array_agg(o.parent_id)
    INTO ids, owners, moves, old_parents
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o IS DISTINCT FROM n;
  END IF;
  IF ids IS NULL THEN
    RETURN NULL;
  END IF;
  PERFORM feed_lock(owners, true = ANY (moves));
  SELECT array_agg(a.user_id), array_agg(a.item_id) INTO people, items
  FROM (
    WITH RECURSIVE
    changed AS (
      SELECT * FROM unnest(ids, owners, moves, old_parents) AS c (id, owner_id, moved, old_parent)
    ),
    up (origin, node, is_item) AS (
      SELECT id, id, true FROM changed
      UNION
      SELECT id, old_parent, false FROM changed WHERE moved AND old_parent IS NOT NULL
      UNION
      SELECT up.origin, t.parent_id, false
      FROM up JOIN todos t ON t.id = up.node
      WHERE t.parent_id IS NOT NULL
    ),
    sharees AS (
      SELECT up.origin, s.shared_user_id AS user_id, up.is_item
      FROM up JOIN shared_todos s ON s.todo_id = up.node
      WHERE (up.is_item OR s.recursive) AND (s.expiration IS NULL OR s.expiration > now())
    ),
    down (origin, node) AS (
      SELECT id, id FROM changed WHERE moved
      UNION
      SELECT down.origin, t.id FROM down JOIN todos t ON t.parent_id = down.node
    )
    SELECT owner_id AS user_id, id AS item_id FROM changed
    UNION
    SELECT user_id, origin FROM sharees
    UNION
    SELECT s.user_id, d.node
    FROM sharees s JOIN down d ON d.origin = s.origin
    WHERE NOT s.is_item
  ) a;
  PERFORM feed_note('todo', people, items);
  RETURN NULL;
END $$;

-- Tags, memos or contacts written: the owner and every live sharee. TG_ARGV: collection,
-- share table, its item column (tags: no share table, only their owner sees them).
CREATE FUNCTION feed_items() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  ids uuid[];
  owners uuid[];
  people uuid[];
  items uuid[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n.id), array_agg(n.user_id) INTO ids, owners FROM new_rows n;
  ELSE
    SELECT array_agg(n.id), array_agg(n.user_id) INTO ids, owners
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o IS DISTINCT FROM n;
  END IF;
  IF ids IS NULL THEN
    RETURN NULL;
  END IF;
  IF TG_NARGS = 1 THEN
    PERFORM feed_note(TG_ARGV[0], owners, ids);
    RETURN NULL;
  END IF;
  PERFORM feed_lock(owners, false);
  EXECUTE format(
    'SELECT array_agg(a.user_id), array_agg(a.item_id) FROM ('
    '  SELECT c.owner_id AS user_id, c.id AS item_id FROM unnest($1, $2) AS c (id, owner_id)'
    '  UNION'
    '  SELECT s.shared_user_id, s.%2$I FROM %1$I s'
    '  WHERE s.%2$I = ANY ($1) AND (s.expiration IS NULL OR s.expiration > now())'
    ') a',
    TG_ARGV[1], TG_ARGV[2]
  ) INTO people, items USING ids, owners;
  PERFORM feed_note(TG_ARGV[0], people, items);
  RETURN NULL;
END $$;

-- Shares granted, changed (permission, expiry, recursive) or revoked: what the sharee sees
-- of the item changes, and of its whole subtree when the share is (or was) recursive.
-- Revoked shares count whether or not they had lapsed (a lapse not yet seen by a feed is
-- found through the share row, which is now gone). TG_ARGV: collection, item table, the
-- share table's item column.
CREATE FUNCTION feed_shares() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  fk text := TG_ARGV[2];
  items uuid[];
  sharees uuid[];
  deep boolean[];
  owners uuid[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg((to_jsonb(n) ->> fk)::uuid), array_agg(n.shared_user_id),
           array_agg(coalesce((to_jsonb(n) ->> 'recursive')::boolean, false))
    INTO items, sharees, deep
    FROM new_rows n;
  ELSIF TG_OP = 'UPDATE' THEN
    SELECT array_agg((to_jsonb(n) ->> fk)::uuid), array_agg(n.shared_user_id),
           array_agg(coalesce((to_jsonb(n) ->> 'recursive')::boolean, false)
                     OR coalesce((to_jsonb(o) ->> 'recursive')::boolean, false))
    INTO items, sharees, deep
    FROM new_rows n JOIN old_rows o
      ON (to_jsonb(o) ->> fk) = (to_jsonb(n) ->> fk) AND o.shared_user_id = n.shared_user_id
    WHERE (to_jsonb(o) - 'updated_at') IS DISTINCT FROM (to_jsonb(n) - 'updated_at');
  ELSE
    SELECT array_agg((to_jsonb(o) ->> fk)::uuid), array_agg(o.shared_user_id),
           array_agg(coalesce((to_jsonb(o) ->> 'recursive')::boolean, false))
    INTO items, sharees, deep
    FROM old_rows o;
  END IF;
  IF items IS NULL THEN
    RETURN NULL;
  END IF;
  EXECUTE format('SELECT array_agg(user_id) FROM %I WHERE id = ANY ($1)', TG_ARGV[1])
    INTO owners USING items;
  PERFORM feed_lock(owners, true);
  PERFORM feed_note_reach(TG_ARGV[0], sharees, items, deep);
  RETURN NULL;
END $$;

-- An owner erased: every item of theirs that a share reached disappears from the sharee's
-- view. Before the delete, while the items and shares its cascades remove are still there.
CREATE FUNCTION feed_erase() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  people uuid[];
  items uuid[];
  deep boolean[];
BEGIN
  PERFORM feed_lock(ARRAY[OLD.id], true);
  SELECT array_agg(s.shared_user_id), array_agg(s.todo_id), array_agg(s.recursive)
  INTO people, items, deep
  FROM shared_todos s JOIN todos t ON t.id = s.todo_id
  WHERE t.user_id = OLD.id;
  PERFORM feed_note_reach('todo', people, items, deep);
  SELECT array_agg(s.shared_user_id), array_agg(s.memo_id) INTO people, items
  FROM shared_memos s JOIN memos m ON m.id = s.memo_id
  WHERE m.user_id = OLD.id;
  PERFORM feed_note('memo', people, items);
  SELECT array_agg(s.shared_user_id), array_agg(s.contact_id) INTO people, items
  FROM shared_contacts s JOIN contacts c ON c.id = s.contact_id
  WHERE c.user_id = OLD.id;
  PERFORM feed_note('contact', people, items);
  RETURN OLD;
END $$;
"""


def _item_triggers(table: str, function: str) -> list[str]:
    """AFTER INSERT and AFTER UPDATE statement triggers (a trigger with transition tables
    has one event) on `table`, running `function`."""
    return [
        f"CREATE TRIGGER feed_{table}_inserted AFTER INSERT ON {table} "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}",
        f"CREATE TRIGGER feed_{table}_updated AFTER UPDATE ON {table} "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}",
    ]


def _triggers() -> list[str]:
    statements = [
        *_item_triggers("todos", "feed_todos()"),
        *_item_triggers("tags", "feed_items('tag')"),
        "CREATE TRIGGER feed_users_erased BEFORE DELETE ON users "
        "FOR EACH ROW EXECUTE FUNCTION feed_erase()",
    ]
    for collection, items, shares, fk in SHAREABLE:
        if items != "todos":
            statements += _item_triggers(items, f"feed_items('{collection}', '{shares}', '{fk}')")
        arguments = f"'{collection}', '{items}', '{fk}'"
        statements += [
            f"CREATE TRIGGER feed_{shares}_inserted AFTER INSERT ON {shares} "
            "REFERENCING NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION feed_shares({arguments})",
            f"CREATE TRIGGER feed_{shares}_updated AFTER UPDATE ON {shares} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION feed_shares({arguments})",
            f"CREATE TRIGGER feed_{shares}_deleted AFTER DELETE ON {shares} "
            "REFERENCING OLD TABLE AS old_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION feed_shares({arguments})",
        ]
    return statements


def upgrade() -> None:
    op.create_table(
        "feed_entries",
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("collection", sa.Text(), nullable=False),
        sa.Column("item_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("xid", sa.BigInteger(), nullable=False),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "collection IN ('tag', 'todo', 'memo', 'contact')",
            name=op.f("ck_feed_entries_collection"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_feed_entries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "collection", "item_id", name=op.f("pk_feed_entries")),
    )
    op.create_index(
        "ix_feed_entries_user_id_collection_xid_item_id",
        "feed_entries",
        ["user_id", "collection", "xid", "item_id"],
    )
    op.create_index("ix_feed_entries_changed_at", "feed_entries", ["changed_at"])
    op.execute(FUNCTIONS)
    for statement in _triggers():
        op.execute(statement)
    # The indexes on the share tables (which have rows) build concurrently, outside the
    # revision's transaction: migrations/online.py.
    for table in SHARE_TABLES:
        create_index(
            f"ix_{table}_shared_user_id_expiration",
            table,
            ["shared_user_id", "expiration"],
            postgresql_where=sa.text("expiration IS NOT NULL"),
        )


def downgrade() -> None:
    # Forward-only: undo a change with a new revision (expand/contract), never by going back.
    raise RuntimeError("migrations are forward-only; write a new revision instead")
