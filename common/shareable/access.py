"""Who may see and change a shareable item, decided in the SQL that reads or writes it.

Todos, memos and contacts are "shareable": an owner (`user_id`), share rows in a
`shared_<items>` table (permission R/W, optional expiry) and tag links in `<item>_tags`.
`Shareable` describes one such resource; every query here is written once for all three.
The reads of visible items are here too: `View` says how a resource is represented, and
`get_visible` / `list_visible` read one item or one page of a list as the caller may see it.

The caller's access to a row is `owner` when they own it, else the best permission among
their live shares of it (an expired share matches nothing), else none: the row is not
visible and every endpoint answers 404. Todo shares are `recursive` by default: they reach
the whole subtree of the shared todo, so the shares a caller received are expanded down
the `parent_id` tree in a recursive CTE. The access check is part of each statement's WHERE
clause, never a separate read before a write.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    CTE,
    ColumnElement,
    FromClause,
    Integer,
    Select,
    Table,
    Text,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import UUID, aggregate_order_by
from sqlalchemy.dialects.postgresql import array as pg_array
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql.dml import ReturningUpdate

from common import errors
from common.db import models
from common.db.engine import Session
from common.db.tables import if_match
from common.paging import ShareableListQuery, SortKey

OWNER, WRITE, READ = "owner", "write", "read"
# A caller or item id: a value, or a bound parameter of a statement built once and reused.
Id = uuid.UUID | ColumnElement[uuid.UUID]
_WRITE_RANK, _READ_RANK = 2, 1


@dataclass(frozen=True)
class Shareable:
    name: str  # "todo": used in messages and cursors
    table: Table
    share_table: Table
    share_fk: str  # the share table's column naming the item ("todo_id")
    tag_table: Table
    tag_fk: str  # the tag-link table's column naming the item
    recursive: bool = False  # shares reach sub-items through `parent_id`
    unshareable: str | None = None  # a boolean column that, when true, forbids sharing

    @property
    def share_item(self) -> Any:
        return self.share_table.c[self.share_fk]

    @property
    def tag_item(self) -> Any:
        return self.tag_table.c[self.tag_fk]


TODOS = Shareable(
    name="todo",
    table=models.Todo,
    share_table=models.SharedTodo,
    share_fk="todo_id",
    tag_table=models.TodoTag,
    tag_fk="todo_id",
    recursive=True,
)
MEMOS = Shareable(
    name="memo",
    table=models.Memo,
    share_table=models.SharedMemo,
    share_fk="memo_id",
    tag_table=models.MemoTag,
    tag_fk="memo_id",
    unshareable="secret",
)
CONTACTS = Shareable(
    name="contact",
    table=models.Contact,
    share_table=models.SharedContact,
    share_fk="contact_id",
    tag_table=models.ContactTag,
    tag_fk="contact_id",
)


def live_share(share_table: Table) -> ColumnElement[bool]:
    expiration = share_table.c.expiration
    return or_(expiration.is_(None), expiration > func.now())


def received(spec: Shareable, me: Id, item_id: Id | None = None) -> CTE:
    """(id, rank) of every item reached by the caller's live shares; rank 2 write, 1 read.

    With `item_id`, only that item's row (none when no share reaches it): its own shares and,
    for todos, the recursive shares of its ancestors, found by walking up from the item
    rather than expanding every share the caller received (docs/benchmarks.md: for a user
    with hundreds of shares that expansion was most of a single-item request)."""
    if item_id is not None:
        return received_among(spec, me, lambda column: column == item_id)
    shares = reached(spec, me, live_share(spec.share_table), f"{spec.name}_shared")
    return (
        select(shares.c.id, func.max(shares.c.rank).label("rank"))
        .group_by(shares.c.id)
        .cte(f"{spec.name}_access")
    )


def reached(spec: Shareable, me: Id, shares: ColumnElement[bool], name: str) -> CTE:
    """(id, rank) of the items the caller's shares matching `shares` reach: the shared items
    and, through recursive todo shares, their undeleted descendants (an item once per share
    that reaches it)."""
    s = spec.share_table
    rank = case((s.c.permissions == models.Permission.W, _WRITE_RANK), else_=_READ_RANK)
    direct = select(spec.share_item.label("id"), rank.label("rank"))
    if not spec.recursive:
        return direct.where(s.c.shared_user_id == me, shares).cte(name)
    roots = direct.add_columns(s.c.recursive.label("descend")).where(
        s.c.shared_user_id == me, shares
    )
    tree = roots.cte(f"{name}_tree", recursive=True)
    child = spec.table.alias(f"{name}_child")
    tree = tree.union(  # UNION, not ALL: terminates even if a cycle slipped in
        select(child.c.id, tree.c.rank, true()).where(
            child.c.parent_id == tree.c.id, tree.c.descend, child.c.deleted_at.is_(None)
        )
    )
    return select(tree.c.id, tree.c.rank).cte(name)


def received_among(spec: Shareable, me: Id, picks: Callable[[Any], ColumnElement[bool]]) -> CTE:
    """`received(...)` for the items whose id `picks` holds for (a condition on an id column):
    the same rows the expansion would give for them, found from the items themselves.

    The expansion reaches an item from a share on the item itself, or from a recursive share
    on an ancestor through undeleted items only (the item included). Walking up from each
    item (its id carried along as `origin`), the step from an item to its parent is
    therefore taken only from an undeleted item. The caller's share of each node is probed
    by its key (a LATERAL subquery the planner keeps as it is: OFFSET 0), so the cost follows
    the items asked about, never the number of shares the caller holds."""
    s = spec.share_table
    rank = case((s.c.permissions == models.Permission.W, _WRITE_RANK), else_=_READ_RANK)
    t = spec.table
    if spec.recursive:
        nodes = (
            select(
                t.c.id.label("origin"),
                t.c.id,
                t.c.parent_id,
                t.c.deleted_at,
                true().label("is_item"),
            )
            .where(picks(t.c.id))
            .cte(f"{spec.name}_ancestors", recursive=True)
        )
        parent = t.alias(f"{spec.name}_parent")
        nodes = nodes.union(  # UNION: terminates even if a cycle slipped in
            select(
                nodes.c.origin, parent.c.id, parent.c.parent_id, parent.c.deleted_at, false()
            ).where(parent.c.id == nodes.c.parent_id, nodes.c.deleted_at.is_(None))
        )
    else:
        nodes = (
            select(t.c.id.label("origin"), t.c.id, true().label("is_item"))
            .where(picks(t.c.id))
            .cte(f"{spec.name}_items")
        )
    reaches = s.c.recursive if spec.recursive else false()
    share = (
        select(rank.label("rank"), reaches.label("reaches"))
        .where(spec.share_item == nodes.c.id, s.c.shared_user_id == me, live_share(s))
        .offset(0)
        .lateral(f"{spec.name}_share")
    )
    return (
        select(nodes.c.origin.label("id"), func.max(share.c.rank).label("rank"))
        .select_from(nodes.join(share, true()))
        .where(or_(nodes.c.is_item, share.c.reaches))
        .group_by(nodes.c.origin)
        .cte(f"{spec.name}_access")
    )


def access_level(table: Any, acc: CTE, me: Id) -> ColumnElement[str]:
    """The caller's access to a row of `table` outer-joined with `received(...)`."""
    return case(
        (table.c.user_id == me, literal(OWNER)),
        (acc.c.rank == _WRITE_RANK, literal(WRITE)),
        else_=literal(READ),
    )


