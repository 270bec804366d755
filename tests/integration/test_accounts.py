"""Housekeeping of the auth tables (common.db.accounts), inside a rolled-back transaction."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from common.db import accounts
from common.db.models import AuthSession, LoginThrottle, RefreshToken, User

pytestmark = pytest.mark.integration


def test_purge_deletes_only_finished_rows(session: Session) -> None:
    now = datetime.now(UTC)
    user = User(username="purge", email=f"purge-{now.timestamp()}@example.com")
    session.add(user)
    session.flush()
    auth_session = AuthSession(user_id=user.id)
    session.add(auth_session)
    session.flush()
    expired, live = hashlib.sha256(b"expired").digest(), hashlib.sha256(b"live").digest()
    session.add_all(
        [
            RefreshToken(
                token_hash=expired, session_id=auth_session.id, expires_at=now - timedelta(days=1)
            ),
            RefreshToken(
                token_hash=live, session_id=auth_session.id, expires_at=now + timedelta(days=1)
            ),
            LoginThrottle(
                kind="email",
                subject=accounts.email_subject("old@example.com"),
                failures=3,
                window_started_at=now - timedelta(minutes=16),
            ),
            LoginThrottle(
                kind="client",
                subject=accounts.client_subject("10.0.0.1"),
                failures=3,
                window_started_at=now - timedelta(minutes=14),
            ),
        ]
    )
    session.flush()

    assert accounts.purge_expired_auth_rows(session=session) >= 2

    session.expire_all()
    assert session.get(RefreshToken, expired) is None
    assert session.get(RefreshToken, live) is not None
    assert session.get(LoginThrottle, ("email", accounts.email_subject("old@example.com"))) is None
    assert session.get(LoginThrottle, ("client", accounts.client_subject("10.0.0.1"))) is not None
