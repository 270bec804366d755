"""Core `Table` objects of the ORM models, typed as tables (SQLAlchemy types them loosely)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from common.db import models


def table(model: type[models.Base]) -> Table:
    return cast(Table, model.__table__)
