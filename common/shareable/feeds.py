"""Change feeds of todos, memos and contacts (api-v1 §10): one page of a round, one statement.

A snapshot page is the list's page (`list_visible`, scope all, oldest first). A changes page
reads the candidates of the round (the ids whose view may have changed) and represents each
as the single GET does, or as nothing when the caller does not see it (a `remove`):
- phase 0, the logged changes: the caller's `feed_entries` at or past the token's horizon,
  written by the triggers for every write and every change of who sees what (shares granted,
  changed, revoked, a todo moved, a memo made secret, an owner erased);
- phase 1, the shares that lapsed with no write at all: the caller's shares whose expiry lies
  in (the token's `at`, the round's `at`], with what they reached (a recursive todo share's
  undeleted sub-todos).
Each candidate's access is found from the item itself (walking up its ancestors), never by
expanding every share the caller holds, and the candidates come from index ranges bounded by
the page size: the cost of a page follows the changes it holds, not the caller's data
(tests/integration/test_query_plans.py).
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import BigInteger, Select, and_, literal, or_, select, union_all
from sqlalchemy.engine import RowMapping

from common.db import feeds
from common.db.engine import Session
from common.db.feeds import Horizon
from common.shareable.access import (
    ME,
    View,
    access_level,
    list_visible,
    reached,
    received_among,
)


def list_snapshot(
    *,
    session: Session,
    view: View,
    me: uuid.UUID,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
) -> list[RowMapping]:
    """limit + 1 items of a full snapshot: what `GET ...?scope=all` walks, oldest first."""
    query = view.list_query.model_construct(limit=limit)  # the list's defaults, this limit
    sort = view.sorts["created_at"]
    return list_visible(session=session, view=view, me=me, query=query, sort=sort, after=after)


def list_changes(
    *,
    session: Session,
    view: View,
    me: uuid.UUID,
    since: Horizon,
    round_: Horizon,
    after: tuple[int, int, uuid.UUID] | None,
    limit: int,
) -> list[RowMapping]:
    """limit + 1 candidates of a round since `since`, after `after`, each with the item's
    representation and access, or nulls when the caller does not see it."""
    stmt = _changes(view, None if after is None else after[0])
    values = feeds.page_parameters(me=me, since=since, round_=round_, after=after, limit=limit)
    return list(session.execute(stmt, values).mappings())


@functools.cache
def _changes(view: View, phase: int | None) -> Select[Any]:
    """The statement of a changes page of `view` whose cursor is in `phase` (None: the first
    page), with the parameters of common.db.feeds (and access.ME)."""
    spec = view.spec
    t = spec.table
    branches: list[Select[Any]] = []
    if phase in (None, 0):
        branches.append(feeds.logged(ME, spec.name, after=phase == 0))
    expiry = spec.share_table.c.expiration
    window = and_(expiry > feeds.SINCE_AT, expiry <= feeds.ROUND_AT)
    lapsed = reached(spec, ME, window, f"{spec.name}_lapsed")
    ended = select(
        literal(1).label("phase"), literal(0, BigInteger).label("xid"), lapsed.c.id.label("item_id")
    ).distinct()
    if phase == 1:
        ended = ended.where(lapsed.c.id > feeds.AFTER_ID)
    branches.append(ended.order_by(lapsed.c.id).limit(feeds.ROWS))
    every = union_all(*branches).subquery("every")
    candidates = (
        select(every.c.phase, every.c.xid, every.c.item_id)
        .order_by(every.c.phase, every.c.xid, every.c.item_id)
        .limit(feeds.ROWS)
        .cte("candidates")
    )
    ids = select(candidates.c.item_id)
    acc = received_among(spec, ME, lambda column: column.in_(ids))
    visible = (
        select(*view.representation, access_level(t, acc, ME).label("access"))
        .select_from(view.join(t.outerjoin(acc, acc.c.id == t.c.id)))
        .where(
            t.c.id.in_(ids),
            t.c.deleted_at.is_(None),
            or_(t.c.user_id == ME, acc.c.id.is_not(None)),
        )
        .subquery("visible")
    )
    return feeds.page_of(candidates, visible)
