"""After a failover, one failed liveness check clears every stale pooled connection.

The engine's liveness check, on checkout, asks the kernel whether the idle connection's
socket has anything to read (common.db.engine._check_on_checkout): a server that closed it
sent its FATAL message and the end of the connection. When the server restarts (here: an
embedded PostgreSQL this module starts and controls, stopped with a fast shutdown, which
cuts every open connection, and started again), every pooled connection is dead. The first
checkout's failed check
invalidates the whole pool (`InvalidatePoolError`); the other stale connections are then
replaced when checked out, without a failing check of their own (one timeout each, had the
old server vanished without closing them).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError

from common.config import Settings
from common.db import make_engine
from devtools import database as db

pytestmark = pytest.mark.integration

POOL = 4
TRIES = 3  # restarts, each with a full pool of stale connections


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    folder = Path(tempfile.mkdtemp(prefix="sealy-failover-pg-"))
    server = db.start_embedded(folder / "data", delete_on_exit=True)
    yield server
    db.restart_embedded(server)  # running again, so its exit handler can clean up


def test_one_failed_check_replaces_every_stale_connection(server: Any) -> None:
    settings = Settings(database_url=db.embedded_url(server), db_pool_size=POOL, db_max_overflow=0)
    engine = make_engine(settings)
    # Their reprs: an exception would keep its traceback, and through it pg8000's socket,
    # alive past the connection's close (a ResourceWarning when the collector finds it).
    failed_checks: list[str] = []

    @event.listens_for(engine.pool, "invalidate")
    def invalidated(dbapi_connection: Any, record: Any, exception: BaseException | None) -> None:
        if isinstance(exception, DisconnectionError):  # what the checkout's check raises
            failed_checks.append(repr(exception))

    def backends() -> set[int]:
        """Hold every pooled connection at once; each one's server process."""
        held = [engine.connect() for _ in range(POOL)]
        try:
            return {c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in held}
        finally:
            for conn in held:
                conn.close()

    try:
        before = backends()
        for _ in range(TRIES):
            assert engine.pool.checkedin() == POOL  # all stale after the restart
            db.stop_embedded(server)  # fast shutdown: every connection cut, as in a failover
            db.restart_embedded(server)
            failed_checks.clear()
            after = backends()  # no error reaches the caller
            assert len(after) == POOL
            assert not after & before  # every connection is a new one
            assert len(failed_checks) == 1, failed_checks
            before = after
    finally:
        engine.dispose()
