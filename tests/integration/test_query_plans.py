"""The hot list queries use their indexes and never scan `todos` sequentially (EXPLAIN).

A database of its own on the test server, migrated and filled by scripts/seed.py at a fifth
of the full scale (200 users, 200 000 todos, skewed like the full seed), analysed, dropped at
the end; its connection has the functions' session settings (jit off, SSD page costs).
The statements are the real data functions' (common/db/*.py), run once through a connection
that records them; each is then explained with its own parameters, as the server plans it
for a request. The heaviest seeded user is the caller: their lists are the ones an index
must serve. No timings are asserted (scripts/bench.py measures them).

The change feeds' rounds are checked the same way (their plans read the caller's changes
through the feed index and each candidate by its key), and one round is run with EXPLAIN
ANALYZE to count the rows it reads against the changes it holds.

The same database checks that the one-item access path (`access.received(..., item_id)`,
used by every single-item read and write) gives what the full expansion of the caller's
shares gives, item by item.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, event, select, text
from sqlalchemy.orm import Session

from common.config import get_settings
from common.db import tags as tags_sql
from common.db.engine import _startup_params
from common.db.feeds import Horizon, read_horizon
from common.schemas.contacts import ContactListQuery
from common.schemas.memos import MemoListQuery
from common.schemas.todos import TodoListQuery
from common.shareable import access, contacts, memos, todos
from common.shareable.feeds import list_changes
from devtools import database as db
from scripts import seed as seeder

pytestmark = pytest.mark.integration

# 20%: 200 users, 200 000 todos, 20 000 contacts and memos. At 5% (5 000 contacts) the contact
# list's plan with a sequential scan of `contacts` and the one without were costed within 5%
# of each other (startup 246.9 against 258.6), so the plan flipped between runs; at 2% the
# sequential scan is rightly the cheaper one.
SCALE = 0.2


@pytest.fixture(scope="module")
def seeded(admin_url: str) -> Iterator[Connection]:
    name = f"sealy_test_plans_{secrets.token_hex(4)}"
    db.create_database(admin_url, name)
    engine = None
    try:
        url = db.with_database(admin_url, name)
        db.migrate(url)
        seeder.seed(url, scale=SCALE)
        # the functions' session settings (planner costs among them)
        connect_args = {"startup_params": _startup_params(get_settings())}
        engine = create_engine(url, connect_args=connect_args)
        with engine.connect() as conn:
            yield conn
    finally:
        if engine is not None:
            engine.dispose()
        db.drop_database(admin_url, name)


@pytest.fixture(scope="module")
def heavy(seeded: Connection) -> uuid.UUID:
    found = seeded.execute(text("SELECT id FROM users WHERE email = :e"), {"e": seeder.HEAVY_EMAIL})
    return uuid.UUID(str(found.scalar_one()))


def plans_of(conn: Connection, run: Callable[[Session], Any]) -> list[dict[str, Any]]:
    """Run `run` (a data function) and return the EXPLAIN of each statement it executed."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", record)
    try:
        run(Session(bind=conn))
    finally:
        event.remove(conn, "before_cursor_execute", record)
        conn.rollback()
    assert seen, "the data function ran no statement"
    plans = []
    for statement, parameters in seen:
        result = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
        plans.append(result.scalar_one()[0]["Plan"])
    conn.rollback()
    return plans


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def scans(plans: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(node type, relation, index) of every scan in the plans; a bitmap heap scan is listed
    once per index its bitmap was built from."""
    found: list[tuple[str, str, str | None]] = []
    for plan in plans:
        for n in nodes(plan):
            if "Relation Name" not in n:
                continue
            kind, relation = n["Node Type"], n["Relation Name"]
            if kind == "Bitmap Heap Scan":
                bitmaps = [c["Index Name"] for c in nodes(n) if "Index Name" in c]
                found.extend((kind, relation, index) for index in bitmaps)
            else:
                found.append((kind, relation, n.get("Index Name")))
    return found


def assert_indexed(
    plans: list[dict[str, Any]], table: str, *, uses: set[str] | None = None
) -> set[str]:
    """No sequential scan of `todos` or of `table`; `table` read through an index (one of
    `uses`, when given). Returns the indexes the plan uses on `table`."""
    found = scans(plans)
    seq = [(kind, rel) for kind, rel, _ in found if kind == "Seq Scan" and rel in ("todos", table)]
    assert not seq, f"sequential scans: {seq}\n{found}"
    indexes = {index for _, rel, index in found if rel == table and index}
    assert indexes, f"{table} is not read through an index: {found}"
    if uses is not None:
        assert indexes & uses, f"{table} read through {indexes}, expected one of {uses}"
    return indexes


def first_page(view: access.View, me: uuid.UUID, query: Any) -> Callable[[Session], Any]:
    """The first page of a list, as the list route reads it."""
    sort = view.sorts[query.sort]
    return lambda s: access.list_visible(
        session=s, view=view, me=me, query=query, sort=sort, after=None, shown=True
    )


def test_the_seed_made_a_heavy_user(seeded: Connection, heavy: uuid.UUID) -> None:
    counts = seeded.execute(
        text("SELECT count(*) FILTER (WHERE user_id = :u), count(*) FROM todos"), {"u": heavy}
    ).one()
    assert counts[1] == round(1_000_000 * SCALE)
    assert counts[0] > counts[1] / 10  # Zipf: the heaviest user holds over a tenth


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TodoListQuery(scope="all", limit=50), {"ix_todos_user_id_created_at_id"}),
        (TodoListQuery(scope="owned", limit=50), {"ix_todos_user_id_created_at_id"}),
        (TodoListQuery(sort="deadline", limit=50), {"ix_todos_user_id_deadline_id"}),
        (TodoListQuery(sort="-priority", limit=50), {"ix_todos_user_id_priority_id"}),
        (
            TodoListQuery(q="dentist", limit=50),
            {"ix_todos_user_id_created_at_id", "ix_todos_title_trgm"},
        ),
        (TodoListQuery(parent_id="root", limit=50), {"ix_todos_user_id_created_at_id"}),
    ],
    ids=["scope-all", "owned", "sort-deadline", "sort-priority", "q", "roots"],
)
def test_todo_lists_use_their_indexes(
    seeded: Connection, heavy: uuid.UUID, query: TodoListQuery, expected: set[str]
) -> None:
    plans = plans_of(seeded, first_page(todos.VIEW, heavy, query))
    assert_indexed(plans, "todos", uses=expected)


def test_the_todo_list_by_tag_uses_indexes(seeded: Connection, heavy: uuid.UUID) -> None:
    tag = seeded.execute(
        text(
            "SELECT tt.tag_id FROM todo_tags tt JOIN todos t ON t.id = tt.todo_id "
            "WHERE t.user_id = :u GROUP BY tt.tag_id ORDER BY count(*) DESC LIMIT 1"
        ),
        {"u": heavy},
    ).scalar_one()
    query = TodoListQuery(tag=tag, limit=50)
    plans = plans_of(seeded, first_page(todos.VIEW, heavy, query))
    assert_indexed(plans, "todos")
    assert not [s for s in scans(plans) if s[:2] == ("Seq Scan", "todo_tags")]


def test_a_todo_is_read_by_its_key(seeded: Connection, heavy: uuid.UUID) -> None:
    item = seeded.execute(
        text("SELECT id FROM todos WHERE user_id = :u AND parent_id IS NOT NULL LIMIT 1"),
        {"u": heavy},
    ).scalar_one()
    plans = plans_of(
        seeded, lambda s: access.get_visible(session=s, view=todos.VIEW, me=heavy, item_id=item)
    )
    assert_indexed(plans, "todos", uses={"pk_todos"})
    assert not [s for s in scans(plans) if s[0] == "Seq Scan" and s[1].startswith("shared_")]


@pytest.mark.parametrize("sort", ["-created_at", "name"])
def test_contact_lists_use_their_indexes(seeded: Connection, heavy: uuid.UUID, sort: str) -> None:
    query = ContactListQuery(sort=sort, limit=50)
    plans = plans_of(seeded, first_page(contacts.VIEW, heavy, query))
    key = "name" if sort == "name" else "created_at"
    assert_indexed(plans, "contacts", uses={f"ix_contacts_user_id_{key}_id"})
    children = {rel for kind, rel, _ in scans(plans) if kind == "Seq Scan"}
    assert not children & {"numbers", "emails", "addresses", "contact_tags"}


def test_the_memo_list_uses_its_index(seeded: Connection, heavy: uuid.UUID) -> None:
    query = MemoListQuery(limit=50)
    plans = plans_of(seeded, first_page(memos.VIEW, heavy, query))
    assert_indexed(plans, "memos", uses={"ix_memos_user_id_created_at_id"})


# --- the one-item access path agrees with the full expansion ------------------------------------


def _ranks(conn: Connection, spec: access.Shareable, me: uuid.UUID) -> dict[uuid.UUID, int]:
    acc = access.received(spec, me)
    return {row.id: row.rank for row in conn.execute(select(acc.c.id, acc.c.rank))}


def _rank_of(conn: Connection, spec: access.Shareable, me: uuid.UUID, item: uuid.UUID) -> Any:
    acc = access.received(spec, me, item)
    return conn.execute(select(acc.c.rank)).scalar_one_or_none()


@pytest.mark.parametrize(
    "spec", [access.TODOS, access.MEMOS, access.CONTACTS], ids=lambda s: s.name
)
def test_one_item_access_matches_the_expansion(seeded: Connection, spec: access.Shareable) -> None:
    t = spec.table
    sharees = [
        row[0]
        for row in seeded.execute(select(spec.share_table.c.shared_user_id).distinct().limit(8))
    ]
    assert sharees
    for me in sharees:
        full = _ranks(seeded, spec, me)
        # what the expansion reaches, their children, and items of others it does not reach
        reached = list(full)[:40]
        others = [
            row[0]
            for row in seeded.execute(
                select(t.c.id).where(t.c.user_id != me).order_by(t.c.id).limit(40)
            )
        ]
        children: list[Any] = []
        if spec.recursive and reached:
            children = [
                row[0] for row in seeded.execute(select(t.c.id).where(t.c.parent_id.in_(reached)))
            ]
        for item in {*reached, *others, *children}:
            assert _rank_of(seeded, spec, me, item) == full.get(item), (me, item)
    seeded.rollback()


def test_one_item_access_follows_deleted_todos_like_the_expansion(seeded: Connection) -> None:
    """A recursive share reaches down through undeleted todos only; a share on a deleted todo
    still reaches its undeleted children (the expansion's rule, kept by the one-item path)."""
    users = [row[0] for row in seeded.execute(text("SELECT id FROM users ORDER BY id LIMIT 3"))]
    owner, via_root, via_deleted = users
    ids = [uuid.uuid4() for _ in range(4)]  # root -> middle (deleted) -> leaf; root -> other
    rows = [
        (ids[0], None, None),
        (ids[1], ids[0], "now()"),
        (ids[2], ids[1], None),
        (ids[3], ids[0], None),
    ]
    try:
        for item, parent, deleted in rows:
            seeded.execute(
                text(
                    "INSERT INTO todos (id, title, user_id, parent_id, deleted_at) "
                    f"VALUES (:i, 'x', :u, :p, {deleted or 'NULL'})"
                ),
                {"i": item, "u": owner, "p": parent},
            )
        seeded.execute(
            text(
                "INSERT INTO shared_todos (todo_id, shared_user_id, permissions, recursive) "
                "VALUES (:root, :a, 'W', true), (:middle, :b, 'R', true)"
            ),
            {"root": ids[0], "middle": ids[1], "a": via_root, "b": via_deleted},
        )
        for me in (via_root, via_deleted):
            full = _ranks(seeded, access.TODOS, me)
            for item in ids:
                assert _rank_of(seeded, access.TODOS, me, item) == full.get(item), (me, item)
        assert _rank_of(seeded, access.TODOS, via_root, ids[2]) is None  # blocked by the deleted
        assert _rank_of(seeded, access.TODOS, via_root, ids[3]) == 2
        assert _rank_of(seeded, access.TODOS, via_deleted, ids[2]) == 1
    finally:
        seeded.rollback()


# --- change feeds: a round reads its changes, not the caller's data ---------------------------

FEEDS = {
    "todos": todos.VIEW,
    "memos": memos.VIEW,
    "contacts": contacts.VIEW,
}


def _round_of(
    view: access.View | None, me: uuid.UUID, since: Horizon, round_: Horizon
) -> Callable[[Session], Any]:
    """A changes page of a round, as GET /v1/<collection>/changes reads it."""
    if view is None:
        return lambda s: tags_sql.list_tag_changes(
            session=s, me=me, since=since, round_=round_, after=None, limit=200
        )
    return lambda s: list_changes(
        session=s, view=view, me=me, since=since, round_=round_, after=None, limit=200
    )


def _horizon(conn: Connection) -> Horizon:
    return read_horizon(session=Session(bind=conn))


@pytest.mark.parametrize("collection", [*FEEDS, "tags"])
def test_a_round_reads_the_changes_through_the_feed_index(
    seeded: Connection, heavy: uuid.UUID, collection: str
) -> None:
    """The heaviest user's round: their entries by (user, collection, xid), each candidate
    by its key; never their items by owner, never the expansion of every share they hold."""
    since = _horizon(seeded)
    seeded.rollback()
    plans = plans_of(seeded, _round_of(FEEDS.get(collection), heavy, since, _horizon(seeded)))
    found = scans(plans)
    assert ("Index Scan", "feed_entries", "ix_feed_entries_user_id_collection_xid_item_id") in {
        (kind.replace("Only ", ""), rel, index) for kind, rel, index in found
    }, found
    assert not [s for s in found if s[0] == "Seq Scan"], found
    owner_indexes = [s for s in found if (s[2] or "").startswith(f"ix_{collection}_user_id")]
    assert not owner_indexes, found
    assert not [s for s in found if (s[2] or "").endswith("_shared_user_id")], found


def test_a_round_of_ten_changes_reads_about_ten_rows(seeded: Connection, heavy: uuid.UUID) -> None:
    """EXPLAIN ANALYZE of the heaviest user's round after ten of their todos changed (and
    one of the todos shared with them): the rows read from todos and feed_entries are a
    small multiple of the changes, against their tens of thousands of todos."""
    session = Session(bind=seeded)
    try:
        since = read_horizon(session=session)
        seeded.execute(
            text(
                "UPDATE todos SET title = title || '!' WHERE id IN (SELECT id FROM todos "
                "WHERE user_id = :u AND deleted_at IS NULL ORDER BY id LIMIT 10)"
            ),
            {"u": heavy},
        )
        seeded.execute(
            text(
                "UPDATE todos SET title = title || '?' WHERE id = (SELECT s.todo_id FROM "
                "shared_todos s WHERE s.shared_user_id = :u ORDER BY s.todo_id LIMIT 1)"
            ),
            {"u": heavy},
        )
        round_ = read_horizon(session=session)
        seen: list[tuple[str, Any]] = []

        def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            seen.append((statement, parameters))

        event.listen(seeded, "before_cursor_execute", record)
        try:
            rows = _round_of(todos.VIEW, heavy, since, round_)(session)
        finally:
            event.remove(seeded, "before_cursor_execute", record)
        assert len(rows) == 11
        assert all(row["id"] is not None for row in rows)  # each seen, as the GET would
        ((statement, parameters),) = seen
        plan = seeded.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
        ).scalar_one()[0]["Plan"]
        read = {"todos": 0, "feed_entries": 0}
        for node in nodes(plan):
            if node.get("Relation Name") in read:
                read[node["Relation Name"]] += node["Actual Rows"] * node["Actual Loops"]
        total = seeded.execute(
            text("SELECT count(*) FROM todos WHERE user_id = :u"), {"u": heavy}
        ).scalar_one()
        assert total > 10_000
        assert read["feed_entries"] <= 2 * 11, read
        assert read["todos"] <= 10 * 11, read  # each todo and the ancestors its access needs
    finally:
        seeded.rollback()
