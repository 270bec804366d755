"""Sign in with Google and Apple (api-v1 §11): ID tokens verified with the providers' keys.

Library: PyJWT, already ours for access tokens. `PyJWKClient` (subclassed here as
`ProviderKeys`) parses the published key set (JWKS) and finds a token's key by `kid`;
`jwt.decode` checks the signature and the claims. google-auth was the other candidate:
its `id_token.verify_token` fetches the keys on every call (it keeps no cache of its own),
hands a JWKS to PyJWT anyway, and knows nothing of Apple.

What PyJWKClient does not do is done in `ProviderKeys` (read in PyJWT 2.15's source):
- Freshness from the response's `Cache-Control` (`max-age` less `Age`; `no-store` and
  `no-cache`: none); PyJWKClient keeps a set for a fixed `lifespan` whatever the headers say.
  Freshness is kept between `REFETCH_INTERVAL_S` and `MAX_FRESHNESS_S`; without the header,
  `DEFAULT_FRESHNESS_S` (PyJWKClient's own default lifespan).
- At most one fetch per `REFETCH_INTERVAL_S` per provider and process, counted from every
  attempt, failed or not. PyJWKClient refetches on an unknown `kid` once its cooldown has
  passed, but starts the cooldown only at a successful fetch: while the endpoint fails,
  every token with a made-up `kid` would go to the network. Here a flood of garbage kids
  costs at most one fetch per interval, and a token naming a key published since the last
  fetch (a rotation) gets the set fetched once: at once, or when the interval since the last
  fetch has passed (providers publish new keys well before they sign with them).
- One fetch at a time (a lock): concurrent sign-ins wait for the fetch in progress.
- No fresh keys and no fetch possible (the endpoint failed, or failed within the interval):
  `KeysUnavailable`, a 503 with `Retry-After`; a token is never refused (401) or accepted
  on keys we could not get.
- `clock`: the time source, which tests set to control time.

Verification (`verify_id_token`) treats the token as hostile: a compact JWS of bounded size;
the header's `alg` must be RS256 (checked before any key lookup, so `none` or HS256 tokens
cost no fetch, and `jwt.decode` is told RS256 only: the algorithm is never the token's
choice); keys of the set are used only if RSA for RS256; `crit` and `b64` headers are
refused; `iss` must be the provider's, `aud` one of `GOOGLE_CLIENT_IDS` / `APPLE_CLIENT_IDS`,
`exp` (and `iat`, `nbf`) within `LEEWAY_S`; `sub` is required. A nonce the client sends
must have its SHA-256 hex digest in the token's `nonce` claim: always for Apple (api-v1 §11;
only erasure, whose contract body has no nonce, takes an Apple token without one, fresh
instead), and for Google when the client gave Google such a digest (linking takes an
optional nonce for either provider: one rule for both). `email_verified` counts only when it
is `true` or, as Apple sometimes sends it, `"true"`. Every failure is a 401 whose detail
names the reason in our own words (never the token's content).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import json
import logging
import math
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any, Final, Literal, NoReturn
from urllib.error import URLError

import jwt
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

from common import errors
from common.config import get_settings

log = logging.getLogger(__name__)

Provider = Literal["google", "apple"]

NAMES: Final[dict[Provider, str]] = {"google": "Google", "apple": "Apple"}
ISSUERS: Final[dict[Provider, tuple[str, ...]]] = {
    "google": ("https://accounts.google.com", "accounts.google.com"),
    "apple": ("https://appleid.apple.com",),
}
ALGORITHM: Final = "RS256"
LEEWAY_S: Final = 60  # clock skew allowed on exp, iat and nbf (the issue allows at most 60 s)
REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "iat", "exp")
MAX_TOKEN_LENGTH: Final = 8192  # real ID tokens are 1-2 KB
MAX_SUBJECT_LENGTH: Final = 255  # Google's and Apple's `sub` are well under this
_COMPACT_JWS: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_REFUSED_HEADERS: Final = frozenset({"crit", "b64"})

REFETCH_INTERVAL_S: Final = 30.0  # at most one fetch of a key set per interval and process
DEFAULT_FRESHNESS_S: Final = 300.0  # without Cache-Control's max-age (PyJWKClient's lifespan)
MAX_FRESHNESS_S: Final = 86_400.0  # a key withdrawn by the provider is dropped within a day
FETCH_TIMEOUT_S: Final = 5.0
MAX_KEY_SET_BYTES: Final = 256 * 1024  # Google's and Apple's sets are about 1-2 KB


class KeysUnavailable(Exception):
    """No fresh key set, and none could be fetched now; `retry_after` in seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the provider's keys could not be fetched")
        self.retry_after = retry_after


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A key set is read at its configured URL only (as PyJWKClient does)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def freshness(headers: Message) -> float:
    """Seconds a fetched key set stays fresh, from `Cache-Control` and `Age`, bounded."""
    directives: dict[str, str] = {}
    for header in headers.get_all("Cache-Control") or []:
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            directives[name.strip().lower()] = value.strip().strip('"')
    seconds = DEFAULT_FRESHNESS_S
    if "no-store" in directives or "no-cache" in directives:
        seconds = 0.0
    elif directives.get("max-age", "").isdigit():
        age = headers.get("Age", "0").strip()
        seconds = int(directives["max-age"]) - (int(age) if age.isdigit() else 0)
    return min(max(seconds, REFETCH_INTERVAL_S), MAX_FRESHNESS_S)


