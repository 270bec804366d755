"""Database access: the tables' metadata, the process's engine, the statement counter."""

from common.db.engine import (
    QueryStats,
    count_queries,
    get_engine,
    is_lost_connection,
    is_retryable,
    is_unavailable,
    make_engine,
    new_session,
    reading_only,
)
from common.db.models import metadata

__all__ = [
    "QueryStats",
    "count_queries",
    "get_engine",
    "is_lost_connection",
    "is_retryable",
    "is_unavailable",
    "make_engine",
    "metadata",
    "new_session",
    "reading_only",
]
