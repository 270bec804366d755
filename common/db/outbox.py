"""The mail outbox (`mail_outbox`): mails that carry a code, sent once, retried while the SMTP
server cannot be reached.

Writing: `queue_mail` is a CTE that the statement making a code adds (common/db/recovery.py),
so a mail exists exactly when its code was committed, and the code in it is sealed
(common/auth/codes.py).

Sending (common/mail.py) happens from two places: the request that wrote the row, right after
its commit (a background thread of the function, so within seconds, and never inside the
request's time), and every dispatch (common.push), for whatever is still due. A mail moves
`pending` -> `handed_over` -> `sent` | `failed`:
- `due_mails` reads candidates without locking them; the sender connects, says EHLO,
  STARTTLS, AUTH, MAIL FROM and RCPT TO, and only then claims the mail with `hand_over`, a
  conditional UPDATE (`pending` and due): of two senders that reach one mail, exactly one
  gets it (the other's UPDATE waits for the first to commit, then finds it no longer
  pending), and the loser sends RSET. The claim is committed before DATA is sent.
- A failure before DATA (no connection, TLS, AUTH, a 4xx to MAIL/RCPT/DATA) delivered
  nothing: the mail stays, or goes back to, `pending`, due after `retry_delay(attempts)`
  (`defer_mails`, `record_mail(..., "retry")`). A 5xx is final: `failed`.
- After DATA the server answers 250 (`sent`), or nothing: the connection broke or timed out
  mid-answer, or the sender died between handing over and recording. The server may then
  have accepted the mail. Such a mail is *never sent again*: it becomes `failed` with
  "outcome unknown" (at once when the sender notices, or at the next dispatch once its lease
  has passed: `due_mails(close=True)`). "Never twice" and "at least once" cannot both be
  absolute across a crash after the server accepted the message and before our commit; we
  keep never twice, the window is one message's DATA exchange (milliseconds), and the user
  can ask for another code.
- A mail whose code has expired is not sent (`failed`, "expired").
Once finished, its sealed code is wiped; finished rows are purged after `RETENTION`
(common.db.housekeeping).

Statements: the writer adds one CTE to its own statement. A sender runs one read, then per
mail one claim and one record (background work, not a client request).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final, Literal

from sqlalchemy import (
    CTE,
    Delete,
    Interval,
    Text,
    and_,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql.elements import ColumnElement

from common.auth.codes import CODE_TTL
from common.db.engine import Session
from common.db.models import OutboxMail
from common.db.tables import bounded_delete

outbox = OutboxMail

LEASE: Final = timedelta(minutes=2)  # a handed-over mail not recorded by then: outcome unknown
RETRY_BASE: Final = timedelta(seconds=10)  # first retry after a failure; doubles each time
RETRY_CAP: Final = timedelta(minutes=5)
RETENTION: Final = timedelta(days=7)  # finished mails are kept this long
UNKNOWN: Final = "outcome unknown"

Outcome = Literal["sent", "retry", "failed"]


def queue_mail(
    *,
    mail_id: uuid.UUID,
    kind: str,
    source: CTE,
    sealed_code: bytes,
) -> CTE:
    """A CTE inserting one mail of `kind` for each row of `source` (columns `id`: the user,
    `email`: the address of record), its code sealed for `mail_id`; it returns the id."""
    return (
        insert(outbox)
        .from_select(
            ["id", "user_id", "kind", "recipient", "sealed_code", "expires_at"],
            select(
                literal(mail_id, UUID(as_uuid=True)),
                source.c.id,
                literal(kind, Text),
                source.c.email,
                literal(sealed_code),
                func.now() + literal(CODE_TTL, Interval()),
            ),
        )
        .returning(outbox.c.id)
        .cte(f"queued_{kind}")
    )


def _due() -> ColumnElement[bool]:
    return and_(
        outbox.c.state == "pending",
        outbox.c.next_attempt_at <= func.now(),
        outbox.c.expires_at > func.now(),
    )


def due_mails(
    *, session: Session, limit: int, ids: Sequence[uuid.UUID] | None = None, close: bool = False
) -> list[RowMapping]:
    """Up to `limit` mails due now (optionally only these `ids`), oldest first, unlocked: id,
    recipient. With `close`, the same statement first finishes what no sender will: mails
    handed over whose lease passed (outcome unknown: never sent again) and pending ones whose
    code expired. (The read's snapshot predates those updates, but they touch only mails it
    skips anyway.)"""
    stmt = select(outbox.c.id, outbox.c.recipient).where(_due())
    if ids is not None:
        stmt = stmt.where(outbox.c.id.in_(list(ids)))
    stmt = stmt.order_by(outbox.c.next_attempt_at).limit(limit)
    if close:
        o, gone = outbox, {"sealed_code": None, "updated_at": func.now(), "state": "failed"}
        lapsed = update(o).where(o.c.state == "handed_over", o.c.next_attempt_at <= func.now())
        expired = update(o).where(o.c.state == "pending", o.c.expires_at <= func.now())
        stmt = stmt.add_cte(
            lapsed.values(**gone, last_error=UNKNOWN).cte("lapsed"),
            expired.values(**gone, last_error="expired").cte("expired"),
        )
    return list(session.execute(stmt).mappings())


def hand_over(*, session: Session, mail_id: uuid.UUID) -> RowMapping | None:
    """Claim a due mail for the DATA command: one more attempt, leased for `LEASE`. None when
    another sender has it (or it is no longer due). Row: id, kind, recipient, sealed_code."""
    stmt = (
        update(outbox)
        .where(outbox.c.id == mail_id, _due())
        .values(
            state="handed_over",
            attempts=outbox.c.attempts + 1,
            next_attempt_at=func.now() + literal(LEASE, Interval()),
            updated_at=func.now(),
        )
        .returning(outbox.c.id, outbox.c.kind, outbox.c.recipient, outbox.c.sealed_code)
    )
    return session.execute(stmt).mappings().one_or_none()


def _backoff(attempts: Any) -> ColumnElement[Any]:
    """How long a mail waits after its `attempts`-th failed attempt (a SQL interval)."""
    doubled = func.power(2, func.greatest(attempts - 1, 0)) * RETRY_BASE.total_seconds()
    seconds = func.least(doubled, RETRY_CAP.total_seconds())
    return func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def defer_mails(*, session: Session, ids: Sequence[uuid.UUID], error: str) -> None:
    """Count a failed attempt, made before any of these pending mails was handed over."""
    attempts = outbox.c.attempts + 1
    session.execute(
        update(outbox)
        .where(outbox.c.id.in_(list(ids)), outbox.c.state == "pending")
        .values(
            attempts=attempts,
            next_attempt_at=func.now() + _backoff(attempts),
            last_error=error,
            updated_at=func.now(),
        )
    )


def fail_mail(*, session: Session, mail_id: uuid.UUID, error: str) -> None:
    """Give up a pending mail the server refused for good before it was handed over."""
    session.execute(
        update(outbox)
        .where(outbox.c.id == mail_id, outbox.c.state == "pending")
        .values(state="failed", sealed_code=None, last_error=error, updated_at=func.now())
    )


def record_mail(
    *, session: Session, mail_id: uuid.UUID, outcome: Outcome, error: str | None = None
) -> None:
    """What became of a handed-over mail: sent, due again (the server refused it with a 4xx
    before accepting anything), or failed (a 5xx, or an unknown outcome)."""
    o = outbox
    values: dict[str, Any] = {"updated_at": func.now(), "last_error": error}
    if outcome == "sent":
        values.update(state="sent", sent_at=func.now(), sealed_code=None)
    elif outcome == "retry":
        values.update(state="pending", next_attempt_at=func.now() + _backoff(o.c.attempts))
    else:
        values.update(state="failed", sealed_code=None)
    session.execute(update(o).where(o.c.id == mail_id, o.c.state == "handed_over").values(**values))


def finished_rows(limit: int) -> list[Delete]:
    """A bounded delete of finished mails older than RETENTION (for common.db.housekeeping)."""
    o = outbox
    old = and_(o.c.updated_at < func.now() - RETENTION, o.c.state.in_(["sent", "failed"]))
    return [bounded_delete(o, [o.c.id], old, limit)]
