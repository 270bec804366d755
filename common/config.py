"""Settings from the environment, validated once per process.

`ENV` picks the mode: `dev` (reads `.env`, generous defaults), `test` (the suite),
`prod` (Cloud Functions). Production refuses to start with any dev default: a
cold start that dies loudly beats a request that leaks a dev secret.

Every variable is listed in the README's configuration table. Each field reads the
variable of its name in upper case (matched ignoring case); in dev a `.env` file in the
working directory supplies what the environment does not (`_environment`). A plain pydantic
model validates them: pydantic-settings did the same reading for ~50 ms of every cold start.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEV_CURSOR_SECRET = "dev-cursor-secret-not-for-production"  # noqa: S105 (a marker, refused in prod)
DEV_CODE_SECRET = "dev-code-secret-not-for-production"  # noqa: S105 (a marker, refused in prod)
DEV_KEY_ID_PREFIX = "dev-"
# An origin as a browser sends it: scheme, host, optional port; no path, no wildcard.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
_LOCAL_HOST_MARKERS = ("localhost", "127.0.0.1", "[::1]", "unix_sock=", "host=/")
_ROOT = Path(__file__).resolve().parent.parent  # the repository (dev and test only)


def _dotenv(path: Path) -> dict[str, str]:
    """`NAME=value` lines of a dev `.env` file, read as python-dotenv (pydantic-settings'
    reader) reads the usual ones: blank lines, `#` comments, a leading `export`, one pair of
    matching quotes around a value, ` #` ending an unquoted value."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[name.lower()] = value
    return values


def _environment(names: Iterable[str], env_file: str | Path | None) -> dict[str, str]:
    """The values of the variables named like the fields `names`, by lower-cased name: the
    process environment's, else the `.env` file's (if there is one)."""
    wanted = set(names)
    found = _dotenv(Path(env_file)) if env_file is not None and Path(env_file).is_file() else {}
    found.update((name.lower(), value) for name, value in os.environ.items())
    return {name: value for name, value in found.items() if name in wanted}


