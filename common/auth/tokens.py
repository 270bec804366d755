"""Access tokens (Ed25519-signed JWTs) and opaque refresh tokens.

Access tokens
-------------
Header `{"alg": "EdDSA", "typ": "at+jwt", "kid": ...}`; claims `iss aud sub iat
exp jti`, 15 minutes (RFC 9068's profile without `client_id`). No `nbf`: it
would always equal `iat`, and `iat` is already checked not to lie in the future.
A token that carries `nbf` anyway has it checked.

Only the `auth` function holds the private key (`JWT_SIGNING_KEY` /
`JWT_SIGNING_KID`); every function verifies with the public key ring
`JWT_PUBLIC_KEYS` (`{kid: PEM}`). Rotation: publish the new public key in every
function's ring, then switch the auth function's signing key, then drop the old
public key after the last token signed with it has expired (15 minutes + leeway).

`verify_access_token` treats the token as hostile: it raises `InvalidToken` and
nothing else for any input. It pins the algorithm to EdDSA, chooses the key by
`kid` from the ring only (the `jku`, `x5u`, `jwk` and `x5c` headers are never
read), requires every claim, checks `iss`, `aud`, `typ`, and allows `LEEWAY`
of clock skew. A broken key ring is a configuration error (`TokenConfigError`):
loud, and never mistaken for a bad token. A token that passed is remembered (by
its exact text, with the key ring and settings it passed under) for its
lifetime: a client sends the same token with every request for 15 minutes, and
verifying it again (PyJWT parsing it twice, the Ed25519 signature) was ~0.3 ms
of each request's CPU. Only its expiry can change for the same text under the
same keys, so a remembered token has that checked again on every request.

Refresh tokens
--------------
`sealy_rt_` + 256 random bits, URL-safe. The prefix makes a leaked token
recognisable to secret scanners and makes one sent as a bearer token fail at the
first check (it has no dots). Only `hash_refresh_token` (SHA-256) is stored: a
256-bit random value needs no salt or slow hash.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from uuid import UUID

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from common.config import DEV_KEY_ID_PREFIX, get_settings

ALGORITHM: Final = "EdDSA"
ACCESS_TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 (a media type, not a secret)
ACCESS_TOKEN_TTL: Final = timedelta(minutes=15)
ACCESS_TOKEN_TTL_SECONDS: Final = int(ACCESS_TOKEN_TTL.total_seconds())
# Issuer and verifiers are Cloud Functions on Google's NTP-synced clocks; 10 s covers
# their skew and a request in flight. The issue allows at most 30 s.
LEEWAY: Final = timedelta(seconds=10)
REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "iat", "exp", "jti")
# A real token is ~400 characters; anything far longer is refused before parsing.
MAX_TOKEN_LENGTH: Final = 4096
# Headers this module never issues and refuses to interpret: `crit` names extensions
# we do not implement (RFC 7515 4.1.11), `b64` switches to unencoded payloads (RFC 7797).
_REFUSED_HEADERS: Final = frozenset({"crit", "b64"})

# Tokens remembered as verified: more than the users one instance serves in 15 minutes;
# ~0.5 KB each. The oldest goes first (it is verified again if sent again).
VERIFIED_TOKENS: Final = 2048

REFRESH_TOKEN_PREFIX: Final = "sealy_rt_"  # noqa: S105 (a public marker)
REFRESH_TOKEN_BYTES: Final = 32  # 256 bits

_KID_PATTERN: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
_COMPACT_JWS_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_REFRESH_TOKEN_PATTERN: Final = re.compile(re.escape(REFRESH_TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")
_DEV_KEY_FILE: Final = "signing-key.json"


class InvalidToken(Exception):
    """The access token is missing, malformed, wrongly signed, expired or not ours.

    The message is a fixed reason for logs; it never echoes the token.
    """


class TokenConfigError(RuntimeError):
    """This process's JWT keys are missing or malformed: a deployment error."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that passed every check, under these keys and settings."""

    key_ring: Mapping[str, Ed25519PublicKey]
    issuer: str
    audience: str
    user_id: UUID
    exp: int


_verified: dict[str, _Verified] = {}  # read without the lock: one dict lookup is atomic
_verified_lock = threading.Lock()


# --- access tokens -------------------------------------------------------------------


def issue_access_token(*, user_id: UUID, now: datetime | None = None) -> tuple[str, int]:
    """A signed access token for `user_id` and its lifetime in seconds (`expires_in`).

    Raises `TokenConfigError` in a process without the signing key (every function
    except `auth`).
    """
    signing_key = load_signing_key()
    settings = get_settings()
    issued_at = datetime.now(UTC) if now is None else now
    if issued_at.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    iat = int(issued_at.timestamp())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "iat": iat,
        "exp": iat + ACCESS_TOKEN_TTL_SECONDS,
        "jti": str(uuid.uuid4()),
    }
    token = jwt.encode(
        claims,
        signing_key.private_key,
        algorithm=ALGORITHM,
        headers={"typ": ACCESS_TOKEN_TYPE, "kid": signing_key.kid},
    )
    return token, ACCESS_TOKEN_TTL_SECONDS