def target(spec: Shareable, me: uuid.UUID, item_id: uuid.UUID) -> CTE:
    """One visible item with the caller's access and its version, as a CTE."""
    t = spec.table
    acc = received(spec, me, item_id)
    return (
        select(t.c.id, t.c.version, access_level(t, acc, me).label("access"))
        .select_from(t.outerjoin(acc, acc.c.id == t.c.id))
        .where(
            t.c.id == item_id,
            t.c.deleted_at.is_(None),
            or_(t.c.user_id == me, acc.c.id.is_not(None)),
        )
        .cte(f"{spec.name}_target")
    )


def guarded_update(
    spec: Shareable,
    me: uuid.UUID,
    item_id: uuid.UUID,
    *,
    allowed: Collection[str],
    versions: frozenset[int] | None,
    values: dict[str, Any],
    changed: Sequence[ColumnElement[bool]] = (),
) -> ReturningUpdate[Any]:
    """UPDATE one item only if the caller's access is `allowed` and its version matches.

    The If-Match check and "not deleted" are conditions on the updated row itself, so after
    waiting for another writer's lock PostgreSQL checks them again on the row that writer
    left: of two writers holding one ETag exactly one succeeds, and nothing writes to an item
    a concurrent DELETE removed. The version (and `updated_at`) move only when a value
    changes: one of `values` differs from the stored one, or one of `changed` (what the
    resource stores elsewhere: tags, recurrence, lists) holds. Returns the updated row,
    the caller's `access` and `seen_version`, the version in the statement's snapshot."""
    t = spec.table
    tgt = target(spec, me, item_id)
    differs = or_(
        false(), *(t.c[name].is_distinct_from(value) for name, value in values.items()), *changed
    )
    return (
        update(t)
        .where(
            t.c.id == tgt.c.id,
            tgt.c.access.in_(list(allowed)),
            t.c.deleted_at.is_(None),
            *if_match(t.c.version, versions),
        )
        .values(
            **values,
            version=case((differs, t.c.version + 1), else_=t.c.version),
            updated_at=case((differs, func.now()), else_=t.c.updated_at),
        )
        .returning(*t.c, tgt.c.access, tgt.c.version.label("seen_version"))
    )