class ProviderKeys(PyJWKClient):
    """One provider's key set, cached per process (see the module docstring)."""

    def __init__(self, uri: str) -> None:
        # PyJWKClient's own cache is off: this class holds the keys and their freshness.
        super().__init__(
            uri,
            cache_jwk_set=False,
            timeout=FETCH_TIMEOUT_S,
            headers={"Accept": "application/json"},
        )
        self.clock: Callable[[], float] = time.monotonic
        self._lock = threading.Lock()
        self._keys: list[PyJWK] = []
        self._fresh_until = -math.inf
        self._last_attempt = -math.inf
        self._freshness = DEFAULT_FRESHNESS_S  # of the response fetch_data last read

    def fetch_data(self) -> Any:
        """GET the key set (no redirects, bounded size) and note its freshness."""
        # The scheme is http(s): PyJWKClient refuses any other, the settings http in prod.
        request = urllib.request.Request(self.uri, headers=self.headers)  # noqa: S310
        opener = urllib.request.build_opener(_NoRedirects)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_KEY_SET_BYTES + 1)
                headers = response.headers
        except (URLError, OSError, http.client.HTTPException) as exc:
            raise PyJWKClientConnectionError(f"fetching {self.uri} failed: {exc}") from None
        if len(body) > MAX_KEY_SET_BYTES:
            raise PyJWKClientError(f"{self.uri} answered more than {MAX_KEY_SET_BYTES} bytes")
        try:
            data = json.loads(body)
        except ValueError:
            raise PyJWKClientError(f"{self.uri} answered something that is not JSON") from None
        self._freshness = freshness(headers)
        return data

    def get_signing_key(self, kid: str) -> PyJWK:
        """The RS256 key `kid` of the set: from a fresh set, else after one fetch (when the
        interval allows one). `KeysUnavailable` without fresh keys; `PyJWKClientError` when
        the set has no such key."""
        with self._lock:
            now = self.clock()
            if now >= self._fresh_until and not self._fetch(now):
                raise KeysUnavailable(max(1.0, self._last_attempt + REFETCH_INTERVAL_S - now))
            key = self.match_kid(self._keys, kid)
            if key is None and self._fetch(now):
                key = self.match_kid(self._keys, kid)
            if key is None:
                raise PyJWKClientError("no key of the set has this kid")
            return key

    def forget(self) -> None:
        """Drop the cached set and the interval: the next use fetches."""
        with self._lock:
            self._keys, self._fresh_until, self._last_attempt = [], -math.inf, -math.inf

    def _fetch(self, now: float) -> bool:
        """Fetch the set when the interval allows; True when fresh keys replaced the old."""
        if now - self._last_attempt < REFETCH_INTERVAL_S:
            return False
        self._last_attempt = now
        try:
            keys = self.get_signing_keys(refresh=True)  # fetch_data, then PyJWT parses
        except (PyJWKClientError, PyJWKSetError) as exc:
            log.warning("the key set could not be fetched: %s", exc, extra={"url": self.uri})
            return False
        self._keys = [k for k in keys if k.algorithm_name == ALGORITHM and k.key_type == "RSA"]
        self._fresh_until = now + self._freshness
        return True


_keys_lock = threading.Lock()


@functools.cache
def _provider_keys(provider: Provider) -> ProviderKeys:
    settings = get_settings()
    return ProviderKeys(
        settings.google_jwks_url if provider == "google" else settings.apple_jwks_url
    )


def provider_keys(provider: Provider) -> ProviderKeys:
    """This process's key set of `provider`, made once (the lock: never two per process)."""
    with _keys_lock:
        return _provider_keys(provider)


def client_ids(provider: Provider) -> tuple[str, ...]:
    settings = get_settings()
    return settings.google_client_ids if provider == "google" else settings.apple_client_ids


# --- verification ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderIdentity:
    """Who a verified ID token says its bearer is."""

    provider: Provider
    subject: str  # `sub`: the provider's stable id of the user
    email: str | None
    email_verified: bool
    name: str | None  # Google's `name` claim; Apple's tokens carry none
    issued_at: int


