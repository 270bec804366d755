"""Throttles: events counted per subject in fixed windows (`login_throttles`).

Kinds and their windows (`WINDOWS`): failed password checks per email (`email`) and refused
logins per client address (`client`), registrations refused because the email is taken per
address (`register`), all in 15-minute windows; password-reset and verification mails per email
(`reset`, `verify`), in one-hour windows. A window starts at the first event; a row whose window
has passed counts as empty and the next event restarts it.

Keys are SHA-256 digests, so the table never holds an email typed at a form. An email's key is
computed by the database (`email_subject`): `sha256('email:' || lower(email))`, the very
`lower()` that `citext` compares emails with (the database's ctype). So the email that reaches
an account and the email that counts in its bucket are decided by one function: `İris@x` and
`iris@x` (U+0130), or `ΑΛΕΞΙΣ@x` and `αλεξισ@x`, are one account and one bucket, where Python's
`str.lower` would have made two buckets (`i̇ris`, `αλεξις`). Client addresses are hashed in
Python (`client_subject`, `registration_subject`): no case is involved.

- Per email the count goes up *before* the password is checked (an atomic `INSERT ... ON
  CONFLICT DO UPDATE ... RETURNING`, common.db.accounts.count_login_attempt and
  `count_password_check`) and the row is deleted when the check succeeds. Concurrent
  attempts on one email therefore take turns on that row and the limit is exact: at most
  `EMAIL_FAILURE_LIMIT` password checks per window, however many arrive at once. Unknown
  emails count the same way. A request that takes this row and a user's row (for a new
  session or a revocation, common.db.sessions) takes the throttle row first, so two such
  requests never wait for each other crosswise.
- Per client address the count goes up after a refusal (`record_client_failure`) and is only
  read before the check. That row is never held while a password is hashed, so the logins of
  one office do not queue behind each other; the price is that a burst of concurrent
  attempts can pass the limit by the number in flight.
- A registration refused because the email is taken (409) tells its sender that the email
  has an account. Such refusals count per client address (`kind = 'register'`) and an
  address with `REGISTRATION_REFUSAL_LIMIT` of them gets 429 for any registration until its
  window ends: read before the password is hashed (`registration_refusals`), so a throttled
  address costs no argon2 work, and counted after the refusal (`record_registration_refusal`).
- Mails with a code count per email before anything is written (common.db.recovery), known
  and unknown emails alike, so the 429 says nothing about whether an account exists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    Delete,
    Integer,
    Interval,
    LargeBinary,
    Text,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.elements import ColumnElement

from common.db.engine import Session
from common.db.models import LoginThrottle
from common.db.tables import bounded_delete

THROTTLE_WINDOW: Final = timedelta(minutes=15)
MAIL_WINDOW: Final = timedelta(hours=1)
WINDOWS: Final = {
    "email": THROTTLE_WINDOW,
    "client": THROTTLE_WINDOW,
    "register": THROTTLE_WINDOW,
    "reset": MAIL_WINDOW,
    "verify": MAIL_WINDOW,
}
EMAIL_FAILURE_LIMIT: Final = 5  # failed password checks per email and window
CLIENT_FAILURE_LIMIT: Final = 100  # failed logins per client address and window
REGISTRATION_REFUSAL_LIMIT: Final = 5  # registrations refused (409) per address and window

throttles = LoginThrottle


def email_subject(email: ColumnElement[Any] | str) -> ColumnElement[bytes]:
    """The throttle key of an email, computed by the database with the `lower()` that `citext`
    compares emails with: a bound value, a parameter, or a column (`users.email`)."""
    value = literal(email, Text) if isinstance(email, str) else cast(email, Text)
    key = func.sha256(func.convert_to(literal("email:", Text) + func.lower(value), "UTF8"))
    return cast(key, LargeBinary)


def client_subject(address: str) -> bytes:
    """The throttle key of a client address (see common.auth.client_ip)."""
    return hashlib.sha256(b"client:" + address.encode("utf-8")).digest()


def registration_subject(address: str) -> bytes:
    """The registration throttle key of a client address."""
    return hashlib.sha256(b"register:" + address.encode("utf-8")).digest()


@dataclass(frozen=True)
class Throttle:
    """A throttle row's count in the current window and the seconds until the window ends."""

    failures: int
    retry_after: int