class Settings(BaseModel):
    """The settings: keyword arguments first, then the environment, then `.env`
    (`_env_file=None` skips it), then the defaults below."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def __init__(self, _env_file: str | Path | None = ".env", **values: Any) -> None:
        super().__init__(**{**_environment(type(self).model_fields, _env_file), **values})

    env: Literal["dev", "test", "prod"] = "dev"
    release: str = "dev"
    debug: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Names the project in log trace ids (projects/<p>/traces/<id>); set by deploy.sh.
    google_cloud_project: str | None = None

    # --- database -------------------------------------------------------------
    # dev/test: a SQLAlchemy URL (postgresql+pg8000://...). prod: the connector below.
    database_url: str | None = None
    # "project:region:instance"; when set, connections go through the Cloud SQL connector.
    cloud_sql_instance: str | None = None
    db_name: str = "sealy"
    db_user: str | None = None  # IAM user ("sa-name@project.iam") or a built-in user
    db_password: SecretStr | None = None  # only without IAM auth
    db_iam_auth: bool = True
    db_ip_type: Literal["private", "public", "psc"] = "private"
    # Pool: per process. The sum over all functions is checked against
    # max_connections in functions.json (tests/deploy/test_functions_list.py).
    db_pool_size: int = Field(default=5, ge=1, le=50)
    db_max_overflow: int = Field(default=2, ge=0, le=50)
    db_pool_timeout_s: float = Field(default=5.0, gt=0)
    db_pool_recycle_s: int = Field(default=1800, gt=0)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    db_statement_timeout_ms: int = Field(default=5000, ge=100)
    db_lock_timeout_ms: int = Field(default=2000, ge=100)
    db_idle_in_transaction_timeout_ms: int = Field(default=10000, ge=100)

    # Which X-Forwarded-For entry, counted from the right, holds the client (0: the socket
    # peer). 3 behind Cloudflare -> Google's load balancer; see common/auth/client_ip.py.
    client_ip_xff_position: int = Field(default=3, ge=0, le=16)

    # --- tokens and secrets ----------------------------------------------------
    jwt_issuer: str = "https://api.sealy.dev"
    jwt_audience: str = "sealy-api"
    # JSON object {kid: PEM public key}; every function verifies with these.
    jwt_public_keys: str | None = None
    # PEM private key and its kid; only the auth function is given these.
    jwt_signing_key: SecretStr | None = None
    jwt_signing_kid: str | None = None
    # ENV=dev only, when none of the three above is set: the dev key pair kept here.
    jwt_dev_keys_dir: Path = _ROOT / ".sealy" / "jwt"
    # HMAC key for opaque list cursors (and change feeds' cursors and sync tokens).
    cursor_secret: SecretStr = SecretStr(DEV_CURSOR_SECRET)
    # How long a change feed's sync token stays valid (older: 410); feed bookkeeping older
    # than this is purged. 30 days (api-v1 §10).
    sync_retention_s: int = Field(default=30 * 86400, ge=0)
    # Shared secret accepted by /v1/notifications/dispatch besides Google OIDC.
    dispatch_token: SecretStr | None = None
    dispatch_audience: str | None = None
    # The service account whose Google OIDC token may call dispatch (Cloud Scheduler's).
    dispatch_service_account: str | None = None
    firebase_project_id: str | None = None

    # --- browsers ----------------------------------------------------------------
    # Origins whose pages may call the API (CORS), comma-separated, each exactly as a browser
    # sends it ("https://app.sealy.dev"); under ENV=dev|test localhost origins are added.
    cors_origins: str = ""

    @property
    def cors_origin_set(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.cors_origins.split(",") if o.strip())

    # --- sign in with Google and Apple (api-v1 §11) ----------------------------------
    # The client ids whose ID tokens are accepted (a token's `aud` must be one of them),
    # comma-separated; none: every token of that provider is refused.
    google_client_ids: tuple[str, ...] = ()
    apple_client_ids: tuple[str, ...] = ()
    # The providers' published signing keys (JWKS). http:// only under ENV=dev|test.
    google_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    apple_jwks_url: str = "https://appleid.apple.com/auth/keys"

    @field_validator("google_client_ids", "apple_client_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def _key_url_problems(self) -> list[str]:
        allowed = ("https",) if self.env == "prod" else ("https", "http")
        return [
            f"{name.upper()} must be an {' or '.join(allowed)} URL"
            for name in ("google_jwks_url", "apple_jwks_url")
            if (url := urlsplit(getattr(self, name))).scheme not in allowed or not url.netloc
        ]

    # --- mail (password reset and email verification codes, common/mail.py) ----------
    # Only the functions that send codes (auth, notifications) need these; common.mail's
    # `require_settings` refuses their cold start in prod without them.
    # Keys the HMAC that codes are stored as and seals codes waiting in the mail outbox
    # (common/auth/codes.py). Unset in dev/test: DEV_CODE_SECRET.
    code_secret: SecretStr | None = None
    # Without SMTP_HOST (dev and test only) mails are written as files under MAIL_DIR.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None  # "Sealy <no-reply@example.com>"; dev/test: a local one
    smtp_starttls: bool = True  # required in prod: the mails carry codes
    smtp_ca_file: str | None = None  # a CA bundle to trust instead of the system's
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    mail_dir: str = ".sealy/mail"

    @model_validator(mode="after")
    def _enforce_production_rules(self) -> Self:
        if bad := [o for o in self.cors_origin_set if not _ORIGIN.fullmatch(o)]:
            raise ValueError(f"CORS_ORIGINS holds what is not an origin: {', '.join(sorted(bad))}")
        if self.env != "prod":
            if bad_urls := self._key_url_problems():
                raise ValueError("; ".join(bad_urls))
            if self.database_url is None and self.cloud_sql_instance is None:
                raise ValueError("set DATABASE_URL (or CLOUD_SQL_INSTANCE)")
            return self
        problems: list[str] = []
        if self.debug:
            problems.append("DEBUG must be off")
        if self.cloud_sql_instance is None and self.database_url is None:
            problems.append("CLOUD_SQL_INSTANCE is required")
        if self.database_url and any(m in self.database_url for m in _LOCAL_HOST_MARKERS):
            problems.append("DATABASE_URL points at a local server")
        if self.cloud_sql_instance and not self.db_user:
            problems.append("DB_USER is required with CLOUD_SQL_INSTANCE")
        if any(not o.startswith("https://") for o in self.cors_origin_set):
            problems.append("CORS_ORIGINS must list https:// origins only")
        if self.cursor_secret.get_secret_value() == DEV_CURSOR_SECRET:
            problems.append("CURSOR_SECRET is the dev default")
        if len(self.cursor_secret.get_secret_value()) < 32:
            problems.append("CURSOR_SECRET must be at least 32 characters")
        code_secret = self.code_secret.get_secret_value() if self.code_secret else None
        if code_secret == DEV_CODE_SECRET:
            problems.append("CODE_SECRET is the dev default")
        elif code_secret is not None and len(code_secret) < 32:
            problems.append("CODE_SECRET must be at least 32 characters")
        if not self.smtp_starttls:
            problems.append("SMTP_STARTTLS must be on")
        if not self.jwt_public_keys:
            problems.append("JWT_PUBLIC_KEYS is required")
        elif f'"{DEV_KEY_ID_PREFIX}' in self.jwt_public_keys:
            problems.append("JWT_PUBLIC_KEYS holds a dev key")
        if self.jwt_signing_kid and self.jwt_signing_kid.startswith(DEV_KEY_ID_PREFIX):
            problems.append("JWT_SIGNING_KID is a dev key")
        if self.release == "dev":
            problems.append("RELEASE must name the deployed release")
        problems.extend(self._key_url_problems())
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read on first use and kept."""
    return Settings()
