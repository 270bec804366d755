"""The account statement of a provider sign-in (common.db.identities) when what the sign-in
check read has changed before it runs: each outcome set up here in one transaction (rolled
back), where the API tests can only race for it."""

from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.db import identities
from common.db.models import AuthProvider
from tests.rows import AuthIdentity, AuthSession, User

pytestmark = pytest.mark.integration


def create(session: Session, subject: str, email: str | None) -> object:
    return identities.create_provider_account(
        session=session,
        provider=AuthProvider.google,
        subject=subject,
        identity_email=email,
        verified_email=email,
        username="someone",
        display_name=None,
        refresh_hash=secrets.token_bytes(32),
    )


def test_a_new_identity_makes_a_user_its_identity_and_a_session(session: Session) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    row = create(session, "g-new", email)
    assert not isinstance(row, identities.Taken)
    user_id = row["id"]  # type: ignore[index]
    assert session.get(User, user_id) is not None
    assert session.scalar(select(AuthIdentity.user_id).filter_by(provider_user_id="g-new")) == (
        user_id
    )
    sessions = select(func.count()).select_from(AuthSession).filter_by(user_id=user_id)
    assert session.scalar(sessions) == 1


def test_an_identity_created_meanwhile_creates_nothing(session: Session) -> None:
    owner = User(id=uuid.uuid4(), username="first")
    session.add(owner)
    session.flush()
    session.add(
        AuthIdentity(user_id=owner.id, provider=AuthProvider.google, provider_user_id="g-taken")
    )
    session.flush()
    before = session.scalar(select(func.count()).select_from(User))
    assert create(session, "g-taken", None) is identities.Taken.IDENTITY
    assert session.scalar(select(func.count()).select_from(User)) == before


def test_an_email_registered_meanwhile_is_taken(session: Session) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    session.add(User(id=uuid.uuid4(), username="first", email=email.upper()))
    session.flush()
    savepoint = session.begin_nested()  # the failed statement aborts it, not the test
    try:
        assert create(session, "g-other", email) is identities.Taken.EMAIL
    finally:
        savepoint.rollback()