def retry_after(
    started_at: ColumnElement[datetime], window: timedelta = THROTTLE_WINDOW
) -> ColumnElement[int]:
    """Seconds until the window that started at `started_at` ends."""
    seconds = func.extract("epoch", started_at + literal(window, Interval()) - func.now())
    return cast(func.ceil(seconds), Integer)


def current_window(
    started_at: ColumnElement[datetime], window: timedelta = THROTTLE_WINDOW
) -> ColumnElement[bool]:
    return started_at > func.now() - literal(window, Interval())


def upsert_failure(
    kind: str, subject: bytes | ColumnElement[bytes], *, only_if: ColumnElement[bool] | None = None
) -> PgInsert:
    """One more event for (kind, subject): a new window when the last one has passed.

    `subject` may be a column of a CTE (then `only_if` can filter its rows); the statement
    inserts or updates at most one row."""
    t, window = throttles, WINDOWS[kind]
    current = current_window(t.c.window_started_at, window)
    key = literal(subject, LargeBinary) if isinstance(subject, bytes) else subject
    row = select(literal(kind, Text), key, literal(1), func.now())
    if only_if is not None:
        row = row.where(only_if)
    return (
        pg_insert(t)
        .from_select(["kind", "subject", "failures", "window_started_at"], row)
        .on_conflict_do_update(
            index_elements=[t.c.kind, t.c.subject],
            set_={
                "failures": case((current, t.c.failures + 1), else_=1),
                "window_started_at": case((current, t.c.window_started_at), else_=func.now()),
            },
        )
    )


def counted(kind: str, insert: PgInsert) -> ReturningInsert[Any]:
    """`upsert_failure(kind, ...)` returning the count and the seconds left in the window."""
    t = throttles
    return insert.returning(
        t.c.failures.label("failures"),
        retry_after(t.c.window_started_at, WINDOWS[kind]).label("retry_after"),
    )


def reset_email(subject: ColumnElement[bytes]) -> Delete:
    """Delete an email's login throttle row (`subject`: its `email_subject`)."""
    return delete(throttles).where(throttles.c.kind == "email", throttles.c.subject == subject)


def reset_email_unless_busy(subject: ColumnElement[bytes]) -> Delete:
    """`reset_email`, skipped when another transaction holds that row (a login of the email in
    flight): for a request that already holds a user's row, so it never waits for the
    throttle row while holding it (see the module docstring's lock order)."""
    t = throttles
    busy_free = (
        select(t.c.kind, t.c.subject)
        .where(t.c.kind == "email", t.c.subject == subject)
        .with_for_update(skip_locked=True)
    )
    return delete(t).where(tuple_(t.c.kind, t.c.subject).in_(busy_free))


def record_client_failure(*, session: Session, client: str) -> None:
    """One more refused login from the client address `client`."""
    session.execute(upsert_failure("client", client_subject(client)))


def registration_refusals(*, session: Session, client: str) -> Throttle | None:
    """The address's refused registrations in the current window; None when it has none."""
    t = throttles
    stmt = select(t.c.failures, retry_after(t.c.window_started_at)).where(
        t.c.kind == "register",
        t.c.subject == registration_subject(client),
        current_window(t.c.window_started_at),
    )
    row = session.execute(stmt).one_or_none()
    return Throttle(row[0], row[1]) if row is not None else None


def record_registration_refusal(*, session: Session, client: str) -> None:
    """One more registration refused (email taken) for the client address `client`."""
    session.execute(upsert_failure("register", registration_subject(client)))


def expired_rows(limit: int) -> list[Delete]:
    """A bounded delete of rows whose window has passed (for common.db.housekeeping), each
    by its kind's window; the first condition is the index's range."""
    t = throttles

    def before(window: timedelta) -> ColumnElement[bool]:
        return t.c.window_started_at <= func.now() - literal(window, Interval())

    by_kind = or_(*(and_(t.c.kind == kind, before(window)) for kind, window in WINDOWS.items()))
    passed = and_(before(min(WINDOWS.values())), by_kind)
    return [bounded_delete(t, [t.c.kind, t.c.subject], passed, limit)]
