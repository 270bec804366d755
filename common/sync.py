"""Change feeds (api-v1 §10): rounds of pages, their cursors and sync tokens.

`GET /v1/<collection>/changes` serves the caller's feed of one collection (`Feed`: tags,
todos, memos, contacts). A round without `since` is a full snapshot: an `upsert` for every
item the caller sees, oldest first (created_at, id: an order no change moves an item in).
A round with `since` holds, for every item whose view may have changed since that token, an
`upsert` of what the single GET shows now, or a `remove` when the caller does not see it:
the logged changes (common.db.feeds) first, then the items of shares that lapsed.

Nothing is lost between rounds: a round's horizon (the snapshot of its first statement,
common.db.feeds.Horizon) is read before its first page, every page of the round carries it
in its cursor, and the last page's sync token is that horizon. What the horizon saw, the
round delivered; a change that commits after the round began is one the horizon did not
see, so the next round reads it, whichever page it would have fallen on and however its
transaction's id compares with others; a share whose expiry passes after the round began
expires after its `at`, the next round's lower bound. A change may therefore come twice
(the contract allows repeats), never not at all.

Tokens and cursors are sealed (HMAC, common.paging.seal) and bound to the caller and the
collection, a cursor also to its round's `since`; anything else is 422. A token, or a round's
cursor, older than the sync retention (`SYNC_RETENTION_S`, 30 days) is 410: housekeeping
may have purged what it would need, so the client starts again with a full snapshot.
Each page is at most two statements: the horizon (first page only) and the page itself.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping

from common import errors
from common.config import get_settings
from common.db.feeds import MAX_RUNNING, Horizon, read_horizon
from common.http import Ctx
from common.paging import seal, unseal
from common.schemas.changes import ChangesQuery

_TOKEN, _PAGE = "sync", "page"
_SNAPSHOT = "snapshot"  # the `since` digest of a snapshot round's cursor
_MAX_XID = 2**63 - 1

# A page position: (created_at, id) in a snapshot, (phase, xid, item_id) in a changes round.
Position = tuple[Any, ...]


@dataclass(frozen=True)
class Feed:
    """One collection's feed, as its SQL reads it (common.shareable.feeds, common.db.tags)."""

    collection: str  # "todo": what tokens are bound to
    # (*, session, me, after, limit): limit + 1 rows of visible items in (created_at, id) order
    snapshot: Callable[..., Sequence[RowMapping]]
    # (*, session, me, since, round_, after, limit): limit + 1 rows of (phase, xid, item_id)
    # and the item's columns, all null (its `id` too) when the caller does not see it
    changes: Callable[..., Sequence[RowMapping]]
    to_out: Callable[[RowMapping], dict[str, Any]]  # the single GET's fields


def read_changes(ctx: Ctx, query: ChangesQuery, feed: Feed) -> dict[str, Any]:
    """One page of a round of `feed` for the caller (ChangePage's fields)."""
    me, session = ctx.user_id, ctx.session
    since = None if query.since is None else _open_token(query.since, me, feed)
    if query.cursor is None:
        round_, after = read_horizon(session=session), None
    else:
        round_, after = _open_cursor(query.cursor, me, feed, query.since)
    position: Callable[[RowMapping], Position]
    if since is None:
        rows = feed.snapshot(session=session, me=me, after=after, limit=query.limit)
        position = _snapshot_position
    else:
        rows = feed.changes(
            session=session, me=me, since=since, round_=round_, after=after, limit=query.limit
        )
        position = _changes_position
    page = rows[: query.limit]
    changes = [_entry(row, feed) for row in page]
    if len(rows) > query.limit:
        cursor = _seal_cursor(me, feed, query.since, round_, position(page[-1]))
        return {"changes": changes, "next_cursor": cursor, "sync_token": None}
    token = seal([_TOKEN, str(me), feed.collection, *_horizon_values(round_)])
    return {"changes": changes, "next_cursor": None, "sync_token": token}


