"""Mailed codes (common/auth/codes.py) and the mail's text and settings (common/mail.py)."""

from __future__ import annotations

import uuid

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import SecretStr

from common import mail
from common.auth import codes
from common.config import Settings, get_settings

pytestmark = pytest.mark.unit


def test_codes_are_eight_random_digits() -> None:
    drawn = {codes.new_code() for _ in range(200)}
    assert all(len(c) == codes.CODE_DIGITS and c.isascii() and c.isdigit() for c in drawn)
    assert len(drawn) > 190  # 200 draws from 10^8 values: repeats are all but impossible


def test_a_code_hash_is_keyed_and_bound_to_its_purpose() -> None:
    reset = codes.code_hash("password_reset", "01234567")
    assert len(reset) == 32
    assert reset == codes.code_hash("password_reset", "01234567")
    assert reset != codes.code_hash("email_verification", "01234567")
    assert reset != codes.code_hash("password_reset", "01234568")


def test_a_sealed_code_opens_only_for_its_mail() -> None:
    mail_id = uuid.uuid4()
    sealed = codes.seal("01234567", mail_id=mail_id)
    assert b"01234567" not in sealed
    assert codes.unseal(sealed, mail_id=mail_id) == "01234567"
    with pytest.raises(InvalidTag):
        codes.unseal(sealed, mail_id=uuid.uuid4())
    with pytest.raises(InvalidTag):
        codes.unseal(sealed[:-1] + bytes([sealed[-1] ^ 1]), mail_id=mail_id)


def prod(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "prod",
        "release": "r1",
        "cloud_sql_instance": "p:r:i",
        "database_url": None,  # not the test run's
        "db_user": "u",
        "cursor_secret": "c" * 40,
        "jwt_public_keys": '{"k": "pem"}',
        "smtp_host": "smtp.example.com",
        "smtp_from": "Sealy <no-reply@example.com>",
        "code_secret": "s" * 40,
        # the real key URLs: the run's environment points them at the suite's stand-ins
        "google_jwks_url": "https://www.googleapis.com/oauth2/v3/certs",
        "apple_jwks_url": "https://appleid.apple.com/auth/keys",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_production_mail_needs_its_host_sender_and_secret() -> None:
    mail.require_settings(prod())
    for missing in ("smtp_host", "smtp_from", "code_secret"):
        with pytest.raises(mail.MailConfigError, match=missing.upper()):
            mail.require_settings(prod(**{missing: None}))
    mail.require_settings(get_settings())  # the test run: no requirement


def test_production_refuses_mail_in_the_clear() -> None:
    with pytest.raises(ValueError, match="SMTP_STARTTLS must be on"):
        prod(smtp_starttls=False)


def test_the_mail_says_the_code_and_nothing_else_secret() -> None:
    mail_id = uuid.uuid4()
    message = mail.build_message(
        mail_id=mail_id,
        kind="password_reset",
        recipient="ada@example.com",
        code="01234567",
        sender="Sealy <no-reply@sealy.example>",
    )
    assert set(message.keys()) == {
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "Auto-Submitted",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
    }
    assert message["Message-ID"] == f"<{mail_id}@sealy.example>"
    body = str(message.get_content())
    assert "01234567" in body
    assert "30 minutes" in body
    assert "http" not in body
    assert "ada" not in body


def test_a_dev_secret_is_never_used_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = prod(code_secret=None)
    monkeypatch.setattr(codes, "get_settings", lambda: settings)
    codes._keys.cache_clear()
    try:
        with pytest.raises(codes.CodeConfigError):
            codes.code_hash("password_reset", "01234567")
    finally:
        codes._keys.cache_clear()


def test_the_code_secret_keys_the_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = codes.code_hash("password_reset", "01234567")
    settings = get_settings().model_copy(update={"code_secret": SecretStr("x" * 40)})
    monkeypatch.setattr(codes, "get_settings", lambda: settings)
    codes._keys.cache_clear()
    try:
        assert codes.code_hash("password_reset", "01234567") != before
    finally:
        codes._keys.cache_clear()
