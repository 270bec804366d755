"""Settings: production refuses dev defaults at start; dev/test need a database."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from common.config import DEV_CODE_SECRET, DEV_CURSOR_SECRET, Settings

pytestmark = pytest.mark.unit

PROD = {
    "env": "prod",
    "release": "2026.11.27-1",
    "cloud_sql_instance": "proj:europe-west1:sealy",
    "db_user": "todos-fn@proj.iam",
    "cursor_secret": "x" * 40,
    "jwt_public_keys": json.dumps({"k2026-11": "-----BEGIN PUBLIC KEY-----..."}),
}


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests build Settings from arguments only, not from the test run's environment."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def make(**overrides: object) -> Settings:
    return Settings(_env_file=None, **{**PROD, **overrides})  # type: ignore[call-arg]


def test_a_complete_production_config_is_accepted() -> None:
    settings = make()
    assert settings.env == "prod"
    assert settings.cloud_sql_instance == "proj:europe-west1:sealy"


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"debug": True}, "DEBUG must be off"),
        ({"cursor_secret": DEV_CURSOR_SECRET}, "CURSOR_SECRET is the dev default"),
        ({"cursor_secret": "short"}, "at least 32 characters"),
        ({"code_secret": DEV_CODE_SECRET}, "CODE_SECRET is the dev default"),
        ({"code_secret": "short"}, "CODE_SECRET must be at least 32 characters"),
        ({"smtp_starttls": False}, "SMTP_STARTTLS must be on"),
        ({"jwt_public_keys": None}, "JWT_PUBLIC_KEYS is required"),
        ({"jwt_public_keys": json.dumps({"dev-abc": "pem"})}, "holds a dev key"),
        ({"jwt_signing_kid": "dev-abc"}, "JWT_SIGNING_KID is a dev key"),
        ({"release": "dev"}, "RELEASE must name"),
        ({"cloud_sql_instance": None}, "CLOUD_SQL_INSTANCE is required"),
        ({"db_user": None}, "DB_USER is required"),
        (
            {"cloud_sql_instance": None, "database_url": "postgresql://u@localhost/sealy"},
            "points at a local server",
        ),
        (
            {"cloud_sql_instance": None, "database_url": "postgresql://u@/db?unix_sock=/tmp/s"},
            "points at a local server",
        ),
    ],
)
def test_production_refuses_dev_defaults(override: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        make(**override)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        make(debug=True, release="dev")
    assert "DEBUG must be off" in str(caught.value)
    assert "RELEASE must name" in str(caught.value)


def test_dev_and_test_need_a_database() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings(_env_file=None, env="test", database_url=None)  # type: ignore[call-arg]
    ok = Settings(_env_file=None, env="dev", database_url="postgresql+pg8000://u@h/db")  # type: ignore[call-arg]
    assert ok.cursor_secret.get_secret_value() == DEV_CURSOR_SECRET


def test_secrets_do_not_show_in_repr() -> None:
    settings = make(cursor_secret="s3cr3t-" * 6)
    assert "s3cr3t" not in repr(settings)