def explain_refusal(
    session: Session,
    spec: Shareable,
    me: uuid.UUID,
    item_id: uuid.UUID,
    *,
    allowed: Collection[str],
    versions: frozenset[int] | None,
) -> errors.ApiError:
    """Why a guarded write matched no row: 404 unseen, 403 not allowed, 412 stale version."""
    tgt = target(spec, me, item_id)
    row = session.execute(select(tgt.c.access, tgt.c.version)).first()
    if row is None:
        return errors.NotFound(f"No such {spec.name}.")
    if row.access not in allowed:
        return errors.Forbidden(f"Your access to this {spec.name} does not allow this.")
    if versions is not None and row.version not in versions:
        return errors.PreconditionFailed()
    return errors.Conflict(f"The {spec.name} changed while you wrote it; try again.")


def tag_ids(spec: Shareable, item_id: Any) -> Any:
    """A scalar subquery: the item's tag ids, sorted, as an array (empty, never NULL)."""
    link = spec.tag_table
    ids = func.array_agg(aggregate_order_by(link.c.tag_id, link.c.tag_id))
    return (
        select(func.coalesce(ids, pg_array([], type_=UUID(as_uuid=True))))
        .where(spec.tag_item == item_id)
        .correlate_except(link)  # the item's row is the enclosing statement's, however nested
        .scalar_subquery()
    )


def own_item(spec: Shareable, me: uuid.UUID, item_id: uuid.UUID) -> CTE:
    """The caller's own, undeleted item (the only one whose shares and tags they manage)."""
    t = spec.table
    return (
        select(t.c.id)
        .where(t.c.id == item_id, t.c.user_id == me, t.c.deleted_at.is_(None))
        .cte(f"own_{spec.name}")
    )


def owner_only(
    session: Session, spec: Shareable, me: uuid.UUID, item_id: uuid.UUID
) -> errors.ApiError:
    """The error for an owner-only action on an item the caller does not own."""
    return explain_refusal(session, spec, me, item_id, allowed=(OWNER,), versions=None)


