"""Two statement pieces the data modules share: `if_match`, the If-Match condition of a
guarded write, and `bounded_delete`, the form of every housekeeping delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Delete, delete, select, tuple_


def if_match(version: Any, versions: frozenset[int] | None) -> list[ColumnElement[bool]]:
    """The condition that a row's `version` is one an If-Match named (none without one)."""
    return [] if versions is None else [version.in_(sorted(versions))]


def bounded_delete(
    target: Any,
    keys: Sequence[Any],
    where: ColumnElement[bool],
    limit: int,
    *,
    via: Sequence[Any] | None = None,
) -> Delete:
    """Delete from `target` at most `limit` of the rows `where` picks: their `keys` are
    selected (or, from another table, the columns `via` that hold those keys) and locked
    with SKIP LOCKED, so a purge (common.db.housekeeping) takes what is free now, never
    waits for a lock, and leaves what it skipped to a later run."""
    candidates = select(*(via or keys)).where(where).limit(limit)
    return delete(target).where(tuple_(*keys).in_(candidates.with_for_update(skip_locked=True)))
