"""Housekeeping (common.db.housekeeping.purge), inside a rolled-back transaction: what every
module calls finished goes, what is still in use stays, and one run deletes at most `limit`
rows of a kind."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from common.config import get_settings
from common.db import housekeeping, outbox, throttles
from common.db.feeds import PURGE_MARGIN
from common.db.models import DevicePlatform
from common.db.notifications import REMINDER_WINDOW, RETENTION
from tests.rows import (
    AuthCode,
    AuthSession,
    Device,
    FeedEntry,
    IdempotencyKey,
    LoginThrottle,
    OutboxMail,
    PushDelivery,
    RefreshToken,
    ShareEvent,
    Todo,
    TodoReminder,
    User,
)

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)


def new_user(session: Session) -> User:
    user = User(username="housekeeping", email=f"hk-{uuid.uuid4()}@example.com")
    session.add(user)
    session.flush()
    return user


def database_now(session: Session) -> datetime:
    """The transaction's `now()`: what the purge compares with (a clock read at import could
    be minutes old by the time a test runs)."""
    now = session.scalar(select(func.now()))
    assert now is not None
    return now


def token(
    session_id: uuid.UUID, *, now: datetime, expires_in: timedelta, rotated: bool
) -> RefreshToken:
    return RefreshToken(
        token_hash=hashlib.sha256(uuid.uuid4().bytes).digest(),
        session_id=session_id,
        expires_at=now + expires_in,
        rotated_at=now - 2 * DAY if rotated else None,
    )


def idempotency_key(user_id: uuid.UUID, *, now: datetime, age: timedelta) -> IdempotencyKey:
    return IdempotencyKey(
        user_id=user_id,
        key=str(uuid.uuid4()),
        fingerprint=b"f",
        status_code=201,
        response_body="{}",
        response_headers={},
        created_at=now - age,
    )


def test_purge_deletes_only_finished_rows(session: Session) -> None:
    now = database_now(session)
    user, other = new_user(session), new_user(session)
    ended, live = AuthSession(user_id=user.id), AuthSession(user_id=user.id)
    session.add_all([ended, live])
    session.flush()
    # ended: its current token expired; live: a rotated token expired, the current one lives
    ended_old = token(ended.id, now=now, expires_in=-3 * DAY, rotated=True)
    ended_current = token(ended.id, now=now, expires_in=-DAY, rotated=False)
    live_rotated_expired = token(live.id, now=now, expires_in=-DAY, rotated=True)
    live_rotated = token(live.id, now=now, expires_in=DAY, rotated=True)  # kept: reuse detection
    live_current = token(live.id, now=now, expires_in=2 * DAY, rotated=False)
    old_window = LoginThrottle(
        kind="email",
        subject=throttles.email_subject(f"{uuid.uuid4()}@example.com"),
        failures=3,
        window_started_at=now - timedelta(minutes=16),
    )
    current_window = LoginThrottle(
        kind="client",
        subject=throttles.client_subject(str(uuid.uuid4())),
        failures=3,
        window_started_at=now - timedelta(minutes=14),
    )
    mail_window_passed = LoginThrottle(
        kind="reset",
        subject=throttles.client_subject(str(uuid.uuid4())),
        failures=3,
        window_started_at=now - timedelta(minutes=61),
    )
    mail_window_current = LoginThrottle(  # 16 minutes: past a login window, not a mail one
        kind="reset",
        subject=throttles.client_subject(str(uuid.uuid4())),
        failures=3,
        window_started_at=now - timedelta(minutes=16),
    )
    code = {"user_id": user.id, "code_hash": b"h" * 32, "email": user.email}
    expired_code = AuthCode(**code, purpose="password_reset", expires_at=now - timedelta(seconds=1))
    live_code = AuthCode(
        **code, purpose="email_verification", expires_at=now + timedelta(minutes=1)
    )
    letter = {"user_id": user.id, "kind": "password_reset", "recipient": "x", "expires_at": now}
    sent_long_ago = OutboxMail(**letter, state="sent", updated_at=now - outbox.RETENTION - DAY)
    sent_lately = OutboxMail(**letter, state="sent", updated_at=now - DAY)
    # unfinished: kept whatever its age (dispatch closes it first)
    stuck = OutboxMail(**letter, state="handed_over", updated_at=now - outbox.RETENTION - DAY)
    old_key = idempotency_key(user.id, now=now, age=timedelta(hours=25))
    live_key = idempotency_key(user.id, now=now, age=timedelta(hours=23))
    todo = Todo(user_id=user.id, title="x")
    device = Device(user_id=user.id, token=str(uuid.uuid4()), platform=DevicePlatform.android)
    tokens = [ended_old, ended_current, live_rotated_expired, live_rotated, live_current]
    session.add_all([*tokens, old_window, current_window, old_key, live_key, todo, device])
    session.flush()
    event = {"recipient_id": user.id, "actor_id": other.id, "resource_type": "todo"}
    processed_long_ago = ShareEvent(
        **event, resource_id=todo.id, processed_at=now - RETENTION - DAY
    )
    processed_lately = ShareEvent(**event, resource_id=todo.id, processed_at=now - DAY)
    pending = ShareEvent(**event, resource_id=todo.id, created_at=now - RETENTION - DAY)
    push = {"user_id": user.id, "device_id": device.id, "kind": "reminder", "title": "t"}
    untouched = PushDelivery(**push, body="b", data={}, updated_at=now - RETENTION - DAY)
    recent = PushDelivery(**push, body="b", data={}, updated_at=now - DAY)
    receipt_age = REMINDER_WINDOW + RETENTION
    old_receipt = TodoReminder(todo_id=todo.id, remind_at=now - receipt_age - DAY)
    new_receipt = TodoReminder(todo_id=todo.id, remind_at=now - receipt_age + DAY)
    sync_retention = timedelta(seconds=get_settings().sync_retention_s) + PURGE_MARGIN
    feed = {"user_id": user.id, "collection": "todo", "xid": 1}
    old_entry = FeedEntry(**feed, item_id=uuid.uuid4(), changed_at=now - sync_retention - DAY)
    new_entry = FeedEntry(**feed, item_id=uuid.uuid4(), changed_at=now - sync_retention + DAY)
    gone = [ended, ended_old, ended_current, live_rotated_expired, old_window, old_key]
    gone += [processed_long_ago, untouched, old_receipt, old_entry]
    gone += [mail_window_passed, expired_code, sent_long_ago]
    kept = [live, live_rotated, live_current, current_window, live_key]
    kept += [processed_lately, pending, recent, new_receipt, new_entry]
    kept += [mail_window_current, live_code, sent_lately, stuck]
    session.add_all(gone + kept)
    session.flush()
    keys = {id(row): session.identity_key(instance=row) for row in gone + kept}

    housekeeping.purge(session=session)

    session.expire_all()

    def present(row: object) -> bool:
        model, identity = keys[id(row)][:2]
        return session.get(model, identity) is not None

    assert [present(row) for row in gone] == [False] * len(gone)
    assert [present(row) for row in kept] == [True] * len(kept)


def test_one_run_deletes_at_most_limit_rows_of_a_kind(session: Session) -> None:
    now = database_now(session)
    user = new_user(session)
    ages = [timedelta(hours=h) for h in (25, 26, 27)]
    session.add_all([idempotency_key(user.id, now=now, age=age) for age in ages])
    session.flush()
    expired = (
        select(func.count())
        .select_from(IdempotencyKey)
        .where(IdempotencyKey.created_at <= func.now() - timedelta(hours=24))
    )
    before = session.scalar(expired)
    assert before is not None
    assert before >= 3

    housekeeping.purge(session=session, limit=2)
    assert session.scalar(expired) == before - 2
    housekeeping.purge(session=session, limit=2)
    assert session.scalar(expired) == max(before - 4, 0)


def test_a_purge_skips_rows_another_transaction_holds(engine: Engine) -> None:
    """A locked expired row is left for a later run; the purge neither waits nor fails (the
    purge's transaction would hit its 500 ms lock_timeout if it waited)."""
    keys = [f"hk-locked-{uuid.uuid4()}", f"hk-free-{uuid.uuid4()}"]
    with engine.begin() as conn:
        user_id = conn.execute(
            text("INSERT INTO users (username, email) VALUES ('hk', :e) RETURNING id"),
            {"e": f"hk-{uuid.uuid4()}@example.com"},
        ).scalar_one()
        for key in keys:
            conn.execute(
                text(
                    "INSERT INTO idempotency_keys (user_id, key, fingerprint, status_code,"
                    " response_body, response_headers, created_at)"
                    " VALUES (:u, :k, '\\x00', 201, '{}', '{}', now() - interval '25 hours')"
                ),
                {"u": user_id, "k": key},
            )
    remaining = text("SELECT key FROM idempotency_keys WHERE user_id = :u ORDER BY key")
    try:
        with engine.connect() as holder, engine.connect() as purger:
            holder.begin()
            holder.execute(
                text("SELECT 1 FROM idempotency_keys WHERE key = :k FOR UPDATE"), {"k": keys[0]}
            )
            with purger.begin():
                purger.execute(text("SET LOCAL lock_timeout = '500ms'"))
                housekeeping.purge(session=Session(bind=purger))
            holder.rollback()
        with engine.connect() as conn:
            assert list(conn.execute(remaining, {"u": user_id}).scalars()) == [keys[0]]
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM users WHERE id = :u"), {"u": user_id})
