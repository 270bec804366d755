"""Login and registration throttles: failures counted per email and per client address in
fixed 15-minute windows (`login_throttles`).

A window starts at the first failure; a row whose window has passed counts as empty and the
next failure restarts it. Keys are SHA-256 digests of `"email:" + email`, `"client:" +
address` or `"register:" + address`, so the table never holds an email typed at the login form.

- Per email the count goes up *before* the password is checked (an atomic `INSERT ... ON
  CONFLICT DO UPDATE ... RETURNING`, common.db.accounts.count_login_attempt and
  `count_password_attempt`) and the row is deleted when the check succeeds. Concurrent
  attempts on one email therefore take turns on that row and the limit is exact: at most
  `EMAIL_FAILURE_LIMIT` password checks per window, however many arrive at once. Unknown
  emails count the same way.
- Per client address the count goes up after a refusal (`record_client_failure`) and is only
  read before the check. That row is never held while a password is hashed, so the logins of
  one office do not queue behind each other; the price is that a burst of concurrent
  attempts can pass the limit by the number in flight.
- A registration refused because the email is taken (409) tells its sender that the email
  has an account. Such refusals count per client address (`kind = 'register'`) and an
  address with `REGISTRATION_REFUSAL_LIMIT` of them gets 429 for any registration until its
  window ends: read before the password is hashed (`registration_refusals`), so a throttled
  address costs no argon2 work, and counted after the refusal (`record_registration_refusal`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Delete, Integer, Interval, case, cast, delete, func, literal, select
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from common.db.models import LoginThrottle
from common.db.tables import bounded_delete, table

THROTTLE_WINDOW: Final = timedelta(minutes=15)
EMAIL_FAILURE_LIMIT: Final = 5  # failed password checks per email and window
CLIENT_FAILURE_LIMIT: Final = 100  # failed logins per client address and window
REGISTRATION_REFUSAL_LIMIT: Final = 5  # registrations refused (409) per address and window

throttles = table(LoginThrottle)
WINDOW = literal(THROTTLE_WINDOW, Interval())


def email_subject(email: str) -> bytes:
    """The throttle key of an email (case-insensitive, like the accounts themselves)."""
    return hashlib.sha256(b"email:" + email.lower().encode("utf-8", "surrogatepass")).digest()


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


def retry_after(started_at: ColumnElement[datetime]) -> ColumnElement[int]:
    """Seconds until the window that started at `started_at` ends."""
    seconds = func.extract("epoch", started_at + WINDOW - func.now())
    return cast(func.ceil(seconds), Integer)


def current_window(started_at: ColumnElement[datetime]) -> ColumnElement[bool]:
    return started_at > func.now() - WINDOW


def upsert_failure(kind: str, subject: bytes | BindParameter[bytes]) -> PgInsert:
    """One more failure for (kind, subject): a new window when the last one has passed."""
    t = throttles
    current = current_window(t.c.window_started_at)
    return (
        pg_insert(t)
        .values(kind=kind, subject=subject, failures=1, window_started_at=func.now())
        .on_conflict_do_update(
            index_elements=[t.c.kind, t.c.subject],
            set_={
                "failures": case((current, t.c.failures + 1), else_=1),
                "window_started_at": case((current, t.c.window_started_at), else_=func.now()),
            },
        )
    )


def reset_email(subject: bytes | BindParameter[bytes]) -> Delete:
    """Delete an email's throttle row (`subject`: its `email_subject`, or a parameter)."""
    return delete(throttles).where(throttles.c.kind == "email", throttles.c.subject == subject)


def count_password_attempt(*, session: Session, email: str) -> Throttle:
    """Count one password check for `email` (before checking); its count in the window."""
    t = throttles
    stmt = upsert_failure("email", email_subject(email)).returning(
        t.c.failures, retry_after(t.c.window_started_at)
    )
    failures, wait = session.execute(stmt).one()
    return Throttle(failures, wait)


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
    """A bounded delete of rows whose window has passed (for common.db.housekeeping)."""
    t = throttles
    passed = t.c.window_started_at <= func.now() - WINDOW
    return [bounded_delete(t, [t.c.kind, t.c.subject], passed, limit)]