def verify_access_token(token: str) -> UUID:
    """The user id of a valid access token; `InvalidToken` for anything else."""
    if (
        not isinstance(token, str)
        or len(token) > MAX_TOKEN_LENGTH
        or _COMPACT_JWS_PATTERN.fullmatch(token) is None
    ):
        raise InvalidToken("malformed token")
    key_ring = load_key_ring()  # outside the try blocks: a broken ring is a 500, not a 401
    settings = get_settings()
    known = _verified.get(token)
    if (
        known is not None
        and known.key_ring is key_ring
        and known.issuer == settings.jwt_issuer
        and known.audience == settings.jwt_audience
    ):
        # what PyJWT checks of `exp`; `iat` and `nbf` were not in the future then, so not now
        if known.exp <= time.time() - LEEWAY.total_seconds():
            raise InvalidToken("expired")
        return known.user_id

    try:
        header = jwt.get_unverified_header(token)
    except Exception as exc:  # hostile input: whatever the parser raises is a bad token
        raise InvalidToken("unreadable header") from exc
    public_key = _select_key(header, key_ring)

    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY,
            options={"require": list(REQUIRED_CLAIMS), "strict_aud": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidToken("not yet valid") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("bad signature") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken("missing claim") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken("wrong issuer") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken("wrong audience") from exc
    except Exception as exc:  # any other PyJWTError, or anything a hostile token provokes
        raise InvalidToken("invalid token") from exc
    user_id = _subject_of(claims)
    verified = _Verified(
        key_ring, settings.jwt_issuer, settings.jwt_audience, user_id, claims["exp"]
    )
    with _verified_lock:
        while len(_verified) >= VERIFIED_TOKENS:
            del _verified[next(iter(_verified))]
        _verified[token] = verified
    return user_id


def _select_key(
    header: dict[str, Any], key_ring: Mapping[str, Ed25519PublicKey]
) -> Ed25519PublicKey:
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("algorithm not allowed")
    if header.get("typ") != ACCESS_TOKEN_TYPE:
        raise InvalidToken("not an access token")
    if not _REFUSED_HEADERS.isdisjoint(header):
        raise InvalidToken("unsupported header")
    kid = header.get("kid")
    if not isinstance(kid, str) or _KID_PATTERN.fullmatch(kid) is None:
        raise InvalidToken("malformed kid")
    public_key = key_ring.get(kid)
    if public_key is None:
        raise InvalidToken("unknown kid")
    return public_key


def _subject_of(claims: dict[str, Any]) -> UUID:
    iat, exp, sub = claims["iat"], claims["exp"], claims["sub"]
    # pyjwt accepts any number for iat/exp; we only ever issue integers.
    if type(iat) is not int or type(exp) is not int:
        raise InvalidToken("non-integer time claim")
    if exp - iat > ACCESS_TOKEN_TTL_SECONDS:
        raise InvalidToken("lifetime too long")
    try:
        user_id = UUID(sub)
    except (TypeError, ValueError) as exc:
        raise InvalidToken("subject is not a user id") from exc
    if str(user_id) != sub:  # only the canonical form we issue
        raise InvalidToken("subject is not a user id")
    return user_id


# --- keys ----------------------------------------------------------------------------


def _configured_keys() -> tuple[str | None, str | None, str | None]:
    """(`JWT_PUBLIC_KEYS`, `JWT_SIGNING_KEY`, `JWT_SIGNING_KID`) as configured. Under
    `ENV=dev` with none of them set, the dev key pair in `JWT_DEV_KEYS_DIR` (`.sealy/jwt/`,
    created on first use, shared with `make dev`): so a function started on its own
    (`functions-framework --source functions/auth/main.py --target auth`) signs and
    verifies tokens as it does behind the gateway."""
    settings = get_settings()
    signing_key = settings.jwt_signing_key
    given = (
        settings.jwt_public_keys,
        signing_key.get_secret_value() if signing_key is not None else None,
        settings.jwt_signing_kid,
    )
    if settings.env != "dev" or given != (None, None, None):
        return given
    dev = ensure_dev_keys(settings.jwt_dev_keys_dir)
    return dev["JWT_PUBLIC_KEYS"], dev["JWT_SIGNING_KEY"], dev["JWT_SIGNING_KID"]


@functools.cache
def load_key_ring() -> Mapping[str, Ed25519PublicKey]:
    """This process's verification keys by kid, from `JWT_PUBLIC_KEYS`; built once."""
    return parse_key_ring(_configured_keys()[0])


def parse_key_ring(raw: str | None) -> Mapping[str, Ed25519PublicKey]:
    """Parse `JWT_PUBLIC_KEYS` (`{"kid": "PEM", ...}`); `TokenConfigError` when malformed."""
    if not raw:
        raise TokenConfigError("JWT_PUBLIC_KEYS is not set")
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        raise TokenConfigError("JWT_PUBLIC_KEYS is not valid JSON") from exc
    if not isinstance(entries, dict) or not entries:
        raise TokenConfigError("JWT_PUBLIC_KEYS must be a non-empty JSON object {kid: PEM}")
    ring: dict[str, Ed25519PublicKey] = {}
    for kid, pem in entries.items():
        _check_kid(kid, source="JWT_PUBLIC_KEYS")
        if not isinstance(pem, str):
            raise TokenConfigError(f"JWT_PUBLIC_KEYS[{kid!r}] must be a PEM string")
        ring[kid] = _load_public_key(pem, source=f"JWT_PUBLIC_KEYS[{kid!r}]")
    return MappingProxyType(ring)


@functools.cache
def load_signing_key() -> SigningKey:
    """The auth function's private key, checked against its own public key ring."""
    _, signing_key, kid = _configured_keys()
    if signing_key is None or not kid:
        raise TokenConfigError(
            "this process cannot issue access tokens: JWT_SIGNING_KEY and "
            "JWT_SIGNING_KID are given to the auth function only"
        )
    _check_kid(kid, source="JWT_SIGNING_KID")
    try:
        private_key = serialization.load_pem_private_key(signing_key.encode("utf-8"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise TokenConfigError("JWT_SIGNING_KEY is not an unencrypted PEM private key") from exc
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TokenConfigError("JWT_SIGNING_KEY is not an Ed25519 key")
    published = load_key_ring().get(kid)
    if published is None or _raw_public_bytes(published) != _raw_public_bytes(
        private_key.public_key()
    ):
        # Tokens signed now would fail everywhere: refuse to issue them at all.
        raise TokenConfigError(
            "JWT_SIGNING_KID is not in JWT_PUBLIC_KEYS with the matching public key"
        )
    return SigningKey(kid=kid, private_key=private_key)


def generate_dev_keypair(*, kid_prefix: str = DEV_KEY_ID_PREFIX) -> tuple[str, str, str]:
    """A fresh Ed25519 key pair: (kid, private key PEM (PKCS#8), public key PEM).

    For `make dev` and tests. Production refuses kids with the `dev-` prefix.
    """
    kid = f"{kid_prefix}{secrets.token_hex(8)}"
    _check_kid(kid, source="kid_prefix")
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        private_key.public_key()
        .public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode("ascii")
    )
    return kid, private_pem, public_pem


def ensure_dev_keys(directory: Path) -> dict[str, str]:
    """The dev key pair kept in `directory` (e.g. `.sealy/jwt`), created on first run.

    Returns the environment for the dev launcher: `JWT_SIGNING_KEY`,
    `JWT_SIGNING_KID`, `JWT_PUBLIC_KEYS`. Safe against two launchers starting at
    once: the file is published with an atomic link, and the loser reads the winner's.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / _DEV_KEY_FILE
    if not path.exists():
        kid, private_pem, public_pem = generate_dev_keypair()
        content = json.dumps({"kid": kid, "private_key": private_pem, "public_key": public_pem})
        temporary = directory / f".{_DEV_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(content)
            with contextlib.suppress(FileExistsError):  # another launcher won: use its key
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return _read_dev_keys(path)


def _read_dev_keys(path: Path) -> dict[str, str]:
    problem = f"{path} is not a Sealy dev key file; delete it to generate a new one"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        kid, private_pem, public_pem = stored["kid"], stored["private_key"], stored["public_key"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenConfigError(problem) from exc
    if not isinstance(kid, str) or not kid.startswith(DEV_KEY_ID_PREFIX):
        raise TokenConfigError(problem)
    if not isinstance(private_pem, str) or not isinstance(public_pem, str):
        raise TokenConfigError(problem)
    return {
        "JWT_SIGNING_KEY": private_pem,
        "JWT_SIGNING_KID": kid,
        "JWT_PUBLIC_KEYS": json.dumps({kid: public_pem}),
    }


def _check_kid(kid: object, *, source: str) -> None:
    if not isinstance(kid, str) or _KID_PATTERN.fullmatch(kid) is None:
        raise TokenConfigError(f"{source}: a kid is 1-64 characters of [A-Za-z0-9._-]")


def _load_public_key(pem: str, *, source: str) -> Ed25519PublicKey:
    try:
        public_key = serialization.load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise TokenConfigError(f"{source} is not a PEM public key") from exc
    if not isinstance(public_key, Ed25519PublicKey):
        raise TokenConfigError(f"{source} is not an Ed25519 key")
    return public_key


def _raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )


# --- refresh tokens ------------------------------------------------------------------


def new_refresh_token() -> str:
    """A new opaque refresh token: the prefix and 256 random bits, URL-safe."""
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def is_well_formed_refresh_token(token: object) -> bool:
    """Whether `token` has the shape `new_refresh_token` produces (no database needed).

    Lets the refresh route refuse an access token or garbage before a lookup.
    """
    return isinstance(token, str) and _REFRESH_TOKEN_PATTERN.fullmatch(token) is not None


def hash_refresh_token(token: str) -> bytes:
    """The SHA-256 digest stored in place of the token (32 bytes). Never raises."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
