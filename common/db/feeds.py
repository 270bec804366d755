"""Change feeds' SQL that every collection shares (api-v1 §10): horizons, logged changes and
their purge.

Triggers record changes (migrations/versions/0010_change_feeds.py): a row of `feed_entries`
per user and item says that what the user sees of the item may have changed in transaction
`xid` (the last one that wrote the row). The feed never orders changes by when they were
*written*: a transaction that took its id first can commit last. It measures them against
a **horizon**: the snapshot of the round's first statement (`pg_current_snapshot()`:
`xmin`, the oldest transaction still running, `xmax`, the first id not yet given out, and
the ids running in between). What that snapshot saw, the round delivered (its pages read
later snapshots, which see at least as much). What it did not see is exactly what a
transaction committed after it: an id that was running, or not yet given out. So the next
round reads the entries whose `xid` the horizon does not see (`pg_visible_in_snapshot`),
from `xmin` up, through the feed index: whatever committed after this round began, however
the ids of those transactions compare. `at`, the first statement's `now()`, bounds the
shares that lapsed without any write: those whose expiry falls in (previous round's `at`,
this round's `at`] (common.shareable.feeds).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    DateTime,
    Delete,
    Integer,
    Select,
    Subquery,
    Text,
    bindparam,
    cast,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.types import UserDefinedType

from common.config import get_settings
from common.db.engine import Session
from common.db.models import FeedEntry
from common.db.tables import bounded_delete

entries = FeedEntry

# A purge spares entries for this long past the retention: an entry a token still needs was
# written by a transaction running when the token's round began, at most this long before it
# (statements and idle transactions time out in seconds: common.config).
PURGE_MARGIN = timedelta(hours=1)


# A horizon keeps at most this many running ids (a sync token carries them); past that it
# keeps none and counts every id from `xmin` up as unseen (a round may repeat more).
MAX_RUNNING = 64


@dataclass(frozen=True)
class Horizon:
    """What a round's first snapshot saw: every transaction below `xmin`, and those below
    `xmax` that are not `running`; `at` is the round's time."""

    xmin: int
    xmax: int
    running: tuple[int, ...]
    at: datetime

    @classmethod
    def parse(cls, snapshot: str, at: datetime) -> Horizon:
        """From pg_snapshot's text, `xmin:xmax:xip,...`."""
        low, high, ids = snapshot.split(":")
        running = tuple(int(i) for i in ids.split(",") if i)
        if len(running) > MAX_RUNNING:
            return cls(int(low), int(low), (), at)
        return cls(int(low), int(high), running, at)

    @property
    def snapshot(self) -> str:
        return f"{self.xmin}:{self.xmax}:{','.join(map(str, self.running))}"


class _Named(UserDefinedType[Any]):
    """A PostgreSQL type SQLAlchemy has no class for, named in casts."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **kw: Any) -> str:
        return self.name


def read_horizon(*, session: Session) -> Horizon:
    """The horizon of this transaction's current snapshot. Run it before the round's first
    read: a later snapshot sees at least as much, so the horizon only errs on the side of
    repeating a change."""
    snapshot = cast(func.pg_current_snapshot(), Text)
    row = session.execute(select(snapshot.label("snapshot"), func.now().label("at"))).one()
    return Horizon.parse(row.snapshot, row.at)


# The bound parameters of a changes page: its statement is built once per shape and reused
# (building one took milliseconds of Python per request); `page_parameters` gives their values.
SINCE_XMIN = bindparam("since_xmin", type_=BigInteger)
SINCE_SNAPSHOT = bindparam("since_snapshot", type_=Text)
SINCE_AT = bindparam("since_at", type_=DateTime(timezone=True))
ROUND_AT = bindparam("round_at", type_=DateTime(timezone=True))
AFTER_XID = bindparam("after_xid", type_=BigInteger)
AFTER_ID = bindparam("after_id", type_=UUID(as_uuid=True))
ROWS = bindparam("rows", type_=Integer)  # limit + 1


def page_parameters(
    *,
    me: uuid.UUID,
    since: Horizon,
    round_: Horizon,
    after: tuple[int, int, uuid.UUID] | None,
    limit: int,
) -> dict[str, Any]:
    """The values of a changes page's parameters (`me` included, as common.shareable.access
    names it)."""
    return {
        "me": me,
        "since_xmin": since.xmin,
        "since_snapshot": since.snapshot,
        "since_at": since.at,
        "round_at": round_.at,
        "after_xid": after[1] if after is not None else 0,
        "after_id": after[2] if after is not None else None,
        "rows": limit + 1,
    }


def logged(me: Any, collection: str, *, after: bool) -> Select[tuple[int, int, uuid.UUID]]:
    """(phase 0, xid, item_id) of the caller's (`me`, a bound parameter) entries of
    `collection` that the horizon of `since` did not see, in (xid, item_id) order (`after`:
    after AFTER_XID, AFTER_ID), at most ROWS: one range of the feed index, from its xmin."""
    e = entries
    phase = literal(0).label("phase")
    unseen = ~func.pg_visible_in_snapshot(
        cast(cast(e.c.xid, Text), _Named("xid8")), cast(SINCE_SNAPSHOT, _Named("pg_snapshot"))
    )
    stmt = select(phase, e.c.xid.label("xid"), e.c.item_id.label("item_id")).where(
        e.c.user_id == me, e.c.collection == collection, e.c.xid >= SINCE_XMIN, unseen
    )
    if after:
        stmt = stmt.where(tuple_(e.c.xid, e.c.item_id) > tuple_(AFTER_XID, AFTER_ID))
    return stmt.order_by(e.c.xid, e.c.item_id).limit(ROWS)


def expired_rows(limit: int) -> list[Delete]:
    """Entries older than the sync retention (and the margin): no valid token needs them."""
    retention = timedelta(seconds=get_settings().sync_retention_s) + PURGE_MARGIN
    old = entries.c.changed_at < func.now() - retention
    keys = [entries.c.user_id, entries.c.collection, entries.c.item_id]
    return [bounded_delete(entries, keys, old, limit)]


def page_of(candidates: CTE, visible: Subquery) -> Select[Any]:
    """The page: each candidate (phase, xid, item_id) in order, with the columns of the
    item as the caller sees it from `visible` (a subquery with an `id`), or nulls."""
    c = candidates
    return (
        select(c.c.phase, c.c.xid, c.c.item_id, *visible.c)
        .select_from(c.outerjoin(visible, visible.c.id == c.c.item_id))
        .order_by(c.c.phase, c.c.xid, c.c.item_id)
    )