# --- reads of visible items ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # hashed by identity: statements are built once per view
class View:
    """How one shareable resource is represented and listed.

    `out` is its Out schema and `fields` its representation as PostgreSQL builds it: for a
    row's columns `c`, the SQL value of each Out field that is the resource's own (JSON-ready:
    timestamps through `json_timestamp`, nested objects through `json_row`); `list_fields`
    what a list shows instead. `columns` are the same fields as plain columns (child lists as
    scalar subqueries) and `to_out` turns a row of them into the Out schema's fields: the
    change feeds read those. `join` adds outer joins the columns need; `search` is the
    condition of `q` (given its `like_pattern` as a parameter); `filters` the conditions of
    the resource's own list filters (of its `list_query`, values as `param`s)."""

    spec: Shareable
    out: type[BaseModel]
    fields: Callable[[Any], dict[str, Any]]
    columns: tuple[Any, ...]
    sorts: dict[str, SortKey]
    search: Callable[[Any], ColumnElement[bool]]
    to_out: Callable[[RowMapping], dict[str, Any]]
    join: Callable[[FromClause], FromClause] = lambda source: source
    filters: Callable[[Any], list[ColumnElement[bool]]] = lambda query: []
    list_fields: Callable[[Any], dict[str, Any]] = lambda c: {}
    list_query: type[ShareableListQuery] = ShareableListQuery  # the list's query schema
    representation: tuple[Any, ...] = field(init=False)

    def __post_init__(self) -> None:
        t = self.spec.table
        every = (
            *self.columns,
            t.c.user_id.label("owner_id"),
            tag_ids(self.spec, t.c.id).label("tag_ids"),
        )
        object.__setattr__(self, "representation", every)  # every Out column but `access`

    def shown(
        self,
        c: Any,
        access: Any,
        *,
        listed: bool = False,
        given: dict[str, Any] | None = None,
    ) -> ColumnElement[str]:
        """The item as the Out schema's JSON text, built by PostgreSQL from the columns `c`
        of its row (the table's, or a CTE's returning them) and the caller's `access`.
        `listed`: as a list shows it; `given`: fields whose value the statement writes
        (a write does not see its own changes of other tables)."""
        values = {
            "id": c.id,
            **self.fields(c),
            "tag_ids": tag_ids(self.spec, c.id),
            "owner_id": c.user_id,
            "access": access,
            "version": c.version,
            "created_at": json_timestamp(c.created_at),
            "updated_at": json_timestamp(c.updated_at),
            **(self.list_fields(c) if listed else {}),
            **(given or {}),
        }
        names = list(self.out.model_fields)
        if set(values) != set(names):
            raise TypeError(f"{self.out.__name__} has {names}, the SQL builds {list(values)}")
        row = select(*(values[n].label(n) for n in names)).correlate_except(None)
        return cast(json_row(row), Text)  # text: pg8000 would parse json


def json_row(fields: Select[Any]) -> Any:
    """A scalar subquery: the one row of `fields` (correlated to the enclosing statement as
    its caller says) as a JSON object, of type json, NULL when there is no row. Keys are in
    the order of its labelled columns; row_to_json writes it compactly (json_build_object
    would put spaces around every colon)."""
    row = fields.subquery("fields")
    return select(func.row_to_json(row.table_valued())).scalar_subquery()


def json_timestamp(column: Any) -> ColumnElement[str]:
    """A timestamptz as pydantic writes our `Timestamp`s: UTC with `Z`, microseconds only
    when there are any ("2024-05-01T09:00:00Z", "2024-05-01T09:00:00.120000Z")."""
    # The constants are written into the SQL, not sent as parameters of every statement.
    utc = func.timezone(literal_column("'UTC'"), column)
    text = func.to_char(utc, literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""))
    return func.replace(text, literal_column("'.000000Z'"), literal_column("'Z'"))


# The bound parameters of statements built once per shape and reused (building one of these
# statements took ~3 ms of Python per request, more than running it: docs/benchmarks.md).
ME = bindparam("me", type_=UUID(as_uuid=True))
ITEM_ID = bindparam("item_id", type_=UUID(as_uuid=True))


