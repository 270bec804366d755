"""Deletes of rows no request needs any more, as one statement of bounded deletes.

Every dispatch runs `purge` first (Cloud Scheduler calls dispatch each minute, see
common.push), so no other schedule is needed. Each module says what of its own is finished:

- common.db.notifications.finished_rows: processed share events, finished or stale
  deliveries, old reminder receipts (after `RETENTION`);
- common.db.sessions.expired_rows: sessions whose refresh token expired, rotated tokens past
  their expiry;
- common.db.throttles.expired_rows: passed throttle windows;
- common.db.idempotency.expired_rows: `Idempotency-Key` rows past their 24 hours;
- common.db.feeds.expired_rows: change feed entries past the sync retention;
- common.db.recovery.expired_rows: mailed codes past their 30 minutes;
- common.db.outbox.finished_rows: mails sent or given up, after `RETENTION`.

Each delete takes at most `PURGE_BATCH` rows, through an index on its time column, so one
run stays short however much has piled up; a backlog drains over the following minutes.
Every delete has one form, `common.db.tables.bounded_delete`: rows another transaction has
locked are skipped, so a purge never waits for a lock; a purge that fails anyway is logged
and does not stop the dispatch around it (common.push).
"""

from __future__ import annotations

from sqlalchemy import literal, select

from common.db import feeds, idempotency, notifications, outbox, recovery, sessions, throttles
from common.db.engine import Session

PURGE_BATCH = 1000


def purge(*, session: Session, limit: int = PURGE_BATCH) -> None:
    """Run every module's bounded deletes (one statement of data-modifying CTEs)."""
    deletes = [
        *notifications.finished_rows(limit),
        *sessions.expired_rows(limit),
        *throttles.expired_rows(limit),
        *idempotency.expired_rows(limit),
        *feeds.expired_rows(limit),
        *recovery.expired_rows(limit),
        *outbox.finished_rows(limit),
    ]
    stmt = select(literal(1))
    for number, statement in enumerate(deletes):
        stmt = stmt.add_cte(statement.cte(f"purge_{number}"))
    session.execute(stmt)
