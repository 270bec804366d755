"""Database access: models, the process's engine, the per-request statement counter."""

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
from common.db.models import Base

__all__ = [
    "Base",
    "QueryStats",
    "count_queries",
    "get_engine",
    "is_lost_connection",
    "is_retryable",
    "is_unavailable",
    "make_engine",
    "new_session",
    "reading_only",
]