def _visible(
    view: View,
    columns: Callable[[ColumnElement[str]], Sequence[Any]],
    join: Callable[[FromClause], FromClause] = lambda source: source,
) -> Select[Any]:
    """The item ITEM_ID as ME may see it: `columns(access)` of its row, from the table and
    what `join` adds."""
    t = view.spec.table
    acc = received(view.spec, ME, ITEM_ID)
    return (
        select(*columns(access_level(t, acc, ME)))
        .select_from(join(t.outerjoin(acc, acc.c.id == t.c.id)))
        .where(
            t.c.id == ITEM_ID,
            t.c.deleted_at.is_(None),
            or_(t.c.user_id == ME, acc.c.id.is_not(None)),
        )
    )


@functools.cache
def _visible_one(view: View, extra: tuple[Any, ...], lock: bool) -> Select[Any]:
    """The statement of `get_visible` for this view and extra columns, with ME and ITEM_ID."""
    columns = lambda access: (*view.representation, *extra, access.label("access"))  # noqa: E731
    stmt = _visible(view, columns, view.join)
    return stmt.with_for_update(of=view.spec.table, key_share=True) if lock else stmt


@functools.cache
def _shown_one(view: View) -> Select[Any]:
    """The statement of `show_visible` for this view, with ME and ITEM_ID."""
    t = view.spec.table
    return _visible(view, lambda access: (view.shown(t.c, access).label("json"), t.c.version))


def get_visible(
    *,
    session: Session,
    view: View,
    me: uuid.UUID,
    item_id: uuid.UUID,
    extra: tuple[Any, ...] = (),
    lock: bool = False,
) -> RowMapping | None:
    """One item as the caller may see it (with `access`), or None. `extra`: more columns, the
    same objects on every call (the statement is built once per view and `extra`).

    `lock`: the item's row is locked (FOR NO KEY UPDATE, what an UPDATE takes) until the
    transaction ends, for a read-compute-write; a concurrent writer's change is waited for
    and read (READ COMMITTED reads the locked row's latest version)."""
    stmt = _visible_one(view, extra, lock)
    return session.execute(stmt, {"me": me, "item_id": item_id}).mappings().first()


def show_visible(
    *, session: Session, view: View, me: uuid.UUID, item_id: uuid.UUID
) -> Shown | None:
    """One item as the caller may see it, as its Out JSON (built by PostgreSQL), or None."""
    row = session.execute(_shown_one(view), {"me": me, "item_id": item_id}).first()
    return None if row is None else Shown(row.json, row.version)


@dataclass(frozen=True)
class Shown:
    """An item's representation as its Out schema's JSON text, and its version (the ETag)."""

    json: str
    version: int


def list_visible(
    *,
    session: Session,
    view: View,
    me: uuid.UUID,
    query: ShareableListQuery,
    sort: SortKey,
    after: tuple[Any, uuid.UUID] | None,
    shown: bool = False,
) -> list[RowMapping]:
    """One page (limit + 1 rows, to tell whether more follow) in one statement, with the
    filters every shareable list has (pinned, tag, q) and the view's own: rows of the
    representation columns and `access`, or (`shown`) of `id` and the sort column as the
    cursor writes them (text, SortKey.encoded) and `json`, each item as a list shows it (its
    Out JSON, built by PostgreSQL).

    The statement is built once per shape (which filters are given, the sort, the scope,
    where a cursor points) and reused with the values as parameters: building it took more
    CPU than the rest of the request. Filters therefore name their values as parameters
    called after their query field (`param`), never as literals."""
    given = {name: value for name, value in query if name not in ("limit", "cursor")}
    shape = _Shape(
        view,
        shown,
        sort,
        tuple((k, v if k in ("scope", "sort") else type(v)) for k, v in given.items()),
        None if after is None else after[0] is not None,
        query,
    )
    stmt = _page(shape)
    values = {k: v for k, v in given.items() if v is not None and k not in ("scope", "sort")}
    if query.q is not None:
        values["q"] = like_pattern(query.q)
    if after is not None:
        values["after_value"], values["after_id"] = after
    values.update(me=me, rows=query.limit + 1)
    return list(session.execute(stmt, values).mappings())