def _entry(row: RowMapping, feed: Feed) -> dict[str, Any]:
    if row["id"] is None:
        return {"op": "remove", "id": row["item_id"]}
    return {"op": "upsert", "id": row["id"], "item": feed.to_out(row)}


def _snapshot_position(row: RowMapping) -> Position:
    return (row["created_at"], row["id"])


def _changes_position(row: RowMapping) -> Position:
    return (row["phase"], row["xid"], row["item_id"])


# --- tokens and cursors ----------------------------------------------------------------------


def _digest(since: str | None) -> str:
    if since is None:
        return _SNAPSHOT
    return hashlib.sha256(since.encode()).hexdigest()[:16]


def _horizon_values(horizon: Horizon) -> list[Any]:
    return [horizon.xmin, horizon.xmax, list(horizon.running), horizon.at.isoformat()]


def _seal_cursor(
    me: uuid.UUID, feed: Feed, since: str | None, round_: Horizon, position: Position
) -> str:
    encoded = [v.isoformat() if isinstance(v, datetime) else str(v) for v in position]
    head = [_PAGE, str(me), feed.collection, _digest(since)]
    return seal([*head, *_horizon_values(round_), *encoded])


def _invalid(field: str) -> errors.ValidationFailed:
    what = "sync token" if field == "since" else "cursor"
    return errors.ValidationFailed(
        [errors.FieldError(field, f"invalid {what}: start again with a full snapshot")]
    )


def _open_token(token: str, me: uuid.UUID, feed: Feed) -> Horizon:
    values = unseal(token)
    if not isinstance(values, list) or len(values) != 7:
        raise _invalid("since")
    if values[:3] != [_TOKEN, str(me), feed.collection]:
        raise _invalid("since")
    return _horizon(values[3:], "since")


def _open_cursor(
    cursor: str, me: uuid.UUID, feed: Feed, since: str | None
) -> tuple[Horizon, Position]:
    values = unseal(cursor)
    if not isinstance(values, list) or len(values) not in (10, 11):
        raise _invalid("cursor")
    if values[:4] != [_PAGE, str(me), feed.collection, _digest(since)]:
        raise _invalid("cursor")
    round_, position = _horizon(values[4:8], "cursor"), values[8:]
    try:
        if since is None:
            created_at, item_id = position
            return round_, (_timestamp(created_at), uuid.UUID(item_id))
        phase, xid, item_id = position
        if phase not in ("0", "1") or not xid.isdigit() or int(xid) > _MAX_XID:
            raise ValueError("not a position")
        return round_, (int(phase), int(xid), uuid.UUID(item_id))
    except (ValueError, TypeError, AttributeError):
        raise _invalid("cursor") from None


def _xid(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_XID


def _horizon(values: list[Any], field: str) -> Horizon:
    """The horizon a token or cursor holds; 410 once older than the retention."""
    xmin, xmax, running, at = values
    if not (
        _xid(xmin)
        and _xid(xmax)
        and xmin <= xmax
        and isinstance(running, list)
        and len(running) <= MAX_RUNNING
        and all(_xid(x) and xmin <= x < xmax for x in running)
    ):
        raise _invalid(field)
    try:
        when = _timestamp(at)
    except (ValueError, TypeError):
        raise _invalid(field) from None
    retention = timedelta(seconds=get_settings().sync_retention_s)
    if datetime.now(UTC) - when > retention:
        days = retention / timedelta(days=1)
        raise errors.Gone(
            f"This sync token is older than the {days:g} days changes are kept: start again "
            "with a full snapshot (a round without `since`)."
        )
    return Horizon(xmin, xmax, tuple(running), when)


def _timestamp(value: Any) -> datetime:
    """A timestamp as `_seal_cursor` writes it (isoformat, with an offset), nothing else."""
    if not isinstance(value, str):
        raise TypeError("not a timestamp")
    when = datetime.fromisoformat(value)
    if when.tzinfo is None or when.isoformat() != value:
        raise ValueError("not a timestamp we wrote")
    return when
