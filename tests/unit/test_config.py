"""Settings: production refuses dev defaults at start; dev/test need a database."""

from __future__ import annotations

import json
from pathlib import Path

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


@pytest.mark.parametrize(
    "origins",
    ["*", "https://app.sealy.dev/", "app.sealy.dev", "https://*.sealy.dev", "https://a b"],
)
def test_cors_origins_must_be_origins(origins: str) -> None:
    with pytest.raises(ValidationError, match="CORS_ORIGINS holds what is not an origin"):
        make(cors_origins=origins)


def test_production_cors_origins_are_https() -> None:
    assert make(cors_origins="https://app.sealy.dev, https://x.sealy.dev").cors_origin_set == {
        "https://app.sealy.dev",
        "https://x.sealy.dev",
    }
    with pytest.raises(ValidationError, match="https:// origins only"):
        make(cors_origins="http://app.sealy.dev")


# --- sign in with Google and Apple ------------------------------------------------------


def test_provider_settings_default_to_the_real_key_urls_and_no_client() -> None:
    settings = make()
    assert settings.google_jwks_url == "https://www.googleapis.com/oauth2/v3/certs"
    assert settings.apple_jwks_url == "https://appleid.apple.com/auth/keys"
    assert settings.google_client_ids == ()
    assert settings.apple_client_ids == ()


def test_client_ids_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLIENT_IDS", " a.apps.googleusercontent.com, b.apps ,,")
    monkeypatch.setenv("APPLE_CLIENT_IDS", "dev.sealy.app")
    settings = make()
    assert settings.google_client_ids == ("a.apps.googleusercontent.com", "b.apps")
    assert settings.apple_client_ids == ("dev.sealy.app",)


@pytest.mark.parametrize("name", ["google_jwks_url", "apple_jwks_url"])
def test_production_takes_key_urls_over_https_only(name: str) -> None:
    with pytest.raises(ValidationError, match=f"{name.upper()} must be an https URL"):
        make(**{name: "http://keys.example.com/jwks"})
    assert getattr(make(**{name: "https://keys.example.com/jwks"}), name).startswith("https:")


@pytest.mark.parametrize("env", ["dev", "test"])
def test_dev_and_test_also_take_http_key_urls(env: str) -> None:
    local = {"env": env, "database_url": "postgresql+pg8000://u@h/db"}
    settings = Settings(_env_file=None, **local, google_jwks_url="http://127.0.0.1:9/k")  # type: ignore[call-arg, arg-type]
    assert settings.google_jwks_url == "http://127.0.0.1:9/k"
    for bad in ("file:///etc/passwd", "ftp://keys.example.com/k", "https://"):
        with pytest.raises(ValidationError, match="APPLE_JWKS_URL must be an https or http URL"):
            Settings(_env_file=None, **local, apple_jwks_url=bad)  # type: ignore[call-arg, arg-type]


# --- where the values come from -------------------------------------------------------------


def test_arguments_then_environment_then_env_file_then_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# dev settings\n"
        "\n"
        "export RELEASE='from-file'\n"
        'DB_NAME="file-db"\n'
        "db_pool_size=7  # a comment\n"
        "LOG_LEVEL=WARNING\n"
        "NOT_A_SETTING=ignored\n"
    )
    monkeypatch.setenv("log_level", "ERROR")  # names match ignoring case, as before
    monkeypatch.setenv("DB_USER", "env-user")
    settings = Settings(_env_file=env_file, **{**PROD, "db_user": "argument-user"})  # type: ignore[arg-type]
    assert settings.release == "2026.11.27-1"  # the argument over the file
    assert settings.db_name == "file-db"
    assert settings.db_pool_size == 7
    assert settings.log_level == "ERROR"  # the environment over the file
    assert settings.db_user == "argument-user"
    assert settings.db_max_overflow == 2  # the default
    assert Settings(_env_file=None, **PROD).db_name == "sealy"  # type: ignore[arg-type]


def test_values_from_the_environment_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "many")
    with pytest.raises(ValidationError, match="db_pool_size"):
        make()
    monkeypatch.setenv("DB_POOL_SIZE", "0")
    with pytest.raises(ValidationError, match="db_pool_size"):
        make()
    monkeypatch.setenv("DB_POOL_SIZE", "9")
    monkeypatch.setenv("DEBUG", "true")
    with pytest.raises(ValidationError, match="DEBUG must be off"):
        make()


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        make().env = "dev"  # type: ignore[misc]