def param(name: str, column: Any) -> Any:
    """The parameter of a list filter's value: `name` is the query field that holds it."""
    return bindparam(name, type_=column.type)


@dataclass(frozen=True)
class _Shape:
    """What the statement of a list page depends on: the view and the columns it reads,
    the sort, which filters are given (names and the types of their values), where the
    cursor points (None: no cursor; else whether its sort value is not null) and, not
    compared, the first query seen of this shape."""

    view: View
    shown: bool
    sort: SortKey
    filters: tuple[tuple[str, Any], ...]
    position: bool | None
    query: ShareableListQuery = field(compare=False, hash=False)


# Bounded: the shapes a client can ask for multiply (filters x sorts x scopes x cursors),
# while a few are most of the traffic.
@functools.lru_cache(maxsize=256)
def _page(shape: _Shape) -> Select[Any]:
    """The statement of one page of a list of this shape, with ME, `rows` (limit + 1) and
    the values of its filters and of the cursor's position as parameters.

    Owned and shared rows are two branches, each walking its own index in sort order and
    stopping after limit + 1 rows; the union is sorted and cut once more. Representation
    columns are computed only for the rows of the page."""
    view, sort, query = shape.view, shape.sort, shape.query
    spec = view.spec
    t = spec.table
    where = [t.c.deleted_at.is_(None), *_list_filters(view, query), *view.filters(query)]
    if shape.position is not None:
        value = param("after_value", sort.column) if shape.position else None
        where.append(sort.after(t.c.id, value, param("after_id", t.c.id)))
    order = sort.order_by(t.c.id)
    n = bindparam("rows", type_=Integer)
    branches: list[Select[Any]] = []
    if query.scope in ("all", "owned"):
        branches.append(
            select(t.c.id, literal(OWNER).label("access"))
            .where(t.c.user_id == ME, *where)
            .order_by(*order)
            .limit(n)
        )
    if query.scope in ("all", "shared"):
        acc = received(spec, ME)
        branches.append(
            select(t.c.id, access_level(t, acc, ME).label("access"))
            .select_from(t.join(acc, acc.c.id == t.c.id))
            .where(t.c.user_id != ME, *where)
            .order_by(*order)
            .limit(n)
        )
    page = (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("page")
    source: FromClause = page.join(t, t.c.id == page.c.id)
    if shape.shown:
        shown = view.shown(t.c, page.c.access, listed=True).label("json")
        # The cursor's position as text: parsing 51 timestamps and ids took 0.5 ms a page.
        columns = [cast(t.c.id, Text).label("id"), sort.encoded().label(sort.column.name), shown]
    else:
        columns, source = [*view.representation, page.c.access], view.join(source)
    return select(*columns).select_from(source).order_by(*order).limit(n)


def like_pattern(text: str) -> str:
    """The ILIKE pattern of a substring match of `text` (`contains`): % and _ are literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column: Any, pattern: Any) -> ColumnElement[bool]:
    """Case-insensitive substring match (trigram indexes serve it) of a `like_pattern`."""
    return column.ilike(pattern, escape="\\")  # type: ignore[no-any-return]


def _list_filters(view: View, query: ShareableListQuery) -> Sequence[ColumnElement[bool]]:
    """The conditions of the filters every shareable list has: pinned, tag, q."""
    spec = view.spec
    t = spec.table
    found: list[ColumnElement[bool]] = []
    if query.pinned is not None:
        found.append(t.c.pinned == param("pinned", t.c.pinned))
    if query.tag is not None:
        link = spec.tag_table
        tag = param("tag", link.c.tag_id)
        found.append(exists().where(spec.tag_item == t.c.id, link.c.tag_id == tag))
    if query.q is not None:
        found.append(view.search(bindparam("q", type_=Text)))
    return found