def _invalid(provider: Provider, reason: str) -> NoReturn:
    raise errors.Unauthorized(f"The {NAMES[provider]} ID token is not valid: {reason}.", error=None)


def nonce_digest(nonce: str) -> str:
    """What an Apple token's `nonce` claim holds for the nonce a client sent."""
    return hashlib.sha256(nonce.encode("utf-8", "surrogatepass")).hexdigest()


def verify_id_token(
    provider: Provider,
    id_token: str,
    *,
    nonce: str | None = None,
    require_nonce: bool = True,
    max_age_s: int | None = None,
) -> ProviderIdentity:
    """The identity of a valid ID token of `provider`, else 401 (`errors.Unauthorized`), or
    503 (`errors.ServiceUnavailable`) when the provider's keys cannot be fetched.

    `nonce`: the nonce the client sent; the token's `nonce` claim must be its SHA-256 hex
    digest (either provider). Apple's tokens need one unless `require_nonce` is false.
    `max_age_s`: the token must have been issued at most this long ago (a fresh token).
    """
    audiences = client_ids(provider)
    if not audiences:
        _invalid(provider, f"Sign in with {NAMES[provider]} is not configured here")
    if len(id_token) > MAX_TOKEN_LENGTH or _COMPACT_JWS.fullmatch(id_token) is None:
        _invalid(provider, "it is not a signed JWT")
    try:
        header = jwt.get_unverified_header(id_token)
    except Exception:  # hostile input: whatever the parser raises is a bad token
        _invalid(provider, "its header cannot be read")
    if header.get("alg") != ALGORITHM:
        _invalid(provider, f"it is not signed with {ALGORITHM}")
    if not _REFUSED_HEADERS.isdisjoint(header):
        _invalid(provider, "its header asks for extensions we do not support")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        _invalid(provider, "its header names no key")
    try:
        key = provider_keys(provider).get_signing_key(kid)
    except KeysUnavailable as exc:
        raise errors.ServiceUnavailable(
            f"{NAMES[provider]}'s signing keys cannot be fetched right now; try again shortly.",
            retry_after=math.ceil(exc.retry_after),
        ) from None
    except PyJWKClientError:
        _invalid(provider, f"it names a key {NAMES[provider]} does not publish")
    claims = _decode(provider, id_token, key, audiences)
    subject = claims["sub"]
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        _invalid(provider, "its subject is malformed")
    if provider == "apple" and nonce is None and require_nonce:
        _invalid(provider, "a nonce is required")
    if nonce is not None:
        claimed = claims.get("nonce")
        if not isinstance(claimed, str) or not hmac.compare_digest(claimed, nonce_digest(nonce)):
            _invalid(provider, "its nonce does not match the one sent")
    issued_at = claims["iat"]
    if not isinstance(issued_at, int):
        _invalid(provider, "its issue time is malformed")
    if max_age_s is not None and issued_at < time.time() - max_age_s - LEEWAY_S:
        _invalid(provider, f"it was issued more than {max_age_s // 60} minutes ago")
    return ProviderIdentity(
        provider=provider,
        subject=subject,
        email=_text_claim(claims, "email", 320),
        email_verified=claims.get("email_verified") in (True, "true"),
        name=_text_claim(claims, "name", 1000),
        issued_at=issued_at,
    )


def _decode(
    provider: Provider, id_token: str, key: PyJWK, audiences: tuple[str, ...]
) -> dict[str, Any]:
    try:
        return jwt.decode(
            id_token,
            key.key,
            algorithms=[ALGORITHM],
            audience=list(audiences),
            issuer=ISSUERS[provider],
            leeway=LEEWAY_S,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        _invalid(provider, "it has expired")
    except jwt.ImmatureSignatureError:
        _invalid(provider, "it is not valid yet")
    except jwt.InvalidSignatureError:
        _invalid(provider, "its signature does not verify")
    except jwt.InvalidAudienceError:
        _invalid(provider, "it was issued for another app")
    except jwt.InvalidIssuerError:
        _invalid(provider, f"it was not issued by {NAMES[provider]}")
    except jwt.MissingRequiredClaimError as exc:
        _invalid(provider, f"it has no {exc.claim} claim")
    except Exception:  # any other PyJWTError, or whatever a hostile token provokes
        _invalid(provider, "it is malformed")


def _text_claim(claims: dict[str, Any], name: str, max_length: int) -> str | None:
    """A string claim we may store: at most `max_length` characters, no NUL, not blank."""
    value = claims.get(name)
    if not isinstance(value, str) or "\x00" in value or not value.strip():
        return None
    return value if len(value) <= max_length else None
