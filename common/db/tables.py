"""Core `Table` objects of the ORM models, typed as tables (SQLAlchemy types them loosely),
and `skipping_locked`, the candidate rows of a bounded housekeeping delete."""

from __future__ import annotations

from typing import TypeVarTuple, cast

from sqlalchemy import Select, Table

from common.db import models


def table(model: type[models.Base]) -> Table:
    return cast(Table, model.__table__)


Columns = TypeVarTuple("Columns")


def skipping_locked(candidates: Select[*Columns], limit: int) -> Select[*Columns]:
    """At most `limit` of `candidates`, locked, leaving out rows another transaction holds:
    a purge (common.db.housekeeping) takes what is free now and never waits for a lock;
    what it skipped goes on a later run."""
    return candidates.limit(limit).with_for_update(skip_locked=True)
